//! `restore_settings`, `archive_settings`, `retry_settings`, `logging` and
//! `notifications`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{Check, ConfigError};

/// `restore_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestoreSettings {
    /// `Standard`, `Bulk` or `Expedited`.
    pub default_tier: String,
    /// Days a restored copy stays readable.
    pub default_days: u32,
    /// Where restored files go by default.
    pub restore_path: Option<PathBuf>,
}

impl Default for RestoreSettings {
    fn default() -> Self {
        Self {
            default_tier: "Standard".into(),
            default_days: 7,
            restore_path: None,
        }
    }
}

/// `archive_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArchiveSettings {
    /// Kept for compatibility: archives are always uncompressed tar (FITS data does
    /// not compress enough to be worth the CPU on a small machine).
    pub compression_level: u32,
    /// Kept for compatibility; unused.
    pub use_pigz: bool,
    /// Run the quick verification after each upload.
    pub verify_after_upload: bool,
    /// Kept for compatibility: the manifest is always written.
    pub keep_archive_index: bool,
    /// Sessions larger than this are refused (GB).
    pub max_archive_size_gb: f64,
    /// Where `upload --no-cleanup` writes a local copy of each archive.
    pub temp_dir: Option<PathBuf>,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        Self {
            compression_level: 0,
            use_pigz: false,
            verify_after_upload: true,
            keep_archive_index: true,
            max_archive_size_gb: 50.0,
            temp_dir: None,
        }
    }
}

/// `retry_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First wait.
    pub initial_backoff_seconds: f64,
    /// Longest wait.
    pub max_backoff_seconds: f64,
    /// Growth of the wait per retry.
    pub backoff_multiplier: f64,
    /// Longest one request may take before it is abandoned and retried.
    pub request_timeout_seconds: f64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff_seconds: 2.0,
            max_backoff_seconds: 60.0,
            backoff_multiplier: 2.0,
            request_timeout_seconds: 600.0,
        }
    }
}

impl RetrySettings {
    /// The wait before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> std::time::Duration {
        let factor = self
            .backoff_multiplier
            .max(1.0)
            .powi(retry.saturating_sub(1) as i32);
        let secs = (self.initial_backoff_seconds * factor).min(self.max_backoff_seconds);
        std::time::Duration::from_secs_f64(secs.max(0.0))
    }
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingSettings {
    /// Log uploads.
    pub log_uploads: bool,
    /// Log verifications.
    pub log_verifications: bool,
    /// Log restores.
    pub log_restores: bool,
    /// Verbose output (debug lines in the log file too).
    pub verbose: bool,
    /// A log file every run appends to (each run's command, each item's outcome,
    /// every warning and error, stamped); relative to the config file's directory.
    /// None: no file.
    pub file: Option<PathBuf>,
    /// The log file is rotated (`.1`, `.2`, ...) when a run starts and it is larger.
    pub max_size_mb: f64,
    /// Rotated files kept.
    pub keep: u32,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            log_uploads: true,
            log_verifications: true,
            log_restores: true,
            verbose: false,
            file: None,
            max_size_mb: 10.0,
            keep: 5,
        }
    }
}

/// `notifications` (kept for compatibility).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notifications {
    /// Mail a report when a run completes without failures.
    pub email_on_complete: bool,
    /// Where to mail (no mail when not set).
    pub email_address: Option<String>,
    /// Mail a report when a run had failures.
    pub email_on_error: bool,
    /// The SMTP server to send through (no mail when not set).
    pub smtp_server: Option<String>,
    /// Its port: 587 (STARTTLS), 465 (TLS), 25.
    pub smtp_port: u16,
    /// `starttls` (default), `tls`, or `none` (a relay on this machine only).
    pub smtp_tls: SmtpTls,
    /// The SMTP user; the password comes from `FITSBAK_SMTP_PASSWORD`, never
    /// from this file.
    pub smtp_user: Option<String>,
    /// The sender (default: `email_address`).
    pub email_from: Option<String>,
    /// A URL the report is POSTed to as JSON (ntfy, a chat's incoming webhook).
    pub webhook_url: Option<String>,
    /// POST a report when a run completes without failures.
    pub webhook_on_complete: bool,
    /// POST a report when a run had failures.
    pub webhook_on_error: bool,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain, upgraded with STARTTLS (refused when the server cannot).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this machine.
    None,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            email_on_complete: false,
            email_address: None,
            email_on_error: true,
            smtp_server: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_user: None,
            email_from: None,
            webhook_url: None,
            webhook_on_complete: false,
            webhook_on_error: true,
        }
    }
}

impl ArchiveSettings {
    /// A positive size limit.
    pub(crate) fn validate(&self, check: &Check) -> Result<(), ConfigError> {
        if !(self.max_archive_size_gb.is_finite() && self.max_archive_size_gb > 0.0) {
            return Err(check.invalid(
                "archive_settings.max_archive_size_gb",
                format!("{} is not a positive size", self.max_archive_size_gb),
            ));
        }
        Ok(())
    }
}

impl RetrySettings {
    /// A positive timeout, non-negative waits.
    pub(crate) fn validate(&self, check: &Check) -> Result<(), ConfigError> {
        if !(self.request_timeout_seconds.is_finite() && self.request_timeout_seconds > 0.0) {
            return Err(check.invalid(
                "retry_settings.request_timeout_seconds",
                "must be a positive number of seconds",
            ));
        }
        for (key, value) in [
            (
                "retry_settings.initial_backoff_seconds",
                self.initial_backoff_seconds,
            ),
            (
                "retry_settings.max_backoff_seconds",
                self.max_backoff_seconds,
            ),
            ("retry_settings.backoff_multiplier", self.backoff_multiplier),
        ] {
            check.at_least(key, value, 0.0, "a non-negative number")?;
        }
        Ok(())
    }
}

/// `verification` (fitsbak's addition): what `verify --due` checks on a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerificationSettings {
    /// A quick check is due when an archive's last passed check is older.
    pub quick_every_days: u32,
    /// Deep checks per run: the archives whose last deep check is oldest (never
    /// checked first), among those readable without a restore.
    pub deep_per_run: u32,
    /// What deep checks may cost in egress per calendar month (USD, at
    /// `cost_tracking.data_transfer_cost_per_gb.download`); 0 turns them off.
    pub monthly_egress_budget_usd: f64,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        Self {
            quick_every_days: 30,
            deep_per_run: 2,
            monthly_egress_budget_usd: 1.0,
        }
    }
}

impl VerificationSettings {
    pub(crate) fn validate(&self, check: &Check) -> Result<(), ConfigError> {
        check.at_least(
            "verification.monthly_egress_budget_usd",
            self.monthly_egress_budget_usd,
            0.0,
            "an amount in USD",
        )
    }
}
