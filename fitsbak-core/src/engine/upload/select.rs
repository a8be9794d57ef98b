//! Which sessions an upload run sends: those without a good archive, those found
//! in the bucket without a row (to adopt), with their archives planned. Sessions
//! that need nothing, or cannot be uploaded, come back as results at once.

use std::collections::{HashMap, HashSet};

use super::plan::Planned;
use super::{ALREADY_BACKED_UP, SessionOutcome, SessionResult, UploadOptions};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{ObjectKey, SessionId};
use crate::model::{CatalogFile, RejectedSession, Session, SessionScan};
use crate::store::ObjectStoreExt;
use crate::tracker::ArchiveRecord;

/// A session chosen for upload, with its plan.
pub(super) struct Selected {
    pub session: Session,
    pub work: Work,
}

pub(super) enum Work {
    Upload(Box<Planned>),
    Adopt(ObjectKey),
}

impl Selected {
    /// The archive bytes the session sends.
    pub fn bytes(&self) -> u64 {
        match &self.work {
            Work::Upload(p) => p.plan.total_size,
            Work::Adopt(_) => 0,
        }
    }

    /// What a dry run says of it.
    pub fn planned(&self) -> SessionResult {
        let outcome = match &self.work {
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
        SessionResult::new(self.session.id.as_str(), outcome)
    }
}

pub(super) fn failed(id: impl Into<String>, error: impl ToString) -> SessionResult {
    SessionResult::new(
        id,
        SessionOutcome::Failed {
            error: error.to_string(),
        },
    )
}

fn skipped(id: impl Into<String>, reason: impl Into<String>) -> SessionResult {
    SessionResult::new(
        id,
        SessionOutcome::Skipped {
            reason: reason.into(),
        },
    )
}

/// Catalog rows that are not usable sessions, as failures of the run when it
/// would include them.
fn rejected_in_scope(rejected: &[RejectedSession], options: &UploadOptions) -> Vec<SessionResult> {
    if options.session_id.is_some() {
        return Vec::new();
    }
    rejected
        .iter()
        .filter(|r| {
            options.year.is_none_or(|y| {
                r.raw_date
                    .as_deref()
                    .is_some_and(|d| d.starts_with(&y.to_string()))
            })
        })
        .map(|r| failed(r.raw_id.clone(), &r.reason))
        .collect()
}

/// What the run knows before it looks at each session.
struct Known {
    archives: HashMap<SessionId, ArchiveRecord>,
    /// Sessions whose catalog rows changed since their archive was made.
    changed: HashSet<SessionId>,
    in_bucket: crate::engine::verify::Listing,
    interrupted: HashSet<SessionId>,
}

impl Engine {
    /// Chooses the sessions to upload and plans their archives.
    pub(super) async fn select(
        &self,
        options: &UploadOptions,
    ) -> Result<(Vec<Selected>, Vec<SessionResult>)> {
        let scan = self.catalog.sessions().await?;
        if let Some(early) = self.unknown_session(&scan, options)? {
            return Ok((Vec::new(), vec![early]));
        }
        let mut results = rejected_in_scope(&scan.rejected, options);
        let known = self.known(options.dry_run).await?;
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
            match self.candidate(&session, &known, options).await? {
                Ok(adopt) => candidates.push((session, adopt)),
                Err(result) => results.push(result),
            }
        }
        if let Some(limit) = options.limit {
            candidates.truncate(limit);
        }
        let selected = self.plan_all(candidates, options, &mut results).await?;
        Ok((selected, results))
    }

    /// A `--session-id` the catalog does not have: a failure if the catalog has the
    /// row but cannot use it, an error otherwise.
    fn unknown_session(
        &self,
        scan: &SessionScan,
        options: &UploadOptions,
    ) -> Result<Option<SessionResult>> {
        let Some(id) = &options.session_id else {
            return Ok(None);
        };
        if scan.sessions.iter().any(|s| s.id == *id) {
            return Ok(None);
        }
        match scan.rejected.iter().find(|r| r.raw_id == id.as_str()) {
            Some(r) => Ok(Some(failed(id.as_str(), &r.reason))),
            None => Err(Error::NotInCatalog {
                session: id.clone(),
                catalog: self.catalog.describe(),
            }),
        }
    }

    async fn known(&self, dry_run: bool) -> Result<Known> {
        let archives = self.archives_by_session().await?;
        let changed =
            crate::engine::drift::changed_since_backup(self.catalog.as_ref(), archives.values())
                .await?;
        // One listing tells which archives are in the bucket (and checks access).
        let in_bucket = if dry_run {
            Default::default()
        } else {
            let prefix = format!("{}/", self.config.s3_paths.raw_archives.trim_matches('/'));
            self.store
                .list(&prefix)
                .await?
                .into_iter()
                .map(|o| (o.key.clone(), o))
                .collect()
        };
        let interrupted = self
            .tracker
            .inflight()
            .await?
            .into_iter()
            .map(|u| u.session_id)
            .collect();
        Ok(Known {
            archives,
            changed,
            in_bucket,
            interrupted,
        })
    }

