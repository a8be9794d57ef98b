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

mod costs;
mod error;
mod paths;
mod policies;
mod settings;
mod upload;

pub use costs::{CostTracking, TransferCosts};
pub use error::{ConfigError, locate_key};
pub use paths::S3Paths;
pub use policies::{BackupRule, BackupRules, LifecycleSettings};
pub use settings::{
    ArchiveSettings, LoggingSettings, Notifications, RestoreSettings, RetrySettings, SmtpTls,
    VerificationSettings,
};
pub use upload::{ChecksumAlgorithm, MIB, UploadSettings};

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use error::{Check, json_error};

/// The file name used when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "s3_config.json";

/// The cataloger's own config file, looked for next to `s3_config.json`.
pub const CATALOG_CONFIG_FILE: &str = "config.json";

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
    /// What `verify --due` checks (fitsbak's addition).
    pub verification: VerificationSettings,
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
    /// Archives worked on at once by the quick checks of `verify` (HEAD, tags,
    /// manifest each): a home connection's 30-100 ms per request adds up over
    /// thousands of archives one at a time.
    pub archive_concurrency: usize,
    /// Answers of the store probe to pin, for stores that mislead it (keys as in
    /// `fitsbak doctor --json`'s `capabilities`: `"tagging": false`, ...).
    pub store_capabilities: serde_json::Map<String, serde_json::Value>,
    /// The directory the config was read from; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Whether the file names `aws_region`; when it does not, the region of the
    /// AWS profile or `AWS_REGION` is used (us-east-1 when none says).
    #[serde(skip)]
    pub aws_region_set: bool,
    /// Whether the file names `database_path`; when it does not, the cataloger's
    /// `config.json` is looked for (see [`Config::adopt_catalog_config`]).
    #[serde(skip)]
    pub database_path_set: bool,
    /// The cataloger's `config.json` (`paths.database_path`, `paths.notes_dir`):
    /// read when this file sets neither; `config.json` next to this file when not set.
    pub catalog_config_path: Option<PathBuf>,
    /// The cataloger's config the paths were taken from, when they were.
    #[serde(skip)]
    pub catalog_paths_from: Option<PathBuf>,
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
            verification: VerificationSettings::default(),
            target: TargetKind::S3,
            local_root: PathBuf::from("fitsbak-store"),
            endpoint_url: None,
            force_path_style: false,
            database_path: PathBuf::from("fits_catalog.db"),
            tracking_database_path: None,
            notes_dir: None,
            database_busy_timeout_seconds: 10.0,
            archive_concurrency: 8,
            store_capabilities: serde_json::Map::new(),
            base_dir: PathBuf::from("."),
            aws_region_set: false,
            database_path_set: false,
            catalog_config_path: None,
            catalog_paths_from: None,
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
pub const CREDENTIAL_KEYS: [&str; 6] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "access_key",
    "secret_key",
    "credentials",
];

