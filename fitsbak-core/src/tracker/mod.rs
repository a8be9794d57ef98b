//! The tracker: what was backed up, what is being uploaded, and the audit log.
//!
//! `fitsbak-store` implements it on the cataloger's own tracking tables
//! (`s3_backup_archives`, `s3_backup_log`, `s3_backup_stats`, ...) plus fitsbak's
//! tables for archive members and uploads in flight. Every write that records an
//! outcome is one transaction, so a crash never leaves a half-recorded archive.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::error::Result;
use crate::ids::SessionId;
use crate::manifest::ManifestMember;
use crate::model::StorageClass;
use crate::store::{MultipartId, PartReceipt, RestoreTier};

/// What the client knew of an archive when it was recorded, beyond the row of
/// `s3_backup_archives` (`s3_backup_archive_facts`): what every later check
/// compares the bucket against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ArchiveFacts {
    /// CRC32C of the whole tar stream, 8 hex digits.
    pub archive_crc32c: Option<String>,
    /// The whole-object checksum the store reported.
    pub object_checksum: Option<crate::store::ObjectChecksum>,
    /// Part size of the upload (0 for one PUT).
    pub part_size: u64,
    /// The catalog's fingerprint of the session when the archive was made.
    pub catalog_fingerprint: Option<String>,
    /// Catalogued files left out (missing on disk, allowed).
    pub excluded: Vec<crate::manifest::ExcludedFile>,
    /// How the row came to be: `upload`, `adopted: ...`, `sync-db: ...`.
    pub proof: String,
    /// `gzip` for an archive the cataloger's Python tool compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Adopted on the object's HEAD alone (it sat in an archive class): its members
    /// are not known until it is restored and read (`fitsbak migrate` again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub members_unknown: bool,
}

/// One row of `s3_backup_archives`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchiveRecord {
    /// Row id.
    pub id: i64,
    /// The session.
    pub session_id: SessionId,
    /// `YYYY-MM-DD`.
    pub session_date: Option<String>,
    /// The year used in the key.
    pub session_year: Option<i32>,
    /// Bucket (or local root).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Region (`local` for the local target).
    pub region: String,
    /// ETag recorded at upload.
    pub etag: Option<String>,
    /// Version id recorded at upload.
    pub version_id: Option<String>,
    /// Members in the archive.
    pub file_count: u64,
    /// Sum of the members' sizes.
    pub original_size_bytes: u64,
    /// Archive size (`compressed_size_bytes`; archives are not compressed).
    pub archive_size_bytes: u64,
    /// Archive policy tag value.
    pub archive_policy: Option<String>,
    /// Backup policy tag value.
    pub backup_policy: Option<String>,
    /// Storage class last seen.
    pub current_storage_class: Option<StorageClass>,
    /// Storage class the lifecycle rules will move it to.
    pub expected_storage_class: Option<StorageClass>,
    /// When it was uploaded.
    pub uploaded_at: Option<DateTime<Utc>>,
    /// When a check last passed.
    pub last_verified_at: Option<DateTime<Utc>>,
    /// A check passed and none failed since.
    pub verified: bool,
    /// `head_object` (quick), `deep` or `local`; the cataloger's tool also wrote
    /// `etag` and `sync_from_s3`.
    pub verification_method: Option<String>,
    /// Restore state.
    pub restore_status: Option<String>,
    /// When a restore was requested.
    pub restore_requested_at: Option<DateTime<Utc>>,
    /// When the restored copy expires.
    pub restore_expires_at: Option<DateTime<Utc>>,
    /// Restore tier asked for.
    pub restore_tier: Option<String>,
    /// Camera.
    pub camera_name: Option<String>,
    /// Telescope.
    pub telescope_name: Option<String>,
    /// Free-form notes (for example the files left out as missing).
    pub notes: Option<String>,
    /// What was known of it when recorded (`None` for rows written by other tools
    /// or by fitsbak before it kept them).
    pub facts: Option<ArchiveFacts>,
}

/// What an upload records about a new archive.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArchive {
    /// The session.
    pub session_id: SessionId,
    /// Its date.
    pub session_date: NaiveDate,
    /// Bucket (or local root).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Region.
    pub region: String,
    /// ETag after upload.
    pub etag: String,
    /// Version id after upload.
    pub version_id: Option<String>,
    /// Sum of member sizes.
    pub original_size_bytes: u64,
    /// Archive size.
    pub archive_size_bytes: u64,
    /// Archive policy tag value.
    pub archive_policy: String,
    /// Backup policy tag value.
    pub backup_policy: String,
    /// Storage class written with.
    pub storage_class: StorageClass,
    /// Storage class the lifecycle rules lead to.
    pub expected_storage_class: StorageClass,
    /// When the upload completed.
    pub uploaded_at: DateTime<Utc>,
    /// Camera.
    pub camera_name: Option<String>,
    /// Telescope.
    pub telescope_name: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// What the client knows of the archive.
    pub facts: ArchiveFacts,
}

