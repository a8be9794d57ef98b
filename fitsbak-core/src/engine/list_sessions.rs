//! `fitsbak list-sessions`: one row per imaging session, backed up or not.

use std::collections::HashMap;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::engine::analyze::disk_usage;
use crate::error::Result;
use crate::ids::SessionId;
use crate::model::{RejectedSession, Session};
use crate::tracker::{ArchiveRecord, Tracker};

/// Which sessions `list-sessions` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this year.
    pub year: Option<i32>,
    /// Only sessions without an archive.
    pub not_backed_up: bool,
    /// Only this session.
    pub session_id: Option<SessionId>,
    /// The target's bucket (or local root): archives recorded on others do not
    /// count as backed up (all do when `None`).
    pub target_bucket: Option<String>,
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
    /// Its catalog rows changed since its archive was made.
    pub changed_since_backup: bool,
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
    let archives: Vec<ArchiveRecord> = tracker
        .archives()
        .await?
        .into_iter()
        .filter(|a| filter.target_bucket.as_ref().is_none_or(|b| a.bucket == *b))
        .collect();
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
    let changed = crate::engine::drift::changed_since_backup(
        catalog,
        selected
            .iter()
            .filter_map(|s| by_session.get(&s.id).copied()),
    )
    .await?;
    let disk: HashMap<SessionId, (u64, u64)> = if to_measure.is_empty() {
        HashMap::new()
    } else {
        // Reading every file row in one scan beats an indexed lookup per session
        // when most sessions are measured; the answer is the same either way.
        let scope = (to_measure.len() * 2 < scan.sessions.len()).then_some(&to_measure[..]);
        Engine::blocking("measuring the files", {
            let groups = catalog.file_paths(scope).await?;
            move || Ok(disk_usage(groups, 0))
        })
        .await?
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
                changed_since_backup: changed.contains(&s.id),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MockCatalog;
    use crate::engine::testing::{archive, paths, session};
    use crate::model::{SessionScan, StorageClass};
    use crate::tracker::mock::MockTracker;
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
            target_bucket: None,
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
}
