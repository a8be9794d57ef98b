//! The errors of the core crate and of the traits it defines.
//!
//! Rules, for every crate of the workspace:
//!
//! 1. One `thiserror` enum per library crate. Each variant names the thing it is
//!    about (file path, session id, object key, config key) and carries its `source`.
//! 2. Messages are lower-case, without a trailing period, and say what went wrong
//!    with what; the caller adds what it was doing (`anyhow::Context`, CLI only).
//! 3. Implementations of the core traits (catalog, tracker, archive, object store)
//!    convert their own errors into [`Error`]. Object store errors keep a
//!    [`StoreErrorKind`], because the engine decides on it (a missing upload id
//!    means start over; an archived object means "needs restore").
//! 4. No message ever contains a credential, a signature or a presigned URL.
//! 5. Errors say what happened in variants that carry their facts (`Integrity`,
//!    `SizeMismatch`, `Exists`, `NotInCatalog`, ...); callers branch on variants
//!    and kinds, never on message text.
//! 6. A library message never names a command-line flag or command: what the
//!    caller can do is a typed [`Hint`], which each front end words ([`HintText`];
//!    the CLI names its flags).
//! 7. The log's `error_code` is [`Error::code`]: a stable word, never `Debug` output.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::ids::{NameError, SessionId};

/// A boxed error from an implementation of a core trait.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can fail in the core and behind its traits.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A name from outside (catalog, manifest, bucket) was refused.
    #[error(transparent)]
    Name(#[from] NameError),

    /// The catalog database could not be read.
    #[error(transparent)]
    Catalog(BoxError),

    /// The tracking tables could not be read or written.
    #[error(transparent)]
    Tracker(BoxError),

    /// An archive could not be written, read or extracted.
    #[error(transparent)]
    Archive(BoxError),

    /// The object store refused or failed a request.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A local file or directory could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// Something failed for one session; the run goes on with the others.
    #[error("session {session}: {source}")]
    Session {
        /// The session.
        session: SessionId,
        /// What failed.
        source: Box<Error>,
    },

    /// A manifest could not be read or does not describe its archive.
    #[error("manifest {what}: {message}")]
    Manifest {
        /// The object key or file.
        what: String,
        /// What is wrong.
        message: String,
    },

    /// The run was interrupted (Ctrl-C) between parts; its state is saved.
    #[error("interrupted")]
    Interrupted,

    /// Bytes that are not the ones expected: a checksum, an ETag or an MD5 differs.
    #[error("{what}: {message}")]
    Integrity {
        /// The object key or file.
        what: String,
        /// What differs, with both values.
        message: String,
    },

    /// A size that is not the one planned or recorded.
    #[error("{what}: {message}")]
    SizeMismatch {
        /// The object key or file.
        what: String,
        /// Both sizes, and where each came from.
        message: String,
    },

    /// Something is already where it would be written.
    #[error("{what} exists")]
    Exists {
        /// The file or object.
        what: String,
        /// What the caller can do about it.
        hint: Option<Hint>,
    },

    /// The catalog does not list this session.
    #[error("session {session} is not in the catalog ({catalog})")]
    NotInCatalog {
        /// The session.
        session: SessionId,
        /// Where the catalog is.
        catalog: String,
    },

    /// The tracking tables have no archive for this session.
    #[error("session {session} has no recorded archive")]
    NoArchive {
        /// The session.
        session: SessionId,
        /// What the caller can do about it.
        hint: Option<Hint>,
    },

    /// Catalogued files that cannot be read.
    #[error("{} of {total} catalogued file(s) cannot be read: {}{}", shown.len() + more, shown.join(", "), if *more > 0 { format!(", and {more} more") } else { String::new() })]
    MissingFiles {
        /// Files named, with why each cannot be read.
        shown: Vec<String>,
        /// Files not named.
        more: usize,
        /// Catalogued files in all.
        total: usize,
        /// What the caller can do about it.
        hint: Option<Hint>,
    },

    /// The object is in an archive class and must be restored before it is read.
    #[error("{key} is in {class} and {} ({wait})", if *in_progress { "its restore is still in progress" } else { "must be restored first" })]
    NeedsRestore {
        /// The object.
        key: String,
        /// Its storage class.
        class: String,
        /// Whether a restore was asked for already.
        in_progress: bool,
        /// How long a restore takes.
        wait: String,
        /// What the caller can do about it.
        hint: Option<Hint>,
    },

    /// The catalog no longer lists some files of the session's archive, or lists
    /// them with another MD5: an archive made now would not hold their backed-up
    /// bytes, and replacing the old one in a bucket without versioning loses them.
    #[error(
        "the catalog changed since the backup: {}; the archive in the bucket is the only copy of the old bytes and the bucket keeps no versions",
        drift_words(removed, changed)
    )]
    CatalogChanged {
        /// Members the catalog no longer lists (`folder/file`).
        removed: Vec<String>,
        /// Members the catalog lists with another MD5.
        changed: Vec<String>,
        /// What the caller can do about it.
        hint: Option<Hint>,
    },

    /// The config turns writes off, or lacks a setting this needs.
    #[error("{message}")]
    NotConfigured {
        /// The config key.
        key: &'static str,
        /// What is missing or off.
        message: String,
    },

    /// A background task (a writer thread, a check) panicked or was cancelled.
    #[error("{task} failed: {message}")]
    TaskFailed {
        /// What the task was doing.
        task: &'static str,
        /// Why it ended.
        message: String,
    },

    /// Another run holds the lock of this tracking database and target.
    #[error("another fitsbak run is working on {target}: {holder} (lock {})", path.display())]
    Locked {
        /// The target.
        target: String,
        /// Who holds it: command, pid, start time.
        holder: String,
        /// The lock file.
        path: PathBuf,
    },

    /// A request that cannot be carried out as asked, for a reason none of the
    /// variants above names.
    #[error("{message}")]
    Unusable {
        /// Why.
        message: String,
        /// What the caller can do about it.
        hint: Option<Hint>,
    },
}