/// `s3_backup_log.operation_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operation {
    /// An archive upload.
    Upload,
    /// A verification.
    Verify,
    /// A restore request.
    RestoreRequest,
    /// A restore download.
    Restore,
    /// A deletion.
    Delete,
    /// Rebuilding the tables from the bucket.
    Sync,
    /// A session's notes uploaded.
    NotesUpload,
    /// A catalog database snapshot uploaded.
    DatabaseBackup,
    /// A catalog database snapshot restored.
    DatabaseRestore,
}

impl Operation {
    /// The text stored in the log.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::Upload => "upload",
            Operation::Verify => "verify",
            Operation::RestoreRequest => "restore_request",
            Operation::Restore => "restore",
            Operation::Delete => "delete",
            Operation::Sync => "sync",
            Operation::NotesUpload => "notes_upload",
            Operation::DatabaseBackup => "db_backup",
            Operation::DatabaseRestore => "db_restore",
        }
    }
}

/// `s3_backup_log.operation_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OperationStatus {
    /// Started.
    Started,
    /// Succeeded.
    Success,
    /// Failed.
    Failed,
    /// Neither: waiting on something (a restore).
    InProgress,
    /// Skipped.
    Skipped,
}

impl OperationStatus {
    /// The text stored in the log.
    pub fn as_str(&self) -> &'static str {
        match self {
            OperationStatus::Started => "started",
            OperationStatus::Success => "success",
            OperationStatus::Failed => "failed",
            OperationStatus::InProgress => "in-progress",
            OperationStatus::Skipped => "skipped",
        }
    }
}

/// A row of `s3_backup_log` as read back (the web page's session history).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogRow {
    /// `upload`, `verify`, `restore`, ...
    pub operation: String,
    /// `success`, `failed`, ...
    pub status: String,
    /// When, as stored (UTC).
    pub timestamp: Option<String>,
    /// Object key.
    pub key: Option<String>,
    /// Bytes moved.
    pub bytes_transferred: Option<u64>,
    /// Seconds it took.
    pub duration_seconds: Option<f64>,
    /// Error text.
    pub error_message: Option<String>,
    /// Notes.
    pub notes: Option<String>,
}

/// One row of `s3_backup_log`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// What was done.
    pub operation: Operation,
    /// How it ended.
    pub status: OperationStatus,
    /// The session, when about one.
    pub session_id: Option<SessionId>,
    /// Bucket.
    pub bucket: Option<String>,
    /// Object key.
    pub key: Option<String>,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// How long it took.
    pub duration_seconds: Option<f64>,
    /// Bytes moved.
    pub bytes_transferred: Option<u64>,
    /// Error text (never a secret).
    pub error_message: Option<String>,
    /// Error code (`NoSuchBucket`, `md5-mismatch`, ...).
    pub error_code: Option<String>,
    /// Retries it took.
    pub retry_count: u32,
    /// Started by a person, not a schedule.
    pub user_initiated: bool,
    /// Notes.
    pub notes: Option<String>,
}

impl LogEntry {
    /// A new entry stamped now, with the other fields empty.
    pub fn new(operation: Operation, status: OperationStatus) -> Self {
        Self {
            operation,
            status,
            session_id: None,
            bucket: None,
            key: None,
            timestamp: crate::time::now(),
            duration_seconds: None,
            bytes_transferred: None,
            error_message: None,
            error_code: None,
            retry_count: 0,
            user_initiated: true,
            notes: None,
        }
    }

    /// Transfer rate in MB/s, from bytes and duration.
    pub fn rate_mb_per_s(&self) -> Option<f64> {
        match (self.bytes_transferred, self.duration_seconds) {
            (Some(bytes), Some(secs)) if secs > 0.0 => Some(bytes as f64 / 1e6 / secs),
            _ => None,
        }
    }
}

/// Which check to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum CheckMethod {
    /// HEAD, tags and manifest; no download.
    Quick,
    /// Read the object and re-hash every member.
    Deep,
    /// Re-hash the source files on disk.
    Local,
}

