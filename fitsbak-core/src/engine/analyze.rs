//! `fitsbak analyze`: per year, what there is on disk and how long its upload
//! takes; and the measuring of files on disk that `list-sessions` shares.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::error::Result;
use crate::ids::SessionId;
use crate::model::{RejectedSession, SessionPaths};

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
    let measured = Engine::blocking("measuring the files", move || {
        Ok(disk_usage(groups, list_missing))
    })
    .await?;
    let mut by_session: HashMap<SessionId, DiskUsage> = measured.into_iter().collect();
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
    use crate::engine::testing::{paths, session};
    use crate::model::{FolderFiles, SessionScan};
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
