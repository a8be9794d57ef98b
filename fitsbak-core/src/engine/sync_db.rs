//! `fitsbak sync-db`: rebuilding the tracking tables from the bucket, after the
//! database was lost: one archive row and its members per manifest whose archive
//! is there.
//!
//! The tracking rows outrank the bucket: a row that disagrees with the object is
//! reported as a conflict and left as it is. Where there is no row, an object is
//! accepted only when it is the archive its manifest describes (size, ETag,
//! whole-object checksum) and, when the catalog is there, the manifest's members
//! are the catalog's files with the catalog's MD5s; the row records which proof was
//! used. Anything else is a conflict, and nothing of it is recorded. Nothing is
//! marked verified: `verify` does that.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use serde::Serialize;

use crate::engine::Engine;
use crate::engine::manifests::{
    facts_of, manifest_differences, manifest_fingerprint, object_differences, record_year,
};
use crate::error::{Error, Result};
use crate::ids::{ObjectKey, SessionId};
use crate::manifest::Manifest;
use crate::store::{ObjectMeta, ObjectStoreExt, ObjectSummary};
use crate::tracker::{ArchiveFacts, ArchiveRecord, LogEntry, Operation, OperationStatus};

/// What `sync-db` found and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    /// Sessions whose archive rows were created.
    pub added: Vec<SessionId>,
    /// Sessions whose rows were brought up to date (none: rows outrank the bucket,
    /// a disagreement is a conflict).
    pub updated: Vec<SessionId>,
    /// Sessions whose rows already matched.
    pub unchanged: Vec<SessionId>,
    /// Archives whose object, manifest, catalog or row disagree: reported, not
    /// recorded.
    pub conflicts: Vec<String>,
    /// Archives in the bucket without a manifest.
    pub archives_without_manifest: Vec<String>,
    /// Manifests whose archive is not in the bucket.
    pub manifests_without_archive: Vec<String>,
    /// Manifests that could not be read.
    pub unreadable: Vec<String>,
    /// Notes whose rows were created (by key).
    pub notes_added: Vec<String>,
    /// Catalog snapshots whose rows were created (by key and version).
    pub snapshots_added: Vec<String>,
    /// Processed files whose rows were created (by key).
    pub processed_added: Vec<String>,
}

impl SyncReport {
    /// Whether something needs a person's look: every archive fitsbak writes has
    /// a manifest, so one without is a problem too.
    pub fn has_problems(&self) -> bool {
        !self.unreadable.is_empty()
            || !self.conflicts.is_empty()
            || !self.archives_without_manifest.is_empty()
    }
}

/// A manifest, and its archive's HEAD when the archive is listed.
type Described = (Manifest, Option<ObjectMeta>);

/// What to make of one manifest whose archive is in the bucket.
enum Found {
    /// The row matches the object.
    Unchanged,
    /// No row: record this.
    Record(ArchiveFacts),
    /// Something disagrees: say what.
    Conflict(String),
}