impl CheckMethod {
    /// The name recorded as `verification_method`, in the cataloger's words where
    /// it has one (`head_object`).
    pub fn name(&self) -> &'static str {
        match self {
            CheckMethod::Quick => "head_object",
            CheckMethod::Deep => "deep",
            CheckMethod::Local => "local",
        }
    }
}

impl From<CheckMethod> for &'static str {
    fn from(method: CheckMethod) -> Self {
        method.name()
    }
}

/// The result of one verification of one archive.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRecord {
    /// The session.
    pub session_id: SessionId,
    /// Which check.
    pub method: CheckMethod,
    /// Passed, failed, or could not run yet (needs restore).
    pub outcome: CheckOutcome,
    /// Storage class seen, when the check looked.
    pub storage_class: Option<StorageClass>,
    /// When.
    pub at: DateTime<Utc>,
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Everything matched.
    Passed,
    /// Something did not match; the reasons name it.
    Failed(Vec<String>),
    /// The object must be restored before this check can run.
    NeedsRestore(String),
    /// Written by the cataloger's Python tool and not adopted yet (`fitsbak
    /// migrate` adopts it): nothing to check against, and nothing is changed.
    NotAdopted(String),
}

/// A multipart upload in flight, persisted so that a later run can resume it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InflightUpload {
    /// The session.
    pub session_id: SessionId,
    /// Bucket (or local root).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// The server's upload id.
    pub upload_id: MultipartId,
    /// Part size.
    pub part_size: u64,
    /// Exact archive size.
    pub archive_size: u64,
    /// Checksum algorithm of the parts.
    pub checksum_algorithm: Option<String>,
    /// The member snapshot (paths, sizes, mtimes in archive order), as JSON; a resume
    /// goes on only when the files still match it.
    pub snapshot: String,
    /// When the upload started.
    pub started_at: DateTime<Utc>,
    /// Parts completed so far, with their checksums.
    pub parts: Vec<PartRecord>,
}

/// A completed part of an upload in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartRecord {
    /// What the server answered.
    pub receipt: PartReceipt,
    /// The client's checksum of the part's bytes (`ALGO:base64`).
    pub client_checksum: String,
}

/// Where a restore of an archived object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreStatus {
    /// Requested, not readable yet.
    InProgress,
    /// A readable copy exists.
    Available,
    /// The readable copy went away.
    Expired,
    /// The object is readable as it is (not archived).
    NotNeeded,
    /// Archived, and no restore was asked for.
    NotRequested,
    /// The object is not in the store.
    Missing,
}

impl RestoreStatus {
    /// The text stored in `restore_status`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RestoreStatus::InProgress => "in-progress",
            RestoreStatus::Available => "available",
            RestoreStatus::Expired => "expired",
            RestoreStatus::NotNeeded => "not-needed",
            RestoreStatus::NotRequested => "not-requested",
            RestoreStatus::Missing => "missing",
        }
    }

    /// Reads a stored `restore_status` (`in_progress` and `requested`, as other
    /// tools spell them, too).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "in-progress" | "requested" | "restoring" => Some(RestoreStatus::InProgress),
            "available" | "restored" | "completed" => Some(RestoreStatus::Available),
            "expired" => Some(RestoreStatus::Expired),
            "not-needed" => Some(RestoreStatus::NotNeeded),
            "not-requested" => Some(RestoreStatus::NotRequested),
            "missing" => Some(RestoreStatus::Missing),
            _ => None,
        }
    }
}

impl std::fmt::Display for RestoreStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of an archive's restore state.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreUpdate {
    /// The session.
    pub session_id: SessionId,
    /// Where the restore stands now.
    pub status: RestoreStatus,
    /// When it was requested (set by a request).
    pub requested_at: Option<DateTime<Utc>>,
    /// The tier (set by a request).
    pub tier: Option<RestoreTier>,
    /// When the restored copy expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Storage class seen.
    pub storage_class: Option<StorageClass>,
}

/// One row of `s3_backup_session_notes`: a session's notes in the bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteRecord {
    /// The session.
    pub session_id: SessionId,
    /// The year used in the key.
    pub session_year: i32,
    /// Bucket (or local root).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Region.
    pub region: String,
    /// ETag after upload.
    pub etag: Option<String>,
    /// When it was uploaded.
    pub uploaded_at: Option<DateTime<Utc>>,
    /// Size in bytes.
    pub size_bytes: u64,
    /// MD5 of the content uploaded (lower-case hex): a note is uploaded again only
    /// when its content's MD5 differs.
    pub content_md5: Option<String>,
    /// Archive policy tag value.
    pub archive_policy: Option<String>,
    /// Backup policy tag value.
    pub backup_policy: Option<String>,
    /// Storage class written with.
    pub storage_class: Option<StorageClass>,
}

