//! The configuration file, `s3_config.json`.
//!
//! fitsbak reads the original template's format as is: the same top-level sections
//! and key names, keys starting with `_` as comments, and a default for every key that
//! is missing. It adds a few keys of its own at the top level (`target`, `local_root`,
//! `endpoint_url`, `force_path_style`, `database_path`, `tracking_database_path`,
//! `notes_dir`).
//!
//! Errors name the file and where in it: bad JSON with its line and column, a wrong
//! type with the key path (`upload_settings.max_concurrency`), a bad value with the
//! key path and its line. Unknown keys are tolerated and reported as warnings.
//! Credentials are never read from this file: the standard AWS chain provides them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ids::{NameError, ObjectKey, SessionId};
use crate::model::StorageClass;

/// The file name used when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "s3_config.json";

/// An error in the configuration, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file does not exist.
    #[error("config file {} not found (write one with `fitsbak init-config`)", path.display())]
    NotFound {
        /// The path that was tried.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}:{line}:{column}: not valid JSON: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A key holds a value of the wrong type.
    #[error("{}:{line}:{column}: `{key}`: {message}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key path, `upload_settings.max_concurrency`.
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was found and what was expected.
        message: String,
    },
    /// A key holds a value of the right type that cannot be used.
    #[error("{}{}: `{key}`: {message}", path.display(), location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// Line and column of the key in the file, when it is there.
        location: Option<(usize, usize)>,
        /// Why the value cannot be used.
        message: String,
    },
    /// `init-config` would overwrite a file.
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The template could not be written.
    #[error("cannot write config file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where backups go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// An S3 bucket (AWS or any S3-compatible store).
    #[default]
    S3,
    /// A local directory with the same key layout (`local_root`).
    Local,
}

/// The whole configuration. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `false` turns every command that writes to the target off.
    pub enabled: bool,
    /// The bucket's region.
    pub aws_region: String,
    /// Bucket names.
    pub buckets: Buckets,
    /// Key prefixes.
    pub s3_paths: S3Paths,
    /// Policies per kind of object; the single source of tags and lifecycle rules.
    pub backup_rules: BackupRules,
    /// Multipart sizes, concurrency, bandwidth.
    pub upload_settings: UploadSettings,
    /// Defaults for restores.
    pub restore_settings: RestoreSettings,
    /// Archive options.
    pub archive_settings: ArchiveSettings,
    /// Retries of failed requests.
    pub retry_settings: RetrySettings,
    /// What is logged.
    pub logging: LoggingSettings,
    /// Prices used for estimates.
    pub cost_tracking: CostTracking,
    /// Notification settings (kept for compatibility).
    pub notifications: Notifications,
    /// Tag keys and generated lifecycle rules (fitsbak's addition).
    pub lifecycle: LifecycleSettings,
    /// `"s3"` (default) or `"local"`.
    pub target: TargetKind,
    /// Directory of the local target; relative to the config file's directory.
    pub local_root: PathBuf,
    /// Endpoint of an S3-compatible store (MinIO, B2, R2, Wasabi, Ceph).
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores.
    pub force_path_style: bool,
    /// The cataloger's database; relative to the config file's directory.
    pub database_path: PathBuf,
    /// Where the tracking tables live; the catalog database when not set.
    pub tracking_database_path: Option<PathBuf>,
    /// The cataloger's notes directory; a session's notes are
    /// `{notes_dir}/Imaging_Sessions/{year}/{session_id}.md`. Relative to the config
    /// file's directory; notes are not backed up when it is not set.
    pub notes_dir: Option<PathBuf>,
    /// How long to wait for another process's lock on the database.
    pub database_busy_timeout_seconds: f64,
    /// The directory the config was read from; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            aws_region: "us-east-1".into(),
            buckets: Buckets::default(),
            s3_paths: S3Paths::default(),
            backup_rules: BackupRules::default(),
            upload_settings: UploadSettings::default(),
            restore_settings: RestoreSettings::default(),
            archive_settings: ArchiveSettings::default(),
            retry_settings: RetrySettings::default(),
            logging: LoggingSettings::default(),
            cost_tracking: CostTracking::default(),
            notifications: Notifications::default(),
            lifecycle: LifecycleSettings::default(),
            target: TargetKind::S3,
            local_root: PathBuf::from("fitsbak-store"),
            endpoint_url: None,
            force_path_style: false,
            database_path: PathBuf::from("fits_catalog.db"),
            tracking_database_path: None,
            notes_dir: None,
            database_busy_timeout_seconds: 10.0,
            base_dir: PathBuf::from("."),
        }
    }
}

/// `buckets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Buckets {
    /// The bucket backups go to.
    pub primary: Option<String>,
    /// A second bucket (kept for compatibility; not used yet).
    pub backup: Option<String>,
}

