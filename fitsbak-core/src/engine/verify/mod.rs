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

mod deep;
pub mod due;
mod local;
mod quick;

pub use quick::Listing;

use std::io::Read;

use futures::StreamExt;
use md5::Digest;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::Result;
use crate::ids::SessionId;
use crate::model::StorageClass;
use crate::progress::ItemOutcome;
use crate::tracker::{
    ArchiveRecord, CheckMethod, CheckOutcome, CheckRecord, LogEntry, Operation, OperationStatus,
};

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
/// What a `verify` run would do (`verify --dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyPlan {
    /// Archives selected.
    pub archives: u64,
    /// Checks to run (archives x methods).
    pub checks: u64,
    /// The checks asked for.
    pub methods: Vec<CheckMethod>,
    /// Bytes a deep check reads back.
    pub bytes_read: u64,
    /// Archives per year (0: a key without one).
    pub per_year: std::collections::BTreeMap<i32, u64>,
    /// Prefixes listed once for the quick checks, instead of a HEAD per archive.
    pub prefixes_listed: u64,
    /// Archives recorded in a class a deep check cannot read without a restore.
    pub need_restore_for_deep: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The session.
    pub session_id: SessionId,
    /// The archive's key.
    pub key: String,
    /// `head`, `deep` or `local`.
    pub method: CheckMethod,
    /// Passed, failed (with reasons) or needs a restore first.
    #[serde(serialize_with = "outcome_name")]
    pub outcome: CheckOutcome,
    /// The storage class seen.
    pub storage_class: Option<StorageClass>,
    /// Things worth knowing that are not failures (a storage class transition).
    pub notes: Vec<String>,
    /// The archive is good and only its manifest in the bucket is missing or
    /// disagrees with the tracking rows: writing it again from the rows repairs it.
    #[serde(skip)]
    pub repairable: bool,
}

fn outcome_name<S: serde::Serializer>(
    outcome: &CheckOutcome,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(match outcome {
        CheckOutcome::Passed => "passed",
        CheckOutcome::Failed(_) => "failed",
        CheckOutcome::NeedsRestore(_) => "needs_restore",
        CheckOutcome::NotAdopted(_) => "not_adopted",
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
            CheckOutcome::NeedsRestore(hint) | CheckOutcome::NotAdopted(hint) => {
                vec![hint.clone()]
            }
        }
    }
}

/// Why a row of the cataloger's Python tool is not checked.
pub const UNADOPTED: &str = "written by the cataloger's Python s3_backup and not adopted yet \
    (no manifest, no members): `fitsbak migrate` reads it once against the catalog and adopts it";

impl Engine {
    /// Whether `record` is a row the cataloger's Python tool wrote (and marked
    /// verified) that fitsbak has not adopted: no facts and no members. One that
    /// `fitsbak migrate` found damaged is no longer verified, so it is checked (and
    /// fails) like any other.
    pub async fn unadopted(&self, record: &ArchiveRecord) -> Result<bool> {
        Ok(record.verified
            && record.facts.is_none()
            && self.tracker.members(&record.session_id).await?.is_empty())
    }

    /// What [`Engine::verify`] would check, from the tracking rows alone (no
    /// request): `verify --dry-run`.
    pub async fn plan_verify(
        &self,
        filter: &super::list_sessions::SessionFilter,
        methods: &[CheckMethod],
    ) -> Result<VerifyPlan> {
        let records = self
            .select_archives(filter.session_id.as_ref(), filter.year)
            .await?;
        let mut per_year = std::collections::BTreeMap::new();
        for r in &records {
            let year = crate::engine::manifests::record_year(r).unwrap_or(0);
            *per_year.entry(year).or_insert(0u64) += 1;
        }
        let quick = methods.contains(&CheckMethod::Quick);
        let prefixes = match quick && records.len() >= quick::LIST_FROM {
            true => records
                .iter()
                .map(|r| &r.key[..r.key.rfind('/').map_or(0, |i| i + 1)])
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u64,
            false => 0,
        };
        let reads = methods.contains(&CheckMethod::Deep);
        Ok(VerifyPlan {
            archives: records.len() as u64,
            checks: (records.len() * methods.len()) as u64,
            methods: methods.to_vec(),
            bytes_read: match reads {
                true => records.iter().map(|r| r.archive_size_bytes).sum(),
                false => 0,
            },
            per_year,
            prefixes_listed: prefixes,
            need_restore_for_deep: match reads {
                true => records
                    .iter()
                    .filter(|r| {
                        r.current_storage_class
                            .as_ref()
                            .is_some_and(StorageClass::needs_restore)
                    })
                    .count() as u64,
                false => 0,
            },
        })
    }

