//! The read-only reports: `status`, `list-sessions` and `analyze`.
//!
//! Each reads the catalog and the tracking tables set-wise (one query each, whatever
//! the number of sessions) and joins them in memory.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::Result;
use crate::ids::SessionId;
use crate::model::{RejectedSession, Session, SessionPaths};
use crate::tracker::{ArchiveRecord, Tracker};

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
    /// Sessions in the catalog.
    pub sessions_total: u64,
    /// Sessions with an archive.
    pub sessions_backed_up: u64,
    /// Sessions without one.
    pub sessions_not_backed_up: u64,
    /// Share backed up, 0-100.
    pub percent_backed_up: f64,
    /// Archives whose last check passed.
    pub archives_verified: u64,
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
    let archives = tracker.archives().await?;
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
    Ok(StatusReport {
        target,
        catalog: catalog.describe(),
        sessions_total,
        sessions_backed_up,
        sessions_not_backed_up: sessions_total - sessions_backed_up,
        percent_backed_up: percent(sessions_backed_up, sessions_total),
        archives_verified: archives.iter().filter(|a| a.verified).count() as u64,
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
    })
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// Which sessions `list-sessions` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this year.
    pub year: Option<i32>,
    /// Only sessions without an archive.
    pub not_backed_up: bool,
    /// Only this session.
    pub session_id: Option<SessionId>,
}

impl SessionFilter {
    /// True when `session` passes the filter, given whether it is backed up.
    pub fn accepts(&self, session: &Session, backed_up: bool) -> bool {
        self.year.is_none_or(|y| session.year() == y)
            && !(self.not_backed_up && backed_up)
            && self.session_id.as_ref().is_none_or(|id| *id == session.id)
    }
}

/// One row of `list-sessions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    /// The session.
    pub session_id: SessionId,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Its year.
    pub year: i32,
    /// Telescope.
    pub telescope: Option<String>,
    /// Camera.
    pub camera: Option<String>,
    /// Files in the catalog.
    pub file_count: u64,
    /// Bytes: of the archived files when backed up, else of the files on disk now.
    pub size_bytes: u64,
    /// Catalogued files not found on disk (not backed-up sessions only).
    pub missing_files: u64,
    /// It has an archive.
    pub backed_up: bool,
    /// Its last check passed.
    pub verified: bool,
    /// Storage class of its archive.
    pub storage_class: Option<String>,
}

/// The `list-sessions` report, with the rows that could not be used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionList {
    /// One row per session that passes the filter, by date.
    pub sessions: Vec<SessionRow>,
    /// Catalog rows that are not usable sessions.
    pub rejected: Vec<RejectedSession>,
}

/// Builds the `list-sessions` rows. Sizes of sessions not backed up are read from
/// disk (one `stat` per file, on every core).
pub async fn list_sessions(
    catalog: &dyn Catalog,
    tracker: &dyn Tracker,
    filter: &SessionFilter,
) -> Result<SessionList> {
    let scan = catalog.sessions().await?;
    let archives = tracker.archives().await?;
    let by_session: HashMap<&SessionId, &ArchiveRecord> =
        archives.iter().map(|a| (&a.session_id, a)).collect();
    let selected: Vec<&Session> = scan
        .sessions
        .iter()
        .filter(|s| filter.accepts(s, by_session.contains_key(&s.id)))
        .collect();
    let to_measure: Vec<SessionId> = selected
        .iter()
        .filter(|s| !by_session.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect();
    let disk: HashMap<SessionId, (u64, u64)> = if to_measure.is_empty() {
        HashMap::new()
    } else {
        // Reading every file row in one scan beats an indexed lookup per session
        // when most sessions are measured; the answer is the same either way.
        let scope = (to_measure.len() * 2 < scan.sessions.len()).then_some(&to_measure[..]);
        disk_usage(catalog.file_paths(scope).await?, 0)
            .into_iter()
            .map(|(session, u)| (session, (u.bytes, u.missing_files)))
            .collect()
    };
    let sessions = selected
        .into_iter()
        .map(|s| {
            let archive = by_session.get(&s.id);
            let (size_bytes, missing_files) = match archive {
                Some(a) => (a.original_size_bytes, 0),
                None => disk.get(&s.id).copied().unwrap_or_default(),
            };
            SessionRow {
                session_id: s.id.clone(),
                date: s.date.to_string(),
                year: s.year(),
                telescope: s.telescope.clone(),
                camera: s.camera.clone(),
                file_count: s.file_count,
                size_bytes,
                missing_files,
                backed_up: archive.is_some(),
                verified: archive.is_some_and(|a| a.verified),
                storage_class: archive
                    .and_then(|a| a.current_storage_class.as_ref())
                    .map(|c| c.to_string()),
            }
        })
        .collect();
    Ok(SessionList {
        sessions,
        rejected: scan.rejected,
    })
}

/// One year of `analyze`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearReport {
    /// The year.
    pub year: i32,
    /// Sessions.
    pub sessions: u64,
    /// Files catalogued.
    pub files: u64,
    /// Bytes of the files found on disk.
    pub total_bytes: u64,
    /// Mean bytes per session.
    pub average_session_bytes: u64,
    /// The largest session and its bytes.
    pub largest_session: Option<(SessionId, u64)>,
    /// Seconds to upload `total_bytes` at the given bandwidth.
    pub upload_seconds: f64,
    /// Catalogued files not found on disk.
    pub missing_files: u64,
    /// Their paths (all of them unless the report was asked for fewer).
    pub missing: Vec<PathBuf>,
}

