//! Restoring from the bucket alone: rebuilding the tracking tables from the
//! manifests, asking S3 for readable copies of archived objects, following those
//! requests, and downloading sessions or single files back to disk.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::archive::{ExtractAction, ExtractOptions, ExtractedFile, Lane, Layout};
use crate::engine::Engine;
use crate::error::{Error, Hint, Result, StoreErrorKind};
use crate::ids::{MemberPath, ObjectKey, SessionId};
use crate::manifest::{Manifest, ManifestMember};
use crate::model::StorageClass;
use crate::store::{
    GetResult, ObjectMeta, ObjectStoreExt, RestoreRequest, RestoreState, RestoreTier,
};
use crate::tracker::{
    ArchiveRecord, LogEntry, Operation, OperationStatus, RestoreStatus, RestoreUpdate,
};

pub use crate::engine::costs::{TierEstimate, restore_wait};

/// The plan of a restore request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePlan {
    /// Archives that need a restore.
    pub archives: Vec<ArchiveRecord>,
    /// Archives that do not (readable now, or already requested).
    pub not_needed: Vec<(SessionId, String)>,
    /// Bytes to restore.
    pub bytes: u64,
    /// Per tier.
    pub tiers: Vec<TierEstimate>,
    /// USD to download the bytes afterwards (transfer out of AWS).
    pub download_cost_usd: f64,
}

/// One line of `restore status` or `restore request`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreRow {
    /// The session.
    pub session_id: SessionId,
    /// Where its restore stands.
    pub status: RestoreStatus,
    /// When the restored copy expires.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Storage class seen.
    pub storage_class: Option<StorageClass>,
}

/// A download under way: the archive, where its files go, and how.
#[derive(Clone)]
struct Download {
    key: ObjectKey,
    target: PathBuf,
    extract: ExtractOptions,
    manifest: Manifest,
}

/// A member found at its destination with the right MD5.
fn already_there(m: &ManifestMember) -> ExtractedFile {
    ExtractedFile {
        path: m.path.clone(),
        destination: PathBuf::new(),
        size: m.size,
        action: ExtractAction::AlreadyPresent,
    }
}

/// A GET's body as a blocking reader, for the archive reader's thread.
pub(crate) fn body_reader(got: GetResult) -> impl std::io::Read + Send + 'static {
    let body = got.body.map(|c| c.map_err(std::io::Error::other));
    SyncIoBridge::new(StreamReader::new(body))
}

/// A GET's body as the chunks it arrives in, for the archive reader's thread (a
/// blocking thread of the runtime the GET was made on).
fn body_chunks(got: GetResult) -> impl Iterator<Item = std::io::Result<bytes::Bytes>> + Send {
    let runtime = tokio::runtime::Handle::current();
    let mut body = got.body.fuse();
    std::iter::from_fn(move || {
        runtime
            .block_on(body.next())
            .map(|chunk| chunk.map_err(std::io::Error::other))
    })
}

/// Fewest bytes worth a lane (a GET) of their own.
pub const LANE_MIN_BYTES: u64 = 8 << 20;

impl Engine {
    /// GETs of `ranges` of `key`, all in flight at once, as lanes for the archive
    /// reader (one plain GET when the single range is the whole object).
    pub(crate) async fn open_lanes(
        &self,
        key: &ObjectKey,
        ranges: Vec<std::ops::Range<u64>>,
        size: u64,
    ) -> Result<Vec<Lane<'static>>> {
        tracing::debug!("{key}: {} range(s) read side by side", ranges.len());
        let gets = ranges.into_iter().map(|range| async move {
            let start = range.start;
            let whole = range == (0..size);
            let got = self.store.get(key, (!whole).then_some(range)).await?;
            Ok::<_, Error>(Lane::new(start, body_chunks(got)))
        });
        futures::future::try_join_all(gets).await
    }
}