impl Config {
    /// Reads and checks the config file at `path`; the cataloger's `config.json`
    /// fills in the catalog database and notes directory it does not name.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        Self::load_with(path, None)
    }

    /// [`Config::load`], with the cataloger's config named (`--catalog-config`).
    pub fn load_with(
        path: &Path,
        catalog_config: Option<&Path>,
    ) -> Result<LoadedConfig, ConfigError> {
        let mut loaded = Self::read_file(path)?;
        loaded.config.adopt_catalog_config(catalog_config)?;
        Ok(loaded)
    }

    /// The cataloger's `config.json`: `explicit`, else `catalog_config_path`, else
    /// `config.json` next to this file when there is one.
    fn catalog_config(&self, explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
        if let Some(path) = explicit {
            return Some((path.to_owned(), true));
        }
        if let Some(path) = &self.catalog_config_path {
            return Some((self.resolve(path), true));
        }
        let beside = self.base_dir.join(CATALOG_CONFIG_FILE);
        beside.is_file().then_some((beside, false))
    }

    /// Takes `paths.database_path` and `paths.notes_dir` from the cataloger's
    /// `config.json` where this file does not set them (relative paths there are
    /// relative to that file's directory); remembers where they came from.
    pub fn adopt_catalog_config(&mut self, explicit: Option<&Path>) -> Result<(), ConfigError> {
        if self.database_path_set && self.notes_dir.is_some() && explicit.is_none() {
            return Ok(());
        }
        let Some((path, named)) = self.catalog_config(explicit) else {
            return Ok(());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && named => {
                return Err(ConfigError::NotFound { path });
            }
            Err(_) if !named => return Ok(()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| json_error(&path, ".", e))?;
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let read = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
            match value.pointer(&format!("/paths/{key}")) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                    let p = PathBuf::from(s);
                    Ok(Some(if p.is_absolute() || s.starts_with('~') {
                        p
                    } else {
                        dir.join(p)
                    }))
                }
                Some(other) => Err(ConfigError::Invalid {
                    path: path.clone(),
                    key: format!("paths.{key}"),
                    location: error::locate_key(&text, &format!("paths.{key}")),
                    message: format!("{other} is not a path"),
                }),
            }
        };
        let (database, notes) = (read("database_path")?, read("notes_dir")?);
        let mut took = false;
        if let Some(db) = database
            && !self.database_path_set
        {
            self.database_path = db;
            took = true;
        }
        if let Some(notes) = notes
            && self.notes_dir.is_none()
        {
            self.notes_dir = Some(notes);
            took = true;
        }
        if took {
            self.catalog_paths_from = Some(path);
        }
        Ok(())
    }

    /// Reads and checks one file, nothing else.
    fn read_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
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
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| json_error(path, ".", e))?;
        strip_comments(&mut value);
        let parsed: Result<Config, _> = {
            let mut note = |key: serde_ignored::Path<'_>| unknown.push(key.to_string());
            let tracked = serde_ignored::Deserializer::new(value, &mut note);
            serde_path_to_error::deserialize(tracked)
        };
        let mut config = match parsed {
            Ok(config) => config,
            Err(err) => {
                let key = err.path().to_string();
                let inner = err.into_inner();
                // A value has no position: find the key in the text.
                let mut error = json_error(path, &key, inner);
                if let ConfigError::WrongType { line, column, .. } = &mut error
                    && let Some((l, c)) = error::locate_key(text, &key)
                {
                    (*line, *column) = (l, c);
                }
                return Err(error);
            }
        };
        config.aws_region_set = error::locate_key(text, "aws_region").is_some();
        config.database_path_set = error::locate_key(text, "database_path").is_some();

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
        if config.notifications.email_address.is_some()
            && config.notifications.smtp_server.is_none()
        {
            warnings.push(format!(
                "{}: `notifications.email_address` is set but no `notifications.smtp_server`: \
                 no report is mailed",
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

    /// Checks values that parse but cannot be used, section by section.
    /// `found`, with the answers `store_capabilities` pins.
    pub fn pin_capabilities(
        &self,
        found: crate::store::Capabilities,
    ) -> Result<crate::store::Capabilities, String> {
        if self.store_capabilities.is_empty() {
            return Ok(found);
        }
        let serde_json::Value::Object(mut merged) =
            serde_json::to_value(&found).expect("capabilities serialise")
        else {
            unreachable!("capabilities are an object");
        };
        for (key, value) in &self.store_capabilities {
            if key.starts_with('_') {
                continue; // a comment
            }
            if !merged.contains_key(key) || key == "notes" {
                let known: Vec<&str> = merged
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "notes")
                    .collect();
                return Err(format!(
                    "`{key}` is not a capability; known: {}",
                    known.join(", ")
                ));
            }
            merged.insert(key.clone(), value.clone());
        }
        serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| e.to_string())
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let check = Check { text, path };
        self.upload_settings.validate(&check)?;
        self.retry_settings.validate(&check)?;
        self.lifecycle.validate(&check)?;
        self.archive_settings.validate(&check)?;
        self.verification.validate(&check)?;
        check.at_least(
            "database_busy_timeout_seconds",
            self.database_busy_timeout_seconds,
            0.0,
            "a number of seconds",
        )?;
        check.at_least(
            "archive_concurrency",
            self.archive_concurrency as f64,
            1.0,
            "a number of archives",
        )?;
        if self.aws_region.trim().is_empty() {
            return Err(check.invalid("aws_region", "is empty"));
        }
        if let Some(bucket) = &self.buckets.primary
            && let Err(message) = check_bucket_name(bucket)
        {
            return Err(check.invalid("buckets.primary", message));
        }
        self.s3_paths.validate(&check)?;
        if let Err(message) = self.pin_capabilities(crate::store::Capabilities::default()) {
            return Err(check.invalid("store_capabilities", message));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(check.invalid(
                "endpoint_url",
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
        self.cost_tracking.validate(&check)
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

    /// The bucket the target's rows record (`s3_bucket`): the bucket's name, or the
    /// local target's root; rows recording another belong to another target.
    pub fn target_bucket(&self) -> String {
        match self.target {
            TargetKind::S3 => self.buckets.primary.clone().unwrap_or_default(),
            TargetKind::Local => self.local_root().display().to_string(),
        }
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

/// Removes every key starting with `_` at every depth: comments, as the original
/// template writes them (`"_comment"` even among the prices).
fn strip_comments(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('_'));
            map.values_mut().for_each(strip_comments);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_comments),
        _ => {}
    }
}

const TEMPLATE: &str = include_str!("s3_config.template.json");

#[cfg(test)]
mod tests;
