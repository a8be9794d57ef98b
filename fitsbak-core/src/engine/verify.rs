//! Verification that means something: an archive passes only when what the store
//! holds is what was recorded, byte for byte where the check can read bytes.
//!
//! - quick (`head`): no download, so it works on Deep Archive objects. The object
//!   exists; its size and ETag are those recorded; its tags are the config's; its
//!   manifest exists and agrees with the tracking rows. The storage class is noted.

use serde::Serialize;

use crate::engine::Engine;
use crate::error::Result;
use crate::ids::{ObjectKey, SessionId};
use crate::model::StorageClass;
use crate::tags::ObjectKind;
use crate::tracker::{
    ArchiveRecord, CheckOutcome, CheckRecord, LogEntry, Operation, OperationStatus,
};

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
    #[serde(skip)]
    pub outcome: CheckOutcome,
    /// The storage class seen.
    pub storage_class: Option<StorageClass>,
    /// Things worth knowing that are not failures (a storage class transition).
    pub notes: Vec<String>,
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

/// The year of a recorded archive (for its manifest's key).
pub fn record_year(record: &ArchiveRecord) -> Option<i32> {
    record.session_year.or_else(|| {
        record
            .session_date
            .as_deref()
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse().ok())
    })
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
        let tags = self.store.get_tags(&key).await?;
        for (k, v) in self.config.tags_for(ObjectKind::RawArchive) {
            match tags.get(&k) {
                None => problems.push(format!("{key} lacks the tag {k}={v}")),
                Some(have) if *have != v => problems.push(format!(
                    "{key} has the tag {k}={have}, the config says {k}={v}"
                )),
                Some(_) => {}
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
                        let members = self.tracker.members(&record.session_id)?;
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

    /// Records a check: the archive row (only a pass sets `verified`) and a log row.
    pub fn record_check(&self, record: &ArchiveRecord, check: &CheckReport) -> Result<()> {
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
        self.tracker.record_check(
            &CheckRecord {
                session_id: record.session_id.clone(),
                method: check.method.to_owned(),
                outcome: check.outcome.clone(),
                storage_class: check.storage_class.clone(),
                at: crate::time::now(),
            },
            &log,
        )
    }
}
