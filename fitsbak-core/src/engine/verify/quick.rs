//! The quick check: no download, so it works on Deep Archive objects. The object
//! is there with the size and ETag recorded, its tags are the config's, and its
//! manifest agrees with the tracking rows.

use super::CheckReport;
use crate::engine::Engine;
use crate::engine::manifests::record_year;
use crate::error::{Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::manifest::Manifest;
use crate::store::{ObjectMeta, ObjectStoreExt};
use crate::tags::ObjectKind;
use crate::tracker::{ArchiveRecord, CheckMethod, CheckOutcome};

/// What a check found: problems fail it, notes are worth knowing.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    notes: Vec<String>,
}

impl Engine {
    /// The quick check of one recorded archive.
    pub async fn quick_check(&self, record: &ArchiveRecord) -> Result<CheckReport> {
        let key = ObjectKey::new(record.key.clone())?;
        let mut found = Findings::default();
        let meta = self.store.head(&key).await?;
        let storage_class = meta.as_ref().map(|m| m.storage_class.clone());
        match &meta {
            None => found
                .problems
                .push(format!("{key} is not in {}", self.store.describe())),
            Some(meta) => {
                object_matches(record, &key, meta, &mut found);
                self.check_tags(&key, &mut found).await?;
                self.check_manifest(record, &mut found).await?;
            }
        }
        let outcome = if found.problems.is_empty() {
            CheckOutcome::Passed
        } else {
            CheckOutcome::Failed(found.problems)
        };
        Ok(CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method: CheckMethod::Quick,
            outcome,
            storage_class,
            notes: found.notes,
        })
    }

    /// The object's tags must be those the config writes.
    async fn check_tags(&self, key: &ObjectKey, found: &mut Findings) -> Result<()> {
        let tags = match self.store.try_admin()?.get_tags(key).await {
            Ok(tags) => tags,
            // S3 reads tags of archived objects; some stores refuse until restored.
            Err(e) if e.store_kind() == Some(StoreErrorKind::NeedsRestore) => {
                found.notes.push(
                    "tags not checked: the store refuses to read them while the object is archived"
                        .into(),
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for (k, v) in self.config.tags_for(ObjectKind::RawArchive) {
            match tags.get(&k) {
                None => found.problems.push(format!("{key} lacks the tag {k}={v}")),
                Some(have) if *have != v => found.problems.push(format!(
                    "{key} has the tag {k}={have}, the config says {k}={v}"
                )),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The manifest must be there and agree with the tracking rows.
    async fn check_manifest(&self, record: &ArchiveRecord, found: &mut Findings) -> Result<()> {
        let Some(year) = record_year(record) else {
            found
                .problems
                .push("no year is recorded, so the manifest cannot be found".into());
            return Ok(());
        };
        let manifest_key = self
            .config
            .s3_paths
            .manifest_key(year, &record.session_id)?;
        match self.read_manifest(&manifest_key).await {
            Ok(None) => found
                .problems
                .push(format!("its manifest {manifest_key} is missing")),
            Err(e) => found
                .problems
                .push(format!("its manifest cannot be read: {e}")),
            Ok(Some(m)) => {
                let members = self.tracker.members(&record.session_id).await?;
                manifest_matches(record, &m, &members, found);
            }
        }
        Ok(())
    }
}

/// The object's size and ETag against the row; a storage class change is noted.
fn object_matches(
    record: &ArchiveRecord,
    key: &ObjectKey,
    meta: &ObjectMeta,
    found: &mut Findings,
) {
    if meta.size != record.archive_size_bytes {
        found.problems.push(format!(
            "{key} holds {} bytes, {} were recorded",
            meta.size, record.archive_size_bytes
        ));
    }
    if let Some(etag) = &record.etag
        && meta.etag != *etag
    {
        found.problems.push(format!(
            "{key} has ETag {}, {etag} was recorded at upload",
            meta.etag
        ));
    }
    if let Some(previous) = &record.current_storage_class
        && *previous != meta.storage_class
    {
        found
            .notes
            .push(format!("moved from {previous} to {}", meta.storage_class));
    }
}

/// The manifest's member count, archive size and members against the rows.
fn manifest_matches(
    record: &ArchiveRecord,
    m: &Manifest,
    members: &[crate::manifest::ManifestMember],
    found: &mut Findings,
) {
    if m.members.len() as u64 != record.file_count {
        found.problems.push(format!(
            "the manifest lists {} members, {} were recorded",
            m.members.len(),
            record.file_count
        ));
    }
    if m.archive.size != record.archive_size_bytes {
        found.problems.push(format!(
            "the manifest says the archive has {} bytes, {} were recorded",
            m.archive.size, record.archive_size_bytes
        ));
    }
    if !members.is_empty() && members != m.members {
        let differing = members
            .iter()
            .zip(&m.members)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.path.to_string())
            .take(5)
            .collect::<Vec<_>>();
        found.problems.push(format!(
            "the manifest's members differ from the tracking rows{}",
            if differing.is_empty() {
                String::new()
            } else {
                format!(" ({})", differing.join(", "))
            }
        ));
    }
}
