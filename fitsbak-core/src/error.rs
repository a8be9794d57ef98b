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

    /// A request that cannot be carried out as asked.
    #[error("{0}")]
    Refused(String),
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

    /// The error inside any session context.
    pub fn innermost(&self) -> &Error {
        match self {
            Error::Session { source, .. } => source.innermost(),
            other => other,
        }
    }

    /// The object store error kind, when this is (or wraps) one.
    pub fn store_kind(&self) -> Option<StoreErrorKind> {
        match self {
            Error::Store(e) => Some(e.kind),
            Error::Session { source, .. } => source.store_kind(),
            _ => None,
        }
    }
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
    }
}
