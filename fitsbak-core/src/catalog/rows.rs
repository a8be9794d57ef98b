//! A catalog made of the tracking rows, for a database that holds only them (after
//! a disaster, once `sync-db` rebuilt them): the sessions are those with an
//! archive, their files the archives' members. `status`, `list-sessions`, `verify`
//! and `doctor` then report from what the backups hold, and say that the catalog
//! is absent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::Catalog;
use crate::error::Result;
use crate::ids::SessionId;
use crate::model::{CatalogFile, Fingerprint, FolderFiles, Session, SessionPaths, SessionScan};
use crate::tracker::Tracker;

/// The tracking rows standing in for the catalog.
pub struct TrackedCatalog {
    tracker: Arc<dyn Tracker>,
    /// The catalog that is not there, for messages.
    missing: String,
}

impl TrackedCatalog {
    /// The rows of `tracker`, standing in for the catalog at `missing`.
    pub fn new(tracker: Arc<dyn Tracker>, missing: impl Into<String>) -> Self {
        Self {
            tracker,
            missing: missing.into(),
        }
    }

    async fn members_of(&self, sessions: Option<&[SessionId]>) -> Result<Vec<CatalogFile>> {
        let ids: Vec<SessionId> = match sessions {
            Some(ids) => ids.to_vec(),
            None => self
                .tracker
                .archives()
                .await?
                .into_iter()
                .map(|a| a.session_id)
                .collect(),
        };
        let mut out = Vec::new();
        for id in ids {
            for m in self.tracker.members(&id).await? {
                out.push(CatalogFile {
                    id: m.catalog_id.unwrap_or_default(),
                    session_id: id.clone(),
                    file: m.file,
                    folder: m.folder,
                    path: PathBuf::from(m.source_path),
                    frame_type: m.frame_type,
                    md5sum: Some(m.catalog_md5.unwrap_or(m.md5)),
                    object: m.object,
                    filter: m.filter,
                    bad: false,
                    file_not_found: false,
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Catalog for TrackedCatalog {
    fn describe(&self) -> String {
        format!(
            "no catalog ({} is not a catalog database): sessions from the tracking rows",
            self.missing
        )
    }

    async fn sessions(&self) -> Result<SessionScan> {
        let mut sessions: Vec<Session> = self
            .tracker
            .archives()
            .await?
            .into_iter()
            .filter_map(|a| {
                let date = a
                    .session_date
                    .as_deref()
                    .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .or_else(|| chrono::NaiveDate::from_ymd_opt(a.session_year?, 1, 1))?;
                Some(Session {
                    id: a.session_id,
                    date,
                    telescope: a.telescope_name,
                    camera: a.camera_name,
                    notes: None,
                    file_count: a.file_count,
                })
            })
            .collect();
        sessions.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.id.cmp(&b.id)));
        Ok(SessionScan {
            sessions,
            rejected: Vec::new(),
        })
    }

    async fn files<'a>(&self, sessions: Option<&'a [SessionId]>) -> Result<Vec<CatalogFile>> {
        self.members_of(sessions).await
    }

    async fn file_paths<'a>(&self, sessions: Option<&'a [SessionId]>) -> Result<Vec<SessionPaths>> {
        let mut by_session: HashMap<SessionId, HashMap<PathBuf, FolderFiles>> = HashMap::new();
        for f in self.members_of(sessions).await? {
            let dir = f.path.parent().map(PathBuf::from).unwrap_or_default();
            by_session
                .entry(f.session_id.clone())
                .or_default()
                .entry(dir.clone())
                .or_insert_with(|| FolderFiles::new(dir))
                .push(&f.file);
        }
        Ok(by_session
            .into_iter()
            .map(|(session, folders)| SessionPaths {
                session,
                folders: folders.into_values().collect(),
            })
            .collect())
    }

    async fn fingerprints<'a>(
        &self,
        sessions: Option<&'a [SessionId]>,
    ) -> Result<HashMap<SessionId, Fingerprint>> {
        let mut out: HashMap<SessionId, Fingerprint> = HashMap::new();
        for f in self.members_of(sessions).await? {
            out.entry(f.session_id.clone()).or_default().add(
                &f.folder,
                &f.file,
                f.md5sum.as_deref(),
            );
        }
        Ok(out)
    }
}