/// `fitsbak analyze`: the original `analyze_session_sizes` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalyzeReport {
    /// Bandwidth the estimates assume, megabits per second.
    pub bandwidth_mbps: f64,
    /// One entry per year, oldest first.
    pub years: Vec<YearReport>,
    /// All years together.
    pub total: YearTotals,
    /// Catalog rows that are not usable sessions.
    pub rejected: Vec<RejectedSession>,
}

/// Totals over every year.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct YearTotals {
    /// Sessions.
    pub sessions: u64,
    /// Files.
    pub files: u64,
    /// Bytes on disk.
    pub total_bytes: u64,
    /// Seconds to upload everything.
    pub upload_seconds: f64,
    /// Files not found.
    pub missing_files: u64,
}

/// Seconds to move `bytes` at `mbps` megabits per second.
pub fn transfer_seconds(bytes: u64, mbps: f64) -> f64 {
    if mbps <= 0.0 {
        return f64::INFINITY;
    }
    bytes as f64 * 8.0 / (mbps * 1e6)
}

/// Builds the analyze report; sizes come from the files on disk. Each year lists
/// at most `list_missing` missing files (all are counted).
pub async fn analyze(
    catalog: &dyn Catalog,
    bandwidth_mbps: f64,
    list_missing: usize,
) -> Result<AnalyzeReport> {
    let started = std::time::Instant::now();
    let scan = catalog.sessions().await?;
    let groups = catalog.file_paths(None).await?;
    tracing::debug!(sessions = groups.len(), elapsed = ?started.elapsed(), "catalog read");
    let mut by_session: HashMap<SessionId, DiskUsage> =
        disk_usage(groups, list_missing).into_iter().collect();
    tracing::debug!(elapsed = ?started.elapsed(), "files measured");
    let mut years: BTreeMap<i32, YearReport> = BTreeMap::new();
    for s in &scan.sessions {
        let year = years.entry(s.year()).or_insert_with(|| YearReport {
            year: s.year(),
            sessions: 0,
            files: 0,
            total_bytes: 0,
            average_session_bytes: 0,
            largest_session: None,
            upload_seconds: 0.0,
            missing_files: 0,
            missing: Vec::new(),
        });
        let disk = by_session.remove(&s.id);
        let bytes = disk.as_ref().map_or(0, |d| d.bytes);
        year.sessions += 1;
        year.files += s.file_count;
        year.total_bytes += bytes;
        if year
            .largest_session
            .as_ref()
            .is_none_or(|(_, b)| bytes > *b)
        {
            year.largest_session = Some((s.id.clone(), bytes));
        }
        if let Some(d) = disk {
            year.missing_files += d.missing_files;
            let room = list_missing.saturating_sub(year.missing.len());
            year.missing.extend(d.missing.into_iter().take(room));
        }
    }
    let mut total = YearTotals::default();
    let years: Vec<YearReport> = years
        .into_values()
        .map(|mut y| {
            y.average_session_bytes = y.total_bytes / y.sessions.max(1);
            y.upload_seconds = transfer_seconds(y.total_bytes, bandwidth_mbps);
            total.sessions += y.sessions;
            total.files += y.files;
            total.total_bytes += y.total_bytes;
            total.missing_files += y.missing_files;
            y
        })
        .collect();
    total.upload_seconds = transfer_seconds(total.total_bytes, bandwidth_mbps);
    Ok(AnalyzeReport {
        bandwidth_mbps,
        years,
        total,
        rejected: scan.rejected,
    })
}

/// What one session's files take on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Bytes of the files found.
    pub bytes: u64,
    /// Files not found (or not regular files).
    pub missing_files: u64,
    /// Their paths, when asked for.
    pub missing: Vec<PathBuf>,
}

