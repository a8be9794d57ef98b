//! Catalog database snapshots in the bucket: upload, list, restore.
//!
//! A snapshot (taken with SQLite's online backup API behind
//! [`crate::snapshot::CatalogSnapshots`], in a scratch directory removed afterwards)
//! goes to `backups/database/{file name}` when the
//! bucket keeps versions, each upload a new version; otherwise to a timestamped
//! key, `backups/database/{stem}_{YYYYMMDDTHHMMSS.mmmZ}.{ext}`, written only if no
//! object has that key, so that no snapshot replaces another. Each object carries its MD5 and description as metadata, so
//! that a listing and a restore need nothing but the bucket.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::engine::Engine;
use crate::error::{Error, Hint, Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::model::StorageClass;
use crate::snapshot::SnapshotInfo;
use crate::store::{
    GetResult, ObjectStoreExt, ObjectVersion, PutOptions, RestoreRequest, RestoreTier,
};
use crate::tags::ObjectKind;
use crate::tracker::{DbSnapshotRecord, LogEntry, Operation, OperationStatus};

/// Characters escaped in metadata values: S3 metadata travels as HTTP headers.
const METADATA_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// A snapshot in the bucket, as `list-db-backups` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbSnapshotListing {
    /// The object key.
    pub key: String,
    /// Its version id (`None` for a store without versions).
    pub version_id: Option<String>,
    /// The current version of its key.
    pub is_latest: bool,
    /// Size in bytes.
    pub size_bytes: u64,
    /// When it was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// Storage class.
    pub storage_class: StorageClass,
    /// What was said about it when it was taken (from the tracking table).
    pub description: Option<String>,
}

/// Which snapshot to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotSelector {
    /// Its key (the newest snapshot when neither is given).
    pub key: Option<String>,
    /// Its version id.
    pub version_id: Option<String>,
}

/// A restored snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoredSnapshot {
    /// Where it came from.
    pub key: String,
    /// Which version.
    pub version_id: Option<String>,
    /// Where it was written.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Its MD5, checked against the one recorded at upload when there was one.
    pub md5: String,
    /// Whether that MD5 was checked.
    pub md5_checked: bool,
}

fn md5_of_metadata(metadata: &BTreeMap<String, String>) -> Option<String> {
    metadata.get("md5").cloned()
}

/// The timestamped key name of a snapshot of `file_name` taken at `at`.
pub fn timestamped_name(file_name: &str, at: DateTime<Utc>) -> String {
    let stamp = at.format("%Y%m%dT%H%M%S%.3fZ");
    match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}_{stamp}.{ext}"),
        _ => format!("{file_name}_{stamp}"),
    }
}

