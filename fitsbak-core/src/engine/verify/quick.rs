//! The quick check: no download, so it works on Deep Archive objects. The object
//! is there with the size and ETag recorded, its tags are the config's, and its
//! manifest agrees with the tracking rows.

use super::CheckReport;
use crate::engine::Engine;
use crate::error::{Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::store::{ObjectMeta, ObjectStoreExt, ObjectSummary};
use crate::tags::ObjectKind;
use crate::tracker::{ArchiveRecord, CheckMethod, CheckOutcome};

/// What a check found: problems fail it (those of the manifest apart: they can be
/// repaired from the rows), notes are worth knowing.
#[derive(Default)]
pub(super) struct Findings {
    pub problems: Vec<String>,
    pub manifest_problems: Vec<String>,
    pub notes: Vec<String>,
    /// The rows hold the members, so the manifest can be written again.
    pub rows_have_members: bool,
}

impl Findings {
    /// The report of a check that found these.
    pub fn report(
        self,
        record: &ArchiveRecord,
        method: CheckMethod,
        storage_class: Option<crate::model::StorageClass>,
    ) -> CheckReport {
        let repairable = self.problems.is_empty()
            && !self.manifest_problems.is_empty()
            && self.rows_have_members;
        let mut problems = self.problems;
        problems.extend(self.manifest_problems);
        CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method,
            outcome: if problems.is_empty() {
                CheckOutcome::Passed
            } else {
                CheckOutcome::Failed(problems)
            },
            storage_class,
            notes: self.notes,
            repairable,
        }
    }
}

/// The objects of some prefixes, by key.
pub type Listing = std::collections::HashMap<String, ObjectSummary>;

/// Fewest archives whose quick checks list their prefixes instead of a HEAD
/// each (a listing page holds 1,000 objects).
pub(super) const LIST_FROM: usize = 10;

impl Engine {
    /// One listing of the prefixes (folders) of `records`' keys, when there are
    /// enough of them to save requests.
    pub(super) async fn listing_for<'r>(
        &self,
        records: impl IntoIterator<Item = &'r ArchiveRecord>,
    ) -> Result<Option<Listing>> {
        let keys: Vec<&str> = records.into_iter().map(|r| r.key.as_str()).collect();
        if keys.len() < LIST_FROM {
            return Ok(None);
        }
        let prefixes: std::collections::BTreeSet<&str> = keys
            .iter()
            .map(|k| &k[..k.rfind('/').map_or(0, |i| i + 1)])
            .collect();
        let mut listing = Listing::new();
        for prefix in prefixes {
            for object in self.store.list(prefix).await? {
                listing.insert(object.key.clone(), object);
            }
        }
        Ok(Some(listing))
    }

    /// The quick check of one recorded archive. Its size, ETag and storage class
    /// come from `listed` (a listing of its prefix) when that has it, else a HEAD.
    pub async fn quick_check(
        &self,
        record: &ArchiveRecord,
        listed: Option<&Listing>,
    ) -> Result<CheckReport> {
        let key = ObjectKey::new(record.key.clone())?;
        let mut found = Findings::default();
        let meta = match listed.and_then(|l| l.get(key.as_str())) {
            Some(summary) => Some(ObjectMeta::from_listing(summary)?),
            None => self.store.head(&key).await?,
        };
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
        Ok(found.report(record, CheckMethod::Quick, storage_class))
    }

    /// The object's tags must be those the config writes.
    async fn check_tags(&self, key: &ObjectKey, found: &mut Findings) -> Result<()> {
        if !self.capabilities().await?.tagging {
            found
                .notes
                .push("tags not checked: the store keeps no object tags".into());
            return Ok(());
        }
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
    pub(super) async fn check_manifest(
        &self,
        record: &ArchiveRecord,
        found: &mut Findings,
    ) -> Result<()> {
        let members = self.tracker.members(&record.session_id).await?;
        found.rows_have_members = !members.is_empty();
        if members.is_empty() && record.facts.as_ref().is_some_and(|f| f.members_unknown) {
            found.notes.push(
                "adopted on its HEAD while archived: no manifest until `fitsbak migrate` reads it \
                 after a restore"
                    .into(),
            );
            return Ok(());
        }
        found
            .manifest_problems
            .extend(self.manifest_problems(record, &members).await?);
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