/// What the caller can do about an error or a check, as a typed value: the front
/// end turns it into its own words (the CLI into flag and command names), so the
/// library never speaks of a command line it may not run under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "hint", rename_all = "snake_case")]
pub enum Hint {
    /// Leave the unreadable files out of the archive.
    AllowMissing,
    /// Upload the session again although an archive is there.
    UploadAgain,
    /// Replace what is there.
    Overwrite,
    /// Rebuild the tracking tables from the bucket first.
    SyncDb,
    /// Ask for a readable copy of the session's archive.
    RestoreRequest {
        /// The session.
        session: SessionId,
    },
    /// Follow the session's restore request.
    RestoreStatus {
        /// The session.
        session: SessionId,
    },
    /// Ask for a readable copy of a catalog snapshot: of this version, when the
    /// bucket keeps versions.
    RestoreSnapshotVersion {
        /// The version id.
        version_id: String,
    },
    /// Ask for a readable copy of the catalog snapshot at this key.
    RestoreSnapshotKey {
        /// Its key.
        key: String,
    },
    /// List the catalog snapshots.
    ListSnapshots,
    /// Choose the Standard or Bulk tier.
    SlowerTier,
    /// The next upload goes on where this one stopped.
    ResumeUpload,
    /// Write the lifecycle rules the config calls for to the bucket.
    ApplyLifecycle,
    /// Abort the stale multipart uploads (an upload resumes the ones it started).
    AbortStale,
    /// Write a config file.
    InitConfig,
    /// Overwrite the config file.
    ForceInitConfig,
    /// Name the catalog database.
    NameDatabase,
}

/// Turns hints into words. The default speaks of what to do, not of a command line;
/// the CLI names its flags and commands.
pub trait HintText: Send + Sync {
    /// The words for `hint`.
    fn text(&self, hint: &Hint) -> String;
}

/// Hints in plain words, for programs that embed the engine without the CLI.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainHints;

impl HintText for PlainHints {
    fn text(&self, hint: &Hint) -> String {
        match hint {
            Hint::AllowMissing => "allow missing files to back up the others".into(),
            Hint::UploadAgain => "upload it again to replace it".into(),
            Hint::Overwrite => "allow overwriting to replace it".into(),
            Hint::SyncDb => "rebuild the tracking tables from the bucket first".into(),
            Hint::RestoreRequest { session } => {
                format!("request a restore of session {session}")
            }
            Hint::RestoreStatus { session } => {
                format!("follow the restore of session {session}")
            }
            Hint::RestoreSnapshotVersion { version_id } => {
                format!("request a restore of version {version_id}")
            }
            Hint::RestoreSnapshotKey { key } => format!("request a restore of {key}"),
            Hint::ListSnapshots => "list the catalog snapshots".into(),
            Hint::SlowerTier => "use the Standard (within 12 h) or Bulk (within 48 h) tier".into(),
            Hint::ResumeUpload => "the next upload resumes it".into(),
            Hint::ApplyLifecycle => "apply the generated lifecycle rules".into(),
            Hint::AbortStale => {
                "abort the stale uploads (an upload resumes the ones it started)".into()
            }
            Hint::InitConfig => "write one from the template".into(),
            Hint::ForceInitConfig => "allow overwriting it".into(),
            Hint::NameDatabase => "set `database_path` in the config".into(),
        }
    }
}

