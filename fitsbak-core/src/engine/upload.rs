//! The main job: choose the sessions to back up, then for each one plan its archive,
//! stream it into the store, check what the store holds against what was sent,
//! write its manifest and record it, all in one SQLite transaction.
//!
//! One failed session does not stop the others. Anything that fails before the
//! archive is recorded aborts its multipart upload and leaves a failed log row,
//! never an archive row.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::archive::{ArchivePlan, MemberSource};
use crate::checksum::expected_object_checksum;
use crate::config::{ChecksumAlgorithm, TargetKind};
use crate::engine::Engine;
use crate::engine::stream::{PartSink, PartUploader, StreamSummary, part_size};
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::{ObjectKey, SessionId};
use crate::manifest::{ArchiveSummary, ExcludedFile, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest};
use crate::model::{CatalogFile, Session, StorageClass};
use crate::progress::{ItemOutcome, RunPlan};
use crate::store::{
    Encryption, MultipartId, ObjectChecksum, ObjectStoreExt, PutOptions, PutResult,
};
use crate::tags::ObjectKind;
use crate::tracker::{
    ArchiveRecord, InflightUpload, LogEntry, NewArchive, Operation, OperationStatus,
};

/// Why a session with a good archive is skipped.
const ALREADY_BACKED_UP: &str = "already backed up";

/// What `upload` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Only this session.
    pub session_id: Option<SessionId>,
    /// Only sessions of this year.
    pub year: Option<i32>,
    /// At most this many sessions that need an upload.
    pub limit: Option<usize>,
    /// Upload sessions that already have an archive again.
    pub no_skip_existing: bool,
    /// Keep a copy of each archive in this directory.
    pub keep_copy: Option<PathBuf>,
    /// Leave files that are missing on disk out (recorded in the manifest and the
    /// row's notes) instead of failing the session.
    pub allow_missing: bool,
    /// Only plan: nothing is sent or recorded.
    pub dry_run: bool,
}

/// How one session ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SessionOutcome {
    /// Uploaded and recorded.
    Uploaded {
        /// Archive bytes sent.
        bytes: u64,
        /// Seconds it took.
        seconds: f64,
        /// Parts (1 for a single PUT).
        parts: u64,
        /// Files left out (`--allow-missing`).
        left_out: u64,
        /// Whether the check after upload passed (`None` when not run).
        verified: Option<bool>,
        /// Parts an interrupted run had already sent (not sent again).
        resumed_parts: u64,
    },
    /// Already in the bucket with a manifest that matches the catalog: recorded
    /// without uploading.
    Adopted {
        /// Archive bytes.
        bytes: u64,
    },
    /// Planned (dry run).
    Planned {
        /// Archive bytes to send.
        bytes: u64,
        /// Files in the archive.
        files: u64,
    },
    /// Nothing to do.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Failed; nothing was recorded as backed up.
    Failed {
        /// Why, naming the file or key.
        error: String,
    },
    /// Stopped by Ctrl-C; the next run resumes it.
    Interrupted {
        /// What was kept.
        reason: String,
    },
}

/// One session of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionResult {
    /// The session (as the catalog has it, even when it is not a valid id).
    pub session_id: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: SessionOutcome,
}

/// The whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UploadSummary {
    /// One entry per session considered.
    pub sessions: Vec<SessionResult>,
    /// Archive bytes sent.
    pub bytes_uploaded: u64,
    /// Wall time.
    pub seconds: f64,
    /// Retries made.
    pub retries: u64,
    /// The notes of the sessions backed up (`None` when `notes_dir` is not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<crate::engine::notes::NotesSummary>,
    /// Why the notes could not be backed up, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes_error: Option<String>,
}

impl UploadSummary {
    /// Whether the run was stopped by Ctrl-C.
    pub fn interrupted(&self) -> bool {
        self.count(|o| matches!(o, SessionOutcome::Interrupted { .. })) > 0
    }

    /// Sessions that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, SessionOutcome::Failed { .. }))
    }

    /// Sessions uploaded or adopted.
    pub fn done(&self) -> usize {
        self.count(|o| {
            matches!(
                o,
                SessionOutcome::Uploaded { .. } | SessionOutcome::Adopted { .. }
            )
        })
    }

    /// Sessions matching `f`.
    pub fn count(&self, f: impl Fn(&SessionOutcome) -> bool) -> usize {
        self.sessions.iter().filter(|s| f(&s.outcome)).count()
    }
}

/// A session chosen for upload, with its plan.
struct Selected {
    session: Session,
    work: Work,
}

enum Work {
    Upload(Box<Planned>),
    Adopt(ObjectKey),
}

/// A session's archive, planned.
struct Planned {
    plan: Arc<ArchivePlan>,
    excluded: Vec<ExcludedFile>,
}

fn failed(id: impl Into<String>, error: impl ToString) -> SessionResult {
    SessionResult {
        session_id: id.into(),
        outcome: SessionOutcome::Failed {
            error: error.to_string(),
        },
    }
}

fn skipped(id: impl Into<String>, reason: impl Into<String>) -> SessionResult {
    SessionResult {
        session_id: id.into(),
        outcome: SessionOutcome::Skipped {
            reason: reason.into(),
        },
    }
}

/// The files of a session as archive members, and those left out. Missing files
/// fail the session unless `allow_missing`.
pub fn member_sources(
    session: &SessionId,
    files: Vec<CatalogFile>,
    allow_missing: bool,
) -> Result<(Vec<MemberSource>, Vec<ExcludedFile>)> {
    let mut sources = Vec::with_capacity(files.len());
    let mut missing = Vec::new();
    for file in files {
        match std::fs::metadata(&file.path) {
            Ok(meta) if meta.is_file() => sources.push(MemberSource {
                size: meta.len(),
                mtime: crate::time::mtime_seconds(&meta),
                catalog: file,
            }),
            Ok(_) => missing.push((file, "not a regular file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push((file, "missing on disk"))
            }
            Err(e) => return Err(Error::io(file.path.clone(), e).for_session(session)),
        }
    }
    if !missing.is_empty() && (!allow_missing || sources.is_empty()) {
        let shown: Vec<String> = missing
            .iter()
            .take(10)
            .map(|(f, why)| format!("{} ({why})", f.path.display()))
            .collect();
        let more = missing.len().saturating_sub(shown.len());
        let hint = if allow_missing {
            "no file of the session is on disk".to_owned()
        } else {
            "pass --allow-missing to back up the others".to_owned()
        };
        return Err(Error::Refused(format!(
            "{} of {} catalogued file(s) cannot be read: {}{}; {hint}",
            missing.len(),
            missing.len() + sources.len(),
            shown.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            },
        ))
        .for_session(session));
    }
    let excluded = missing
        .into_iter()
        .map(|(f, why)| ExcludedFile {
            file: f.file,
            folder: f.folder,
            reason: format!("{why} (--allow-missing)"),
        })
        .collect();
    Ok((sources, excluded))
}