/// `s3_paths`: key prefixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Paths {
    /// Session archives: `{raw_archives}/{year}/{session_id}.tar`.
    pub raw_archives: String,
    /// Session notes: `{session_notes}/{year}/{session_id}_notes.md`.
    pub session_notes: String,
    /// Processing notes.
    pub processing_notes: String,
    /// Final outputs.
    pub final_outputs: String,
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

    /// `backups/sessions/{year}/{session_id}_notes.md`.
    pub fn notes_key(&self, year: i32, session: &SessionId) -> Result<ObjectKey, NameError> {
        ObjectKey::join(
            &self.session_notes,
            &[&year.to_string(), &format!("{session}_notes.md")],
        )
    }

    /// `backups/database/{file name}`.
    pub fn database_key(&self, file_name: &str) -> Result<ObjectKey, NameError> {
        ObjectKey::join(&self.database_backups, &[file_name])
    }

    /// `backups/manifests/{year}/{session_id}.json`.
    pub fn manifest_key(&self, year: i32, session: &SessionId) -> Result<ObjectKey, NameError> {
        ObjectKey::join(
            &self.manifests,
            &[&year.to_string(), &format!("{session}.json")],
        )
    }
}

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
    /// Processing notes.
    pub processing_sessions: BackupRule,
}

impl Default for BackupRules {
    fn default() -> Self {
        Self {
            raw_lights: BackupRule::new("fast", "deep", 7),
            raw_calibration: BackupRule::new("fast", "deep", 7),
            imaging_sessions: BackupRule::new("standard", "deep", 30),
            processing_sessions: BackupRule::new("delayed", "flexible", 90),
        }
    }
}

/// `upload_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadSettings {
    /// Archives smaller than this go in one PUT.
    pub multipart_threshold_mb: f64,
    /// Part size, raised when an archive would need more than 10,000 parts. Memory
    /// is about (`max_concurrency` + 2) x this: 8 MiB keeps an upload near 50 MiB.
    pub multipart_chunksize_mb: f64,
    /// Parts uploaded at once.
    pub max_concurrency: usize,
    /// Kept for compatibility (uploads always run concurrently).
    pub use_threads: bool,
    /// Upload rate limit in megabits per second; none when null.
    pub max_bandwidth_mbps: Option<f64>,
    /// How each request's bytes are checked by the server: `crc32c` (an
    /// `x-amz-checksum-crc32c` header; AWS and most S3-compatible stores) or `md5`
    /// (`Content-MD5`; every S3-compatible store, one more MD5 pass on the client).
    pub checksum_algorithm: ChecksumAlgorithm,
    /// Server-side encryption: null, `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    /// The KMS key for `aws:kms` (the bucket's default key when null).
    pub kms_key_id: Option<String>,
}

/// `upload_settings.checksum_algorithm`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// CRC32C per request, composite CRC32C for the object.
    #[default]
    Crc32c,
    /// Content-MD5 per request, MD5-of-MD5s ETag for the object.
    Md5,
}

impl ChecksumAlgorithm {
    /// The checksum a multipart upload asks its parts for (`None`: Content-MD5,
    /// which needs no algorithm named when the upload starts).
    pub fn kind(self) -> Option<crate::store::ChecksumKind> {
        match self {
            ChecksumAlgorithm::Crc32c => Some(crate::store::ChecksumKind::Crc32c),
            ChecksumAlgorithm::Md5 => None,
        }
    }
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            multipart_threshold_mb: 100.0,
            multipart_chunksize_mb: 8.0,
            max_concurrency: 4,
            use_threads: true,
            max_bandwidth_mbps: None,
            checksum_algorithm: ChecksumAlgorithm::Crc32c,
            server_side_encryption: None,
            kms_key_id: None,
        }
    }
}

/// Bytes in a configured megabyte (`*_mb` settings are MiB, as in the original).
pub const MIB: u64 = 1 << 20;

impl UploadSettings {
    /// `multipart_chunksize_mb` in bytes.
    pub fn chunk_bytes(&self) -> u64 {
        (self.multipart_chunksize_mb * MIB as f64) as u64
    }

    /// `multipart_threshold_mb` in bytes.
    pub fn threshold_bytes(&self) -> u64 {
        (self.multipart_threshold_mb * MIB as f64) as u64
    }
}

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
    /// Verbose output.
    pub verbose: bool,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            log_uploads: true,
            log_verifications: true,
            log_restores: true,
            verbose: false,
        }
    }
}

/// `cost_tracking`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CostTracking {
    /// Record cost estimates.
    pub track_costs: bool,
    /// USD per GB-month by storage class (`STANDARD`, `GLACIER_FLEXIBLE`, `DEEP_ARCHIVE`, ...).
    pub storage_cost_per_gb_per_month: BTreeMap<String, f64>,
    /// USD per GB transferred.
    pub data_transfer_cost_per_gb: TransferCosts,
    /// USD per GB retrieved by a restore, by storage class and tier.
    pub retrieval_cost_per_gb: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Default for CostTracking {
    fn default() -> Self {
        let prices = [
            ("STANDARD", 0.023),
            ("STANDARD_IA", 0.0125),
            ("GLACIER_IR", 0.004),
            ("GLACIER_FLEXIBLE", 0.0036),
            ("DEEP_ARCHIVE", 0.00099),
        ];
        let tiers = |pairs: &[(&str, f64)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>()
        };
        Self {
            track_costs: true,
            storage_cost_per_gb_per_month: prices
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            data_transfer_cost_per_gb: TransferCosts::default(),
            retrieval_cost_per_gb: [
                (
                    "DEEP_ARCHIVE".to_owned(),
                    tiers(&[("Standard", 0.02), ("Bulk", 0.0025)]),
                ),
                (
                    "GLACIER_FLEXIBLE".to_owned(),
                    tiers(&[("Expedited", 0.03), ("Standard", 0.01), ("Bulk", 0.0)]),
                ),
            ]
            .into(),
        }
    }
}

