//! Verification that means something: an archive passes only when what the store
//! holds is what was recorded, byte for byte where the check can read bytes.
//!
//! - quick (`head`): no download, so it works on Deep Archive objects. The object
//!   exists; its size and ETag are those recorded; its tags are the config's; its
//!   manifest exists and agrees with the tracking rows. The storage class is noted.
//! - deep: the object is read through the archive reader and every member is
//!   re-hashed against the manifest. An archived object that is not restored needs a
//!   restore first: neither passed nor failed.
//! - local: the source files on disk are re-hashed against the manifest, to catch
//!   bit rot or edits before the bucket holds the only good copy.

use std::io::Read;

use futures::StreamExt;
use md5::Digest;
use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::checksum::StreamCrc;

use crate::engine::Engine;
use crate::engine::manifests::record_year;
use crate::error::{Error, Hint, Result};
use crate::ids::{ObjectKey, SessionId};
use crate::model::StorageClass;
use crate::store::ObjectStoreExt;
use crate::tags::ObjectKind;
use crate::tracker::{
    ArchiveRecord, CheckOutcome, CheckRecord, LogEntry, Operation, OperationStatus,
};

/// Which check to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMethod {
    /// HEAD, tags and manifest; no download.
    Quick,
    /// Read the object and re-hash every member.
    Deep,
    /// Re-hash the source files on disk.
    Local,
}

impl CheckMethod {
    /// The name recorded as `verification_method`.
    pub fn name(&self) -> &'static str {
        match self {
            CheckMethod::Quick => "head",
            CheckMethod::Deep => "deep",
            CheckMethod::Local => "local",
        }
    }
}

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

/// The size and MD5 (lower-case hex) of a file.
pub fn hash_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        md5.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(md5.finalize())))
}

/// The outcome of one check of one archive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The session.
    pub session_id: SessionId,
    /// The archive's key.
    pub key: String,
    /// `head`, `deep` or `local`.
    pub method: &'static str,
    /// Passed, failed (with reasons) or needs a restore first.
    #[serde(serialize_with = "outcome_name")]
    pub outcome: CheckOutcome,
    /// The storage class seen.
    pub storage_class: Option<StorageClass>,
    /// Things worth knowing that are not failures (a storage class transition).
    pub notes: Vec<String>,
}

fn outcome_name<S: serde::Serializer>(
    outcome: &CheckOutcome,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(match outcome {
        CheckOutcome::Passed => "passed",
        CheckOutcome::Failed(_) => "failed",
        CheckOutcome::NeedsRestore(_) => "needs_restore",
    })
}

impl CheckReport {
    /// True when the check passed.
    pub fn passed(&self) -> bool {
        self.outcome == CheckOutcome::Passed
    }

    /// The reasons of a failure, or the restore hint.
    pub fn reasons(&self) -> Vec<String> {
        match &self.outcome {
            CheckOutcome::Passed => Vec::new(),
            CheckOutcome::Failed(reasons) => reasons.clone(),
            CheckOutcome::NeedsRestore(hint) => vec![hint.clone()],
        }
    }
}