impl Error {
    /// Wraps `self` as the failure of `session`.
    pub fn for_session(self, session: &SessionId) -> Self {
        match self {
            already @ Error::Session { .. } => already,
            other => Error::Session {
                session: session.clone(),
                source: Box::new(other),
            },
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A request that cannot be carried out, for `message`.
    pub fn unusable(message: impl Into<String>) -> Self {
        Error::Unusable {
            message: message.into(),
            hint: None,
        }
    }

    /// A task that ended without its result.
    pub fn task(task: &'static str, err: impl std::fmt::Display) -> Self {
        Error::TaskFailed {
            task,
            message: err.to_string(),
        }
    }

    /// The error inside any session context.
    pub fn innermost(&self) -> &Error {
        match self {
            Error::Session { source, .. } => source.innermost(),
            other => other,
        }
    }

    /// The object store error kind, when this is (or wraps) one.
    pub fn store_kind(&self) -> Option<StoreErrorKind> {
        match self.innermost() {
            Error::Store(e) => Some(e.kind),
            _ => None,
        }
    }

    /// What the caller can do about it, when something can be done.
    pub fn hint(&self) -> Option<Hint> {
        match self.innermost() {
            Error::Exists { hint, .. }
            | Error::NoArchive { hint, .. }
            | Error::MissingFiles { hint, .. }
            | Error::NeedsRestore { hint, .. }
            | Error::CatalogChanged { hint, .. }
            | Error::Unusable { hint, .. } => hint.clone(),
            Error::Config(e) => e.hint(),
            _ => None,
        }
    }

    /// The message and, when there is one, the hint in `words`.
    pub fn describe(&self, words: &dyn HintText) -> String {
        match self.hint() {
            Some(hint) => format!("{self}; {}", words.text(&hint)),
            None => self.to_string(),
        }
    }

    /// A stable word for the log's `error_code` (never `Debug` output).
    pub fn code(&self) -> &'static str {
        match self.innermost() {
            Error::Store(e) => e.kind.code(),
            Error::Config(_) => "config",
            Error::Name(_) => "invalid-name",
            Error::Catalog(_) => "catalog",
            Error::Tracker(_) => "tracking-db",
            Error::Archive(_) => "archive",
            Error::Io { .. } => "io",
            Error::Session { .. } => "session",
            Error::Manifest { .. } => "manifest",
            Error::Interrupted => "interrupted",
            Error::Integrity { .. } => "integrity",
            Error::SizeMismatch { .. } => "size-mismatch",
            Error::Exists { .. } => "exists",
            Error::NotInCatalog { .. } => "not-in-catalog",
            Error::NoArchive { .. } => "no-archive",
            Error::MissingFiles { .. } => "missing-files",
            Error::NeedsRestore { .. } => "needs-restore",
            Error::CatalogChanged { .. } => "catalog-changed",
            Error::NotConfigured { .. } => "not-configured",
            Error::TaskFailed { .. } => "task-failed",
            Error::Unusable { .. } => "unusable",
            Error::Locked { .. } => "locked",
        }
    }
}

/// "2 file(s) removed (a, b), 1 with a new MD5 (c)", at most five names each.
fn drift_words(removed: &[String], changed: &[String]) -> String {
    let list = |names: &[String]| {
        let mut shown = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if names.len() > 5 {
            shown.push_str(&format!(", and {} more", names.len() - 5));
        }
        shown
    };
    let mut parts = Vec::new();
    if !removed.is_empty() {
        parts.push(format!(
            "{} file(s) no longer catalogued ({})",
            removed.len(),
            list(removed)
        ));
    }
    if !changed.is_empty() {
        parts.push(format!(
            "{} file(s) with a new MD5 ({})",
            changed.len(),
            list(changed)
        ));
    }
    parts.join(", ")
}

/// What kind of object store failure it was; the engine branches on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// No such object (or version).
    NotFound,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The multipart upload id is unknown (completed, aborted or expired).
    NoSuchUpload,
    /// Credentials are missing, unknown or expired.
    Credentials,
    /// The computer's clock is too far from the store's for a signature to hold.
    ClockSkew,
    /// The bucket is in another region than the one asked.
    WrongRegion,
    /// The credentials are valid but not allowed to do this.
    AccessDenied,
    /// The object is in GLACIER or DEEP_ARCHIVE and has not been restored.
    NeedsRestore,
    /// A restore is already in progress.
    RestoreInProgress,
    /// A conditional request failed (`If-None-Match`, `If-Match`).
    PreconditionFailed,
    /// The bytes received do not match their checksum.
    Integrity,
    /// The server asked to slow down or was unavailable after every retry.
    Throttled,
    /// The network failed after every retry.
    Network,
    /// The request was not valid for the server.
    InvalidRequest,
    /// The object is larger than the caller allows.
    TooLarge,
    /// The store does not offer this request (some S3-compatible stores lack
    /// ListMultipartUploads, tagging or versioning).
    NotImplemented,
    /// Anything else.
    Other,
}