impl CostTracking {
    /// USD per GB to restore an object of `class` at `tier` (0 when not archived).
    pub fn retrieval_price(&self, class: &StorageClass, tier: &str) -> f64 {
        self.retrieval_cost_per_gb
            .get(class.price_key())
            .and_then(|t| t.get(tier))
            .copied()
            .or_else(|| {
                CostTracking::default()
                    .retrieval_cost_per_gb
                    .get(class.price_key())
                    .and_then(|t| t.get(tier))
                    .copied()
            })
            .unwrap_or(0.0)
    }

    /// USD per GB-month for `class`: the configured price, else the built-in one.
    pub fn storage_price(&self, class: &StorageClass) -> f64 {
        let key = class.price_key();
        self.storage_cost_per_gb_per_month
            .get(key)
            .or_else(|| {
                (key == "GLACIER_FLEXIBLE")
                    .then(|| self.storage_cost_per_gb_per_month.get("GLACIER"))
                    .flatten()
            })
            .copied()
            .or_else(|| {
                CostTracking::default()
                    .storage_cost_per_gb_per_month
                    .get(key)
                    .copied()
            })
            .unwrap_or(0.023)
    }
}

/// `cost_tracking.data_transfer_cost_per_gb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferCosts {
    /// Into the bucket.
    pub upload: f64,
    /// Out of the bucket.
    pub download: f64,
}

impl Default for TransferCosts {
    fn default() -> Self {
        Self {
            upload: 0.0,
            download: 0.09,
        }
    }
}

/// `notifications` (kept for compatibility).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notifications {
    /// Mail when a run completes.
    pub email_on_complete: bool,
    /// Where to mail.
    pub email_address: Option<String>,
    /// Mail on errors.
    pub email_on_error: bool,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            email_on_complete: false,
            email_address: None,
            email_on_error: true,
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

/// A configuration read from a file, with what was noticed on the way.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The configuration, paths not yet resolved (see [`Config::resolve`]).
    pub config: Config,
    /// The file it came from.
    pub path: PathBuf,
    /// Unknown keys and ignored settings, one line each.
    pub warnings: Vec<String>,
}

/// Key names that look like credentials. Their values are never read or printed.
const CREDENTIAL_KEYS: [&str; 6] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "access_key",
    "secret_key",
    "credentials",
];