impl Engine {
    /// `backup-db`: snapshots the catalog database at `source` into a scratch
    /// directory (in `archive_settings.temp_dir`, else the system's), uploads and
    /// records it, and removes the scratch directory whatever happens.
    pub async fn backup_db(
        &self,
        source: &Path,
        description: Option<String>,
    ) -> Result<(DbSnapshotRecord, SnapshotInfo)> {
        let dir = self.config.temp_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.clone(), e))?;
        // One run per catalog at a time; holding the lock, whatever a killed run of
        // this catalog left is no one's: its scratch copy and its incomplete
        // uploads go first.
        let scratch_prefix = format!("{SCRATCH_PREFIX}{}-", source_tag(source));
        let _lock = backup_db_lock(&dir, source)?;
        remove_stale_scratch(&dir, &scratch_prefix);
        self.abort_snapshot_uploads(source).await?;
        let scratch = tempfile::Builder::new()
            .prefix(&scratch_prefix)
            .tempdir_in(&dir)
            .map_err(|e| Error::io(dir.clone(), e))?;
        let path = scratch.path().join("snapshot.db");
        let (snapshots, from, to) = (self.snapshots.clone(), source.to_path_buf(), path.clone());
        let info = Engine::blocking("the snapshot of the catalog", move || {
            snapshots.take(&from, &to)
        })
        .await?;
        let record = self.upload_db_snapshot(&path, source, description).await;
        drop(scratch);
        Ok((record?, info))
    }

    /// Aborts the incomplete multipart uploads of snapshots of `source`: a
    /// snapshot upload never resumes, so any there was left by a run that died.
    async fn abort_snapshot_uploads(&self, source: &Path) -> Result<()> {
        let Ok(multipart) = self.store.try_multipart() else {
            return Ok(());
        };
        let Some(file_name) = source.file_name().and_then(|n| n.to_str()) else {
            return Ok(());
        };
        // The keys `upload_db_snapshot` writes: the file name, or its timestamped forms.
        let key = self.config.s3_paths.database_key(file_name)?;
        let stem = key
            .as_str()
            .rsplit_once('.')
            .map_or(key.as_str(), |(stem, _)| stem)
            .to_owned();
        let ours = |k: &str| k == key.as_str() || k.starts_with(&format!("{stem}_"));
        let stale = match multipart.list_multipart_uploads(&stem).await {
            Ok(stale) => stale,
            Err(e) if e.store_kind() == Some(StoreErrorKind::NotImplemented) => return Ok(()),
            Err(e) => return Err(e),
        };
        for upload in stale.into_iter().filter(|u| ours(&u.key)) {
            let key = ObjectKey::new(upload.key.clone())?;
            match multipart.abort_multipart(&key, &upload.upload_id).await {
                Ok(()) => tracing::info!(
                    "aborted the incomplete snapshot upload of {key} a stopped run left"
                ),
                Err(e) => tracing::warn!(
                    "the incomplete snapshot upload of {key} could not be aborted: {e}"
                ),
            }
        }
        Ok(())
    }

    /// Uploads the snapshot file at `snapshot` (a copy of the catalog at `source`)
    /// and records it. `description` goes in the tracking table and, escaped, in the
    /// object's metadata.
    pub async fn upload_db_snapshot(
        &self,
        snapshot: &Path,
        source: &Path,
        description: Option<String>,
    ) -> Result<DbSnapshotRecord> {
        let started = Instant::now();
        let created_at = crate::time::now();
        let file_name = source
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::unusable(format!(
                    "{} has no file name that can be a key",
                    source.display()
                ))
            })?
            .to_owned();
        let versioned = match self.store.admin() {
            Some(admin) => admin.facts().await?.versioned(),
            None => false,
        };
        let name = if versioned {
            file_name.clone()
        } else {
            timestamped_name(&file_name, created_at)
        };
        let key = self.config.s3_paths.database_key(&name)?;
        let mut options = self.snapshot_options(&file_name, created_at, &description, versioned);
        // The MD5 must be in the metadata before the bytes are sent: hash first.
        let md5 = hash_file(snapshot).await?;
        options.metadata.insert("md5".to_owned(), md5.clone());
        let sent = self.put_file(&key, snapshot, &options).await;
        let seconds = started.elapsed().as_secs_f64();
        let (put, sent_md5) = match sent {
            Ok(r) => r,
            Err(e) => {
                self.log_snapshot_failure(&key, seconds, &e).await;
                return Err(e);
            }
        };
        if sent_md5 != md5 {
            let _ = self.store.delete(&key).await;
            return Err(Error::Integrity {
                what: snapshot.display().to_string(),
                message: format!(
                    "changed while it was uploaded (MD5 {md5} before, {sent_md5} sent); nothing was kept"
                ),
            });
        }
        let size = std::fs::metadata(snapshot)
            .map_err(|e| Error::io(snapshot.to_path_buf(), e))?
            .len();
        let mut record = DbSnapshotRecord {
            id: 0,
            bucket: self.store.bucket(),
            key: key.to_string(),
            region: self.store.region(),
            // An unversioned bucket answers "null": no version to name.
            version_id: put.version_id.filter(|v| v != "null"),
            etag: Some(put.etag),
            size_bytes: size,
            md5,
            source_path: source.display().to_string(),
            description,
            created_at,
        };
        let log = LogEntry {
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            duration_seconds: Some(seconds),
            bytes_transferred: Some(size),
            notes: record.version_id.as_ref().map(|v| format!("version {v}")),
            ..LogEntry::new(Operation::DatabaseBackup, OperationStatus::Success)
        };
        record.id = self.tracker.record_db_snapshot(&record, &log).await?;
        Ok(record)
    }

    /// How a snapshot is written: the catalog snapshot rule, its metadata, and
    /// `If-None-Match` where each snapshot has its own key.
    fn snapshot_options(
        &self,
        file_name: &str,
        created_at: DateTime<Utc>,
        description: &Option<String>,
        versioned: bool,
    ) -> PutOptions {
        let rule = self
            .config
            .rule_for(ObjectKind::DatabaseSnapshot)
            .unwrap_or(&self.config.backup_rules.imaging_sessions)
            .clone();
        let mut metadata = BTreeMap::new();
        metadata.insert("source-file".to_owned(), escape(file_name));
        metadata.insert("created-at".to_owned(), crate::time::to_db(created_at));
        metadata.insert("tool-version".to_owned(), crate::tool_version());
        if let Some(d) = description {
            metadata.insert("description".to_owned(), escape(d));
        }
        PutOptions {
            tags: self.config.tags_for(ObjectKind::DatabaseSnapshot),
            metadata,
            storage_class: rule.storage_class,
            content_type: Some("application/vnd.sqlite3".into()),
            encryption: self.encryption(),
            if_none_match: !versioned,
        }
    }

    async fn log_snapshot_failure(&self, key: &ObjectKey, seconds: f64, e: &Error) {
        let log = LogEntry {
            bucket: Some(self.store.bucket()),
            key: Some(key.to_string()),
            duration_seconds: Some(seconds),
            error_message: Some(e.to_string()),
            error_code: Some(e.code().to_owned()),
            ..LogEntry::new(Operation::DatabaseBackup, OperationStatus::Failed)
        };
        if let Err(log_err) = self.tracker.log(&log).await {
            tracing::warn!("could not log the failed snapshot upload: {log_err}");
        }
    }

    /// Every snapshot in the bucket, newest first, with the descriptions the
    /// tracking table has.
    pub async fn list_db_snapshots(&self) -> Result<Vec<DbSnapshotListing>> {
        let prefix = format!(
            "{}/",
            self.config.s3_paths.database_backups.trim_matches('/')
        );
        let recorded: HashMap<(String, Option<String>), Option<String>> = self
            .tracker
            .db_snapshots()
            .await?
            .into_iter()
            .filter(|s| s.bucket == self.store.bucket())
            .map(|s| ((s.key, s.version_id), s.description))
            .collect();
        let mut out: Vec<DbSnapshotListing> = self
            .store
            .versions(&prefix)
            .await?
            .into_iter()
            .map(|v: ObjectVersion| {
                let description = recorded
                    .get(&(v.key.clone(), v.version_id.clone()))
                    .cloned()
                    .flatten();
                DbSnapshotListing {
                    key: v.key,
                    version_id: v.version_id,
                    is_latest: v.is_latest,
                    size_bytes: v.size,
                    last_modified: v.last_modified,
                    storage_class: v.storage_class,
                    description,
                }
            })
            .collect();
        // The cataloger's Python tool kept the description in the object's metadata.
        for listing in out
            .iter_mut()
            .filter(|l| l.description.is_none() && l.is_latest)
        {
            if let Ok(key) = ObjectKey::new(listing.key.clone())
                && let Ok(Some(head)) = self.store.head(&key).await
            {
                listing.description = head.metadata.get("description").map(|d| unescape(d));
            }
        }
        out.sort_by(|a, b| {
            b.last_modified
                .cmp(&a.last_modified)
                .then_with(|| b.is_latest.cmp(&a.is_latest))
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(out)
    }

    /// The snapshot a selector names: by version id (and key), by key (its newest
    /// version), or the newest of all.
    pub async fn find_db_snapshot(&self, selector: &SnapshotSelector) -> Result<DbSnapshotListing> {
        let all = self.list_db_snapshots().await?;
        let prefix = self.config.s3_paths.database_backups.trim_matches('/');
        let key = selector.key.as_deref().map(|k| {
            if k.contains('/') {
                k.to_owned()
            } else {
                format!("{prefix}/{k}")
            }
        });
        let found = all.into_iter().find(|s| {
            key.as_ref().is_none_or(|k| *k == s.key)
                && match &selector.version_id {
                    Some(v) => s.version_id.as_ref() == Some(v),
                    None => true,
                }
        });
        found.ok_or_else(|| {
            let what = match (&key, &selector.version_id) {
                (Some(k), Some(v)) => format!("version {v} of {k}"),
                (None, Some(v)) => format!("version {v}"),
                (Some(k), None) => k.clone(),
                (None, None) => "any snapshot".to_owned(),
            };
            Error::Unusable {
                message: format!(
                    "no catalog snapshot matches {what} in {} under {prefix}/",
                    self.store.describe()
                ),
                hint: Some(Hint::ListSnapshots),
            }
        })
    }

    /// Downloads the snapshot `selector` names to `output`: into a partial file
    /// beside it, checked against the MD5 recorded at upload and with
    /// `PRAGMA integrity_check`, then renamed into place. An existing `output` is
    /// replaced only with `overwrite`. A snapshot in GLACIER or DEEP_ARCHIVE must be
    /// restored first: the error says how.
    pub async fn restore_db_snapshot(
        &self,
        selector: &SnapshotSelector,
        output: &Path,
        overwrite: bool,
    ) -> Result<RestoredSnapshot> {
        if output.exists() && !overwrite {
            return Err(Error::Exists {
                what: output.display().to_string(),
                hint: Some(Hint::Overwrite),
            });
        }
        let started = Instant::now();
        let snapshot = self.find_db_snapshot(selector).await?;
        let key = ObjectKey::new(snapshot.key.clone())?;
        let got = self.get_snapshot(&key, &snapshot).await?;
        let expected_md5 = match md5_of_metadata(&got.meta.metadata) {
            Some(md5) => Some(md5),
            // Snapshots written without the metadata: the MD5 recorded at upload.
            None => self
                .tracker
                .db_snapshots()
                .await?
                .into_iter()
                .find(|r| r.key == snapshot.key && r.version_id == snapshot.version_id)
                .map(|r| r.md5)
                // A row rebuilt from a snapshot the cataloger's tool wrote knows none.
                .filter(|md5| !md5.is_empty()),
        };
        let partial = partial_path(output);
        let checked = self
            .write_checked(got, &partial, &key, &snapshot, expected_md5.as_deref())
            .await;
        let (size, md5) = match checked {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, output).map_err(|e| Error::io(output.to_path_buf(), e))?;
        let log = LogEntry {
            bucket: Some(self.store.bucket()),
            key: Some(key.to_string()),
            duration_seconds: Some(started.elapsed().as_secs_f64()),
            bytes_transferred: Some(size),
            notes: Some(format!(
                "to {}{}",
                output.display(),
                version_note(&snapshot.version_id)
            )),
            ..LogEntry::new(Operation::DatabaseRestore, OperationStatus::Success)
        };
        if let Err(e) = self.tracker.log(&log).await {
            tracing::warn!("could not log the snapshot restore: {e}");
        }
        Ok(RestoredSnapshot {
            key: key.to_string(),
            version_id: snapshot.version_id,
            path: output.to_path_buf(),
            size_bytes: size,
            md5_checked: expected_md5.is_some(),
            md5,
        })
    }

    /// The snapshot's bytes, or why they cannot be read yet.
    async fn get_snapshot(
        &self,
        key: &ObjectKey,
        snapshot: &DbSnapshotListing,
    ) -> Result<GetResult> {
        let got = match &snapshot.version_id {
            Some(v) if v != "null" => self.store.get_version(key, v).await,
            _ => self.store.get(key, None).await,
        };
        match got {
            Err(e) if e.store_kind() == Some(StoreErrorKind::NeedsRestore) => {
                Err(Error::NeedsRestore {
                    key: format!("{key}{}", version_note(&snapshot.version_id)),
                    class: snapshot.storage_class.to_string(),
                    in_progress: false,
                    wait: "Standard: within 12 hours, Bulk: within 48 hours for DEEP_ARCHIVE"
                        .into(),
                    hint: Some(match snapshot.version_id.clone().filter(|v| v != "null") {
                        Some(version_id) => Hint::RestoreSnapshotVersion { version_id },
                        None => Hint::RestoreSnapshotKey {
                            key: snapshot.key.clone(),
                        },
                    }),
                })
            }
            other => other,
        }
    }

    /// Writes a snapshot's bytes to `partial`, fsync'd, and checks them: size, MD5,
    /// `PRAGMA integrity_check`. Returns the size and MD5.
    async fn write_checked(
        &self,
        got: GetResult,
        partial: &Path,
        key: &ObjectKey,
        snapshot: &DbSnapshotListing,
        expected_md5: Option<&str>,
    ) -> Result<(u64, String)> {
        let (size, md5) = write_body(got, partial).await?;
        if size != snapshot.size_bytes {
            return Err(Error::SizeMismatch {
                what: key.to_string(),
                message: format!(
                    "read {size} bytes, the listing says {}",
                    snapshot.size_bytes
                ),
            });
        }
        if let Some(expected) = expected_md5
            && expected != md5
        {
            return Err(Error::Integrity {
                what: key.to_string(),
                message: format!(
                    "the bytes read have MD5 {md5}, the snapshot was uploaded with {expected}"
                ),
            });
        }
        let (snapshots, path) = (self.snapshots.clone(), partial.to_path_buf());
        Engine::blocking("the integrity check", move || snapshots.check(&path)).await?;
        Ok((size, md5))
    }

    /// Asks for a readable copy of an archived snapshot for `days`.
    pub async fn request_db_snapshot_restore(
        &self,
        selector: &SnapshotSelector,
        days: u32,
        tier: RestoreTier,
    ) -> Result<DbSnapshotListing> {
        let snapshot = self.find_db_snapshot(selector).await?;
        if tier == RestoreTier::Expedited && snapshot.storage_class == StorageClass::DeepArchive {
            return Err(Error::Unusable {
                message: "the Expedited tier is not offered for DEEP_ARCHIVE objects".into(),
                hint: Some(Hint::SlowerTier),
            });
        }
        let key = ObjectKey::new(snapshot.key.clone())?;
        let version = snapshot.version_id.clone().filter(|v| v != "null");
        let request = RestoreRequest {
            version_id: version,
            days,
            tier,
        };
        match self.store.try_cold_storage()?.restore(&key, &request).await {
            Ok(()) => Ok(snapshot),
            Err(e) if e.store_kind() == Some(StoreErrorKind::RestoreInProgress) => Ok(snapshot),
            Err(e) => Err(e),
        }
    }
}

/// Writes a GET's body to `path` (its directory made), fsync'd; returns its size
/// and MD5.
async fn write_body(got: GetResult, path: &Path) -> Result<(u64, String)> {
    let io = |e| Error::io(path.to_path_buf(), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Error::io(dir.to_path_buf(), e))?;
    }
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut body = got.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        md5.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    Ok((size, hex::encode(md5.finalize())))
}

