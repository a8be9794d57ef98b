//! `s3_paths`: the bucket's key layout. Every key fitsbak writes is made here.

use serde::{Deserialize, Serialize};

use super::error::{Check, ConfigError};
use crate::ids::{NameError, ObjectKey, SessionId};

/// `s3_paths`: key prefixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Paths {
    /// Session archives: `{raw_archives}/{year}/{session_id}.tar`.
    pub raw_archives: String,
    /// Session notes: `{session_notes}/{year}/{session_id}.md`.
    pub session_notes: String,
    /// Processing notes.
    pub processing_notes: String,
    /// Final outputs.
    pub final_outputs: String,
    /// Processed files: `{processed_files}/{year}/{processing_session_id}/{subfolder}/{filename}`.
    pub processed_files: String,
    /// Catalog database snapshots.
    pub database_backups: String,
    /// Archive manifests: `{manifests}/{year}/{session_id}.json`.
    pub manifests: String,
}

impl Default for S3Paths {
    fn default() -> Self {
        Self {
            raw_archives: "backups/raw".into(),
            session_notes: "backups/sessions".into(),
            processing_notes: "backups/processing".into(),
            final_outputs: "backups/final".into(),
            processed_files: "backups/processed".into(),
            database_backups: "backups/database".into(),
            manifests: "backups/manifests".into(),
        }
    }
}

impl S3Paths {
    /// `backups/raw/{year}/{session_id}.tar`.
    pub fn archive_key(&self, year: i32, session: &SessionId) -> Result<ObjectKey, NameError> {
        ObjectKey::join(
            &self.raw_archives,
            &[&year.to_string(), &format!("{session}.tar")],
        )
    }

    /// `backups/sessions/{year}/{session_id}.md`: the cataloger's own key, which its
    /// `sync-database` reads back as the session's id.
    pub fn notes_key(&self, year: i32, session: &SessionId) -> Result<ObjectKey, NameError> {
        ObjectKey::join(
            &self.session_notes,
            &[&year.to_string(), &format!("{session}.md")],
        )
    }

    /// `backups/database/{file name}`.
    pub fn database_key(&self, file_name: &str) -> Result<ObjectKey, NameError> {
        ObjectKey::join(&self.database_backups, &[file_name])
    }

    /// `backups/manifests/{year}/{session_id}.json`.
    /// `backups/processed/{year}/{processing_session_id}/{subfolder}/{name}`.
    pub fn processed_key(
        &self,
        year: i32,
        session: &SessionId,
        subfolder: &str,
        name: &str,
    ) -> Result<ObjectKey, NameError> {
        ObjectKey::join(
            &self.processed_files,
            &[&year.to_string(), session.as_str(), subfolder, name],
        )
    }

    /// `backups/processing/{processing_session_id}.md`: the Python tool's key.
    pub fn processing_note_key(&self, session: &SessionId) -> Result<ObjectKey, NameError> {
        ObjectKey::join(&self.processing_notes, &[&format!("{session}.md")])
    }

    pub fn manifest_key(&self, year: i32, session: &SessionId) -> Result<ObjectKey, NameError> {
        ObjectKey::join(
            &self.manifests,
            &[&year.to_string(), &format!("{session}.json")],
        )
    }
}

impl S3Paths {
    /// Every prefix must be a valid key.
    pub(crate) fn validate(&self, check: &Check) -> Result<(), ConfigError> {
        for (key, prefix) in [
            ("s3_paths.raw_archives", &self.raw_archives),
            ("s3_paths.manifests", &self.manifests),
            ("s3_paths.session_notes", &self.session_notes),
            ("s3_paths.database_backups", &self.database_backups),
        ] {
            if let Err(e) = ObjectKey::new(prefix.trim_matches('/')) {
                return Err(check.invalid(key, e.reason));
            }
        }
        Ok(())
    }
}