    /// Whether `session` goes into the run: `Ok(None)` to upload, `Ok(Some(key))`
    /// to adopt what the bucket holds, `Err(result)` when it needs nothing or
    /// cannot go.
    async fn candidate(
        &self,
        session: &Session,
        known: &Known,
        options: &UploadOptions,
    ) -> Result<std::result::Result<Option<ObjectKey>, SessionResult>> {
        let id = session.id.as_str();
        let key = match self
            .config
            .s3_paths
            .archive_key(session.year(), &session.id)
        {
            Ok(key) => key,
            Err(e) => return Ok(Err(failed(id, e))),
        };
        if !options.no_skip_existing {
            if let Some(row) = known.archives.get(&session.id) {
                if known.changed.contains(&session.id) {
                    // Backed up again below, replacing the archive at its key.
                    if let Err(e) = self.may_replace(row).await {
                        return Ok(Err(failed(id, self.describe(&e))));
                    }
                } else if self
                    .still_good(row, options.dry_run, &known.in_bucket)
                    .await?
                {
                    if !options.dry_run {
                        self.abort_uploads_of(&session.id).await?;
                    }
                    return Ok(Err(skipped(id, ALREADY_BACKED_UP)));
                }
            } else if known.in_bucket.contains_key(key.as_str())
                && !known.interrupted.contains(&session.id)
            {
                // An archive in the bucket without a row: adopt it. (One this tool
                // was uploading when it died is uploaded again instead.)
                return Ok(Ok(Some(key)));
            }
        }
        if session.file_count == 0 {
            return Ok(Err(skipped(id, "no files in the catalog")));
        }
        Ok(Ok(None))
    }

    /// Plans the archives of the candidates to upload: one catalog query for all of
    /// them, then the files' sizes, on a blocking thread.
    async fn plan_all(
        &self,
        candidates: Vec<(Session, Option<ObjectKey>)>,
        options: &UploadOptions,
        results: &mut Vec<SessionResult>,
    ) -> Result<Vec<Selected>> {
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
                    match self
                        .plan_session(&session, session_files, options.allow_missing)
                        .await
                    {
                        Ok(p) => Work::Upload(Box::new(p)),
                        Err(e) => {
                            self.log_failure(&session, None, &e, 0.0, 0).await;
                            results.push(failed(session.id.as_str(), self.describe(&e)));
                            continue;
                        }
                    }
                }
            };
            selected.push(Selected { session, work });
        }
        Ok(selected)
    }

    /// Whether a session's recorded archive can be trusted without uploading it
    /// again: it was verified, or a quick check now passes.
    async fn still_good(
        &self,
        row: &ArchiveRecord,
        dry_run: bool,
        listed: &crate::engine::verify::Listing,
    ) -> Result<bool> {
        if row.verified || dry_run {
            return Ok(true); // a dry run sends nothing, checks included
        }
        let check = match self.quick_check(row, Some(listed)).await {
            // A good archive whose manifest is gone or wrong: written again from the
            // tracking rows.
            Ok(check) if check.repairable => {
                self.repaired(row, crate::tracker::CheckMethod::Quick, check)
                    .await
            }
            other => other,
        };
        match check {
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
            Err(e) if crate::engine::stops_the_run(&e) => Err(e),
            Err(e) => {
                tracing::warn!(
                    "session {}: its archive could not be checked ({e}); uploading it again",
                    row.session_id
                );
                Ok(false)
            }
        }
    }

    /// Whether the archive of a session whose catalog changed may be replaced by
    /// one made from the catalog now: yes when that loses nothing (files were only
    /// added), or when the bucket keeps the old archive as a noncurrent version;
    /// otherwise a [`Error::CatalogChanged`] naming what would be lost.
    async fn may_replace(&self, row: &ArchiveRecord) -> Result<()> {
        let session = &row.session_id;
        let members = self.tracker.members(session).await?;
        let files = self
            .catalog
            .files(Some(std::slice::from_ref(session)))
            .await?;
        let losses = crate::engine::drift::Losses::between(&members, &files);
        tracing::info!(
            "session {session}: the catalog changed since its backup ({} archived, {} catalogued now); backing it up again",
            members.len(),
            files.len()
        );
        if let Some(note) = early_deletion(row) {
            tracing::warn!("session {session}: {note}");
        }
        if losses.is_empty() {
            return Ok(());
        }
        let versioned = match self.store.try_admin() {
            Ok(admin) => admin.facts().await.map(|f| f.versioned()).unwrap_or(false),
            Err(_) => false,
        };
        if versioned {
            tracing::warn!(
                "session {session}: {} archived file(s) are no longer catalogued or changed; the old archive stays in the bucket as a noncurrent version",
                losses.removed.len() + losses.changed.len()
            );
            return Ok(());
        }
        Err(Error::CatalogChanged {
            removed: losses.removed,
            changed: losses.changed,
            hint: Some(crate::error::Hint::UploadAgain),
        })
    }

    /// Aborts any interrupted upload of `session`: a session backed up since needs
    /// none, and its parts should not stay behind.
    async fn abort_uploads_of(&self, session: &SessionId) -> Result<()> {
        for upload in self.tracker.inflight().await? {
            if upload.session_id == *session {
                self.abort(&ObjectKey::new(upload.key.clone())?, &upload.upload_id)
                    .await;
            }
        }
        Ok(())
    }
}

/// What replacing an archive still inside its class's minimum storage period costs.
fn early_deletion(row: &ArchiveRecord) -> Option<String> {
    let class = row.current_storage_class.as_ref()?;
    let minimum = i64::from(class.minimum_days()?);
    let age = (crate::time::now() - row.uploaded_at?).num_days();
    (age < minimum).then(|| {
        format!(
            "its archive is {age} day(s) old in {class}, which bills {minimum} days at least: replacing it now costs the remaining {} day(s)",
            minimum - age
        )
    })
}