impl NoteRecord {
    /// Whether the note uploaded is `md5`: its recorded content MD5, or, for rows
    /// the cataloger's tool wrote (no content MD5), the single-PUT ETag it recorded,
    /// which is the MD5 of the bytes it sent.
    pub fn holds(&self, md5: &str) -> bool {
        match &self.content_md5 {
            Some(recorded) => recorded.eq_ignore_ascii_case(md5),
            None => self
                .etag
                .as_deref()
                .is_some_and(|etag| etag.trim_matches('"').eq_ignore_ascii_case(md5)),
        }
    }
}

/// A snapshot of the catalog database in the bucket (`s3_backup_db_snapshots`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbSnapshotRecord {
    /// Row id (0 before it is recorded).
    pub id: i64,
    /// Bucket (or local root).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Region.
    pub region: String,
    /// Version id, when the bucket keeps versions.
    pub version_id: Option<String>,
    /// ETag after upload.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size_bytes: u64,
    /// MD5 of the snapshot's bytes (lower-case hex).
    pub md5: String,
    /// The database it is a snapshot of.
    pub source_path: String,
    /// What the user said about it.
    pub description: Option<String>,
    /// When the snapshot was taken.
    pub created_at: DateTime<Utc>,
}

/// One row of `s3_backup_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// When.
    pub stat_date: Option<DateTime<Utc>>,
    /// `daily` (one row per UTC day, as the cataloger's tools read them),
    /// `weekly`, `monthly`.
    pub period_type: String,
    /// Archives tracked.
    pub total_archives: u64,
    /// In STANDARD.
    pub archives_in_standard: u64,
    /// In GLACIER.
    pub archives_in_glacier: u64,
    /// In DEEP_ARCHIVE.
    pub archives_in_deep_archive: u64,
    /// Sum of original sizes.
    pub total_original_size_bytes: u64,
    /// Sum of archive sizes.
    pub total_archive_size_bytes: u64,
    /// Estimated monthly cost, USD.
    pub total_storage_cost_estimate: f64,
    /// Uploads in the run.
    pub uploads_count: u64,
    /// Bytes uploaded in the run.
    pub uploads_bytes: u64,
    /// Verifications in the run.
    pub verifications_count: u64,
    /// Restores in the run.
    pub restores_count: u64,
}

/// Archive rows and their members: what is backed up, and how it was checked.
#[async_trait]
pub trait ArchiveTracker: Send + Sync {
    /// Every archive row, ordered by session id.
    async fn archives(&self) -> Result<Vec<ArchiveRecord>>;

    /// The archive row of one session.
    async fn archive(&self, session: &SessionId) -> Result<Option<ArchiveRecord>>;

    /// The members recorded for a session's archive, in archive order.
    async fn members(&self, session: &SessionId) -> Result<Vec<ManifestMember>>;

    /// In one transaction: replaces the session's archive row and members, appends
    /// the log entry, and forgets the upload in flight for the session. Returns the
    /// archive row id.
    async fn record_archive(
        &self,
        archive: &NewArchive,
        members: &[ManifestMember],
        log: &LogEntry,
    ) -> Result<i64>;

    /// In one transaction: applies a check's outcome to the archive row (`verified`
    /// is set only by a pass and cleared by a failure) and appends the log entry.
    async fn record_check(&self, check: &CheckRecord, log: &LogEntry) -> Result<()>;

    /// Applies a restore state change to the archive row and appends the log entry.
    async fn record_restore(&self, update: &RestoreUpdate, log: &LogEntry) -> Result<()>;
}

/// Multipart uploads in flight, so that an interrupted run can resume them.
#[async_trait]
pub trait UploadJournal: Send + Sync {
    /// Persists a new upload in flight (no parts yet).
    async fn begin_upload(&self, upload: &InflightUpload) -> Result<()>;

    /// Records one completed part of an upload in flight.
    async fn record_part(&self, upload: &MultipartId, part: &PartRecord) -> Result<()>;

    /// Every upload in flight, with its parts.
    async fn inflight(&self) -> Result<Vec<InflightUpload>>;

    /// Forgets an upload in flight (completed or aborted).
    async fn end_upload(&self, upload: &MultipartId) -> Result<()>;
}

