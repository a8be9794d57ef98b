//! The deep check: read the object and re-hash every member against the manifest,
//! and the whole archive's CRC32C.

use super::CheckReport;
use super::quick::Findings;
use crate::engine::Engine;
use crate::engine::manifests::Source;
use crate::engine::restore::LANE_MIN_BYTES;
use crate::error::{Hint, Result};
use crate::ids::ObjectKey;
use crate::manifest::Manifest;
use crate::store::{ObjectMeta, ObjectStoreExt};
use crate::tracker::{ArchiveRecord, CheckMethod, CheckOutcome};

impl Engine {
    /// The deep check: read the object and re-hash every member against the
    /// tracking rows (the bucket's manifest must agree with them too).
    pub async fn deep_check(&self, record: &ArchiveRecord) -> Result<CheckReport> {
        let key = ObjectKey::new(record.key.clone())?;
        let mut found = Findings::default();
        let Some(meta) = self.store.head(&key).await? else {
            found
                .problems
                .push(format!("{key} is not in {}", self.store.describe()));
            return Ok(found.report(record, CheckMethod::Deep, None));
        };
        let class = Some(meta.storage_class.clone());
        if !meta.is_readable() {
            return Ok(self.needs_restore_report(record, &key, &meta));
        }
        let (manifest, source) = match self.trusted_manifest(record).await {
            Ok(m) => m,
            Err(e) => {
                found.problems.push(e.to_string());
                return Ok(found.report(record, CheckMethod::Deep, class));
            }
        };
        if source == Source::Bucket {
            found.notes.push(
                "checked against the bucket's manifest: the tracking rows hold no members".into(),
            );
        }
        self.check_manifest(record, &mut found).await?;
        let expected_crc = manifest.archive.crc32c.clone();
        let verified = self.read_and_hash(&key, manifest, meta.size).await?;
        let crc = verified.crc32c.clone();
        found.problems.extend(verified.problems());
        if verified.bytes_read != record.archive_size_bytes {
            found.problems.push(format!(
                "read {} bytes, {} were recorded",
                verified.bytes_read, record.archive_size_bytes
            ));
        }
        if !expected_crc.is_empty() && crc != expected_crc {
            found.problems.push(format!(
                "the archive's CRC32C is {crc}, {expected_crc} was recorded"
            ));
        }
        Ok(found.report(record, CheckMethod::Deep, class))
    }

    /// Reads the whole object through the archive reader against `manifest`,
    /// one range per lane of the archive reader side by side, taking the CRC32C of its bytes.
    async fn read_and_hash(
        &self,
        key: &ObjectKey,
        manifest: Manifest,
        size: u64,
    ) -> Result<crate::archive::VerifyReport> {
        let ranges = manifest.lane_ranges(size, self.reader.lanes(), LANE_MIN_BYTES);
        let lanes = self.open_lanes(key, ranges, size).await?;
        let reader = self.reader.clone();
        Engine::blocking("the deep check", move || reader.verify(lanes, &manifest)).await
    }

    /// The report of an archived object that must be restored before it is read.
    fn needs_restore_report(
        &self,
        record: &ArchiveRecord,
        key: &ObjectKey,
        meta: &ObjectMeta,
    ) -> CheckReport {
        let hint = format!(
            "{key} is in {} and must be restored before it can be read: {} (Deep Archive: \
             within 12 h at the Standard tier, 48 h at Bulk)",
            meta.storage_class,
            self.hints.text(&Hint::RestoreRequest {
                session: record.session_id.clone()
            })
        );
        CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method: CheckMethod::Deep,
            outcome: CheckOutcome::NeedsRestore(hint),
            storage_class: Some(meta.storage_class.clone()),
            notes: Vec::new(),
            repairable: false,
        }
    }
}
