//! `fitsbak status`: how much of the catalog is backed up, and where; and the
//! statistics row each run writes.
//!
//! It reads the catalog and the tracking tables set-wise (one query each, whatever
//! the number of sessions) and joins them in memory.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::Result;
use crate::ids::SessionId;
use crate::model::{RejectedSession, StorageClass};
use crate::tracker::{ArchiveRecord, StatsSnapshot, Tracker};

/// Archives and bytes in one storage class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    /// Archives.
    pub archives: u64,
    /// Archive bytes.
    pub bytes: u64,
}

/// `fitsbak status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// Where backups go.
    pub target: String,
    /// The catalog database.
    pub catalog: String,
    /// Archives recorded on other targets (bucket or local root: count), not in
    /// this one: after a change of target, `upload` sends them here.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub other_targets: BTreeMap<String, u64>,
    /// The cataloger's config its path (and the notes directory) came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_paths_from: Option<String>,
    /// Sessions in the catalog.
    pub sessions_total: u64,
    /// Sessions with an archive.
    pub sessions_backed_up: u64,
    /// Sessions with an archive whose catalog rows changed since (files added,
    /// removed or re-hashed): `upload` backs them up again.
    pub sessions_changed: Vec<SessionId>,
    /// Sessions without one.
    pub sessions_not_backed_up: u64,
    /// Share backed up and unchanged since, 0-100.
    pub percent_backed_up: f64,
    /// Archives whose last check passed.
    pub archives_verified: u64,
    /// Archives whose quick check is due (`verification.quick_every_days`): what
    /// the next `verify --due` checks.
    pub archives_check_due: u64,
    /// Files in the catalog.
    pub files_total: u64,
    /// Files in archives.
    pub files_backed_up: u64,
    /// Bytes of the files in archives.
    pub bytes_backed_up: u64,
    /// Bytes of the archives.
    pub archive_bytes: u64,
    /// Archives per storage class.
    pub storage_classes: BTreeMap<String, ClassCount>,
    /// Archive rows whose session is no longer in the catalog.
    pub archives_without_session: u64,
    /// Multipart uploads that a later run will resume.
    pub uploads_in_flight: u64,
    /// Catalog rows that are not usable sessions.
    pub rejected_sessions: Vec<RejectedSession>,
    /// Session notes in the target.
    pub notes_backed_up: u64,
    /// Catalog snapshots in the target.
    pub db_snapshots: u64,
    /// Storage cost of what is tracked: as stored now, and once the lifecycle
    /// rules have moved it.
    pub cost: CostLine,
    /// The last upload or verify run, from `s3_backup_stats`.
    pub last_run: Option<crate::tracker::StatsSnapshot>,
    /// What is protected, per category: raw sessions, session notes, processing
    /// notes, intermediate files, final files, database snapshots.
    pub categories: Vec<crate::engine::processed::Category>,
}

/// The storage cost of what is tracked, per month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CostLine {
    /// In the classes recorded now.
    pub monthly_usd_as_stored: f64,
    /// Once the lifecycle transitions have happened.
    pub monthly_usd_with_lifecycle: f64,
}