impl StoreErrorKind {
    /// A stable word for logs and records.
    pub fn code(self) -> &'static str {
        match self {
            StoreErrorKind::NotFound => "not-found",
            StoreErrorKind::NoSuchBucket => "no-such-bucket",
            StoreErrorKind::NoSuchUpload => "no-such-upload",
            StoreErrorKind::Credentials => "credentials",
            StoreErrorKind::ClockSkew => "clock-skew",
            StoreErrorKind::WrongRegion => "wrong-region",
            StoreErrorKind::AccessDenied => "access-denied",
            StoreErrorKind::NeedsRestore => "needs-restore",
            StoreErrorKind::RestoreInProgress => "restore-in-progress",
            StoreErrorKind::PreconditionFailed => "precondition-failed",
            StoreErrorKind::Integrity => "integrity",
            StoreErrorKind::Throttled => "throttled",
            StoreErrorKind::Network => "network",
            StoreErrorKind::InvalidRequest => "invalid-request",
            StoreErrorKind::TooLarge => "too-large",
            StoreErrorKind::NotImplemented => "not-implemented",
            StoreErrorKind::Other => "other",
        }
    }
}

/// An object store failure, naming the operation and the key or bucket.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {target}: {message}")]
pub struct StoreError {
    /// What kind of failure.
    pub kind: StoreErrorKind,
    /// The operation: `PutObject`, `UploadPart`, `HeadObject`, ...
    pub operation: &'static str,
    /// What it was done to: `s3://bucket/key`, `local:/root/key`.
    pub target: String,
    /// What went wrong, in the server's words where it gave some.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<BoxError>,
}

impl StoreError {
    /// A new error without an underlying source.
    pub fn new(
        kind: StoreErrorKind,
        operation: &'static str,
        target: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation,
            target: target.into(),
            message: message.into(),
            source: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_context_wraps_once_and_keeps_the_store_kind() {
        let s = SessionId::new("S1").unwrap();
        let err = Error::from(StoreError::new(
            StoreErrorKind::NoSuchBucket,
            "PutObject",
            "s3://nope/k",
            "the bucket does not exist",
        ))
        .for_session(&s)
        .for_session(&s);
        assert_eq!(
            err.to_string(),
            "session S1: PutObject s3://nope/k: the bucket does not exist"
        );
        assert_eq!(err.store_kind(), Some(StoreErrorKind::NoSuchBucket));
        assert_eq!(err.code(), "no-such-bucket");
    }

    #[test]
    fn hints_are_words_of_the_front_end() {
        struct Flags;
        impl HintText for Flags {
            fn text(&self, hint: &Hint) -> String {
                format!("{hint:?}")
            }
        }
        let err = Error::Exists {
            what: "/tmp/out.db".into(),
            hint: Some(Hint::Overwrite),
        }
        .for_session(&SessionId::new("S1").unwrap());
        assert_eq!(err.to_string(), "session S1: /tmp/out.db exists");
        assert_eq!(
            err.describe(&Flags),
            "session S1: /tmp/out.db exists; Overwrite"
        );
        assert_eq!(
            err.describe(&PlainHints),
            "session S1: /tmp/out.db exists; allow overwriting to replace it"
        );
        assert_eq!(err.code(), "exists");
    }

    #[test]
    fn errors_stay_small() {
        assert!(
            std::mem::size_of::<Error>() <= 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