impl Engine {
    /// The quick check of one recorded archive.
    pub async fn quick_check(&self, record: &ArchiveRecord) -> Result<CheckReport> {
        let key = ObjectKey::new(record.key.clone())?;
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let report = |outcome, storage_class, notes| CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method: "head",
            outcome,
            storage_class,
            notes,
        };
        let Some(meta) = self.store.head(&key).await? else {
            return Ok(report(
                CheckOutcome::Failed(vec![format!("{key} is not in {}", self.store.describe())]),
                None,
                notes,
            ));
        };
        if meta.size != record.archive_size_bytes {
            problems.push(format!(
                "{key} holds {} bytes, {} were recorded",
                meta.size, record.archive_size_bytes
            ));
        }
        if let Some(etag) = &record.etag
            && meta.etag != *etag
        {
            problems.push(format!(
                "{key} has ETag {}, {etag} was recorded at upload",
                meta.etag
            ));
        }
        if let Some(previous) = &record.current_storage_class
            && *previous != meta.storage_class
        {
            notes.push(format!("moved from {previous} to {}", meta.storage_class));
        }
        let tags = match self.store.try_admin()?.get_tags(&key).await {
            Ok(tags) => Some(tags),
            // S3 reads tags of archived objects; some stores refuse until restored.
            Err(e) if e.store_kind() == Some(crate::error::StoreErrorKind::NeedsRestore) => {
                notes.push(
                    "tags not checked: the store refuses to read them while the object is archived"
                        .into(),
                );
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(tags) = &tags {
            for (k, v) in self.config.tags_for(ObjectKind::RawArchive) {
                match tags.get(&k) {
                    None => problems.push(format!("{key} lacks the tag {k}={v}")),
                    Some(have) if *have != v => problems.push(format!(
                        "{key} has the tag {k}={have}, the config says {k}={v}"
                    )),
                    Some(_) => {}
                }
            }
        }
        match record_year(record) {
            None => problems.push("no year is recorded, so the manifest cannot be found".into()),
            Some(year) => {
                let manifest_key = self
                    .config
                    .s3_paths
                    .manifest_key(year, &record.session_id)?;
                match self.read_manifest(&manifest_key).await {
                    Ok(None) => problems.push(format!("its manifest {manifest_key} is missing")),
                    Err(e) => problems.push(format!("its manifest cannot be read: {e}")),
                    Ok(Some(m)) => {
                        if m.members.len() as u64 != record.file_count {
                            problems.push(format!(
                                "the manifest lists {} members, {} were recorded",
                                m.members.len(),
                                record.file_count
                            ));
                        }
                        if m.archive.size != record.archive_size_bytes {
                            problems.push(format!(
                                "the manifest says the archive has {} bytes, {} were recorded",
                                m.archive.size, record.archive_size_bytes
                            ));
                        }
                        let members = self.tracker.members(&record.session_id).await?;
                        if !members.is_empty() && members != m.members {
                            let differing = members
                                .iter()
                                .zip(&m.members)
                                .filter(|(a, b)| a != b)
                                .map(|(a, _)| a.path.to_string())
                                .take(5)
                                .collect::<Vec<_>>();
                            problems.push(format!(
                                "the manifest's members differ from the tracking rows{}",
                                if differing.is_empty() {
                                    String::new()
                                } else {
                                    format!(" ({})", differing.join(", "))
                                }
                            ));
                        }
                    }
                }
            }
        }
        let outcome = if problems.is_empty() {
            CheckOutcome::Passed
        } else {
            CheckOutcome::Failed(problems)
        };
        Ok(report(outcome, Some(meta.storage_class), notes))
    }

    /// The deep check: read the object and re-hash every member.
    pub async fn deep_check(&self, record: &ArchiveRecord) -> Result<CheckReport> {
        let key = ObjectKey::new(record.key.clone())?;
        let report = |outcome, storage_class| CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method: "deep",
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
        let body = got.body.map(|chunk| chunk.map_err(std::io::Error::other));
        let mut bridge = SyncIoBridge::new(StreamReader::new(body));
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

    /// The local check: re-hash the source files against the manifest.
    pub async fn local_check(&self, record: &ArchiveRecord) -> Result<CheckReport> {
        let report = |outcome| CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method: "local",
            outcome,
            storage_class: None,
            notes: Vec::new(),
        };
        let manifest = match self.manifest_of(record).await {
            Ok(m) => m,
            Err(e) => return Ok(report(CheckOutcome::Failed(vec![e.to_string()]))),
        };
        let problems = tokio::task::spawn_blocking(move || {
            let mut problems = Vec::new();
            for m in &manifest.members {
                match hash_file(std::path::Path::new(&m.source_path)) {
                    Err(e) => {
                        problems.push(format!("source file {} cannot be read: {e}", m.source_path))
                    }
                    Ok((size, _)) if size != m.size => problems.push(format!(
                        "source file {} has {size} bytes, {} were archived",
                        m.source_path, m.size
                    )),
                    Ok((_, md5)) if md5 != m.md5 => problems.push(format!(
                        "source file {} changed since it was archived: MD5 {md5}, archived {}",
                        m.source_path, m.md5
                    )),
                    Ok(_) => {}
                }
            }
            problems
        })
        .await
        .map_err(|e| Error::task("the local check", e))?;
        Ok(report(if problems.is_empty() {
            CheckOutcome::Passed
        } else {
            CheckOutcome::Failed(problems)
        }))
    }

    /// Runs the checks `methods` asks for on every archive `filter` selects, and
    /// records each.
    pub async fn verify(
        &self,
        filter: &super::list_sessions::SessionFilter,
        methods: &[CheckMethod],
    ) -> Result<Vec<CheckReport>> {
        let records: Vec<ArchiveRecord> = self
            .tracker
            .archives()
            .await?
            .into_iter()
            .filter(|r| {
                filter
                    .session_id
                    .as_ref()
                    .is_none_or(|id| *id == r.session_id)
                    && filter.year.is_none_or(|y| record_year(r) == Some(y))
            })
            .collect();
        if let Some(id) = &filter.session_id
            && records.is_empty()
        {
            return Err(Error::NoArchive {
                session: id.clone(),
                hint: None,
            });
        }
        self.progress.run_started(&crate::progress::RunPlan {
            operation: "verify",
            items: (records.len() * methods.len()) as u64,
            bytes: 0,
        });
        let mut reports = Vec::new();
        for record in &records {
            for method in methods {
                let item = format!("{} ({})", record.session_id, method.name());
                self.progress.item_started(&item, 0);
                let check = match method {
                    CheckMethod::Quick => self.quick_check(record).await,
                    CheckMethod::Deep => self.deep_check(record).await,
                    CheckMethod::Local => self.local_check(record).await,
                };
                let check = match check {
                    Ok(check) => check,
                    Err(e)
                        if e.store_kind().is_some_and(|k| {
                            matches!(
                                k,
                                crate::error::StoreErrorKind::Credentials
                                    | crate::error::StoreErrorKind::NoSuchBucket
                            )
                        }) =>
                    {
                        self.progress.run_finished();
                        return Err(e);
                    }
                    Err(e) => CheckReport {
                        session_id: record.session_id.clone(),
                        key: record.key.clone(),
                        method: method.name(),
                        outcome: CheckOutcome::Failed(vec![e.to_string()]),
                        storage_class: None,
                        notes: Vec::new(),
                    },
                };
                self.record_check(record, &check).await?;
                let outcome = match &check.outcome {
                    CheckOutcome::Passed => crate::progress::ItemOutcome::Done { bytes: 0 },
                    CheckOutcome::Failed(r) => crate::progress::ItemOutcome::Failed {
                        reason: r.join("; "),
                    },
                    CheckOutcome::NeedsRestore(h) => {
                        crate::progress::ItemOutcome::Skipped { reason: h.clone() }
                    }
                };
                self.progress.item_finished(&item, &outcome);
                reports.push(check);
            }
        }
        self.progress.run_finished();
        self.record_run_stats(0, 0, reports.len() as u64).await?;
        Ok(reports)
    }

    /// Records a check: the archive row (only a pass sets `verified`) and a log row.
    pub async fn record_check(&self, record: &ArchiveRecord, check: &CheckReport) -> Result<()> {
        let (status, message) = match &check.outcome {
            CheckOutcome::Passed => (OperationStatus::Success, None),
            CheckOutcome::Failed(reasons) => (OperationStatus::Failed, Some(reasons.join("; "))),
            CheckOutcome::NeedsRestore(hint) => (OperationStatus::InProgress, Some(hint.clone())),
        };
        let log = LogEntry {
            session_id: Some(record.session_id.clone()),
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            error_message: message,
            error_code: matches!(check.outcome, CheckOutcome::Failed(_))
                .then(|| format!("{}-check-failed", check.method)),
            notes: Some(
                std::iter::once(format!("{} check", check.method))
                    .chain(check.notes.iter().cloned())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ..LogEntry::new(Operation::Verify, status)
        };
        self.tracker
            .record_check(
                &CheckRecord {
                    session_id: record.session_id.clone(),
                    method: check.method.to_owned(),
                    outcome: check.outcome.clone(),
                    storage_class: check.storage_class.clone(),
                    at: crate::time::now(),
                },
                &log,
            )
            .await
    }
}