/// A metadata value for any text: controls, `%` and every non-ASCII byte escaped.
/// Prefix of the scratch directories `backup-db` snapshots the catalog into.
const SCRATCH_PREFIX: &str = "fitsbak-snapshot-";

/// The lock one `backup-db` at a time holds on the scratch directory's parent.
/// A short stable name for the catalog at `source`, so that the runs of different
/// catalogs neither wait for nor clean up after each other.
fn source_tag(source: &Path) -> String {
    let path = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_owned());
    format!(
        "{:08x}",
        crate::checksum::crc32c(path.as_os_str().as_encoded_bytes())
    )
}

/// The lock one `backup-db` of the catalog at `source` at a time holds. (The
/// system's temporary directory is shared: the lock is each user's own.)
fn backup_db_lock(dir: &Path, source: &Path) -> Result<std::fs::File> {
    let tag = source_tag(source);
    let path = dir.join(match current_uid() {
        Some(uid) => format!("fitsbak-backup-db-{uid}-{tag}.lock"),
        None => format!("fitsbak-backup-db-{tag}.lock"),
    });
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::unusable(format!(
            "another backup-db of {} is running (it holds {})",
            source.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// Removes the scratch directories earlier runs left in `dir` (killed before they
/// could): each holds a whole copy of the catalog. Only real directories with the
/// scratch prefix are touched, never what a link points to.
fn remove_stale_scratch(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let ours = |meta: &std::fs::Metadata| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                current_uid().is_none_or(|uid| meta.uid() == uid)
            }
            #[cfg(not(unix))]
            {
                let _ = meta;
                true
            }
        };
        let stale = entry.file_name().to_string_lossy().starts_with(prefix)
            && entry
                .metadata()
                .is_ok_and(|m| m.file_type().is_dir() && ours(&m));
        if stale {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::info!(
                    "removed {}, the scratch copy of a backup-db that was stopped",
                    entry.path().display()
                ),
                Err(e) => tracing::warn!("{}: {e}", entry.path().display()),
            }
        }
    }
}