/// The audit log and the statistics of each run.
#[async_trait]
pub trait RunLog: Send + Sync {
    /// Appends a log entry.
    async fn log(&self, entry: &LogEntry) -> Result<()>;

    /// Appends a statistics row.
    async fn record_stats(&self, stats: &StatsSnapshot) -> Result<()>;

    /// The newest statistics row.
    async fn latest_stats(&self) -> Result<Option<StatsSnapshot>>;

    /// The checks of `method` that ran to an answer (passed or failed), oldest
    /// first, from the log.
    async fn check_history(&self, method: CheckMethod) -> Result<Vec<PastCheck>>;
}

/// One check that ran, from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PastCheck {
    /// The session.
    pub session_id: SessionId,
    /// When.
    pub at: DateTime<Utc>,
    /// Bytes it read from the store.
    pub bytes: u64,
}

/// Session notes in the bucket.
#[async_trait]
pub trait NoteTracker: Send + Sync {
    /// Every session notes row, ordered by session id.
    async fn notes(&self) -> Result<Vec<NoteRecord>>;

    /// In one transaction: replaces the session's notes row and appends the log entry.
    async fn record_note(&self, note: &NoteRecord, log: &LogEntry) -> Result<()>;
}

/// Snapshots of the catalog database in the bucket.
#[async_trait]
pub trait SnapshotTracker: Send + Sync {
    /// Every catalog snapshot recorded, oldest first.
    async fn db_snapshots(&self) -> Result<Vec<DbSnapshotRecord>>;

    /// In one transaction: records a catalog snapshot and appends the log entry.
    /// Returns its row id.
    async fn record_db_snapshot(&self, snapshot: &DbSnapshotRecord, log: &LogEntry) -> Result<i64>;
}

/// What each target's store was found to do, with when it was probed.
#[async_trait]
pub trait StoreProfiles: Send + Sync {
    /// The capabilities probed for `target` (a store's description), and when.
    async fn store_profile(
        &self,
        target: &str,
    ) -> Result<Option<(crate::store::Capabilities, DateTime<Utc>)>>;

    /// Keeps the capabilities just probed for `target`.
    async fn record_store_profile(
        &self,
        target: &str,
        capabilities: &crate::store::Capabilities,
    ) -> Result<()>;
}

/// The tracking tables, all of them: what the engine holds. Implemented for every
/// type that implements the narrow traits.
pub trait Tracker:
    ArchiveTracker
    + UploadJournal
    + RunLog
    + NoteTracker
    + SnapshotTracker
    + StoreProfiles
    + ProcessedTracker
{
}

impl<T> Tracker for T where
    T: ArchiveTracker
        + UploadJournal
        + RunLog
        + NoteTracker
        + SnapshotTracker
        + StoreProfiles
        + ProcessedTracker
{
}

/// Backups of processing sessions: their files and their notes.
#[async_trait]
pub trait ProcessedTracker: Send + Sync {
    /// Every processed file's backup row (files and companions).
    async fn processed(&self) -> Result<Vec<crate::processed::ProcessedRecord>>;

    /// In one transaction: replaces the row of the record's file (or companion),
    /// brings the session's summary row up to date (`total_files` of the catalog,
    /// from `catalogued`) and appends the log entry.
    async fn record_processed(
        &self,
        record: &crate::processed::ProcessedRecord,
        catalogued: u64,
        log: &LogEntry,
    ) -> Result<()>;

    /// Replaces the fingerprint of a processed file's row (its bytes were found
    /// unchanged by their MD5, so the next run need not hash them again).
    async fn refresh_processed_fingerprint(
        &self,
        processed_file_id: i64,
        part: crate::processed::Part,
        fingerprint: &str,
    ) -> Result<()>;

    /// Records a check of a processed file's backup (`verified`, `verified_at`,
    /// the summary's `last_verified_at`/`all_verified`) with its log entry.
    async fn record_processed_check(
        &self,
        processed_file_id: i64,
        part: crate::processed::Part,
        passed: bool,
        log: &LogEntry,
    ) -> Result<()>;

    /// Every processing notes row.
    async fn processing_notes(&self) -> Result<Vec<crate::processed::ProcessingNoteRecord>>;

    /// In one transaction: replaces the processing session's notes row and
    /// appends the log entry.
    async fn record_processing_note(
        &self,
        note: &crate::processed::ProcessingNoteRecord,
        log: &LogEntry,
    ) -> Result<()>;
}

#[cfg(test)]
pub mod mock;