impl Config {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotFound {
                    path: path.to_owned(),
                });
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut loaded = Self::parse(&text, path)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        loaded.config.base_dir = std::path::absolute(&dir).unwrap_or(dir);
        Ok(loaded)
    }

    /// Parses config text; `path` only names the origin in errors.
    pub fn parse(text: &str, path: &Path) -> Result<LoadedConfig, ConfigError> {
        let mut unknown: Vec<String> = Vec::new();
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed: Result<Config, _> = {
            let mut note = |key: serde_ignored::Path<'_>| unknown.push(key.to_string());
            let tracked = serde_ignored::Deserializer::new(&mut de, &mut note);
            serde_path_to_error::deserialize(tracked)
        };
        let config = match parsed {
            Ok(config) => config,
            Err(err) => {
                let key = err.path().to_string();
                let inner = err.into_inner();
                return Err(json_error(path, &key, inner));
            }
        };
        de.end().map_err(|e| json_error(path, ".", e))?;

        let mut warnings = Vec::new();
        for key in unknown {
            let last = key.rsplit('.').next().unwrap_or(&key);
            if last.starts_with('_') {
                continue;
            }
            if CREDENTIAL_KEYS.contains(&last.to_ascii_lowercase().as_str()) {
                warnings.push(format!(
                    "{}: `{key}` is ignored: credentials are never read from the config file; \
                     use the AWS environment variables, a profile, SSO or an instance role, \
                     and remove the key from the file",
                    path.display()
                ));
            } else {
                warnings.push(format!("{}: unknown key `{key}` ignored", path.display()));
            }
        }
        if config.upload_settings.chunk_bytes() < 5 * MIB {
            warnings.push(format!(
                "{}: `upload_settings.multipart_chunksize_mb` is below S3's 5 MiB minimum part \
                 size; AWS refuses such parts",
                path.display()
            ));
        }
        if config.archive_settings.compression_level != 0 {
            warnings.push(format!(
                "{}: `archive_settings.compression_level` is ignored: archives are uncompressed tar",
                path.display()
            ));
        }
        config.validate(text, path)?;
        Ok(LoadedConfig {
            config,
            path: path.to_owned(),
            warnings,
        })
    }

    /// Checks values that parse but cannot be used.
    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            location: locate_key(text, key),
            message,
        };
        let upload = &self.upload_settings;
        if upload.max_concurrency == 0 {
            return Err(invalid(
                "upload_settings.max_concurrency",
                "must be at least 1".into(),
            ));
        }
        if upload.max_concurrency > 64 {
            return Err(invalid(
                "upload_settings.max_concurrency",
                format!("{} is more than 64", upload.max_concurrency),
            ));
        }
        for (key, value) in [
            (
                "upload_settings.multipart_chunksize_mb",
                upload.multipart_chunksize_mb,
            ),
            (
                "upload_settings.multipart_threshold_mb",
                upload.multipart_threshold_mb,
            ),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(invalid(key, format!("{value} is not a positive size")));
            }
        }
        if upload.multipart_chunksize_mb > 5120.0 {
            return Err(invalid(
                "upload_settings.multipart_chunksize_mb",
                "S3 parts are at most 5 GiB (5120 MB)".into(),
            ));
        }
        if let Some(rate) = upload.max_bandwidth_mbps
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(invalid(
                "upload_settings.max_bandwidth_mbps",
                format!("{rate} is not a positive rate (use null for no limit)"),
            ));
        }
        if let Some(sse) = &upload.server_side_encryption
            && sse != "AES256"
            && sse != "aws:kms"
        {
            return Err(invalid(
                "upload_settings.server_side_encryption",
                format!("{sse:?} is not null, \"AES256\" or \"aws:kms\""),
            ));
        }
        if !(self.retry_settings.request_timeout_seconds.is_finite()
            && self.retry_settings.request_timeout_seconds > 0.0)
        {
            return Err(invalid(
                "retry_settings.request_timeout_seconds",
                "must be a positive number of seconds".into(),
            ));
        }
        for (key, value) in [
            ("lifecycle.archive_tag_key", &self.lifecycle.archive_tag_key),
            ("lifecycle.backup_tag_key", &self.lifecycle.backup_tag_key),
        ] {
            if value.trim().is_empty() || value.len() > 128 {
                return Err(invalid(key, "a tag key has 1 to 128 characters".into()));
            }
        }
        if self.lifecycle.archive_tag_key == self.lifecycle.backup_tag_key {
            return Err(invalid(
                "lifecycle.backup_tag_key",
                "must differ from lifecycle.archive_tag_key".into(),
            ));
        }
        if !(self.database_busy_timeout_seconds.is_finite()
            && self.database_busy_timeout_seconds >= 0.0)
        {
            return Err(invalid(
                "database_busy_timeout_seconds",
                "must be a number of seconds".into(),
            ));
        }
        if self.aws_region.trim().is_empty() {
            return Err(invalid("aws_region", "is empty".into()));
        }
        let retry = &self.retry_settings;
        for (key, value) in [
            (
                "retry_settings.initial_backoff_seconds",
                retry.initial_backoff_seconds,
            ),
            (
                "retry_settings.max_backoff_seconds",
                retry.max_backoff_seconds,
            ),
            (
                "retry_settings.backoff_multiplier",
                retry.backoff_multiplier,
            ),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(
                    key,
                    format!("{value} is not a non-negative number"),
                ));
            }
        }
        if let Some(bucket) = &self.buckets.primary
            && let Err(message) = check_bucket_name(bucket)
        {
            return Err(invalid("buckets.primary", message));
        }
        for (key, prefix) in [
            ("s3_paths.raw_archives", &self.s3_paths.raw_archives),
            ("s3_paths.manifests", &self.s3_paths.manifests),
            ("s3_paths.session_notes", &self.s3_paths.session_notes),
            ("s3_paths.database_backups", &self.s3_paths.database_backups),
        ] {
            if let Err(e) = ObjectKey::new(prefix.trim_matches('/')) {
                return Err(invalid(key, e.reason.to_owned()));
            }
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "endpoint_url",
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
        for (key, price) in &self.cost_tracking.storage_cost_per_gb_per_month {
            if !(price.is_finite() && *price >= 0.0) {
                return Err(invalid(
                    &format!("cost_tracking.storage_cost_per_gb_per_month.{key}"),
                    format!("{price} is not a price"),
                ));
            }
        }
        Ok(())
    }

    /// Resolves `path` against the config file's directory (absolute paths and `~/`
    /// paths are taken as they are).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if let Ok(rest) = path.strip_prefix("~")
            && let Some(home) = std::env::var_os("HOME")
        {
            return PathBuf::from(home).join(rest);
        }
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The catalog database, resolved.
    pub fn database(&self) -> PathBuf {
        self.resolve(&self.database_path)
    }

    /// The notes directory, resolved, when set.
    pub fn notes_dir(&self) -> Option<PathBuf> {
        self.notes_dir.as_deref().map(|p| self.resolve(p))
    }

    /// The tracking database, resolved: the catalog database unless set apart.
    pub fn tracking_database(&self) -> PathBuf {
        match &self.tracking_database_path {
            Some(path) => self.resolve(path),
            None => self.database(),
        }
    }

    /// The directory for scratch files (catalog snapshots, `--no-cleanup` copies):
    /// `archive_settings.temp_dir`, resolved, else the system's.
    pub fn temp_dir(&self) -> PathBuf {
        self.archive_settings
            .temp_dir
            .as_ref()
            .map(|d| self.resolve(d))
            .unwrap_or_else(std::env::temp_dir)
    }

    /// The local target's root, resolved.
    pub fn local_root(&self) -> PathBuf {
        self.resolve(&self.local_root)
    }

    /// The primary bucket, or an error naming the key to set.
    pub fn bucket(&self) -> Result<&str, ConfigError> {
        match self.buckets.primary.as_deref() {
            Some(name) if !name.trim().is_empty() && name != "your-bucket-name" => Ok(name),
            _ => Err(ConfigError::Invalid {
                path: self.base_dir.join(DEFAULT_CONFIG_FILE),
                key: "buckets.primary".into(),
                location: None,
                message: "names no bucket; set it to your S3 bucket's name".into(),
            }),
        }
    }

    /// A short description of the target: `s3://bucket` or `local:/path`.
    pub fn target_description(&self) -> String {
        match self.target {
            TargetKind::S3 => {
                let bucket = self.buckets.primary.as_deref().unwrap_or("(no bucket)");
                match &self.endpoint_url {
                    Some(url) => format!("s3://{bucket} at {url}"),
                    None => format!("s3://{bucket} ({})", self.aws_region),
                }
            }
            TargetKind::Local => format!("local:{}", self.local_root().display()),
        }
    }

    /// The commented template `init-config` writes: the original format, with the
    /// local target so that a newcomer can run at once.
    pub fn template() -> &'static str {
        TEMPLATE
    }

    /// Writes the template to `path`, refusing to overwrite unless `force`.
    pub fn write_template(path: &Path, force: bool) -> Result<(), ConfigError> {
        if path.exists() && !force {
            return Err(ConfigError::Exists {
                path: path.to_owned(),
            });
        }
        std::fs::write(path, TEMPLATE).map_err(|source| ConfigError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::S3 => "s3",
            TargetKind::Local => "local",
        })
    }
}

