//! Processing sessions and their files: the masters, intermediate and final images
//! (XISF, JPEG, XOSM projects with their `.data` folders) a person made on top of
//! the raw data, as the cataloger lists them in `processing_sessions` and
//! `processed_files`, and the tracking rows of their backups in the tables the
//! cataloger's Python tool reads (`s3_backup_processed_file_records`,
//! `s3_backup_processing_session_summary`, `s3_backup_processing_sessions`).
//!
//! Each file is its own object at
//! `{processed}/{year}/{processing_session_id}/{subfolder}/{filename}`; a
//! directory (a file's `.data` companion, or a catalogued folder) goes as one
//! deterministic tar with `.tar` appended to its name.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::SessionId;
use crate::model::StorageClass;

/// A row of the cataloger's `processing_sessions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessingSession {
    /// Its id (`20250115_ABC123`).
    pub id: SessionId,
    /// Its name.
    pub name: String,
    /// Where its files are.
    pub folder_path: Option<String>,
    /// `not_started`, `in_progress`, `complete`, ...
    pub status: Option<String>,
}

impl ProcessingSession {
    /// The year of its keys: the id's first four digits, as the Python tool reads it.
    pub fn year(&self) -> i32 {
        year_of(&self.id)
    }
}

/// The year in a processing session's keys: the first four digits of its id (the
/// current year when they are not digits, as the Python tool does).
pub fn year_of(id: &SessionId) -> i32 {
    id.as_str()
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| chrono::Datelike::year(&Utc::now()))
}

/// Whether a subfolder holds final outputs (the rest are intermediates).
pub fn is_final(subfolder: &str) -> bool {
    subfolder.trim().eq_ignore_ascii_case("final")
}

/// The kind of a processed file's object, from its key's subfolder
/// (`.../{session}/{subfolder}/{name}`).
pub fn kind_of_key(key: &str) -> crate::tags::ObjectKind {
    let subfolder = key.rsplit('/').nth(1).unwrap_or_default();
    if is_final(subfolder) {
        crate::tags::ObjectKind::ProcessedFinal
    } else {
        crate::tags::ObjectKind::ProcessedIntermediate
    }
}

/// A row of the cataloger's `processed_files`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedFile {
    /// `processed_files.id`.
    pub id: i64,
    /// The processing session.
    pub session_id: SessionId,
    /// Where it is (a file, or a folder).
    pub path: PathBuf,
    /// Its name.
    pub filename: String,
    /// `jpg`, `jpeg`, `xisf`, `xosm`, `pxiproject`.
    pub file_type: String,
    /// `final`, `intermediate`, ...
    pub subfolder: String,
    /// Size as catalogued.
    pub size: Option<u64>,
    /// MD5 as catalogued.
    pub md5sum: Option<String>,
    /// Its `.data` companion folder, when it has one.
    pub companion: Option<PathBuf>,
}

impl ProcessedFile {
    /// Whether it is a final output.
    pub fn is_final(&self) -> bool {
        is_final(&self.subfolder)
    }
}

/// The cataloger's processing sessions and their files.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessingScan {
    /// Every processing session, by id.
    pub sessions: Vec<ProcessingSession>,
    /// Every processed file, by session and id.
    pub files: Vec<ProcessedFile>,
    /// Rows that cannot be used, with the reason.
    pub rejected: Vec<String>,
}

/// What a tracking row is the backup of: a processed file itself, or its `.data`
/// companion folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// The file (or the catalogued folder, as a tar).
    File,
    /// Its `.data` companion, as a tar.
    Companion,
}

/// The backup of one processed file (or its companion): a row of
/// `s3_backup_processed_file_records` (or fitsbak's `s3_backup_processed_companions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedRecord {
    /// `processed_files.id`.
    pub processed_file_id: i64,
    /// The file or its companion.
    pub part: Part,
    /// The processing session.
    pub session_id: SessionId,
    /// Bucket (or local root).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Region.
    pub region: String,
    /// ETag after upload.
    pub etag: Option<String>,
    /// Bytes uploaded (the tar's, for a folder).
    pub size: u64,
    /// MD5 of the bytes uploaded (lower-case hex).
    pub md5: String,
    /// For a folder: what its files were (paths, sizes, mtimes) when its tar was
    /// made, so that a changed folder goes again without making its tar first.
    pub fingerprint: Option<String>,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Storage class written with.
    pub storage_class: StorageClass,
    /// Whether the last check passed.
    pub verified: bool,
    /// When it was last checked.
    pub verified_at: Option<DateTime<Utc>>,
    /// A note for people.
    pub notes: Option<String>,
}

/// A processing session's notes in the bucket: a row of
/// `s3_backup_processing_sessions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessingNoteRecord {
    /// The processing session.
    pub session_id: SessionId,
    /// Bucket (or local root).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Region.
    pub region: String,
    /// ETag after upload.
    pub etag: Option<String>,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Size in bytes.
    pub size: u64,
    /// MD5 of the content uploaded.
    pub content_md5: Option<String>,
    /// Archive policy tag value.
    pub archive_policy: String,
    /// Backup policy tag value.
    pub backup_policy: String,
    /// Storage class written with.
    pub storage_class: StorageClass,
}