/// Builds the status report.
pub async fn status(
    catalog: &dyn Catalog,
    tracker: &dyn Tracker,
    config: &Config,
) -> Result<StatusReport> {
    let target = config.target_description();
    let estimate = crate::engine::costs::estimate_from(config, tracker, None).await?;
    let notes_backed_up = tracker.notes().await?.len() as u64;
    let db_snapshots = tracker.db_snapshots().await?.len() as u64;
    let last_run = tracker.latest_stats().await?;
    let scan = catalog.sessions().await?;
    let bucket = config.target_bucket();
    let (archives, elsewhere): (Vec<ArchiveRecord>, Vec<ArchiveRecord>) = tracker
        .archives()
        .await?
        .into_iter()
        .partition(|a| a.bucket == bucket);
    let mut other_targets: BTreeMap<String, u64> = BTreeMap::new();
    for a in &elsewhere {
        *other_targets.entry(a.bucket.clone()).or_default() += 1;
    }
    let in_flight = tracker.inflight().await?.len() as u64;
    let by_session: HashMap<&SessionId, &ArchiveRecord> =
        archives.iter().map(|a| (&a.session_id, a)).collect();

    let sessions_total = scan.sessions.len() as u64;
    let sessions_backed_up = scan
        .sessions
        .iter()
        .filter(|s| by_session.contains_key(&s.id))
        .count() as u64;
    let known: std::collections::HashSet<&SessionId> =
        scan.sessions.iter().map(|s| &s.id).collect();
    let mut sessions_changed: Vec<SessionId> = crate::engine::drift::changed_since_backup(
        catalog,
        archives.iter().filter(|a| known.contains(&a.session_id)),
    )
    .await?
    .into_iter()
    .collect();
    sessions_changed.sort();
    let mut storage_classes: BTreeMap<String, ClassCount> = BTreeMap::new();
    for a in &archives {
        let class = a
            .current_storage_class
            .as_ref()
            .map_or_else(|| "UNKNOWN".to_owned(), |c| c.to_string());
        let entry = storage_classes.entry(class).or_default();
        entry.archives += 1;
        entry.bytes += a.archive_size_bytes;
    }
    let unchanged = sessions_backed_up - sessions_changed.len() as u64;
    let categories = crate::engine::processed::categories(
        catalog,
        tracker,
        config,
        crate::engine::processed::RawCounts {
            sessions: sessions_total,
            backed_up: unchanged,
            archive_bytes: archives
                .iter()
                .filter(|a| known.contains(&a.session_id))
                .map(|a| a.archive_size_bytes)
                .sum(),
        },
    )
    .await?;
    Ok(StatusReport {
        target,
        catalog: catalog.describe(),
        other_targets,
        catalog_paths_from: config
            .catalog_paths_from
            .as_ref()
            .map(|p| p.display().to_string()),
        sessions_total,
        sessions_backed_up,
        sessions_not_backed_up: sessions_total - sessions_backed_up,
        percent_backed_up: percent(unchanged, sessions_total),
        sessions_changed,
        archives_verified: archives.iter().filter(|a| a.verified).count() as u64,
        archives_check_due: {
            let now = crate::time::now();
            archives
                .iter()
                .filter(|a| crate::engine::verify::due::quick_due(a, &config.verification, now))
                .count() as u64
        },
        files_total: scan.sessions.iter().map(|s| s.file_count).sum(),
        files_backed_up: archives.iter().map(|a| a.file_count).sum(),
        bytes_backed_up: archives.iter().map(|a| a.original_size_bytes).sum(),
        archive_bytes: archives.iter().map(|a| a.archive_size_bytes).sum(),
        storage_classes,
        archives_without_session: archives
            .iter()
            .filter(|a| !known.contains(&a.session_id))
            .count() as u64,
        uploads_in_flight: in_flight,
        rejected_sessions: scan.rejected,
        notes_backed_up,
        db_snapshots,
        cost: CostLine {
            monthly_usd_as_stored: estimate.as_stored.monthly_usd,
            monthly_usd_with_lifecycle: estimate.with_lifecycle.monthly_usd,
        },
        last_run,
        categories,
    })
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

impl Engine {
    /// Appends a statistics row for this run.
    pub async fn record_run_stats(
        &self,
        uploads: u64,
        bytes: u64,
        verifications: u64,
    ) -> Result<()> {
        let archives = self.target_archives().await?;
        let count = |c: StorageClass| {
            archives
                .iter()
                .filter(|a| a.current_storage_class.as_ref() == Some(&c))
                .count() as u64
        };
        let cost = self.estimate_costs(None).await?.as_stored.monthly_usd;
        self.tracker
            .record_stats(&StatsSnapshot {
                stat_date: Some(crate::time::now()),
                period_type: "daily".into(),
                total_archives: archives.len() as u64,
                archives_in_standard: count(StorageClass::Standard),
                archives_in_glacier: count(StorageClass::Glacier),
                archives_in_deep_archive: count(StorageClass::DeepArchive),
                total_original_size_bytes: archives.iter().map(|a| a.original_size_bytes).sum(),
                total_archive_size_bytes: archives.iter().map(|a| a.archive_size_bytes).sum(),
                total_storage_cost_estimate: cost,
                uploads_count: uploads,
                uploads_bytes: bytes,
                verifications_count: verifications,
                restores_count: 0,
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MockCatalog;
    use crate::engine::testing::{archive, session};
    use crate::model::SessionScan;
    use crate::tracker::mock::MockTracker;
    #[tokio::test]
    async fn status_counts_sessions_files_and_classes() {
        let mut catalog = MockCatalog::new();
        catalog
            .expect_describe()
            .return_const("catalog.db".to_owned());
        catalog
            .expect_processing()
            .returning(|| Ok(Default::default()));
        catalog.expect_sessions().returning(|| {
            Ok(SessionScan {
                sessions: vec![
                    session("A", (2023, 1, 2), 3),
                    session("B", (2024, 5, 6), 4),
                    session("C", (2024, 7, 8), 5),
                ],
                rejected: vec![],
            })
        });
        let mut tracker = MockTracker::new();
        tracker.expect_archives().returning(|| {
            Ok(vec![
                archive("A", StorageClass::DeepArchive, 3, 300),
                archive("B", StorageClass::Standard, 4, 400),
                archive("GONE", StorageClass::Standard, 1, 10),
            ])
        });
        tracker.expect_inflight().returning(|| Ok(vec![]));
        tracker.expect_notes().returning(|| Ok(vec![]));
        tracker.expect_db_snapshots().returning(|| Ok(vec![]));
        tracker.expect_processing_notes().returning(|| Ok(vec![]));
        tracker.expect_processed().returning(|| Ok(vec![]));
        tracker.expect_latest_stats().returning(|| Ok(None));
        let mut config = Config::default();
        config.buckets.primary = Some("b".into()); // the rows' bucket
        let report = status(&catalog, &tracker, &config).await.unwrap();
        assert_eq!(report.sessions_total, 3);
        assert_eq!(report.sessions_backed_up, 2);
        assert_eq!(report.sessions_not_backed_up, 1);
        assert_eq!(report.percent_backed_up, 66.7);
        assert_eq!(report.files_total, 12);
        assert_eq!(report.files_backed_up, 8);
        assert_eq!(report.bytes_backed_up, 710);
        assert_eq!(report.archives_without_session, 1);
        assert_eq!(report.storage_classes["STANDARD"].archives, 2);
        assert_eq!(report.storage_classes["DEEP_ARCHIVE"].bytes, 1324);
        // Archives of 1424 + 1034 bytes in STANDARD, 1324 bytes in DEEP_ARCHIVE.
        let gb = |b: f64| b / (1u64 << 30) as f64;
        let as_stored = gb(2458.0) * 0.023 + gb(1324.0) * 0.00099;
        assert!((report.cost.monthly_usd_as_stored - as_stored).abs() < 1e-15);
        // Objects this small (under 128 KB) are not transitioned: they stay put.
        assert!((report.cost.monthly_usd_with_lifecycle - as_stored).abs() < 1e-15);
    }
}
