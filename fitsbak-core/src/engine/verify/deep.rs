//! The deep check: read the object and re-hash every member against the manifest,
//! and the whole archive's CRC32C.

use std::io::Read;

use super::CheckReport;
use crate::checksum::StreamCrc;
use crate::engine::Engine;
use crate::engine::restore::body_reader;
use crate::error::{Error, Hint, Result};
use crate::ids::ObjectKey;
use crate::store::ObjectStoreExt;
use crate::tracker::{ArchiveRecord, CheckMethod, CheckOutcome};

/// Counts a CRC over what is read through it.
struct CrcReader<'a> {
    inner: &'a mut dyn Read,
    crc: StreamCrc,
}

impl Read for CrcReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

impl Engine {
    /// The deep check: read the object and re-hash every member.
    pub async fn deep_check(&self, record: &ArchiveRecord) -> Result<CheckReport> {
        let key = ObjectKey::new(record.key.clone())?;
        let report = |outcome, storage_class| CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method: CheckMethod::Deep,
            outcome,
            storage_class,
            notes: Vec::new(),
        };
        let Some(meta) = self.store.head(&key).await? else {
            return Ok(report(
                CheckOutcome::Failed(vec![format!("{key} is not in {}", self.store.describe())]),
                None,
            ));
        };
        if !meta.is_readable() {
            let hint = format!(
                "{key} is in {} and must be restored before it can be read: {} (Deep Archive: \
                 within 12 h at the Standard tier, 48 h at Bulk)",
                meta.storage_class,
                self.hints.text(&Hint::RestoreRequest {
                    session: record.session_id.clone()
                })
            );
            return Ok(report(
                CheckOutcome::NeedsRestore(hint),
                Some(meta.storage_class),
            ));
        }
        let manifest = match self.manifest_of(record).await {
            Ok(m) => m,
            Err(e) => {
                return Ok(report(
                    CheckOutcome::Failed(vec![e.to_string()]),
                    Some(meta.storage_class),
                ));
            }
        };
        let got = self.store.get(&key, None).await?;
        let mut bridge = body_reader(got);
        let reader = self.reader.clone();
        let expected_crc = manifest.archive.crc32c.clone();
        let checked = tokio::task::spawn_blocking(
            move || -> Result<(crate::archive::VerifyReport, String)> {
                let mut counted = CrcReader {
                    inner: &mut bridge,
                    crc: StreamCrc::default(),
                };
                let verified = reader.verify(&mut counted, &manifest)?;
                Ok((verified, counted.crc.hex()))
            },
        )
        .await
        .map_err(|e| Error::task("the deep check", e))??;
        let (verified, crc) = checked;
        let mut problems = verified.problems();
        if verified.bytes_read != record.archive_size_bytes {
            problems.push(format!(
                "read {} bytes, {} were recorded",
                verified.bytes_read, record.archive_size_bytes
            ));
        }
        if !expected_crc.is_empty() && crc != expected_crc {
            problems.push(format!(
                "the archive's CRC32C is {crc}, the manifest says {expected_crc}"
            ));
        }
        let outcome = if problems.is_empty() {
            CheckOutcome::Passed
        } else {
            CheckOutcome::Failed(problems)
        };
        Ok(report(outcome, Some(meta.storage_class)))
    }
}