impl Engine {
    /// Rebuilds the tracking tables from the bucket (see the module's rules).
    pub async fn sync_db(&self, dry_run: bool) -> Result<SyncReport> {
        let paths = &self.config.s3_paths;
        let manifests = self
            .store
            .list(&format!("{}/", paths.manifests.trim_matches('/')))
            .await?;
        let archives: HashMap<String, ObjectSummary> = self
            .store
            .list(&format!("{}/", paths.raw_archives.trim_matches('/')))
            .await?
            .into_iter()
            .filter(|o| o.key.ends_with(".tar"))
            .map(|o| (o.key.clone(), o))
            .collect();
        let existing = self.archives_by_session().await?;
        let mut report = SyncReport::default();
        let mut described = HashSet::new();
        // A row whose archive is listed with its size and ETag is unchanged: its
        // manifest is not read (the rows outrank it; `verify` compares them).
        let listed: HashSet<&str> = manifests.iter().map(|o| o.key.as_str()).collect();
        let mut settled = self.settled(&existing, &archives)?;
        settled.retain(|manifest, _| listed.contains(manifest.as_str()));
        for (session, archive) in settled.values() {
            report.unchanged.push(session.clone());
            described.insert(archive.clone());
        }
        let keys = manifests
            .iter()
            .filter(|o| o.key.ends_with(".json") && !settled.contains_key(&o.key))
            .map(|o| ObjectKey::new(o.key.clone()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        // The reads, `archive_concurrency` at a time; the judging, in order.
        let fetched: Vec<(ObjectKey, Result<Option<Described>>)> =
            futures::stream::iter(keys.into_iter().map(|key| async {
                let found = self.fetch_described(&key, &archives).await;
                (key, found)
            }))
            .buffered(self.config.archive_concurrency.max(1))
            .collect()
            .await;
        for (key, found) in fetched {
            let (manifest, head) = match found {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(e) if e.store_kind().is_some() && crate::engine::stops_the_run(&e) => {
                    return Err(e);
                }
                Err(e) => {
                    report.unreadable.push(format!("{key}: {e}"));
                    continue;
                }
            };
            described.insert(manifest.archive.key.clone());
            let Some(head) = head else {
                report.manifests_without_archive.push(key.to_string());
                continue;
            };
            let session = manifest.session_id.clone();
            match self.judge(&existing, &manifest, &head).await? {
                Found::Unchanged => report.unchanged.push(session),
                Found::Conflict(why) => report.conflicts.push(format!("session {session}: {why}")),
                Found::Record(facts) => {
                    if !dry_run {
                        self.record_synced(&key, &manifest, &head, facts).await?;
                    }
                    report.added.push(session);
                }
            }
        }
        report.unchanged.sort();
        report.archives_without_manifest = archives
            .into_keys()
            .filter(|k| !described.contains(k))
            .collect();
        report.archives_without_manifest.sort();
        report.notes_added = self.sync_notes(dry_run).await?;
        report.snapshots_added = self.sync_snapshots(dry_run).await?;
        report.processed_added = self.sync_processed(dry_run).await?;
        Ok(report)
    }

    /// Rows for the notes in the bucket that have none: `{year}/{session_id}.md`
    /// (and fitsbak's older `{session_id}_notes.md`), with the content MD5 fitsbak
    /// wrote in their metadata, or their single-PUT ETag.
    async fn sync_notes(&self, dry_run: bool) -> Result<Vec<String>> {
        let prefix = format!("{}/", self.config.s3_paths.session_notes.trim_matches('/'));
        let bucket = self.store.bucket();
        let recorded: HashSet<SessionId> = self
            .tracker
            .notes()
            .await?
            .into_iter()
            .filter(|n| n.bucket == bucket)
            .map(|n| n.session_id)
            .collect();
        let mut missing = Vec::new();
        for object in self.store.list(&prefix).await? {
            let mut parts = object.key.rsplit('/');
            let name = parts.next().unwrap_or_default();
            let year: Option<i32> = parts.next().and_then(|y| y.parse().ok());
            let stem = name.strip_suffix(".md").unwrap_or_default();
            let stem = stem.strip_suffix("_notes").unwrap_or(stem);
            let (Ok(session), Some(year)) = (SessionId::new(stem), year) else {
                continue;
            };
            if !recorded.contains(&session) {
                missing.push((session, year, ObjectKey::new(object.key)?));
            }
        }
        // Their metadata: `archive_concurrency` HEADs at once, taken in order.
        let (rows, keys): (Vec<_>, Vec<ObjectKey>) = missing
            .into_iter()
            .map(|(session, year, key)| ((session, year), key))
            .unzip();
        let heads = self.head_all(&keys).await;
        let mut added = Vec::new();
        for (((session, year), key), head) in rows.into_iter().zip(&keys).zip(heads) {
            let Some(head) = head? else {
                continue;
            };
            let object_key = key.to_string();
            let content_md5 = head.metadata.get("content-md5").cloned().or_else(|| {
                let etag = head.etag.trim_matches('"');
                (etag.len() == 32 && !etag.contains('-')).then(|| etag.to_ascii_lowercase())
            });
            if !dry_run {
                let record = crate::tracker::NoteRecord {
                    session_id: session.clone(),
                    session_year: year,
                    bucket: bucket.clone(),
                    key: object_key.clone(),
                    region: self.store.region(),
                    etag: Some(head.etag.clone()),
                    uploaded_at: head.last_modified,
                    size_bytes: head.size,
                    content_md5,
                    archive_policy: None,
                    backup_policy: None,
                    storage_class: Some(head.storage_class.clone()),
                };
                let log = LogEntry {
                    session_id: Some(session),
                    bucket: Some(bucket.clone()),
                    key: Some(object_key.clone()),
                    notes: Some("notes row rebuilt from the bucket".into()),
                    ..LogEntry::new(Operation::Sync, OperationStatus::Success)
                };
                self.tracker.record_note(&record, &log).await?;
            }
            added.push(object_key);
        }
        Ok(added)
    }

    /// Rows for the catalog snapshots in the bucket that have none, with the MD5
    /// and description their metadata carries.
    async fn sync_snapshots(&self, dry_run: bool) -> Result<Vec<String>> {
        let bucket = self.store.bucket();
        let recorded: HashSet<(String, Option<String>)> = self
            .tracker
            .db_snapshots()
            .await?
            .into_iter()
            .filter(|s| s.bucket == bucket)
            .map(|s| (s.key, s.version_id))
            .collect();
        let mut added = Vec::new();
        for listing in self.list_db_snapshots().await? {
            let version = listing.version_id.clone().filter(|v| v != "null");
            if recorded.contains(&(listing.key.clone(), version.clone())) {
                continue;
            }
            let key = ObjectKey::new(listing.key.clone())?;
            let head = match listing.is_latest {
                true => self.store.head(&key).await?,
                false => None,
            };
            let meta = head.as_ref().map(|h| &h.metadata);
            let get = |k: &str| {
                meta.and_then(|m| m.get(k))
                    .map(|v| crate::engine::database::unescape(v))
            };
            if !dry_run {
                let record = crate::tracker::DbSnapshotRecord {
                    id: 0,
                    bucket: bucket.clone(),
                    key: listing.key.clone(),
                    region: self.store.region(),
                    version_id: version.clone(),
                    etag: head.as_ref().map(|h| h.etag.clone()),
                    size_bytes: listing.size_bytes,
                    md5: get("md5").unwrap_or_default(),
                    source_path: get("source-file")
                        .or_else(|| get("original_filename"))
                        .unwrap_or_default(),
                    description: listing.description.clone(),
                    created_at: listing.last_modified.unwrap_or_else(crate::time::now),
                };
                let log = LogEntry {
                    bucket: Some(bucket.clone()),
                    key: Some(listing.key.clone()),
                    notes: Some("snapshot row rebuilt from the bucket".into()),
                    ..LogEntry::new(Operation::Sync, OperationStatus::Success)
                };
                self.tracker.record_db_snapshot(&record, &log).await?;
            }
            added.push(match version {
                Some(v) => format!("{} (version {v})", listing.key),
                None => listing.key,
            });
        }
        Ok(added)
    }

    /// The manifest keys of rows whose archive `archives` lists with the size and
    /// ETag recorded, with their session and archive key (the manifest may be
    /// missing: the caller checks).
    fn settled(
        &self,
        existing: &HashMap<SessionId, ArchiveRecord>,
        archives: &HashMap<String, ObjectSummary>,
    ) -> Result<HashMap<String, (SessionId, String)>> {
        let mut settled = HashMap::new();
        for (session, row) in existing {
            let (Some(listed), Some(year)) = (archives.get(&row.key), record_year(row)) else {
                continue;
            };
            if listed.size == row.archive_size_bytes
                && row.etag.is_some()
                && listed.etag == row.etag
            {
                let manifest = self.config.s3_paths.manifest_key(year, session)?;
                settled.insert(manifest.to_string(), (session.clone(), row.key.clone()));
            }
        }
        Ok(settled)
    }

    /// A manifest and the HEAD of the archive it describes (when listed).
    async fn fetch_described(
        &self,
        key: &ObjectKey,
        archives: &HashMap<String, ObjectSummary>,
    ) -> Result<Option<Described>> {
        let Some(manifest) = self.read_manifest(key).await? else {
            return Ok(None);
        };
        let head = match archives.contains_key(&manifest.archive.key) {
            true => {
                let archive_key = ObjectKey::new(manifest.archive.key.clone())?;
                self.store.head(&archive_key).await?
            }
            false => None,
        };
        Ok(Some((manifest, head)))
    }

    /// Whether the archive a manifest describes can be recorded, with which proof.
    async fn judge(
        &self,
        existing: &HashMap<SessionId, ArchiveRecord>,
        manifest: &Manifest,
        head: &ObjectMeta,
    ) -> Result<Found> {
        let archive_key = &manifest.archive.key;
        if let Some(row) = existing.get(&manifest.session_id) {
            if row.etag.as_deref() == Some(head.etag.as_str())
                && row.archive_size_bytes == head.size
                && row.key == *archive_key
            {
                return Ok(Found::Unchanged);
            }
            return Ok(Found::Conflict(format!(
                "the tracking row says {} ({} bytes, ETag {}), the bucket holds {archive_key} \
                 ({} bytes, ETag {}): the row is kept (`verify` tells whether the object is \
                 still good)",
                row.key,
                row.archive_size_bytes,
                row.etag.as_deref().unwrap_or("unknown"),
                head.size,
                head.etag
            )));
        }
        let mut problems = object_differences(manifest, head);
        let catalog = self.catalog_agreement(manifest).await?;
        if let Some(Err(differences)) = &catalog {
            problems.extend(differences.iter().cloned());
        }
        if !problems.is_empty() {
            return Ok(Found::Conflict(format!(
                "not recorded: {}",
                problems.join("; ")
            )));
        }
        let checksum = if head.checksum.is_some() && manifest.archive.checksum.is_some() {
            ", checksum"
        } else {
            ""
        };
        let proof = match catalog {
            Some(_) => format!(
                "sync-db: size, ETag{checksum} of the object agree with its manifest; its {} \
                 member MD5s agree with the catalog",
                manifest.members.len()
            ),
            None => format!(
                "sync-db: size, ETag{checksum} of the object agree with its manifest (no \
                 catalog to compare the members with)"
            ),
        };
        Ok(Found::Record(facts_of(
            manifest,
            manifest_fingerprint(manifest),
            proof,
        )))
    }

    /// How the manifest's members compare with the catalog: `None` when there is no
    /// catalog (or it does not list the session), else the differences.
    async fn catalog_agreement(
        &self,
        manifest: &Manifest,
    ) -> Result<Option<std::result::Result<(), Vec<String>>>> {
        let ids = std::slice::from_ref(&manifest.session_id);
        let files = match self.catalog.files(Some(ids)).await {
            Ok(files) => files,
            // The catalog is gone (the disaster sync-db is for): the bucket alone.
            Err(Error::Catalog(_) | Error::Tracker(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if files.is_empty() {
            return Ok(None);
        }
        let differences = manifest_differences(manifest, &files);
        Ok(Some(if differences.is_empty() {
            Ok(())
        } else {
            Err(differences)
        }))
    }

    /// Records the archive a manifest describes, as `head` shows it.
    async fn record_synced(
        &self,
        key: &ObjectKey,
        manifest: &Manifest,
        head: &ObjectMeta,
        facts: ArchiveFacts,
    ) -> Result<()> {
        let session = manifest.session();
        let archive_key = ObjectKey::new(manifest.archive.key.clone())?;
        let notes = Some(format!("rebuilt from the bucket by {}", facts.proof));
        let mut archive = self.new_archive(
            &session,
            &archive_key,
            head,
            manifest.data_bytes(),
            notes,
            facts,
        );
        archive.uploaded_at = head.last_modified.unwrap_or(manifest.created_at);
        let log = LogEntry {
            session_id: Some(session.id),
            bucket: Some(self.store.bucket()),
            key: Some(archive_key.to_string()),
            notes: Some(format!("rebuilt from {key}")),
            ..LogEntry::new(Operation::Sync, OperationStatus::Success)
        };
        self.tracker
            .record_archive(&archive, &manifest.members, &log)
            .await?;
        Ok(())
    }
}