/// A short error code for the log.
fn error_code(err: &Error) -> String {
    match err.store_kind() {
        Some(kind) => format!("{kind:?}"),
        None => match err {
            Error::Session { source, .. } => error_code(source),
            Error::Archive(_) => "archive".into(),
            Error::Tracker(_) => "tracking-db".into(),
            Error::Catalog(_) => "catalog".into(),
            Error::Io { .. } => "io".into(),
            Error::Manifest { .. } => "manifest".into(),
            _ => "refused".into(),
        },
    }
}

/// Whether an error means no session can succeed (wrong credentials, no bucket).
fn stops_the_run(err: &Error) -> bool {
    matches!(
        err.store_kind(),
        Some(
            StoreErrorKind::Credentials
                | StoreErrorKind::NoSuchBucket
                | StoreErrorKind::AccessDenied
        )
    )
}

impl Engine {
    /// Backs up the sessions `options` selects.
    pub async fn upload(&self, options: &UploadOptions) -> Result<UploadSummary> {
        let started = Instant::now();
        if !self.config.enabled && !options.dry_run {
            return Err(Error::Refused(
                "uploads are turned off in the config (`enabled: false`)".into(),
            ));
        }
        let retries_before = self.retries();
        let (selected, mut results) = self.select(options).await?;
        if options.dry_run {
            for s in selected {
                let outcome = match &s.work {
                    Work::Upload(p) => SessionOutcome::Planned {
                        bytes: p.plan.total_size,
                        files: p.plan.members.len() as u64,
                    },
                    Work::Adopt(key) => SessionOutcome::Skipped {
                        reason: format!(
                            "{key} is already in the bucket; it would be adopted if its manifest matches the catalog"
                        ),
                    },
                };
                results.push(SessionResult {
                    session_id: s.session.id.to_string(),
                    outcome,
                });
            }
            let mut summary = UploadSummary {
                sessions: results,
                seconds: started.elapsed().as_secs_f64(),
                ..UploadSummary::default()
            };
            self.back_up_notes(&mut summary, true).await?;
            return Ok(summary);
        }

        let total: u64 = selected
            .iter()
            .map(|s| match &s.work {
                Work::Upload(p) => p.plan.total_size,
                Work::Adopt(_) => 0,
            })
            .sum();
        self.progress.run_started(&RunPlan {
            operation: "upload",
            items: selected.len() as u64,
            bytes: total,
        });
        let mut bytes_uploaded = 0;
        for s in selected {
            let id = s.session.id.clone();
            let size = match &s.work {
                Work::Upload(p) => p.plan.total_size,
                Work::Adopt(_) => 0,
            };
            self.progress.item_started(id.as_str(), size);
            let outcome = match s.work {
                Work::Upload(planned) => self.upload_session(&s.session, *planned, options).await,
                Work::Adopt(key) => self.adopt(&s.session, &key).await,
            };
            let (result, item) = match outcome {
                Ok(outcome) => {
                    if let SessionOutcome::Uploaded { bytes, .. } = &outcome {
                        bytes_uploaded += bytes;
                    }
                    let item = match &outcome {
                        SessionOutcome::Uploaded { bytes, .. }
                        | SessionOutcome::Adopted { bytes } => ItemOutcome::Done { bytes: *bytes },
                        SessionOutcome::Skipped { reason } => ItemOutcome::Skipped {
                            reason: reason.clone(),
                        },
                        _ => ItemOutcome::Done { bytes: 0 },
                    };
                    (
                        SessionResult {
                            session_id: id.to_string(),
                            outcome,
                        },
                        item,
                    )
                }
                Err(err) if matches!(err.innermost(), Error::Interrupted) => {
                    let reason = if self.cancel.abort.is_cancelled() {
                        "aborted: its multipart upload was aborted".to_owned()
                    } else {
                        "interrupted: the parts sent are kept, the next `fitsbak upload` resumes it"
                            .to_owned()
                    };
                    self.progress.item_finished(
                        id.as_str(),
                        &ItemOutcome::Failed {
                            reason: reason.clone(),
                        },
                    );
                    results.push(SessionResult {
                        session_id: id.to_string(),
                        outcome: SessionOutcome::Interrupted { reason },
                    });
                    break;
                }
                Err(err) => {
                    let stop = stops_the_run(&err);
                    let message = match &err {
                        Error::Session { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    self.progress.item_finished(
                        id.as_str(),
                        &ItemOutcome::Failed {
                            reason: message.clone(),
                        },
                    );
                    if stop {
                        self.progress.run_finished();
                        return Err(err);
                    }
                    results.push(failed(id.as_str(), message));
                    continue;
                }
            };
            self.progress.item_finished(id.as_str(), &item);
            results.push(result);
        }
        self.progress.run_finished();
        let mut summary = UploadSummary {
            sessions: results,
            bytes_uploaded,
            seconds: started.elapsed().as_secs_f64(),
            retries: self.retries() - retries_before,
            ..UploadSummary::default()
        };
        if !summary.interrupted() {
            self.back_up_notes(&mut summary, false).await?;
        }
        self.record_run_stats(summary.done() as u64, bytes_uploaded, 0)
            .await?;
        Ok(summary)
    }

    /// Backs up the notes of the sessions the run backed up, now or before (those
    /// uploaded, adopted, planned or already backed up), when `notes_dir` is set.
    async fn back_up_notes(&self, summary: &mut UploadSummary, dry_run: bool) -> Result<()> {
        if self.config.notes_dir.is_none() {
            return Ok(());
        }
        let backed_up: HashSet<&str> = summary
            .sessions
            .iter()
            .filter(|r| {
                matches!(
                    r.outcome,
                    SessionOutcome::Uploaded { .. }
                        | SessionOutcome::Adopted { .. }
                        | SessionOutcome::Planned { .. }
                ) || matches!(&r.outcome, SessionOutcome::Skipped { reason } if reason == ALREADY_BACKED_UP)
            })
            .map(|r| r.session_id.as_str())
            .collect();
        let sessions: Vec<Session> = self
            .catalog
            .sessions()
            .await?
            .sessions
            .into_iter()
            .filter(|s| backed_up.contains(s.id.as_str()))
            .collect();
        match self.upload_notes(&sessions, false, dry_run).await {
            Ok(notes) => summary.notes = Some(notes),
            // A run whose archives went up does not fail for want of notes: it says so.
            Err(Error::Refused(why)) => summary.notes_error = Some(why),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Chooses the sessions to upload and plans their archives. Sessions that need
    /// nothing, or cannot be uploaded, come back as results at once.
    async fn select(&self, options: &UploadOptions) -> Result<(Vec<Selected>, Vec<SessionResult>)> {
        let scan = self.catalog.sessions().await?;
        let mut results = Vec::new();
        if let Some(id) = &options.session_id
            && !scan.sessions.iter().any(|s| s.id == *id)
        {
            if let Some(r) = scan.rejected.iter().find(|r| r.raw_id == id.as_str()) {
                return Ok((Vec::new(), vec![failed(id.as_str(), &r.reason)]));
            }
            return Err(Error::Refused(format!(
                "session {id} is not in the catalog ({})",
                self.catalog.describe()
            )));
        }
        // Rows that are not usable sessions fail, when the run would include them.
        if options.session_id.is_none() {
            for r in &scan.rejected {
                let in_year = options.year.is_none_or(|y| {
                    r.raw_date
                        .as_deref()
                        .is_some_and(|d| d.starts_with(&y.to_string()))
                });
                if in_year {
                    results.push(failed(r.raw_id.clone(), &r.reason));
                }
            }
        }
        let archives: HashMap<SessionId, ArchiveRecord> = self
            .tracker
            .archives()
            .await?
            .into_iter()
            .map(|a| (a.session_id.clone(), a))
            .collect();
        // One listing tells which archives are in the bucket (and checks access).
        let in_bucket: HashSet<String> = if options.dry_run {
            HashSet::new()
        } else {
            self.store
                .list(&format!(
                    "{}/",
                    self.config.s3_paths.raw_archives.trim_matches('/')
                ))
                .await?
                .into_iter()
                .map(|o| o.key)
                .collect()
        };

        let interrupted: HashSet<SessionId> = self
            .tracker
            .inflight()
            .await?
            .into_iter()
            .map(|u| u.session_id)
            .collect();
        // Sessions to upload, and sessions found in the bucket without a row.
        let mut candidates: Vec<(Session, Option<ObjectKey>)> = Vec::new();
        for session in scan.sessions {
            if options
                .session_id
                .as_ref()
                .is_some_and(|id| *id != session.id)
                || options.year.is_some_and(|y| session.year() != y)
            {
                continue;
            }
            let key = match self
                .config
                .s3_paths
                .archive_key(session.year(), &session.id)
            {
                Ok(key) => key,
                Err(e) => {
                    results.push(failed(session.id.as_str(), e));
                    continue;
                }
            };
            if !options.no_skip_existing {
                if let Some(row) = archives.get(&session.id) {
                    if self.still_good(row, options.dry_run).await? {
                        if !options.dry_run {
                            // An interrupted re-upload of a session backed up since is
                            // not needed: do not leave its parts behind.
                            for upload in self.tracker.inflight().await? {
                                if upload.session_id == session.id {
                                    self.abort(
                                        &ObjectKey::new(upload.key.clone())?,
                                        &upload.upload_id,
                                    )
                                    .await;
                                }
                            }
                        }
                        results.push(skipped(session.id.as_str(), ALREADY_BACKED_UP));
                        continue;
                    }
                } else if in_bucket.contains(key.as_str()) && !interrupted.contains(&session.id) {
                    // An archive in the bucket without a row: adopt it. (One this
                    // tool was uploading when it died is uploaded again instead.)
                    candidates.push((session, Some(key)));
                    continue;
                }
            }
            if session.file_count == 0 {
                results.push(skipped(session.id.as_str(), "no files in the catalog"));
                continue;
            }
            candidates.push((session, None));
        }
        if let Some(limit) = options.limit {
            candidates.truncate(limit);
        }

        // Plan the archives: one catalog query for all sessions, then stats.
        let ids: Vec<SessionId> = candidates
            .iter()
            .filter(|(_, adopt)| adopt.is_none())
            .map(|(s, _)| s.id.clone())
            .collect();
        let mut files: HashMap<SessionId, Vec<CatalogFile>> = HashMap::new();
        if !ids.is_empty() {
            for f in self.catalog.files(Some(&ids)).await? {
                files.entry(f.session_id.clone()).or_default().push(f);
            }
        }
        let mut selected = Vec::with_capacity(candidates.len());
        for (session, adopt) in candidates {
            let work = match adopt {
                Some(key) => Work::Adopt(key),
                None => {
                    let session_files = files.remove(&session.id).unwrap_or_default();
                    match self.plan_session(&session, session_files, options.allow_missing) {
                        Ok(p) => Work::Upload(Box::new(p)),
                        Err(e) => {
                            self.log_failure(&session, None, &e, 0.0, 0).await;
                            results.push(failed(session.id.as_str(), e));
                            continue;
                        }
                    }
                }
            };
            selected.push(Selected { session, work });
        }
        Ok((selected, results))
    }

    /// Whether a session's recorded archive can be trusted without uploading it
    /// again: it was verified, or a quick check now passes.
    async fn still_good(&self, row: &ArchiveRecord, dry_run: bool) -> Result<bool> {
        if row.verified || dry_run {
            return Ok(true); // a dry run sends nothing, checks included
        }
        match self.quick_check(row).await {
            Ok(check) => {
                self.record_check(row, &check).await?;
                if !check.passed() {
                    tracing::warn!(
                        "session {}: its archive failed the check ({}); uploading it again",
                        row.session_id,
                        check.reasons().join("; ")
                    );
                }
                Ok(check.passed())
            }
            Err(e) if stops_the_run(&e) => Err(e),
            Err(e) => {
                tracing::warn!(
                    "session {}: its archive could not be checked ({e}); uploading it again",
                    row.session_id
                );
                Ok(false)
            }
        }
    }

    fn plan_session(
        &self,
        session: &Session,
        files: Vec<CatalogFile>,
        allow_missing: bool,
    ) -> Result<Planned> {
        if files.is_empty() {
            return Err(Error::Refused("no files in the catalog".into()));
        }
        let (sources, excluded) = member_sources(&session.id, files, allow_missing)?;
        let plan = self.archiver.plan(&session.id, sources)?;
        let limit = self.config.archive_settings.max_archive_size_gb * (1u64 << 30) as f64;
        if plan.total_size as f64 > limit {
            return Err(Error::Refused(format!(
                "the archive would be {} bytes, over archive_settings.max_archive_size_gb ({} GiB)",
                plan.total_size, self.config.archive_settings.max_archive_size_gb
            )));
        }
        Ok(Planned {
            plan: Arc::new(plan),
            excluded,
        })
    }

    /// How archives are written: tags, metadata, class, encryption.
    fn archive_options(&self, session: &Session, plan: &ArchivePlan) -> PutOptions {
        let mut metadata = BTreeMap::new();
        metadata.insert("session-id".into(), session.id.to_string());
        metadata.insert("year".into(), session.year().to_string());
        metadata.insert("file-count".into(), plan.members.len().to_string());
        metadata.insert("original-size".into(), plan.data_bytes().to_string());
        metadata.insert("tool-version".into(), crate::tool_version());
        PutOptions {
            tags: self.config.tags_for(ObjectKind::RawArchive),
            metadata,
            storage_class: self.config.backup_rules.raw_lights.storage_class.clone(),
            content_type: Some("application/x-tar".into()),
            encryption: self.encryption(),
            if_none_match: false,
        }
    }

    /// The configured server-side encryption.
    pub fn encryption(&self) -> Option<Encryption> {
        match self
            .config
            .upload_settings
            .server_side_encryption
            .as_deref()
        {
            Some("AES256") => Some(Encryption::Aes256),
            Some("aws:kms") => Some(Encryption::Kms {
                key_id: self.config.upload_settings.kms_key_id.clone(),
            }),
            _ => None,
        }
    }

    async fn upload_session(
        &self,
        session: &Session,
        planned: Planned,
        options: &UploadOptions,
    ) -> Result<SessionOutcome> {
        let started = Instant::now();
        let retries_before = self.retries();
        let key = self
            .config
            .s3_paths
            .archive_key(session.year(), &session.id)?;
        let result = self
            .send_and_record(session, &key, &planned, options, started)
            .await;
        let retries = self.retries() - retries_before;
        match result {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                self.log_failure(
                    session,
                    Some(&key),
                    &e,
                    started.elapsed().as_secs_f64(),
                    retries,
                )
                .await;
                Err(e.for_session(&session.id))
            }
        }
    }

    async fn send_and_record(
        &self,
        session: &Session,
        key: &ObjectKey,
        planned: &Planned,
        options: &UploadOptions,
        started: Instant,
    ) -> Result<SessionOutcome> {
        let plan = planned.plan.clone();
        let put_options = self.archive_options(session, &plan);
        let copy = match &options.keep_copy {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.clone(), e))?;
                let path = dir.join(format!("{}.tar", session.id));
                Some(std::fs::File::create(&path).map_err(|e| Error::io(path, e))?)
            }
            None => None,
        };
        let sent = self
            .send_archive(key, plan.clone(), &put_options, copy, &session.id)
            .await?;
        let head =
            self.store.head(key).await?.ok_or_else(|| {
                Error::Refused(format!("{key} is not in the store after its upload"))
            })?;
        if head.size != plan.total_size {
            return Err(Error::Refused(format!(
                "{key} holds {} bytes after its upload, not the {} sent",
                head.size, plan.total_size
            )));
        }

        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            session_id: session.id.clone(),
            session_date: session.date,
            telescope: session.telescope.clone(),
            camera: session.camera.clone(),
            tool_version: crate::tool_version(),
            created_at: crate::time::now(),
            archive: ArchiveSummary {
                key: key.to_string(),
                size: plan.total_size,
                crc32c: sent.stream.crc32c.clone(),
                etag: Some(sent.put.etag.clone()),
                checksum: sent.put.checksum.clone().or(head.checksum.clone()),
                part_size: sent.part_size,
                data_bytes: plan.data_bytes(),
            },
            members: plan.manifest_members(&sent.output),
            excluded: planned.excluded.clone(),
        };
        // The manifest goes first: if the run dies before the database commit, the
        // next run finds archive and manifest and adopts them.
        self.put_manifest(session, &manifest).await?;