/// How to download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Only these files (file names or member paths); the whole session when empty.
    pub files: Vec<String>,
    /// Replace existing files that differ.
    pub overwrite: bool,
    /// Every file directly in the target directory, instead of below its original
    /// folder.
    pub flat: bool,
}

impl Engine {
    /// Which archives need a restore, and what it costs and takes per tier.
    pub async fn plan_restore(&self, records: Vec<ArchiveRecord>) -> Result<RestorePlan> {
        let mut archives = Vec::new();
        let mut not_needed = Vec::new();
        let keys = records
            .iter()
            .map(|r| ObjectKey::new(r.key.clone()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        // `archive_concurrency` HEADs at once, taken in order.
        let heads = self.head_all(&keys).await;
        for ((record, key), head) in records.into_iter().zip(&keys).zip(heads) {
            let Some(meta) = head? else {
                not_needed.push((
                    record.session_id.clone(),
                    format!("{key} is not in the bucket"),
                ));
                continue;
            };
            match (&meta.restore, meta.storage_class.needs_restore()) {
                (_, false) => not_needed.push((
                    record.session_id.clone(),
                    format!("in {}: readable now", meta.storage_class),
                )),
                (Some(RestoreState::InProgress), _) => not_needed.push((
                    record.session_id.clone(),
                    "a restore is already in progress".into(),
                )),
                (Some(RestoreState::Available { expires }), _) => not_needed.push((
                    record.session_id.clone(),
                    format!(
                        "restored{}",
                        expires.map(|e| format!(" until {e}")).unwrap_or_default()
                    ),
                )),
                (None, true) => {
                    let mut record = record;
                    record.current_storage_class = Some(meta.storage_class.clone());
                    archives.push(record);
                }
            }
        }
        let costs = &self.config.cost_tracking;
        let objects: Vec<(u64, StorageClass)> = archives
            .iter()
            .map(|r| {
                (
                    r.archive_size_bytes,
                    r.current_storage_class
                        .clone()
                        .unwrap_or(StorageClass::DeepArchive),
                )
            })
            .collect();
        let tiers = crate::engine::costs::tier_estimates(&objects, costs);
        let bytes = archives.iter().map(|r| r.archive_size_bytes).sum::<u64>();
        Ok(RestorePlan {
            download_cost_usd: crate::engine::costs::gb(bytes)
                * costs.data_transfer_cost_per_gb.download,
            bytes,
            archives,
            not_needed,
            tiers,
        })
    }

    /// Sends the restore requests of a plan.
    pub async fn request_restore(
        &self,
        plan: &RestorePlan,
        tier: RestoreTier,
        days: u32,
    ) -> Result<Vec<RestoreRow>> {
        if let Some(deep) = plan.archives.iter().find(|r| {
            tier == RestoreTier::Expedited
                && r.current_storage_class == Some(StorageClass::DeepArchive)
        }) {
            return Err(Error::Unusable {
                message: format!(
                    "the Expedited tier is not offered for DEEP_ARCHIVE objects (session {} is one)",
                    deep.session_id
                ),
                hint: Some(Hint::SlowerTier),
            });
        }
        let cold = self.store.try_cold_storage()?;
        let request = RestoreRequest {
            version_id: None,
            days,
            tier,
        };
        // `archive_concurrency` requests at once; each answer is recorded in order,
        // the ones that went through even when another failed (they are under way).
        let answers: Vec<Result<()>> = futures::stream::iter(plan.archives.iter().map(|record| {
            let request = &request;
            async move {
                let key = ObjectKey::new(record.key.clone())?;
                cold.restore(&key, request).await
            }
        }))
        .buffered(self.config.archive_concurrency.max(1))
        .collect()
        .await;
        let mut rows = Vec::new();
        let mut failed = None;
        for (record, answer) in plan.archives.iter().zip(answers) {
            let status = match answer {
                Ok(()) => RestoreStatus::InProgress,
                Err(e) if e.store_kind() == Some(StoreErrorKind::RestoreInProgress) => {
                    RestoreStatus::InProgress
                }
                Err(e) => {
                    let log = LogEntry {
                        session_id: Some(record.session_id.clone()),
                        key: Some(record.key.clone()),
                        error_message: Some(e.to_string()),
                        ..LogEntry::new(Operation::RestoreRequest, OperationStatus::Failed)
                    };
                    self.tracker.log(&log).await?;
                    failed.get_or_insert(e.for_session(&record.session_id));
                    continue;
                }
            };
            let update = RestoreUpdate {
                session_id: record.session_id.clone(),
                status,
                requested_at: Some(crate::time::now()),
                tier: Some(tier),
                expires_at: None,
                storage_class: record.current_storage_class.clone(),
            };
            let log = LogEntry {
                session_id: Some(record.session_id.clone()),
                bucket: Some(record.bucket.clone()),
                key: Some(record.key.clone()),
                bytes_transferred: Some(record.archive_size_bytes),
                notes: Some(format!("{tier} tier, {days} day(s)")),
                ..LogEntry::new(Operation::RestoreRequest, OperationStatus::Success)
            };
            self.tracker.record_restore(&update, &log).await?;
            rows.push(RestoreRow {
                session_id: record.session_id.clone(),
                status,
                expires_at: None,
                storage_class: record.current_storage_class.clone(),
            });
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// Follows restore requests: HEAD each archive, read `x-amz-restore`, record it.
    pub async fn restore_status(
        &self,
        records: Vec<ArchiveRecord>,
        only_requested: bool,
    ) -> Result<Vec<RestoreRow>> {
        let records: Vec<ArchiveRecord> = records
            .into_iter()
            .filter(|r| !only_requested || r.restore_status.is_some())
            .collect();
        let keys = records
            .iter()
            .map(|r| ObjectKey::new(r.key.clone()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let heads = self.head_all(&keys).await;
        let mut rows = Vec::new();
        for (record, head) in records.into_iter().zip(heads) {
            let Some(meta) = head? else {
                rows.push(RestoreRow {
                    session_id: record.session_id.clone(),
                    status: RestoreStatus::Missing,
                    expires_at: None,
                    storage_class: None,
                });
                continue;
            };
            let (status, expires) = match (&meta.restore, meta.storage_class.needs_restore()) {
                (_, false) => (RestoreStatus::NotNeeded, None),
                (Some(RestoreState::InProgress), _) => (RestoreStatus::InProgress, None),
                (Some(RestoreState::Available { expires }), _) => {
                    (RestoreStatus::Available, *expires)
                }
                (None, true) if record.restore_status.is_some() => (RestoreStatus::Expired, None),
                (None, true) => (RestoreStatus::NotRequested, None),
            };
            let recorded = record
                .restore_status
                .as_deref()
                .and_then(RestoreStatus::parse);
            if recorded != Some(status) || record.restore_expires_at != expires {
                let update = RestoreUpdate {
                    session_id: record.session_id.clone(),
                    status,
                    requested_at: None,
                    tier: None,
                    expires_at: expires,
                    storage_class: Some(meta.storage_class.clone()),
                };
                let log = LogEntry {
                    session_id: Some(record.session_id.clone()),
                    key: Some(record.key.clone()),
                    notes: Some(format!("restore {status}")),
                    ..LogEntry::new(Operation::RestoreRequest, OperationStatus::InProgress)
                };
                self.tracker.record_restore(&update, &log).await?;
            }
            rows.push(RestoreRow {
                session_id: record.session_id.clone(),
                status,
                expires_at: expires,
                storage_class: Some(meta.storage_class),
            });
        }
        Ok(rows)
    }

    /// Downloads a session (or some of its files) below `target`, checking every
    /// file's MD5 against the manifest. Files already there with the right MD5 are
    /// skipped, so an interrupted download resumes.
    pub async fn download(
        &self,
        session: &SessionId,
        target: &Path,
        options: &DownloadOptions,
    ) -> Result<Vec<ExtractedFile>> {
        let started = std::time::Instant::now();
        let record = self
            .select_archives(Some(session), None)
            .await?
            .pop()
            .ok_or_else(|| Error::NoArchive {
                session: session.clone(),
                hint: Some(Hint::SyncDb),
            })?;
        let key = ObjectKey::new(record.key.clone())?;
        let meta =
            self.store.head(&key).await?.ok_or_else(|| {
                Error::unusable(format!("{key} is not in {}", self.store.describe()))
            })?;
        if !meta.is_readable() {
            return Err(self.needs_restore(&key, &meta, session));
        }
        let (mut manifest, _) = self.trusted_manifest(&record).await?;
        self.catalog_outranks(&mut manifest).await;
        let only = self.chosen_members(&manifest, &options.files)?;
        let extract = ExtractOptions {
            overwrite: options.overwrite,
            layout: if options.flat {
                Layout::Flat
            } else {
                Layout::OriginalFolders
            },
            only: only.clone(),
        };
        let job = Download {
            key,
            target: target.to_owned(),
            extract,
            manifest,
        };
        let present = self.present(&job).await?;
        let wanted: Vec<ManifestMember> = job
            .manifest
            .members
            .iter()
            .filter(|m| only.as_ref().is_none_or(|o| o.contains(&m.path)))
            .cloned()
            .collect();
        let (files, bytes) = if wanted.iter().all(|m| present.contains(&m.path)) {
            (wanted.iter().map(already_there).collect(), 0)
        } else if only.is_some() && job.manifest.archive.compression.is_none() {
            // A compressed archive has no byte ranges per member: read it whole.
            self.download_members(&job, wanted, &present).await?
        } else {
            (self.download_archive(&job, meta.size).await?, meta.size)
        };
        self.log_download(&record, &job.target, &files, bytes, started)
            .await?;
        Ok(files)
    }

    /// The catalog's MD5 is what a restore must produce: where the catalog lists a
    /// member with another MD5 than the archived one, the member is checked against
    /// the catalog's (so its restore fails, its bytes kept aside). Without a
    /// catalog (after a disaster) the tracking rows or the manifest stand.
    async fn catalog_outranks(&self, manifest: &mut Manifest) {
        let session = std::slice::from_ref(&manifest.session_id);
        let files = match self.catalog.files(Some(session)).await {
            Ok(files) => files,
            Err(e) => {
                tracing::debug!("restore checked against the archive's own MD5s: {e}");
                return;
            }
        };
        let catalogued: std::collections::HashMap<(&str, &str), &str> = files
            .iter()
            .filter_map(|f| Some(((f.folder.as_str(), f.file.as_str()), f.md5sum.as_deref()?)))
            .collect();
        for m in &mut manifest.members {
            let Some(md5) = catalogued.get(&(m.folder.as_str(), m.file.as_str())) else {
                continue;
            };
            if !md5.eq_ignore_ascii_case(&m.md5) {
                tracing::warn!(
                    "{}: the catalog's MD5 {md5} is not the archived {}; the restore must produce the catalog's",
                    m.path,
                    m.md5
                );
                m.md5 = md5.to_ascii_lowercase();
            }
        }
    }

    /// The members already at their destination with the right MD5.
    async fn present(&self, job: &Download) -> Result<BTreeSet<MemberPath>> {
        let (reader, job) = (self.reader.clone(), job.clone());
        Engine::blocking("checking the target", move || {
            reader.present(&job.manifest, &job.target, &job.extract)
        })
        .await
    }

    /// Single files: ranged GETs of the members' bytes (headers to padding), not
    /// the archive, one member per lane of the archive reader side by side.
    async fn download_members(
        &self,
        job: &Download,
        wanted: Vec<ManifestMember>,
        present: &BTreeSet<MemberPath>,
    ) -> Result<(Vec<ExtractedFile>, u64)> {
        let (mut files, mut bytes) = (Vec::new(), 0);
        let (there, fetch): (Vec<_>, Vec<_>) =
            wanted.into_iter().partition(|m| present.contains(&m.path));
        files.extend(there.iter().map(already_there));
        for group in fetch.chunks(self.reader.lanes().max(1)) {
            let ranges: Vec<_> = group.iter().map(Manifest::member_range).collect();
            bytes += ranges.iter().map(|r| r.end - r.start).sum::<u64>();
            let lanes = self.open_lanes(&job.key, ranges, u64::MAX).await?;
            let mut job = job.clone();
            job.extract.only = Some(group.iter().map(|m| m.path.clone()).collect());
            let reader = self.reader.clone();
            let got = Engine::blocking("the download", move || {
                reader.extract(lanes, &job.manifest, &job.target, &job.extract)
            })
            .await?;
            files.extend(got);
        }
        Ok((files, bytes))
    }

    /// The whole archive, through the safe extractor, one range per lane of the
    /// archive reader side by side (as many GETs in flight).
    async fn download_archive(&self, job: &Download, size: u64) -> Result<Vec<ExtractedFile>> {
        let ranges = job
            .manifest
            .lane_ranges(size, self.reader.lanes(), LANE_MIN_BYTES);
        let lanes = self.open_lanes(&job.key, ranges, size).await?;
        let (reader, job) = (self.reader.clone(), job.clone());
        Engine::blocking("the download", move || {
            reader.extract(lanes, &job.manifest, &job.target, &job.extract)
        })
        .await
    }

    async fn log_download(
        &self,
        record: &ArchiveRecord,
        target: &Path,
        files: &[ExtractedFile],
        bytes: u64,
        started: std::time::Instant,
    ) -> Result<()> {
        let written = files
            .iter()
            .filter(|f| f.action == ExtractAction::Written)
            .count();
        let log = LogEntry {
            session_id: Some(record.session_id.clone()),
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            duration_seconds: Some(started.elapsed().as_secs_f64()),
            bytes_transferred: Some(bytes),
            notes: Some(format!(
                "{written} file(s) written, {} already there, to {}",
                files.len() - written,
                target.display()
            )),
            ..LogEntry::new(Operation::Restore, OperationStatus::Success)
        };
        self.tracker.log(&log).await
    }

    /// Why an archived object cannot be downloaded yet, and what to do.
    fn needs_restore(&self, key: &ObjectKey, meta: &ObjectMeta, session: &SessionId) -> Error {
        let standard = restore_wait(&meta.storage_class, RestoreTier::Standard).unwrap_or("hours");
        let in_progress = meta.restore == Some(RestoreState::InProgress);
        let (wait, hint) = if in_progress {
            (
                format!("Standard tier: {standard}"),
                Hint::RestoreStatus {
                    session: session.clone(),
                },
            )
        } else {
            let bulk = restore_wait(&meta.storage_class, RestoreTier::Bulk).unwrap_or("longer");
            (
                format!("{standard} at the Standard tier, {bulk} at Bulk"),
                Hint::RestoreRequest {
                    session: session.clone(),
                },
            )
        };
        Error::NeedsRestore {
            key: key.to_string(),
            class: meta.storage_class.to_string(),
            in_progress,
            wait,
            hint: Some(hint),
        }
    }

    /// The members `names` asks for (file names or member paths); `None` for all.
    fn chosen_members(
        &self,
        manifest: &Manifest,
        names: &[String],
    ) -> Result<Option<BTreeSet<MemberPath>>> {
        if names.is_empty() {
            return Ok(None);
        }
        let mut chosen = BTreeSet::new();
        for name in names {
            let matches: Vec<&ManifestMember> = manifest
                .members
                .iter()
                .filter(|m| {
                    m.file == *name || m.path.as_str() == name || m.path.file_name() == name
                })
                .collect();
            if matches.is_empty() {
                return Err(Error::unusable(format!(
                    "{name:?} is not in the archive of session {}",
                    manifest.session_id
                )));
            }
            chosen.extend(matches.into_iter().map(|m| m.path.clone()));
        }
        Ok(Some(chosen))
    }
}