/// Turns a serde_json error into a [`ConfigError`] that names the file, the key and
/// the position.
fn json_error(path: &Path, key: &str, err: serde_json::Error) -> ConfigError {
    use serde_json::error::Category;
    let (line, column) = (err.line(), err.column());
    // serde_json appends " at line L column C"; the position is printed separately.
    let message = err.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m)
        .to_owned();
    match err.classify() {
        Category::Data if key != "." => ConfigError::WrongType {
            path: path.to_owned(),
            key: key.to_owned(),
            line,
            column,
            message,
        },
        Category::Io => ConfigError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(message),
        },
        _ => ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        },
    }
}

/// S3's bucket naming rules, in short.
fn check_bucket_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ok_ends = name
        .chars()
        .next()
        .zip(name.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    if (3..=63).contains(&name.len()) && ok_chars && ok_ends && !name.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid bucket name (3-63 characters: lower-case letters, \
             digits, `-` and `.`, starting and ending with a letter or digit)"
        ))
    }
}

/// Finds the line and column (1-based) of the key at `key_path` (`a.b.c`) in JSON
/// `text`, by walking its objects. Returns `None` when the key is not in the text
/// (its value is a default).
pub fn locate_key(text: &str, key_path: &str) -> Option<(usize, usize)> {
    let wanted: Vec<&str> = key_path.split('.').collect();
    let (parents, last) = wanted.split_at(wanted.len() - 1);
    let bytes = text.as_bytes();
    // One frame per open bracket: whether it is an object, and the key holding it
    // (`None` for the root and for values inside arrays).
    let mut frames: Vec<(bool, Option<String>)> = Vec::new();
    let mut last_key: Option<String> = None;
    let mut expecting_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            open @ (b'{' | b'[') => {
                let in_object = frames.last().is_some_and(|(object, _)| *object);
                let holder = if in_object { last_key.take() } else { None };
                frames.push((open == b'{', holder));
                expecting_key = open == b'{';
            }
            b'}' | b']' => {
                frames.pop();
                last_key = None;
                expecting_key = false;
            }
            b',' => expecting_key = frames.last().is_some_and(|(object, _)| *object),
            b'"' => {
                let start = i;
                let mut raw = Vec::new();
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    if let Some(&b) = bytes.get(i) {
                        raw.push(b);
                    }
                    i += 1;
                }
                if expecting_key {
                    let key = String::from_utf8_lossy(&raw).into_owned();
                    let chain: Option<Vec<&str>> =
                        frames.iter().skip(1).map(|(_, k)| k.as_deref()).collect();
                    if key == last[0] && chain.as_deref() == Some(parents) {
                        let line = text[..start].matches('\n').count() + 1;
                        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
                        return Some((line, text[line_start..start].chars().count() + 1));
                    }
                    last_key = Some(key);
                    expecting_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

const TEMPLATE: &str = r#"{
  "_comment": "fitsbak configuration. Keys starting with _ are comments. Credentials never go in this file: fitsbak uses the standard AWS chain (environment, profiles, SSO, instance roles).",

  "_target": "s3 uploads to buckets.primary; local writes the same layout below local_root (try fitsbak without an AWS account).",
  "target": "local",
  "local_root": "fitsbak-store",
  "database_path": "fits_catalog.db",
  "database_busy_timeout_seconds": 10,
  "_notes_dir": "The cataloger's notes directory: a session's notes are {notes_dir}/Imaging_Sessions/{year}/{session_id}.md. null: notes are not backed up.",
  "notes_dir": null,

  "enabled": true,
  "aws_region": "us-east-1",
  "_endpoint_url": "Set endpoint_url (and force_path_style: true) for MinIO, Backblaze B2, Cloudflare R2, Wasabi or Ceph.",
  "endpoint_url": null,
  "force_path_style": false,

  "buckets": {
    "primary": "your-bucket-name",
    "backup": null
  },

  "s3_paths": {
    "raw_archives": "backups/raw",
    "session_notes": "backups/sessions",
    "processing_notes": "backups/processing",
    "final_outputs": "backups/final",
    "database_backups": "backups/database",
    "manifests": "backups/manifests"
  },

  "backup_rules": {
    "_comment": "archive_policy: fast | standard | delayed; backup_policy: deep | flexible. Tags and lifecycle rules both come from here.",
    "raw_lights": {
      "archive_policy": "fast",
      "backup_policy": "deep",
      "archive_days": 7,
      "storage_class": "STANDARD"
    },
    "raw_calibration": {
      "archive_policy": "fast",
      "backup_policy": "deep",
      "archive_days": 7,
      "storage_class": "STANDARD"
    },
    "imaging_sessions": {
      "archive_policy": "standard",
      "backup_policy": "deep",
      "archive_days": 30,
      "storage_class": "STANDARD"
    },
    "processing_sessions": {
      "archive_policy": "delayed",
      "backup_policy": "flexible",
      "archive_days": 90,
      "storage_class": "STANDARD"
    }
  },

  "upload_settings": {
    "multipart_threshold_mb": 100,
    "_multipart_chunksize_mb": "Part size in MiB; memory used is about (max_concurrency + 2) x this.",
    "multipart_chunksize_mb": 8,
    "max_concurrency": 4,
    "use_threads": true,
    "max_bandwidth_mbps": null,
    "_checksum_algorithm": "crc32c (AWS and most S3-compatible stores) or md5 (every store; more CPU).",
    "checksum_algorithm": "crc32c",
    "server_side_encryption": null,
    "kms_key_id": null
  },

  "restore_settings": {
    "default_tier": "Standard",
    "default_days": 7,
    "restore_path": null
  },

  "archive_settings": {
    "compression_level": 0,
    "use_pigz": false,
    "verify_after_upload": true,
    "keep_archive_index": true,
    "max_archive_size_gb": 50,
    "temp_dir": null
  },

  "retry_settings": {
    "max_retries": 3,
    "initial_backoff_seconds": 2,
    "max_backoff_seconds": 60,
    "backoff_multiplier": 2,
    "request_timeout_seconds": 600
  },

  "logging": {
    "log_uploads": true,
    "log_verifications": true,
    "log_restores": true,
    "verbose": false
  },

  "cost_tracking": {
    "track_costs": true,
    "storage_cost_per_gb_per_month": {
      "STANDARD": 0.023,
      "STANDARD_IA": 0.0125,
      "GLACIER_IR": 0.004,
      "GLACIER_FLEXIBLE": 0.0036,
      "DEEP_ARCHIVE": 0.00099
    },
    "data_transfer_cost_per_gb": {
      "upload": 0.0,
      "download": 0.09
    },
    "retrieval_cost_per_gb": {
      "DEEP_ARCHIVE": { "Standard": 0.02, "Bulk": 0.0025 },
      "GLACIER_FLEXIBLE": { "Expedited": 0.03, "Standard": 0.01, "Bulk": 0.0 }
    }
  },

  "notifications": {
    "email_on_complete": false,
    "email_address": null,
    "email_on_error": true
  },

  "lifecycle": {
    "_comment": "Tags written on objects come from backup_rules; these name their keys. `fitsbak lifecycle apply` writes matching bucket rules.",
    "archive_tag_key": "archive",
    "backup_tag_key": "backup",
    "abort_incomplete_multipart_days": 7
  }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The original template's file, as its setup script writes it.
    const ORIGINAL: &str = r#"{
  "enabled": true,
  "aws_region": "ca-west-1",

  "buckets": {
    "primary": "astro-backup-1234",
    "backup": null
  },

  "s3_paths": {
    "raw_archives": "backups/raw",
    "session_notes": "backups/sessions",
    "processing_notes": "backups/processing",
    "final_outputs": "backups/final",
    "database_backups": "backups/database"
  },

  "backup_rules": {
    "raw_lights": {
      "archive_policy": "fast",
      "backup_policy": "deep",
      "archive_days": 7,
      "storage_class": "STANDARD"
    },
    "raw_calibration": {
      "archive_policy": "fast",
      "backup_policy": "deep",
      "archive_days": 7,
      "storage_class": "STANDARD"
    },
    "imaging_sessions": {
      "archive_policy": "standard",
      "backup_policy": "deep",
      "archive_days": 30,
      "storage_class": "STANDARD"
    },
    "processing_sessions": {
      "archive_policy": "delayed",
      "backup_policy": "flexible",
      "archive_days": 90,
      "storage_class": "STANDARD"
    }
  },

  "upload_settings": {
    "multipart_threshold_mb": 100,
    "multipart_chunksize_mb": 25,
    "max_concurrency": 4,
    "use_threads": true,
    "max_bandwidth_mbps": null
  },

  "restore_settings": {
    "default_tier": "Standard",
    "default_days": 7,
    "restore_path": "/path/to/restore"
  },

  "archive_settings": {
    "compression_level": 0,
    "use_pigz": false,
    "verify_after_upload": true,
    "keep_archive_index": true,
    "max_archive_size_gb": 50,
    "temp_dir": ".tmp/backup_archives"
  },

  "retry_settings": {
    "max_retries": 3,
    "initial_backoff_seconds": 2,
    "max_backoff_seconds": 60,
    "backoff_multiplier": 2
  },

  "logging": {
    "log_uploads": true,
    "log_verifications": true,
    "log_restores": true,
    "verbose": false
  },

  "cost_tracking": {
    "track_costs": true,
    "storage_cost_per_gb_per_month": {
      "STANDARD": 0.023,
      "STANDARD_IA": 0.013,
      "GLACIER_IR": 0.004,
      "GLACIER_FLEXIBLE": 0.004,
      "DEEP_ARCHIVE": 0.00099
    },
    "data_transfer_cost_per_gb": {
      "upload": 0.0,
      "download": 0.09
    }
  },

  "notifications": {
    "email_on_complete": false,
    "email_address": null,
    "email_on_error": true
  }
}"#;

    fn parse(text: &str) -> Result<LoadedConfig, ConfigError> {
        Config::parse(text, Path::new("s3_config.json"))
    }

    #[test]
    fn the_original_format_reads_as_is() {
        let loaded = parse(ORIGINAL).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = loaded.config;
        assert!(c.enabled);
        assert_eq!(c.aws_region, "ca-west-1");
        assert_eq!(c.bucket().unwrap(), "astro-backup-1234");
        assert_eq!(c.target, TargetKind::S3, "an original file means S3");
        assert_eq!(c.s3_paths.raw_archives, "backups/raw");
        assert_eq!(c.s3_paths.manifests, "backups/manifests", "a default");
        assert_eq!(c.backup_rules.imaging_sessions.archive_policy, "standard");
        assert_eq!(c.backup_rules.processing_sessions.archive_days, 90);
        assert_eq!(c.upload_settings.multipart_chunksize_mb, 25.0);
        assert_eq!(c.upload_settings.max_concurrency, 4);
        assert_eq!(c.upload_settings.max_bandwidth_mbps, None);
        assert_eq!(
            c.restore_settings.restore_path.as_deref(),
            Some(Path::new("/path/to/restore"))
        );
        assert_eq!(c.retry_settings.backoff_multiplier, 2.0);
        assert_eq!(
            c.cost_tracking.storage_price(&StorageClass::Glacier),
            0.004,
            "GLACIER is priced by the GLACIER_FLEXIBLE key"
        );
        assert_eq!(c.cost_tracking.data_transfer_cost_per_gb.download, 0.09);
        assert!(c.notifications.email_on_error);
    }

    #[test]
    fn the_template_is_valid_and_uses_the_local_target() {
        let loaded = parse(Config::template()).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.config.target, TargetKind::Local);
        let defaults = Config {
            target: TargetKind::Local,
            buckets: Buckets {
                primary: Some("your-bucket-name".into()),
                backup: None,
            },
            ..Config::default()
        };
        assert_eq!(loaded.config, defaults, "the template states the defaults");
        assert!(
            loaded.config.bucket().is_err(),
            "the placeholder is no bucket"
        );
    }

    #[test]
    fn an_empty_object_takes_every_default() {
        let c = parse("{}").unwrap().config;
        assert_eq!(c, Config::default());
        let err = c.bucket().unwrap_err().to_string();
        assert!(err.contains("buckets.primary"), "{err}");
    }

    #[test]
    fn comments_are_silent_and_unknown_keys_warn() {
        let loaded = parse(
            r#"{"_note": "x", "upload_settings": {"_c": 1, "turbo": true}, "colour": "red"}"#,
        )
        .unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.contains("upload_settings.turbo"))
        );
        assert!(loaded.warnings.iter().any(|w| w.contains("`colour`")));
    }

    #[test]
    fn credentials_in_the_file_are_ignored_and_never_echoed() {
        let loaded = parse(
            r#"{"aws_access_key_id": "AKIAEXAMPLEKEY", "aws_secret_access_key": "s3cr3t-Value"}"#,
        )
        .unwrap();
        assert_eq!(loaded.warnings.len(), 2);
        for w in &loaded.warnings {
            assert!(w.contains("credentials are never read"), "{w}");
            assert!(!w.contains("AKIAEXAMPLEKEY") && !w.contains("s3cr3t-Value"));
        }
    }

    #[test]
    fn bad_json_names_file_line_and_column() {
        let err = parse("{\n  \"enabled\": true,\n  \"aws_region\": \n}").unwrap_err();
        match &err {
            ConfigError::Syntax { line, column, .. } => assert_eq!((*line, *column), (4, 1)),
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.starts_with("s3_config.json:4:1: not valid JSON"),
            "{text}"
        );
        assert!(matches!(
            parse("not json").unwrap_err(),
            ConfigError::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            parse("{} trailing").unwrap_err(),
            ConfigError::Syntax { .. }
        ));
    }

    #[test]
    fn a_wrong_type_names_the_key_path() {
        let err = parse("{\n \"upload_settings\": {\n  \"max_concurrency\": \"four\"\n }\n}")
            .unwrap_err();
        let text = err.to_string();
        match err {
            ConfigError::WrongType { key, line, .. } => {
                assert_eq!(key, "upload_settings.max_concurrency");
                assert_eq!(line, 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(text.contains("`upload_settings.max_concurrency`"), "{text}");
        assert!(text.contains("invalid type: string \"four\""), "{text}");

        let err = parse(r#"{"backup_rules": {"raw_lights": {"archive_days": -1}}}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`backup_rules.raw_lights.archive_days`"),
            "{err}"
        );
        let err = parse(r#"{"enabled": "yes"}"#).unwrap_err();
        assert!(err.to_string().contains("`enabled`"), "{err}");
    }

    #[test]
    fn unusable_values_name_the_key_and_its_line() {
        let err = parse("{\n \"upload_settings\": {\n  \"max_concurrency\": 0\n }\n}").unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            "s3_config.json:3:3: `upload_settings.max_concurrency`: must be at least 1"
        );
        for (json, key) in [
            (
                r#"{"upload_settings": {"multipart_chunksize_mb": 0}}"#,
                "multipart_chunksize_mb",
            ),
            (
                r#"{"upload_settings": {"max_bandwidth_mbps": -5}}"#,
                "max_bandwidth_mbps",
            ),
            (
                r#"{"buckets": {"primary": "Bad_Bucket"}}"#,
                "buckets.primary",
            ),
            (r#"{"s3_paths": {"raw_archives": "a//b"}}"#, "raw_archives"),
            (r#"{"endpoint_url": "localhost:9000"}"#, "endpoint_url"),
            (r#"{"aws_region": " "}"#, "aws_region"),
            (r#"{"target": "ftp"}"#, "target"),
        ] {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.contains(key), "{json}: {err}");
        }
    }

    #[test]
    fn locate_key_follows_nesting_not_first_match() {
        let text = "{\n \"a\": {\"max\": 1},\n \"b\": {\n   \"max\": 2,\n   \"list\": [{\"max\": 3}]\n }\n}";
        assert_eq!(locate_key(text, "b.max"), Some((4, 4)));
        assert_eq!(locate_key(text, "a.max"), Some((2, 8)));
        assert_eq!(locate_key(text, "max"), None);
        assert_eq!(locate_key(text, "b.missing"), None);
    }

    #[test]
    fn paths_resolve_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3_config.json");
        std::fs::write(
            &path,
            r#"{"database_path": "db/catalog.db", "local_root": "/abs/store"}"#,
        )
        .unwrap();
        let c = Config::load(&path).unwrap().config;
        assert_eq!(c.database(), dir.path().join("db/catalog.db"));
        assert_eq!(c.tracking_database(), c.database());
        assert_eq!(c.local_root(), PathBuf::from("/abs/store"));
        assert!(matches!(
            Config::load(&dir.path().join("missing.json")),
            Err(ConfigError::NotFound { .. })
        ));
    }

    #[test]
    fn write_template_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3_config.json");
        Config::write_template(&path, false).unwrap();
        std::fs::write(&path, "{\"aws_region\": \"eu-west-1\"}").unwrap();
        assert!(matches!(
            Config::write_template(&path, false),
            Err(ConfigError::Exists { .. })
        ));
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("eu-west-1")
        );
        Config::write_template(&path, true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), Config::template());
    }

    #[test]
    fn archive_and_manifest_keys_follow_the_layout() {
        let paths = S3Paths::default();
        let s = SessionId::new("20240315_A7B3C2D1").unwrap();
        assert_eq!(
            paths.archive_key(2024, &s).unwrap().as_str(),
            "backups/raw/2024/20240315_A7B3C2D1.tar"
        );
        assert_eq!(
            paths.manifest_key(2024, &s).unwrap().as_str(),
            "backups/manifests/2024/20240315_A7B3C2D1.json"
        );
    }
}