    /// Runs the checks `methods` asks for on every archive `filter` selects, and
    /// records each.
    pub async fn verify(
        &self,
        filter: &super::list_sessions::SessionFilter,
        methods: &[CheckMethod],
        repair: bool,
    ) -> Result<Vec<CheckReport>> {
        let records = self
            .select_archives(filter.session_id.as_ref(), filter.year)
            .await?;
        self.progress.run_started(&crate::progress::RunPlan {
            operation: "verify",
            items: (records.len() * methods.len()) as u64,
            bytes: 0,
        });
        // Quick checks wait on the network: `archive_concurrency` at once, reports
        // in order. Deep and local checks read whole archives or files: one at a time.
        let at_once = if methods.iter().all(|m| *m == CheckMethod::Quick) {
            self.config.archive_concurrency.max(1)
        } else {
            1
        };
        let listing = match methods.contains(&CheckMethod::Quick) {
            true => self.listing_for(&records).await?,
            false => None,
        };
        let checks = records
            .iter()
            .flat_map(|r| methods.iter().map(move |m| (r, *m)))
            .map(|(record, method)| self.check_one(record, method, repair, listing.as_ref()));
        let mut running = futures::stream::iter(checks).buffered(at_once);
        let mut reports = Vec::new();
        while let Some(check) = running.next().await {
            match check {
                Ok(check) => reports.push(check),
                Err(e) => {
                    self.progress.run_finished();
                    return Err(e);
                }
            }
        }
        drop(running);
        self.progress.run_finished();
        self.record_run_stats(0, 0, reports.len() as u64).await?;
        Ok(reports)
    }

    /// Runs and records one check. A failure to check is a failed check, unless
    /// no check can succeed (credentials, bucket, permissions): that stops the run.
    async fn check_one(
        &self,
        record: &ArchiveRecord,
        method: CheckMethod,
        repair: bool,
        listed: Option<&quick::Listing>,
    ) -> Result<CheckReport> {
        let item = format!("{} ({})", record.session_id, method.name());
        self.progress.item_started(&item, 0);
        let check = match self.run_check(record, method, listed).await {
            Ok(check) if repair && check.repairable => self.repaired(record, method, check).await,
            other => other,
        };
        let check = match check {
            Ok(check) => check,
            Err(e) if crate::engine::stops_the_run(&e) => return Err(e),
            Err(e) => CheckReport {
                session_id: record.session_id.clone(),
                key: record.key.clone(),
                method,
                outcome: CheckOutcome::Failed(vec![e.to_string()]),
                storage_class: None,
                notes: Vec::new(),
                repairable: false,
            },
        };
        self.record_check(record, &check).await?;
        let outcome = match &check.outcome {
            CheckOutcome::Passed => ItemOutcome::Done { bytes: 0 },
            CheckOutcome::Failed(r) => ItemOutcome::Failed {
                reason: r.join("; "),
            },
            CheckOutcome::NeedsRestore(h) | CheckOutcome::NotAdopted(h) => {
                ItemOutcome::Skipped { reason: h.clone() }
            }
        };
        self.progress.item_finished(&item, &outcome);
        Ok(check)
    }

    async fn run_check(
        &self,
        record: &ArchiveRecord,
        method: CheckMethod,
        listed: Option<&quick::Listing>,
    ) -> Result<CheckReport> {
        if self.unadopted(record).await? {
            return Ok(CheckReport {
                session_id: record.session_id.clone(),
                key: record.key.clone(),
                method,
                outcome: CheckOutcome::NotAdopted(UNADOPTED.into()),
                storage_class: record.current_storage_class.clone(),
                notes: Vec::new(),
                repairable: false,
            });
        }
        match method {
            CheckMethod::Quick => self.quick_check(record, listed).await,
            CheckMethod::Deep => self.deep_check(record).await,
            CheckMethod::Local => self.local_check(record).await,
        }
    }

    /// Writes the manifest of an archive whose check failed only for its manifest
    /// again from the tracking rows, and checks once more.
    pub(crate) async fn repaired(
        &self,
        record: &ArchiveRecord,
        method: CheckMethod,
        failed: CheckReport,
    ) -> Result<CheckReport> {
        if let Err(e) = self.repair_manifest(record).await {
            tracing::warn!("session {}: {e}", record.session_id);
            return Ok(failed);
        }
        // After a repair, from the store itself.
        let mut check = self.run_check(record, method, None).await?;
        check.notes.push(format!(
            "its manifest was written again from the tracking rows ({})",
            failed.reasons().join("; ")
        ));
        Ok(check)
    }

    /// Records a check: the archive row (only a pass sets `verified`) and a log row.
    pub async fn record_check(&self, record: &ArchiveRecord, check: &CheckReport) -> Result<()> {
        let (status, message) = match &check.outcome {
            CheckOutcome::Passed => (OperationStatus::Success, None),
            CheckOutcome::Failed(reasons) => (OperationStatus::Failed, Some(reasons.join("; "))),
            CheckOutcome::NeedsRestore(hint) | CheckOutcome::NotAdopted(hint) => {
                (OperationStatus::InProgress, Some(hint.clone()))
            }
        };
        let log = LogEntry {
            session_id: Some(record.session_id.clone()),
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            error_message: message,
            error_code: matches!(check.outcome, CheckOutcome::Failed(_))
                .then(|| format!("{}-check-failed", check.method.name())),
            // A deep check reads the whole object: the egress `verify --due` budgets.
            bytes_transferred: (check.method == CheckMethod::Deep
                && matches!(
                    check.outcome,
                    CheckOutcome::Passed | CheckOutcome::Failed(_)
                ))
            .then_some(record.archive_size_bytes),
            notes: Some(
                std::iter::once(format!("{} check", check.method.name()))
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
                    method: check.method,
                    outcome: check.outcome.clone(),
                    storage_class: check.storage_class.clone(),
                    at: crate::time::now(),
                },
                &log,
            )
            .await
    }
}