        let rule = &self.config.backup_rules.raw_lights;
        let notes = (!planned.excluded.is_empty()).then(|| {
            format!(
                "{} catalogued file(s) left out (--allow-missing): {}",
                planned.excluded.len(),
                planned
                    .excluded
                    .iter()
                    .map(|e| format!("{}/{}", e.folder, e.file))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        let seconds = started.elapsed().as_secs_f64();
        let archive = NewArchive {
            session_id: session.id.clone(),
            session_date: session.date,
            bucket: self.store.bucket(),
            key: key.to_string(),
            region: self.store.region(),
            etag: sent.put.etag.clone(),
            version_id: sent.put.version_id.clone().or(head.version_id.clone()),
            original_size_bytes: plan.data_bytes(),
            archive_size_bytes: plan.total_size,
            archive_policy: rule.archive_value(),
            backup_policy: rule.backup_value(),
            storage_class: head.storage_class.clone(),
            expected_storage_class: rule.expected_storage_class(),
            uploaded_at: crate::time::now(),
            camera_name: session.camera.clone(),
            telescope_name: session.telescope.clone(),
            notes: notes.clone(),
        };
        let log = LogEntry {
            session_id: Some(session.id.clone()),
            bucket: Some(self.store.bucket()),
            key: Some(key.to_string()),
            duration_seconds: Some(seconds),
            bytes_transferred: Some(plan.total_size),
            notes,
            ..LogEntry::new(Operation::Upload, OperationStatus::Success)
        };
        self.tracker
            .record_archive(&archive, &manifest.members, &log)
            .await?;

        let verified = if self.config.archive_settings.verify_after_upload {
            let record = self.tracker.archive(&session.id).await?.ok_or_else(|| {
                Error::Refused(format!("session {} was not recorded", session.id))
            })?;
            let check = self.quick_check(&record).await?;
            self.record_check(&record, &check).await?;
            Some(check.passed())
        } else {
            None
        };
        Ok(SessionOutcome::Uploaded {
            bytes: plan.total_size,
            seconds,
            parts: sent.stream.part_checksums.len() as u64,
            left_out: planned.excluded.len() as u64,
            verified,
            resumed_parts: sent.resumed_parts,
        })
    }

    /// Writes a manifest next to its archive.
    pub async fn put_manifest(&self, session: &Session, manifest: &Manifest) -> Result<PutResult> {
        let key = self
            .config
            .s3_paths
            .manifest_key(session.year(), &session.id)?;
        let body = bytes::Bytes::from(manifest.to_json());
        let checksum =
            crate::checksum::of_part(self.config.upload_settings.checksum_algorithm, &body);
        let options = PutOptions {
            tags: self.config.tags_for(ObjectKind::Manifest),
            content_type: Some("application/json".into()),
            encryption: self.encryption(),
            ..PutOptions::default()
        };
        self.store.put(&key, body, Some(checksum), &options).await
    }

    /// Streams the archive of `plan` to `key`, resuming the session's interrupted
    /// upload when there is one.
    async fn send_archive(
        &self,
        key: &ObjectKey,
        plan: Arc<ArchivePlan>,
        options: &PutOptions,
        copy: Option<std::fs::File>,
        session: &SessionId,
    ) -> Result<Sent<Vec<String>>> {
        let archiver = self.archiver.clone();
        let resume = Resume {
            session,
            snapshot: snapshot_of(&plan),
        };
        let writer_plan = plan.clone();
        self.send_stream(
            key,
            plan.total_size,
            options,
            move |sink| archiver.write(&writer_plan, sink),
            copy,
            Some(resume),
        )
        .await
    }

    /// Streams the file at `path` to `key` (a catalog snapshot, for one): one PUT
    /// below the multipart threshold, else a multipart upload with bounded memory.
    /// The file must not change size while it is read; the stored object's checksum
    /// is checked against the bytes sent. Returns the store's answer and the MD5
    /// (hex) of the bytes sent.
    pub async fn put_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
        options: &PutOptions,
    ) -> Result<(PutResult, String)> {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path.to_path_buf(), e))?
            .len();
        let source = path.to_path_buf();
        let sent = self
            .send_stream(
                key,
                size,
                options,
                move |sink| {
                    use crate::archive::ArchiveSink as _;
                    use md5::Digest as _;
                    use std::io::Read as _;
                    let io = |e| Error::io(source.clone(), e);
                    let mut file = std::fs::File::open(&source).map_err(io)?;
                    let mut md5 = md5::Md5::new();
                    let mut buf = vec![0u8; 1 << 20];
                    let mut copied = 0u64;
                    loop {
                        let n = match file.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(io(e)),
                        };
                        copied += n as u64;
                        if copied > size {
                            break;
                        }
                        md5.update(&buf[..n]);
                        sink.put(&buf[..n]).map_err(io)?;
                    }
                    if copied != size {
                        return Err(Error::Refused(format!(
                            "{} changed while it was read ({size} bytes planned, {copied} read)",
                            source.display()
                        )));
                    }
                    Ok(hex::encode(md5.finalize()))
                },
                None,
                None,
            )
            .await?;
        Ok((sent.put, sent.output))
    }

    /// Writes `body` to `key` (one PUT below the multipart threshold), checking the
    /// stored object's checksum against the bytes sent.
    pub async fn put_bytes(
        &self,
        key: &ObjectKey,
        body: bytes::Bytes,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let size = body.len() as u64;
        let what = key.to_string();
        let sent = self
            .send_stream(
                key,
                size,
                options,
                move |sink| {
                    crate::archive::ArchiveSink::put(sink, &body)
                        .map_err(|e| Error::Refused(format!("writing {what}: {e}")))
                },
                None,
                None,
            )
            .await?;
        Ok(sent.put)
    }

    /// Streams what `write` writes (exactly `total_size` bytes) to `key`: one PUT
    /// below the multipart threshold, else a multipart upload, resumable when
    /// `resume` names the session it belongs to. Checks the stored object's
    /// checksum (or ETag) against the bytes sent; a mismatch deletes the object.
    async fn send_stream<T: Send + 'static>(
        &self,
        key: &ObjectKey,
        total_size: u64,
        options: &PutOptions,
        write: impl FnOnce(&mut PartSink) -> Result<T> + Send + 'static,
        copy: Option<std::fs::File>,
        resume: Option<Resume<'_>>,
    ) -> Result<Sent<T>> {
        let settings = &self.config.upload_settings;
        let algorithm = settings.checksum_algorithm;
        let multipart = total_size >= settings.threshold_bytes();
        let part_size = if multipart {
            part_size(total_size, settings.chunk_bytes())
        } else {
            total_size
        };
        let (mut sink, mut parts) = PartSink::new(part_size, algorithm);
        if let Some(file) = copy {
            sink = sink.with_copy(file);
        }
        let pool = sink.pool();
        let what = key.to_string();
        let writer = tokio::task::spawn_blocking(move || -> Result<(T, StreamSummary)> {
            let output = write(&mut sink)?;
            let summary = sink
                .finish()
                .map_err(|e| Error::Refused(format!("writing {what}: {e}")))?;
            Ok((output, summary))
        });

        if !multipart {
            // An interrupted multipart upload of the session cannot be resumed as one PUT.
            if let Some(resume) = &resume {
                for upload in self.tracker.inflight().await? {
                    if upload.session_id == *resume.session {
                        self.abort(&ObjectKey::new(upload.key.clone())?, &upload.upload_id)
                            .await;
                    }
                }
            }
            let part = parts.recv().await;
            let written = join_writer(writer).await;
            let (output, stream) = written?;
            if stream.bytes != total_size {
                return Err(Error::Refused(format!(
                    "{key}: {} bytes were written, {total_size} planned",
                    stream.bytes
                )));
            }
            let part = part.ok_or_else(|| Error::Refused("the writer sent nothing".into()))?;
            let put = self
                .store
                .put(key, part.bytes, Some(part.checksum), options)
                .await?;
            self.progress.advance(total_size);
            let sent = Sent {
                put,
                stream,
                output,
                part_size: 0,
                resumed_parts: 0,
            };
            self.check_integrity(key, &sent, false).await?;
            return Ok(sent);
        }

        let algorithm_name = (algorithm == ChecksumAlgorithm::Crc32c).then(|| "CRC32C".to_owned());
        let resumed = match &resume {
            Some(resume) => {
                self.resumable(
                    resume.session,
                    key,
                    &resume.snapshot,
                    total_size,
                    part_size,
                    &algorithm_name,
                )
                .await?
            }
            None => None,
        };
        let (upload, done) = match resumed {
            Some(resumed) => resumed,
            None => {
                let upload = self
                    .store
                    .try_multipart()?
                    .create_multipart(key, options, algorithm.kind())
                    .await?;
                let recorded = match &resume {
                    Some(resume) => {
                        self.tracker
                            .begin_upload(&InflightUpload {
                                session_id: resume.session.clone(),
                                bucket: self.store.bucket(),
                                key: key.to_string(),
                                upload_id: upload.clone(),
                                part_size,
                                archive_size: total_size,
                                checksum_algorithm: algorithm_name.clone(),
                                snapshot: resume.snapshot.clone(),
                                started_at: crate::time::now(),
                                parts: Vec::new(),
                            })
                            .await
                    }
                    None => Ok(()),
                };
                if let Err(e) = recorded {
                    drop(parts);
                    let _ = join_writer(writer).await;
                    self.abort(key, &upload).await;
                    return Err(e);
                }
                (upload, Vec::new())
            }
        };
        let resumed_parts = done.len() as u64;
        let uploader = PartUploader {
            store: self.store.clone(),
            key: key.clone(),
            upload: upload.clone(),
            concurrency: settings.max_concurrency,
            tracker: resume.is_some().then(|| self.tracker.clone()),
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
            pool: Some(pool),
        };
        let uploaded = uploader.run(parts, done).await;
        let written = join_writer(writer).await;
        // An upload failure makes the writer fail too ("the upload stopped"): the
        // upload's error is the one to report.
        let result = match (uploaded, written) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(receipts), Ok((output, stream))) => Ok((receipts, output, stream)),
        };
        let (receipts, output, stream) = match result {
            Ok(r) => r,
            // Stopped between parts, or cut off from the store after every retry: the
            // parts sent are recorded, and the next run resumes the upload.
            Err(e)
                if resume.is_some()
                    && ((matches!(e, Error::Interrupted) && !self.cancel.abort.is_cancelled())
                        || crate::store::layer::is_transient(&e)) =>
            {
                return Err(e);
            }
            Err(e) => {
                self.abort(key, &upload).await;
                return Err(e);
            }
        };
        if stream.bytes != total_size {
            self.abort(key, &upload).await;
            return Err(Error::Refused(format!(
                "{key}: {} bytes were written, {total_size} planned",
                stream.bytes
            )));
        }
        let put = match self
            .store
            .try_multipart()?
            .complete_multipart(key, &upload, &receipts)
            .await
        {
            Ok(put) => put,
            // A retried Complete whose first attempt went through finds the upload
            // gone: the object is there, and the integrity check below decides.
            Err(e) if e.store_kind() == Some(StoreErrorKind::NoSuchUpload) => {
                match self.store.head(key).await? {
                    Some(meta) if meta.size == total_size => PutResult {
                        etag: meta.etag,
                        version_id: meta.version_id,
                        checksum: meta.checksum,
                    },
                    _ => {
                        self.abort(key, &upload).await;
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                self.abort(key, &upload).await;
                return Err(e);
            }
        };
        self.tracker.end_upload(&upload).await?;
        let sent = Sent {
            put,
            stream,
            output,
            part_size,
            resumed_parts,
        };
        self.check_integrity(key, &sent, true).await?;
        Ok(sent)
    }

    /// The interrupted upload of `session` to resume, with the parts it already
    /// has, when the files still match its snapshot and the store still has it.
    /// Any other interrupted upload of the session is aborted.
    async fn resumable(
        &self,
        session: &SessionId,
        key: &ObjectKey,
        snapshot: &str,
        archive_size: u64,
        part_size: u64,
        algorithm: &Option<String>,
    ) -> Result<Option<(MultipartId, Vec<crate::tracker::PartRecord>)>> {
        let mut found = None;
        for upload in self.tracker.inflight().await? {
            if upload.session_id != *session {
                continue;
            }
            let same = upload.key == key.as_str()
                && upload.snapshot == snapshot
                && upload.archive_size == archive_size
                && upload.part_size == part_size
                && upload.checksum_algorithm == *algorithm;
            if !same || found.is_some() {
                self.progress.note(&format!(
                    "session {session}: its files changed since the interrupted upload; starting over"
                ));
                self.abort(&ObjectKey::new(upload.key.clone())?, &upload.upload_id)
                    .await;
                continue;
            }
            let server = match self
                .store
                .try_multipart()?
                .list_parts(key, &upload.upload_id)
                .await
            {
                Ok(parts) => parts,
                Err(e) if e.store_kind() == Some(StoreErrorKind::NoSuchUpload) => {
                    self.progress.note(&format!(
                        "session {session}: the interrupted upload is gone from the store; starting over"
                    ));
                    self.tracker.end_upload(&upload.upload_id).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // A part counts as done when the store holds it and it was recorded
            // with its checksum; any other part is sent again.
            let done: Vec<_> = upload
                .parts
                .into_iter()
                .filter(|p| {
                    server
                        .iter()
                        .any(|s| s.part_number == p.receipt.part_number && s.etag == p.receipt.etag)
                })
                .collect();
            self.progress.note(&format!(
                "session {session}: resuming the interrupted upload, {} part(s) already in the store",
                done.len()
            ));
            found = Some((upload.upload_id, done));
        }
        // Uploads of this key the tracking tables do not know (the run died between
        // CreateMultipartUpload and recording it) can never be resumed: abort them.
        let keep = found.as_ref().map(|(id, _)| id.clone());
        let orphans = match self
            .store
            .try_multipart()?
            .list_multipart_uploads(key.as_str())
            .await
        {
            Ok(orphans) => orphans,
            // A store that cannot list them: the lifecycle rule's
            // AbortIncompleteMultipartUpload (or the store's own expiry) cleans up.
            Err(e) if e.store_kind() == Some(StoreErrorKind::NotImplemented) => {
                tracing::info!("{key}: no clean-up of unrecorded multipart uploads: {e}");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        for orphan in orphans {
            if orphan.key == key.as_str() && Some(&orphan.upload_id) != keep.as_ref() {
                self.abort(key, &orphan.upload_id).await;
            }
        }
        Ok(found)
    }

    /// Aborts a multipart upload and forgets it (best effort: an abort that fails
    /// leaves an upload the lifecycle rule cleans up).
    async fn abort(&self, key: &ObjectKey, upload: &MultipartId) {
        let aborted = match self.store.try_multipart() {
            Ok(multipart) => multipart.abort_multipart(key, upload).await,
            Err(e) => Err(e),
        };
        if let Err(e) = aborted {
            tracing::warn!("could not abort the multipart upload of {key}: {e}");
        }
        if let Err(e) = self.tracker.end_upload(upload).await {
            tracing::warn!("could not forget the multipart upload of {key}: {e}");
        }
    }

    /// The stored object's checksum (CRC32C) or ETag (MD5) must be what the bytes
    /// sent give; otherwise the object is deleted and the upload fails.
    async fn check_integrity<T>(
        &self,
        key: &ObjectKey,
        sent: &Sent<T>,
        multipart: bool,
    ) -> Result<()> {
        let expected = expected_object_checksum(&sent.stream.part_checksums, multipart);
        let (what, actual) = match self.config.upload_settings.checksum_algorithm {
            ChecksumAlgorithm::Md5 => {
                if matches!(self.encryption(), Some(Encryption::Kms { .. })) {
                    // SSE-KMS ETags are not MD5s; each request's Content-MD5 was
                    // checked by the server.
                    return Ok(());
                }
                ("ETag", Some(sent.put.etag.clone()))
            }
            ChecksumAlgorithm::Crc32c => {
                let reported = match &sent.put.checksum {
                    Some(c) => Some(c.clone()),
                    None => self.store.head(key).await?.and_then(|m| m.checksum),
                };
                ("CRC32C checksum", reported.map(|c: ObjectChecksum| c.value))
            }
        };
        match actual {
            Some(actual) if crate::checksum::same_checksum(&expected, &actual) => Ok(()),
            Some(actual) => {
                let _ = self.store.delete(key).await;
                Err(Error::Refused(format!(
                    "{key}: the stored object's {what} {actual} does not match the bytes sent \
                     ({expected}); the object was deleted"
                )))
            }
            None => {
                let _ = self.store.delete(key).await;
                Err(Error::Refused(format!(
                    "{key}: the store reported no {what} for the object, so the upload cannot be \
                     checked; the object was deleted (set upload_settings.checksum_algorithm to \
                     \"md5\" for stores without CRC32C checksums)"
                )))
            }
        }
    }

    /// Records an archive that is in the bucket without a row, when its manifest
    /// matches the catalog.
    async fn adopt(&self, session: &Session, key: &ObjectKey) -> Result<SessionOutcome> {
        let result: Result<SessionOutcome> = async {
            let manifest_key = self
                .config
                .s3_paths
                .manifest_key(session.year(), &session.id)?;
            let manifest = match self.read_manifest(&manifest_key).await? {
                Some(m) => m,
                None => {
                    return Err(Error::Refused(format!(
                        "{key} is in the bucket without a manifest ({manifest_key}); left alone \
                         (--no-skip-existing uploads it again)"
                    )));
                }
            };
            let files = self
                .catalog
                .files(Some(std::slice::from_ref(&session.id)))
                .await?;
            let differences = manifest_differences(&manifest, &files);
            if !differences.is_empty() {
                return Err(Error::Refused(format!(
                    "{key} is in the bucket but its manifest does not match the catalog ({}); \
                     left alone (--no-skip-existing uploads it again)",
                    differences.join("; ")
                )));
            }
            let head = self
                .store
                .head(key)
                .await?
                .ok_or_else(|| Error::Refused(format!("{key} disappeared")))?;
            if head.size != manifest.archive.size {
                return Err(Error::Refused(format!(
                    "{key} holds {} bytes but its manifest says {}; left alone",
                    head.size, manifest.archive.size
                )));
            }
            let archive = NewArchive {
                session_id: session.id.clone(),
                session_date: session.date,
                bucket: self.store.bucket(),
                key: key.to_string(),
                region: self.store.region(),
                etag: head.etag.clone(),
                version_id: head.version_id.clone(),
                original_size_bytes: manifest.data_bytes(),
                archive_size_bytes: head.size,
                archive_policy: self.config.backup_rules.raw_lights.archive_value(),
                backup_policy: self.config.backup_rules.raw_lights.backup_value(),
                storage_class: head.storage_class.clone(),
                expected_storage_class: self
                    .config
                    .backup_rules
                    .raw_lights
                    .expected_storage_class(),
                uploaded_at: head.last_modified.unwrap_or_else(crate::time::now),
                camera_name: session.camera.clone(),
                telescope_name: session.telescope.clone(),
                notes: Some("adopted: found in the bucket with a matching manifest".into()),
            };
            let log = LogEntry {
                session_id: Some(session.id.clone()),
                bucket: Some(self.store.bucket()),
                key: Some(key.to_string()),
                notes: Some("adopted from the bucket".into()),
                ..LogEntry::new(Operation::Upload, OperationStatus::Success)
            };
            self.tracker
                .record_archive(&archive, &manifest.members, &log)
                .await?;
            Ok(SessionOutcome::Adopted { bytes: head.size })
        }
        .await;
        if let Err(e) = &result {
            self.log_failure(session, Some(key), e, 0.0, 0).await;
        }
        result.map_err(|e| e.for_session(&session.id))
    }

    /// Reads and parses a manifest; `None` when there is none.
    pub async fn read_manifest(&self, key: &ObjectKey) -> Result<Option<Manifest>> {
        use futures::TryStreamExt;
        if self.store.head(key).await?.is_none() {
            return Ok(None);
        }
        let got = self.store.get(key, None).await?;
        let chunks: Vec<bytes::Bytes> = got.body.try_collect().await?;
        Manifest::from_json(&chunks.concat(), key.as_str()).map(Some)
    }

    async fn log_failure(
        &self,
        session: &Session,
        key: Option<&ObjectKey>,
        err: &Error,
        seconds: f64,
        retries: u64,
    ) {
        let entry = LogEntry {
            session_id: Some(session.id.clone()),
            bucket: key.map(|_| self.store.bucket()),
            key: key.map(ToString::to_string),
            duration_seconds: Some(seconds),
            error_message: Some(err.to_string()),
            error_code: Some(error_code(err)),
            retry_count: retries as u32,
            ..LogEntry::new(Operation::Upload, OperationStatus::Failed)
        };
        if let Err(e) = self.tracker.log(&entry).await {
            tracing::warn!(
                "could not write the failure of session {} to the log: {e}",
                session.id
            );
        }
    }

    /// Retries made by the store so far.
    fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends a statistics row for this run.
    pub async fn record_run_stats(
        &self,
        uploads: u64,
        bytes: u64,
        verifications: u64,
    ) -> Result<()> {
        let archives = self.tracker.archives().await?;
        let count = |c: StorageClass| {
            archives
                .iter()
                .filter(|a| a.current_storage_class.as_ref() == Some(&c))
                .count() as u64
        };
        let cost = self.estimate_costs(None).await?.as_stored.monthly_usd;
        self.tracker
            .record_stats(&crate::tracker::StatsSnapshot {
                stat_date: Some(crate::time::now()),
                period_type: "run".into(),
                total_archives: archives.len() as u64,
                archives_in_standard: count(StorageClass::Standard),
                archives_in_glacier: count(StorageClass::Glacier),
                archives_in_deep_archive: count(StorageClass::DeepArchive),
                total_original_size_bytes: archives.iter().map(|a| a.original_size_bytes).sum(),
                total_archive_size_bytes: archives.iter().map(|a| a.archive_size_bytes).sum(),
                total_storage_cost_estimate: cost,
                uploads_count: uploads,
                uploads_bytes: bytes,
                verifications_count: verifications,
                restores_count: 0,
            })
            .await
    }

    /// Whether the target is the local directory.
    pub fn is_local(&self) -> bool {
        self.config.target == TargetKind::Local
    }
}

/// What was sent, and what the store answered.
struct Sent<T> {
    put: PutResult,
    stream: StreamSummary,
    /// What the writer returned (an archive's member MD5s).
    output: T,
    part_size: u64,
    resumed_parts: u64,
}

/// The session an upload belongs to, and the member snapshot it can resume on.
struct Resume<'a> {
    session: &'a SessionId,
    snapshot: String,
}

/// The member snapshot an upload in flight is resumed against: paths, sizes and
/// mtimes, in archive order.
fn snapshot_of(plan: &ArchivePlan) -> String {
    serde_json::to_string(
        &plan
            .members
            .iter()
            .map(|m| (m.path.as_str(), m.source.size, m.source.mtime))
            .collect::<Vec<_>>(),
    )
    .expect("a snapshot serialises")
}

async fn join_writer<T>(writer: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    writer
        .await
        .map_err(|e| Error::Refused(format!("the archive writer failed: {e}")))?
}

/// Why a manifest does not describe the catalog's files of its session (empty when
/// it does): the same files, folders and MD5s.
pub fn manifest_differences(manifest: &Manifest, files: &[CatalogFile]) -> Vec<String> {
    let in_manifest: HashMap<(&str, &str), &str> = manifest
        .members
        .iter()
        .map(|m| ((m.file.as_str(), m.folder.as_str()), m.md5.as_str()))
        .collect();
    let excluded: HashSet<(&str, &str)> = manifest
        .excluded
        .iter()
        .map(|e| (e.file.as_str(), e.folder.as_str()))
        .collect();
    let mut problems = Vec::new();
    let mut seen = 0;
    for f in files {
        let key = (f.file.as_str(), f.folder.as_str());
        match in_manifest.get(&key) {
            Some(md5) => {
                seen += 1;
                if let Some(catalog) = &f.md5sum
                    && catalog != md5
                {
                    problems.push(format!(
                        "{}: MD5 {md5} in the manifest, {catalog} in the catalog",
                        f.path.display()
                    ));
                }
            }
            None if excluded.contains(&key) => {}
            None => problems.push(format!("{} is not in the manifest", f.path.display())),
        }
    }
    if seen < manifest.members.len() {
        problems.push(format!(
            "{} member(s) of the manifest are not in the catalog",
            manifest.members.len() - seen
        ));
    }
    problems
}

#[cfg(test)]
#[path = "upload_tests.rs"]
mod tests;
