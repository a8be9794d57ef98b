//! Restoring from the bucket alone: rebuilding the tracking tables from the
//! manifests, asking S3 for readable copies of archived objects, following those
//! requests, and downloading sessions or single files back to disk.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::archive::{ExtractAction, ExtractOptions, ExtractedFile, Layout};
use crate::engine::Engine;
use crate::engine::verify::record_year;
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::{MemberPath, ObjectKey, SessionId};
use crate::manifest::{Manifest, ManifestMember};
use crate::model::StorageClass;
use crate::store::{ObjectStoreExt, RestoreRequest, RestoreState, RestoreTier};
use crate::tracker::{
    ArchiveRecord, LogEntry, NewArchive, Operation, OperationStatus, RestoreUpdate,
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
    /// `in-progress`, `available`, `expired`, `not-needed`, `requested`, ...
    pub status: String,
    /// When the restored copy expires.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Storage class seen.
    pub storage_class: Option<StorageClass>,
}

/// What `sync-db` found and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    /// Sessions whose archive rows were created.
    pub added: Vec<SessionId>,
    /// Sessions whose rows were brought up to date.
    pub updated: Vec<SessionId>,
    /// Sessions whose rows already matched.
    pub unchanged: Vec<SessionId>,
    /// Archives in the bucket without a manifest.
    pub archives_without_manifest: Vec<String>,
    /// Manifests whose archive is not in the bucket.
    pub manifests_without_archive: Vec<String>,
    /// Manifests that could not be read.
    pub unreadable: Vec<String>,
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
    /// Rebuilds the tracking tables from the bucket: one archive row and its members
    /// per manifest whose archive is there. Nothing is marked verified; rows that
    /// already match (same ETag and size) are left as they are.
    pub async fn sync_db(&self, dry_run: bool) -> Result<SyncReport> {
        let paths = &self.config.s3_paths;
        let manifests = self
            .store
            .list(&format!("{}/", paths.manifests.trim_matches('/')))
            .await?;
        let archives: HashMap<String, _> = self
            .store
            .list(&format!("{}/", paths.raw_archives.trim_matches('/')))
            .await?
            .into_iter()
            .filter(|o| o.key.ends_with(".tar"))
            .map(|o| (o.key.clone(), o))
            .collect();
        let existing: HashMap<SessionId, ArchiveRecord> = self
            .tracker
            .archives()
            .await?
            .into_iter()
            .map(|a| (a.session_id.clone(), a))
            .collect();
        let mut report = SyncReport::default();
        let mut described = HashSet::new();
        for object in manifests.iter().filter(|o| o.key.ends_with(".json")) {
            let key = ObjectKey::new(object.key.clone())?;
            let manifest = match self.read_manifest(&key).await {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => {
                    report.unreadable.push(format!("{key}: {e}"));
                    continue;
                }
            };
            let archive_key = manifest.archive.key.clone();
            described.insert(archive_key.clone());
            if !archives.contains_key(&archive_key) {
                report.manifests_without_archive.push(key.to_string());
                continue;
            }
            let Some(head) = self
                .store
                .head(&ObjectKey::new(archive_key.clone())?)
                .await?
            else {
                report.manifests_without_archive.push(key.to_string());
                continue;
            };
            let session = manifest.session_id.clone();
            let row = existing.get(&session);
            if row.is_some_and(|r| {
                r.etag.as_deref() == Some(head.etag.as_str())
                    && r.archive_size_bytes == head.size
                    && r.key == archive_key
            }) {
                report.unchanged.push(session);
                continue;
            }
            if row.is_some() {
                report.updated.push(session.clone());
            } else {
                report.added.push(session.clone());
            }
            if dry_run {
                continue;
            }
            let rule = &self.config.backup_rules.raw_lights;
            let archive = NewArchive {
                session_id: session.clone(),
                session_date: manifest.session_date,
                bucket: self.store.bucket(),
                key: archive_key.clone(),
                region: self.store.region(),
                etag: head.etag.clone(),
                version_id: head.version_id.clone(),
                original_size_bytes: manifest.data_bytes(),
                archive_size_bytes: head.size,
                archive_policy: rule.archive_value(),
                backup_policy: rule.backup_value(),
                storage_class: head.storage_class.clone(),
                expected_storage_class: rule.expected_storage_class(),
                uploaded_at: head.last_modified.unwrap_or(manifest.created_at),
                camera_name: manifest.camera.clone(),
                telescope_name: manifest.telescope.clone(),
                notes: Some("rebuilt from the bucket by sync-db".into()),
            };
            let log = LogEntry {
                session_id: Some(session),
                bucket: Some(self.store.bucket()),
                key: Some(archive_key),
                notes: Some(format!("rebuilt from {key}")),
                ..LogEntry::new(Operation::Sync, OperationStatus::Success)
            };
            self.tracker
                .record_archive(&archive, &manifest.members, &log)
                .await?;
        }
        report.archives_without_manifest = archives
            .keys()
            .filter(|k| !described.contains(*k))
            .cloned()
            .collect();
        report.archives_without_manifest.sort();
        Ok(report)
    }

    /// The recorded archives a restore command is about.
    pub async fn select_archives(
        &self,
        session: Option<&SessionId>,
        year: Option<i32>,
    ) -> Result<Vec<ArchiveRecord>> {
        let records: Vec<ArchiveRecord> = self
            .tracker
            .archives()
            .await?
            .into_iter()
            .filter(|r| {
                session.is_none_or(|s| *s == r.session_id)
                    && year.is_none_or(|y| record_year(r) == Some(y))
            })
            .collect();
        if let Some(id) = session
            && records.is_empty()
        {
            return Err(Error::Refused(format!(
                "session {id} has no recorded archive (after losing the database, run `fitsbak sync-db` first)"
            )));
        }
        Ok(records)
    }

    /// Which archives need a restore, and what it costs and takes per tier.
    pub async fn plan_restore(&self, records: Vec<ArchiveRecord>) -> Result<RestorePlan> {
        let mut archives = Vec::new();
        let mut not_needed = Vec::new();
        for record in records {
            let key = ObjectKey::new(record.key.clone())?;
            let Some(meta) = self.store.head(&key).await? else {
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
            return Err(Error::Refused(format!(
                "the Expedited tier is not offered for DEEP_ARCHIVE objects (session {} is one): use --tier Standard (within 12 h) or Bulk (within 48 h)",
                deep.session_id
            )));
        }
        let mut rows = Vec::new();
        for record in &plan.archives {
            let key = ObjectKey::new(record.key.clone())?;
            let request = RestoreRequest {
                version_id: None,
                days,
                tier,
            };
            let status = match self.store.try_cold_storage()?.restore(&key, &request).await {
                Ok(()) => "in-progress",
                Err(e) if e.store_kind() == Some(StoreErrorKind::RestoreInProgress) => {
                    "in-progress"
                }
                Err(e) => {
                    let log = LogEntry {
                        session_id: Some(record.session_id.clone()),
                        key: Some(record.key.clone()),
                        error_message: Some(e.to_string()),
                        ..LogEntry::new(Operation::RestoreRequest, OperationStatus::Failed)
                    };
                    self.tracker.log(&log).await?;
                    return Err(e.for_session(&record.session_id));
                }
            };
            let update = RestoreUpdate {
                session_id: record.session_id.clone(),
                status: status.into(),
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
                status: status.into(),
                expires_at: None,
                storage_class: record.current_storage_class.clone(),
            });
        }
        Ok(rows)
    }

    /// Follows restore requests: HEAD each archive, read `x-amz-restore`, record it.
    pub async fn restore_status(
        &self,
        records: Vec<ArchiveRecord>,
        only_requested: bool,
    ) -> Result<Vec<RestoreRow>> {
        let mut rows = Vec::new();
        for record in records {
            if only_requested && record.restore_status.is_none() {
                continue;
            }
            let key = ObjectKey::new(record.key.clone())?;
            let Some(meta) = self.store.head(&key).await? else {
                rows.push(RestoreRow {
                    session_id: record.session_id.clone(),
                    status: "missing".into(),
                    expires_at: None,
                    storage_class: None,
                });
                continue;
            };
            let (status, expires) = match (&meta.restore, meta.storage_class.needs_restore()) {
                (_, false) => ("not-needed", None),
                (Some(RestoreState::InProgress), _) => ("in-progress", None),
                (Some(RestoreState::Available { expires }), _) => ("available", *expires),
                (None, true) if record.restore_status.is_some() => ("expired", None),
                (None, true) => ("not-requested", None),
            };
            if record.restore_status.as_deref() != Some(status)
                || record.restore_expires_at != expires
            {
                let update = RestoreUpdate {
                    session_id: record.session_id.clone(),
                    status: status.into(),
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
                status: status.into(),
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
            .ok_or_else(|| Error::Refused(format!("session {session} has no recorded archive")))?;
        let key = ObjectKey::new(record.key.clone())?;
        let meta =
            self.store.head(&key).await?.ok_or_else(|| {
                Error::Refused(format!("{key} is not in {}", self.store.describe()))
            })?;
        if !meta.is_readable() {
            let wait = restore_wait(&meta.storage_class, RestoreTier::Standard).unwrap_or("hours");
            let message = if meta.restore == Some(RestoreState::InProgress) {
                format!(
                    "{key} is in {} and its restore is still in progress (Standard tier: {wait}); \
                     `fitsbak restore status --session-id {session}` tells when it is ready",
                    meta.storage_class
                )
            } else {
                format!(
                    "{key} is in {} and must be restored first: run `fitsbak restore request \
                     --session-id {session}`, then wait ({wait} at the Standard tier, {} at Bulk) \
                     and check with `fitsbak restore status`",
                    meta.storage_class,
                    restore_wait(&meta.storage_class, RestoreTier::Bulk).unwrap_or("longer")
                )
            };
            return Err(Error::Refused(message));
        }
        let manifest = self.manifest_of(&record).await?;
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
        let target = target.to_owned();
        let present = {
            let (reader, manifest, target, extract) = (
                self.reader.clone(),
                manifest.clone(),
                target.clone(),
                extract.clone(),
            );
            tokio::task::spawn_blocking(move || reader.present(&manifest, &target, &extract))
                .await
                .map_err(|e| Error::Refused(format!("checking the target failed: {e}")))??
        };
        let wanted: Vec<&ManifestMember> = manifest
            .members
            .iter()
            .filter(|m| only.as_ref().is_none_or(|o| o.contains(&m.path)))
            .collect();
        let mut files = Vec::new();
        let mut bytes = 0;
        if wanted.iter().all(|m| present.contains(&m.path)) {
            for m in &wanted {
                files.push(ExtractedFile {
                    path: m.path.clone(),
                    destination: PathBuf::new(),
                    size: m.size,
                    action: ExtractAction::AlreadyPresent,
                });
            }
        } else if only.is_some() {
            // Single files: a ranged GET of each member's bytes, not the archive.
            for m in wanted {
                if present.contains(&m.path) {
                    files.push(ExtractedFile {
                        path: m.path.clone(),
                        destination: PathBuf::new(),
                        size: m.size,
                        action: ExtractAction::AlreadyPresent,
                    });
                    continue;
                }
                let got = self
                    .store
                    .get(&key, Some(m.data_offset..m.data_offset + m.size))
                    .await?;
                bytes += m.size;
                let body = got.body.map(|c| c.map_err(std::io::Error::other));
                let mut bridge = SyncIoBridge::new(StreamReader::new(body));
                let (reader, member, target, extract) = (
                    self.reader.clone(),
                    m.clone(),
                    target.clone(),
                    extract.clone(),
                );
                let file = tokio::task::spawn_blocking(move || {
                    reader.extract_member(&mut bridge, &member, &target, &extract)
                })
                .await
                .map_err(|e| Error::Refused(format!("the download failed: {e}")))??;
                files.push(file);
            }
        } else {
            let got = self.store.get(&key, None).await?;
            bytes = meta.size;
            let body = got.body.map(|c| c.map_err(std::io::Error::other));
            let mut bridge = SyncIoBridge::new(StreamReader::new(body));
            let (reader, manifest, target, extract) = (
                self.reader.clone(),
                manifest.clone(),
                target.clone(),
                extract.clone(),
            );
            files = tokio::task::spawn_blocking(move || {
                reader.extract(&mut bridge, &manifest, &target, &extract)
            })
            .await
            .map_err(|e| Error::Refused(format!("the download failed: {e}")))??;
        }
        let written = files
            .iter()
            .filter(|f| f.action == ExtractAction::Written)
            .count();
        let log = LogEntry {
            session_id: Some(session.clone()),
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
        self.tracker.log(&log).await?;
        Ok(files)
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
                return Err(Error::Refused(format!(
                    "{name:?} is not in the archive of session {}",
                    manifest.session_id
                )));
            }
            chosen.extend(matches.into_iter().map(|m| m.path.clone()));
        }
        Ok(Some(chosen))
    }
}
