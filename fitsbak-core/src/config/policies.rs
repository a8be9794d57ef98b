//! `backup_rules` and `lifecycle`: the policies per kind of object, the single
//! source of the tags written on objects and the bucket's lifecycle rules.

use serde::{Deserialize, Serialize};

use super::error::{Check, ConfigError};
use crate::model::StorageClass;

/// One entry of `backup_rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupRule {
    /// How soon objects move to cold storage: `fast`, `standard`/`normal`, `delayed`.
    pub archive_policy: String,
    /// Where they end up: `deep` (Deep Archive) or `flexible` (Glacier first).
    pub backup_policy: String,
    /// Days before the lifecycle transition.
    pub archive_days: u32,
    /// Storage class objects are written with.
    pub storage_class: StorageClass,
}

impl BackupRule {
    fn new(archive_policy: &str, backup_policy: &str, archive_days: u32) -> Self {
        Self {
            archive_policy: archive_policy.into(),
            backup_policy: backup_policy.into(),
            archive_days,
            storage_class: StorageClass::Standard,
        }
    }
}

impl Default for BackupRule {
    fn default() -> Self {
        Self::new("fast", "deep", 7)
    }
}

/// `backup_rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupRules {
    /// Session archives (light frames).
    pub raw_lights: BackupRule,
    /// Calibration frames.
    pub raw_calibration: BackupRule,
    /// Session notes.
    pub imaging_sessions: BackupRule,
    /// Processing notes and intermediate files of processing sessions.
    pub processing_sessions: BackupRule,
    /// Final outputs of processing sessions: readable at once (Glacier Instant
    /// Retrieval), never a 12-hour wait.
    pub final_outputs: BackupRule,
}

impl Default for BackupRules {
    fn default() -> Self {
        Self {
            raw_lights: BackupRule::new("fast", "deep", 7),
            raw_calibration: BackupRule::new("fast", "deep", 7),
            imaging_sessions: BackupRule::new("standard", "deep", 30),
            processing_sessions: BackupRule::new("delayed", "flexible", 90),
            final_outputs: BackupRule::new("instant", "instant", 0),
        }
    }
}

/// `lifecycle`: how tags are spelled and what `lifecycle generate` adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleSettings {
    /// The tag key carrying the archive policy.
    pub archive_tag_key: String,
    /// The tag key carrying the backup policy.
    pub backup_tag_key: String,
    /// Incomplete multipart uploads are aborted after this many days.
    pub abort_incomplete_multipart_days: u32,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            archive_tag_key: "archive".into(),
            backup_tag_key: "backup".into(),
            abort_incomplete_multipart_days: 7,
        }
    }
}

impl LifecycleSettings {
    /// Tag keys of 1 to 128 characters, and two different ones.
    pub(crate) fn validate(&self, check: &Check) -> Result<(), ConfigError> {
        for (key, value) in [
            ("lifecycle.archive_tag_key", &self.archive_tag_key),
            ("lifecycle.backup_tag_key", &self.backup_tag_key),
        ] {
            if value.trim().is_empty() || value.len() > 128 {
                return Err(check.invalid(key, "a tag key has 1 to 128 characters"));
            }
        }
        if self.archive_tag_key == self.backup_tag_key {
            return Err(check.invalid(
                "lifecycle.backup_tag_key",
                "must differ from lifecycle.archive_tag_key",
            ));
        }
        Ok(())
    }
}