/// The user this process runs as, where the system tells (`/proc/self`).
fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").ok().map(|m| m.uid())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn escape(value: &str) -> String {
    utf8_percent_encode(value, METADATA_ESCAPES).to_string()
}

/// The text of an escaped metadata value.
pub fn unescape(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

fn version_note(version: &Option<String>) -> String {
    version
        .as_ref()
        .filter(|v| *v != "null")
        .map(|v| format!(" (version {v})"))
        .unwrap_or_default()
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".fitsbak-partial");
    output.with_file_name(name)
}

async fn hash_file(path: &Path) -> Result<String> {
    let path = path.to_path_buf();
    Engine::blocking("hashing the snapshot", move || {
        crate::engine::verify::hash_file(&path)
            .map(|(_, md5)| md5)
            .map_err(|e| Error::io(path.clone(), e))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamped_names_keep_the_extension() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 21, 30, 5).unwrap()
            + chrono::Duration::milliseconds(42);
        assert_eq!(
            timestamped_name("fits_catalog.db", at),
            "fits_catalog_20261127T213005.042Z.db"
        );
        assert_eq!(
            timestamped_name("catalog", at),
            "catalog_20261127T213005.042Z"
        );
        assert_eq!(
            timestamped_name(".hidden", at),
            ".hidden_20261127T213005.042Z"
        );
    }

    #[test]
    fn metadata_values_round_trip_any_text() {
        for text in ["before the flip", "Hα 100% – ok\nline two", ""] {
            let escaped = escape(text);
            assert!(escaped.is_ascii() && !escaped.contains('\n'), "{escaped}");
            assert_eq!(unescape(&escaped), text);
        }
    }

    #[test]
    fn partial_files_sit_beside_the_output() {
        assert_eq!(
            partial_path(Path::new("/r/catalog.db")),
            PathBuf::from("/r/catalog.db.fitsbak-partial")
        );
    }
}
