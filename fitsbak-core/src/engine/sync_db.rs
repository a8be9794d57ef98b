//! `fitsbak sync-db`: rebuilding the tracking tables from the bucket, after the
//! database was lost: one archive row and its members per manifest whose archive
//! is there. Nothing is marked verified; rows that already match are left alone.

use std::collections::HashSet;

use serde::Serialize;

use crate::engine::Engine;
use crate::error::Result;
use crate::ids::{ObjectKey, SessionId};
use crate::manifest::Manifest;
use crate::store::{ObjectMeta, ObjectStoreExt};
use crate::tracker::{ArchiveRecord, LogEntry, Operation, OperationStatus};

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

/// Where a manifest's archive stands against the row the tables have.
enum Found {
    /// The row matches: same key, ETag and size.
    Unchanged,
    /// A row to write (`true`: one is there and is replaced).
    Record(bool),
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
        let archives: HashSet<String> = self
            .store
            .list(&format!("{}/", paths.raw_archives.trim_matches('/')))
            .await?
            .into_iter()
            .filter(|o| o.key.ends_with(".tar"))
            .map(|o| o.key)
            .collect();
        let existing = self.archives_by_session().await?;
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
            described.insert(manifest.archive.key.clone());
            let head = match archives.contains(&manifest.archive.key) {
                true => {
                    self.store
                        .head(&ObjectKey::new(manifest.archive.key.clone())?)
                        .await?
                }
                false => None,
            };
            let Some(head) = head else {
                report.manifests_without_archive.push(key.to_string());
                continue;
            };
            let session = manifest.session_id.clone();
            match found(existing.get(&session), &manifest.archive.key, &head) {
                Found::Unchanged => report.unchanged.push(session),
                Found::Record(replaced) => {
                    if replaced {
                        report.updated.push(session);
                    } else {
                        report.added.push(session);
                    }
                    if !dry_run {
                        self.record_synced(&key, &manifest, &head).await?;
                    }
                }
            }
        }
        report.archives_without_manifest = archives
            .into_iter()
            .filter(|k| !described.contains(k))
            .collect();
        report.archives_without_manifest.sort();
        Ok(report)
    }

    /// Records the archive a manifest describes, as `head` shows it.
    async fn record_synced(
        &self,
        key: &ObjectKey,
        manifest: &Manifest,
        head: &ObjectMeta,
    ) -> Result<()> {
        let session = manifest.session();
        let archive_key = ObjectKey::new(manifest.archive.key.clone())?;
        let mut archive = self.new_archive(
            &session,
            &archive_key,
            head,
            manifest.data_bytes(),
            Some("rebuilt from the bucket by sync-db".into()),
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

fn found(row: Option<&ArchiveRecord>, archive_key: &str, head: &ObjectMeta) -> Found {
    match row {
        Some(r)
            if r.etag.as_deref() == Some(head.etag.as_str())
                && r.archive_size_bytes == head.size
                && r.key == archive_key =>
        {
            Found::Unchanged
        }
        Some(_) => Found::Record(true),
        None => Found::Record(false),
    }
}
