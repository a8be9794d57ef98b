//! The core's async catalog and tracker traits over the blocking SQLite code:
//! every call runs on a blocking thread, never on the async runtime's threads.
//! The blocking methods of the same names stay available on [`Database`] for
//! callers without a runtime.

use std::collections::HashMap;

use async_trait::async_trait;
use fitsbak_core::catalog::Catalog;
use fitsbak_core::ids::SessionId;
use fitsbak_core::manifest::ManifestMember;
use fitsbak_core::model::{CatalogFile, Fingerprint, SessionPaths, SessionScan};
use fitsbak_core::store::MultipartId;
use fitsbak_core::tracker::{
    ArchiveRecord, ArchiveTracker, CheckRecord, DbSnapshotRecord, InflightUpload, LogEntry,
    NewArchive, NoteRecord, NoteTracker, PartRecord, RestoreUpdate, RunLog, SnapshotTracker,
    StatsSnapshot, StoreProfiles, UploadJournal,
};

use crate::Database;

type Result<T> = fitsbak_core::Result<T>;

impl Database {
    /// Runs `f` on a blocking thread with a handle on this database.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| fitsbak_core::Error::Tracker(Box::new(e)))?
    }
}

#[async_trait]
impl Catalog for Database {
    fn describe(&self) -> String {
        self.catalog_path().display().to_string()
    }

    async fn sessions(&self) -> Result<SessionScan> {
        self.run(|db| db.sessions()).await
    }

    async fn files<'a>(&self, sessions: Option<&'a [SessionId]>) -> Result<Vec<CatalogFile>> {
        let sessions = sessions.map(<[SessionId]>::to_vec);
        self.run(move |db| db.files(sessions.as_deref())).await
    }

    async fn file_paths<'a>(&self, sessions: Option<&'a [SessionId]>) -> Result<Vec<SessionPaths>> {
        let sessions = sessions.map(<[SessionId]>::to_vec);
        self.run(move |db| db.file_paths(sessions.as_deref())).await
    }

    async fn fingerprints<'a>(
        &self,
        sessions: Option<&'a [SessionId]>,
    ) -> Result<HashMap<SessionId, Fingerprint>> {
        let sessions = sessions.map(<[SessionId]>::to_vec);
        self.run(move |db| db.fingerprints(sessions.as_deref()))
            .await
    }

    async fn processing(&self) -> Result<fitsbak_core::processed::ProcessingScan> {
        self.run(|db| db.processing()).await
    }
}

#[async_trait]
impl ArchiveTracker for Database {
    async fn archives(&self) -> Result<Vec<ArchiveRecord>> {
        self.run(|db| db.archives()).await
    }

    async fn archive(&self, session: &SessionId) -> Result<Option<ArchiveRecord>> {
        let session = session.clone();
        self.run(move |db| db.archive(&session)).await
    }

    async fn members(&self, session: &SessionId) -> Result<Vec<ManifestMember>> {
        let session = session.clone();
        self.run(move |db| db.members(&session)).await
    }

    async fn record_archive(
        &self,
        archive: &NewArchive,
        members: &[ManifestMember],
        log: &LogEntry,
    ) -> Result<i64> {
        let (archive, members, log) = (archive.clone(), members.to_vec(), log.clone());
        self.run(move |db| db.record_archive(&archive, &members, &log))
            .await
    }

    async fn record_check(&self, check: &CheckRecord, log: &LogEntry) -> Result<()> {
        let (check, log) = (check.clone(), log.clone());
        self.run(move |db| db.record_check(&check, &log)).await
    }

    async fn record_restore(&self, update: &RestoreUpdate, log: &LogEntry) -> Result<()> {
        let (update, log) = (update.clone(), log.clone());
        self.run(move |db| db.record_restore(&update, &log)).await
    }
}

#[async_trait]
impl UploadJournal for Database {
    async fn begin_upload(&self, upload: &InflightUpload) -> Result<()> {
        let upload = upload.clone();
        self.run(move |db| db.begin_upload(&upload)).await
    }

    async fn record_part(&self, upload: &MultipartId, part: &PartRecord) -> Result<()> {
        let (upload, part) = (upload.clone(), part.clone());
        self.run(move |db| db.record_part(&upload, &part)).await
    }

    async fn inflight(&self) -> Result<Vec<InflightUpload>> {
        self.run(|db| db.inflight()).await
    }

    async fn end_upload(&self, upload: &MultipartId) -> Result<()> {
        let upload = upload.clone();
        self.run(move |db| db.end_upload(&upload)).await
    }
}

#[async_trait]
impl RunLog for Database {
    async fn log(&self, entry: &LogEntry) -> Result<()> {
        let entry = entry.clone();
        self.run(move |db| db.log(&entry)).await
    }

    async fn record_stats(&self, stats: &StatsSnapshot) -> Result<()> {
        let stats = stats.clone();
        self.run(move |db| db.record_stats(&stats)).await
    }

    async fn latest_stats(&self) -> Result<Option<StatsSnapshot>> {
        self.run(|db| db.latest_stats()).await
    }

    async fn check_history(
        &self,
        method: fitsbak_core::tracker::CheckMethod,
    ) -> Result<Vec<fitsbak_core::tracker::PastCheck>> {
        self.run(move |db| db.check_history(method)).await
    }
}

#[async_trait]
impl NoteTracker for Database {
    async fn notes(&self) -> Result<Vec<NoteRecord>> {
        self.run(|db| db.notes()).await
    }

    async fn record_note(&self, note: &NoteRecord, log: &LogEntry) -> Result<()> {
        let (note, log) = (note.clone(), log.clone());
        self.run(move |db| db.record_note(&note, &log)).await
    }
}

#[async_trait]
impl StoreProfiles for Database {
    async fn store_profile(
        &self,
        target: &str,
    ) -> Result<
        Option<(
            fitsbak_core::store::Capabilities,
            chrono::DateTime<chrono::Utc>,
        )>,
    > {
        let target = target.to_owned();
        self.run(move |db| db.store_profile(&target)).await
    }

    async fn record_store_profile(
        &self,
        target: &str,
        capabilities: &fitsbak_core::store::Capabilities,
    ) -> Result<()> {
        let (target, capabilities) = (target.to_owned(), capabilities.clone());
        self.run(move |db| db.record_store_profile(&target, &capabilities))
            .await
    }
}

#[async_trait]
impl SnapshotTracker for Database {
    async fn db_snapshots(&self) -> Result<Vec<DbSnapshotRecord>> {
        self.run(|db| db.db_snapshots()).await
    }

    async fn record_db_snapshot(&self, snapshot: &DbSnapshotRecord, log: &LogEntry) -> Result<i64> {
        let (snapshot, log) = (snapshot.clone(), log.clone());
        self.run(move |db| db.record_db_snapshot(&snapshot, &log))
            .await
    }
}