/// Measures each group's files on disk, in the groups' order, `stat`ing on every
/// core (the threads take contiguous runs of groups of about equal file counts).
/// A folder that does not exist costs one `stat` for all its files. The paths of
/// missing files are kept, up to `list_missing` per session.
pub fn disk_usage(groups: Vec<SessionPaths>, list_missing: usize) -> Vec<(SessionId, DiskUsage)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let total: usize = groups.iter().map(SessionPaths::file_count).sum();
    let share = total.div_ceil(threads).max(1);
    let mut runs: Vec<Vec<SessionPaths>> = vec![Vec::new()];
    let mut count = 0;
    for g in groups {
        count += g.file_count();
        runs.last_mut().expect("never empty").push(g);
        if count >= share {
            runs.push(Vec::new());
            count = 0;
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| {
                scope.spawn(move || {
                    run.into_iter()
                        .map(|g| measure(g, list_missing))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("stat threads do not panic"))
            .collect()
    })
}

fn measure(group: SessionPaths, list_missing: usize) -> (SessionId, DiskUsage) {
    let mut usage = DiskUsage::default();
    for folder in group.folders {
        // A folder that is gone costs one stat for all its files.
        if !folder.dir.is_dir() {
            usage.missing_files += folder.len() as u64;
            let room = list_missing.saturating_sub(usage.missing.len());
            usage
                .missing
                .extend(folder.names().take(room).map(|f| folder.dir.join(f)));
            continue;
        }
        let mut path = folder.dir.clone();
        for file in folder.names() {
            path.push(file);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => usage.bytes += m.len(),
                _ => {
                    usage.missing_files += 1;
                    if usage.missing.len() < list_missing {
                        usage.missing.push(path.clone());
                    }
                }
            }
            path.pop();
        }
    }
    (group.session, usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MockCatalog;
    use crate::model::FolderFiles;
    use crate::model::{SessionScan, StorageClass};
    use crate::tracker::mock::MockTracker;
    use chrono::NaiveDate;

    fn session(id: &str, date: (i32, u32, u32), files: u64) -> Session {
        Session {
            id: SessionId::new(id).unwrap(),
            date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
            telescope: None,
            camera: None,
            notes: None,
            file_count: files,
        }
    }

    fn archive(id: &str, class: StorageClass, files: u64, bytes: u64) -> ArchiveRecord {
        ArchiveRecord {
            id: 1,
            session_id: SessionId::new(id).unwrap(),
            session_date: None,
            session_year: None,
            bucket: "b".into(),
            key: format!("backups/raw/2024/{id}.tar"),
            region: "us-east-1".into(),
            etag: None,
            version_id: None,
            file_count: files,
            original_size_bytes: bytes,
            archive_size_bytes: bytes + 1024,
            archive_policy: None,
            backup_policy: None,
            current_storage_class: Some(class),
            expected_storage_class: None,
            uploaded_at: None,
            last_verified_at: None,
            verified: true,
            verification_method: None,
            restore_status: None,
            restore_requested_at: None,
            restore_expires_at: None,
            restore_tier: None,
            camera_name: None,
            telescope_name: None,
            notes: None,
        }
    }

    /// Files `names` in `dir`; a name with a size is written with that many bytes,
    /// one without is left missing.
    fn paths(
        dir: &std::path::Path,
        session: &str,
        names: &[(&str, Option<usize>)],
    ) -> SessionPaths {
        SessionPaths {
            session: SessionId::new(session).unwrap(),
            folders: vec![FolderFiles::with(
                dir.to_owned(),
                names.iter().map(|(name, bytes)| {
                    if let Some(n) = bytes {
                        std::fs::write(dir.join(name), vec![0u8; *n]).unwrap();
                    }
                    *name
                }),
            )],
        }
    }

    #[tokio::test]
    async fn status_counts_sessions_files_and_classes() {
        let mut catalog = MockCatalog::new();
        catalog
            .expect_describe()
            .return_const("catalog.db".to_owned());
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
        tracker.expect_latest_stats().returning(|| Ok(None));
        let report = status(&catalog, &tracker, &Config::default())
            .await
            .unwrap();
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
        let with_rules = gb(3782.0) * 0.00099;
        assert!((report.cost.monthly_usd_with_lifecycle - with_rules).abs() < 1e-15);
    }

    #[tokio::test]
    async fn list_measures_only_sessions_not_backed_up_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let mut catalog = MockCatalog::new();
        catalog.expect_sessions().returning(|| {
            Ok(SessionScan {
                sessions: vec![
                    session("A", (2023, 1, 2), 1),
                    session("B", (2024, 5, 6), 2),
                    session("C", (2024, 7, 8), 1),
                ],
                rejected: vec![],
            })
        });
        catalog
            .expect_file_paths()
            .withf(|ids| ids.is_some_and(|ids| ids.len() == 1 && ids[0].as_str() == "B"))
            .times(1)
            .returning(move |_| {
                Ok(vec![paths(
                    &root,
                    "B",
                    &[("b1.fits", Some(100)), ("b2.fits", None)],
                )])
            });
        let mut tracker = MockTracker::new();
        tracker
            .expect_archives()
            .returning(|| Ok(vec![archive("C", StorageClass::Standard, 1, 50)]));
        let filter = SessionFilter {
            year: Some(2024),
            ..Default::default()
        };
        let list = list_sessions(&catalog, &tracker, &filter).await.unwrap();
        let rows: Vec<_> = list
            .sessions
            .iter()
            .map(|r| {
                (
                    r.session_id.as_str(),
                    r.size_bytes,
                    r.missing_files,
                    r.backed_up,
                )
            })
            .collect();
        assert_eq!(rows, vec![("B", 100, 1, false), ("C", 50, 0, true)]);
    }

    #[tokio::test]
    async fn analyze_groups_by_year_and_lists_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let mut catalog = MockCatalog::new();
        catalog.expect_sessions().returning(|| {
            Ok(SessionScan {
                sessions: vec![
                    session("A", (2023, 1, 2), 2),
                    session("B", (2024, 5, 6), 1),
                    session("C", (2024, 7, 8), 1),
                ],
                rejected: vec![],
            })
        });
        catalog.expect_file_paths().returning(move |_| {
            Ok(vec![
                paths(&root, "A", &[("a1", Some(1000)), ("a2", None)]),
                paths(&root, "B", &[("b1", Some(3000))]),
                paths(&root, "C", &[("c1", Some(1000))]),
            ])
        });
        let report = analyze(&catalog, 8.0, usize::MAX).await.unwrap();
        assert_eq!(report.years.len(), 2);
        let y23 = &report.years[0];
        assert_eq!((y23.year, y23.sessions, y23.files), (2023, 1, 2));
        assert_eq!((y23.total_bytes, y23.missing_files), (1000, 1));
        assert!(y23.missing[0].ends_with("a2"));
        let y24 = &report.years[1];
        assert_eq!((y24.total_bytes, y24.average_session_bytes), (4000, 2000));
        assert_eq!(y24.largest_session.as_ref().unwrap().0.as_str(), "B");
        assert_eq!(y24.upload_seconds, 0.004, "4000 bytes at 8 Mbit/s");
        assert_eq!(report.total.total_bytes, 5000);
        assert_eq!(report.total.missing_files, 1);
    }

    #[test]
    fn disk_usage_keeps_group_order_across_threads() {
        let dir = tempfile::tempdir().unwrap();
        let groups: Vec<SessionPaths> = (0..9)
            .map(|g| {
                let names: Vec<(String, Option<usize>)> = (0..g + 1)
                    .map(|i| (format!("g{g}f{i}"), (i % 3 != 0).then_some(i)))
                    .collect();
                let names: Vec<(&str, Option<usize>)> =
                    names.iter().map(|(n, b)| (n.as_str(), *b)).collect();
                paths(dir.path(), &format!("S{g}"), &names)
            })
            .collect();
        let usage = disk_usage(groups, usize::MAX);
        assert_eq!(usage.len(), 9);
        for (g, (session, u)) in usage.iter().enumerate() {
            assert_eq!(session.as_str(), format!("S{g}"));
            let bytes: usize = (0..g + 1).filter(|i| i % 3 != 0).sum();
            assert_eq!(u.bytes, bytes as u64, "group {g}");
            assert_eq!(u.missing.len(), (0..g + 1).filter(|i| i % 3 == 0).count());
        }
        assert!(disk_usage(vec![], usize::MAX).is_empty());

        // Files of a folder that is gone are all missing (one stat for the folder),
        // and a file after them in a folder that exists is still measured.
        std::fs::create_dir(dir.path().join("here")).unwrap();
        std::fs::write(dir.path().join("here/x"), b"12345").unwrap();
        let folder =
            |name: &str, files: &[&str]| FolderFiles::with(dir.path().join(name), files.to_vec());
        let gone = SessionPaths {
            session: SessionId::new("G").unwrap(),
            folders: vec![
                folder("gone", &["a", "b"]),
                folder("here", &["x", "y"]),
                folder("gone2", &["c"]),
            ],
        };
        let (_, u) = disk_usage(vec![gone.clone()], usize::MAX).remove(0);
        assert_eq!(u.bytes, 5);
        assert_eq!(u.missing_files, 4);
        assert_eq!(u.missing.len(), 4);
        let (_, counted) = disk_usage(vec![gone], 1).remove(0);
        assert_eq!((counted.bytes, counted.missing_files), (5, 4));
        assert_eq!(counted.missing.len(), 1, "paths only as many as asked for");
        assert!(u.missing.contains(&dir.path().join("here/y")));
    }
}
