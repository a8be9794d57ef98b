//! A mockall double of every tracker trait, for the engine's unit tests.

use async_trait::async_trait;

use super::*;

mockall::mock! {
    /// A tracker whose every method is an expectation.
    pub Tracker {}

    #[async_trait]
    impl ArchiveTracker for Tracker {
        async fn archives(&self) -> Result<Vec<ArchiveRecord>>;
        async fn archive(&self, session: &SessionId) -> Result<Option<ArchiveRecord>>;
        async fn members(&self, session: &SessionId) -> Result<Vec<ManifestMember>>;
        async fn record_archive(
            &self,
            archive: &NewArchive,
            members: &[ManifestMember],
            log: &LogEntry,
        ) -> Result<i64>;
        async fn record_check(&self, check: &CheckRecord, log: &LogEntry) -> Result<()>;
        async fn record_restore(&self, update: &RestoreUpdate, log: &LogEntry) -> Result<()>;
    }

    #[async_trait]
    impl UploadJournal for Tracker {
        async fn begin_upload(&self, upload: &InflightUpload) -> Result<()>;
        async fn record_part(&self, upload: &MultipartId, part: &PartRecord) -> Result<()>;
        async fn inflight(&self) -> Result<Vec<InflightUpload>>;
        async fn end_upload(&self, upload: &MultipartId) -> Result<()>;
    }

    #[async_trait]
    impl RunLog for Tracker {
        async fn log(&self, entry: &LogEntry) -> Result<()>;
        async fn record_stats(&self, stats: &StatsSnapshot) -> Result<()>;
        async fn latest_stats(&self) -> Result<Option<StatsSnapshot>>;
        async fn check_history(&self, method: CheckMethod) -> Result<Vec<PastCheck>>;
    }

    #[async_trait]
    impl ProcessedTracker for Tracker {
        async fn processed(&self) -> Result<Vec<crate::processed::ProcessedRecord>>;
        async fn record_processed(
            &self,
            record: &crate::processed::ProcessedRecord,
            catalogued: u64,
            log: &LogEntry,
        ) -> Result<()>;
        async fn refresh_processed_fingerprint(
            &self,
            processed_file_id: i64,
            part: crate::processed::Part,
            fingerprint: &str,
        ) -> Result<()>;
        async fn record_processed_check(
            &self,
            processed_file_id: i64,
            part: crate::processed::Part,
            passed: bool,
            log: &LogEntry,
        ) -> Result<()>;
        async fn processing_notes(&self) -> Result<Vec<crate::processed::ProcessingNoteRecord>>;
        async fn record_processing_note(
            &self,
            note: &crate::processed::ProcessingNoteRecord,
            log: &LogEntry,
        ) -> Result<()>;
    }

    #[async_trait]
    impl NoteTracker for Tracker {
        async fn notes(&self) -> Result<Vec<NoteRecord>>;
        async fn record_note(&self, note: &NoteRecord, log: &LogEntry) -> Result<()>;
    }

    #[async_trait]
    impl StoreProfiles for Tracker {
        async fn store_profile(
            &self,
            target: &str,
        ) -> Result<Option<(crate::store::Capabilities, DateTime<Utc>)>>;
        async fn record_store_profile(
            &self,
            target: &str,
            capabilities: &crate::store::Capabilities,
        ) -> Result<()>;
    }

    #[async_trait]
    impl SnapshotTracker for Tracker {
        async fn db_snapshots(&self) -> Result<Vec<DbSnapshotRecord>>;
        async fn record_db_snapshot(&self, snapshot: &DbSnapshotRecord, log: &LogEntry) -> Result<i64>;
    }
}
