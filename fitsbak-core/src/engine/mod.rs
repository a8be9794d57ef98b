//! The engine: plans, uploads, verifies and restores through the core traits only.
//!
//! Nothing here knows about S3, SQLite or a terminal; the CLI wires real
//! implementations into an [`Engine`], and the unit tests wire the in-memory store
//! and mocks in. One module per job, named as the CLI command that runs it
//! (`cli/commands/X.rs` calls `engine/X.rs`); below them, the machinery every job
//! shares:
//!
//! - [`transfer`]: putting bytes into the store with every check (one PUT or a
//!   resumable multipart upload, the integrity check after it, aborts), on top of
//!   [`stream`], which cuts the bytes into parts with bounded memory;
//! - [`resume`]: finding the interrupted upload a session can go on with;
//! - [`manifests`]: reading, writing and comparing manifests.

pub mod analyze;
pub mod costs;
pub mod database;
pub mod doctor;
pub mod drift;
pub mod lifecycle;
pub mod list_sessions;
pub mod manifests;
pub mod migrate;
pub mod notes;
pub mod probe;
pub mod processed;
pub mod restore;
pub mod resume;
pub mod status;
pub mod stream;
pub mod sync_db;
#[cfg(test)]
mod testing;
pub mod transfer;
pub mod upload;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::archive::{ArchiveBuilder, ArchiveReader};
use crate::catalog::Catalog;
use crate::config::{Config, TargetKind};
use crate::engine::manifests::record_year;
use crate::error::{Error, Hint, HintText, PlainHints, Result, StoreErrorKind};
use crate::ids::SessionId;
use crate::progress::Progress;
use crate::snapshot::CatalogSnapshots;
use crate::store::{Encryption, ObjectStore};
use crate::tracker::{ArchiveRecord, Tracker};

/// Everything a command works with.
#[derive(Clone)]
pub struct Engine {
    /// The configuration.
    pub config: Arc<Config>,
    /// The cataloger's sessions and files.
    pub catalog: Arc<dyn Catalog>,
    /// The tracking tables.
    pub tracker: Arc<dyn Tracker>,
    /// Where archives go.
    pub store: Arc<dyn ObjectStore>,
    /// Writes archives.
    pub archiver: Arc<dyn ArchiveBuilder>,
    /// Reads archives.
    pub reader: Arc<dyn ArchiveReader>,
    /// Takes and checks snapshots of the catalog database.
    pub snapshots: Arc<dyn CatalogSnapshots>,
    /// Shows progress.
    pub progress: Arc<dyn Progress>,
    /// Words for the hints in reports (the CLI names its flags).
    pub hints: Arc<dyn HintText>,
    /// Retries made by the store (shared with its retry layer).
    pub retries: Arc<AtomicU64>,
    /// Ctrl-C: stop between parts, or abort.
    pub cancel: Cancel,
    /// What the store can do, once asked (see [`probe`]).
    pub capabilities: Arc<tokio::sync::OnceCell<Arc<crate::store::Capabilities>>>,
    /// Bytes sent and found already sent, for the summaries.
    pub transferred: Arc<Transferred>,
}

/// What a process moved: what the summaries count (not what the bars guess).
#[derive(Debug, Default)]
pub struct Transferred {
    /// Bytes the store acknowledged (parts and single PUTs) in this process.
    pub sent: AtomicU64,
    /// Bytes of parts an earlier run had sent, found again on resuming.
    pub resumed: AtomicU64,
}

impl Transferred {
    /// (sent, resumed) so far.
    pub fn now(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.sent.load(Relaxed), self.resumed.load(Relaxed))
    }
}

/// How a run is told to stop: `stop` finishes the parts in flight and keeps the
/// upload resumable (the first Ctrl-C); `abort` also aborts the upload (the second).
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    /// Stop between parts.
    pub stop: tokio_util::sync::CancellationToken,
    /// Abort now.
    pub abort: tokio_util::sync::CancellationToken,
}

/// The words of hints when nobody says otherwise.
pub fn plain_hints() -> Arc<dyn HintText> {
    Arc::new(PlainHints)
}

/// Whether an error means no other item of the run can succeed either (wrong
/// credentials, no bucket, no permission).
pub fn stops_the_run(err: &Error) -> bool {
    matches!(
        err.store_kind(),
        Some(
            StoreErrorKind::Credentials
                | StoreErrorKind::ClockSkew
                | StoreErrorKind::WrongRegion
                | StoreErrorKind::NoSuchBucket
                | StoreErrorKind::AccessDenied
        )
    )
}

impl Engine {
    /// The target, as messages name it: `s3://bucket (region)` or `local:/path`.
    pub fn target(&self) -> String {
        self.store.location().description.clone()
    }

    /// Whether the target is the local directory.
    pub fn is_local(&self) -> bool {
        self.config.target == TargetKind::Local
    }

    /// An error's message with its hint, in this engine's words.
    pub fn describe(&self, err: &Error) -> String {
        err.describe(self.hints.as_ref())
    }

    /// The configured server-side encryption.
    pub fn encryption(&self) -> Option<Encryption> {
        match self
            .config
            .upload_settings
            .server_side_encryption
            .as_deref()
        {
            Some("AES256") => Some(Encryption::Aes256),
            Some("aws:kms") => Some(Encryption::Kms {
                key_id: self.config.upload_settings.kms_key_id.clone(),
            }),
            _ => None,
        }
    }

    /// The recorded archives of `session`, or of `year`, or all; a session with no
    /// recorded archive is an error.
    pub async fn select_archives(
        &self,
        session: Option<&SessionId>,
        year: Option<i32>,
    ) -> Result<Vec<ArchiveRecord>> {
        let records: Vec<ArchiveRecord> = self
            .target_archives()
            .await?
            .into_iter()
            .filter(|r| {
                session.is_none_or(|s| *s == r.session_id)
                    && year.is_none_or(|y| record_year(r) == Some(y))
            })
            .collect();
        if let Some(id) = session
            && records.is_empty()
        {
            return Err(Error::NoArchive {
                session: id.clone(),
                hint: Some(Hint::SyncDb),
            });
        }
        Ok(records)
    }

    /// Every recorded archive, by session.
    pub async fn archives_by_session(
        &self,
    ) -> crate::Result<std::collections::HashMap<SessionId, ArchiveRecord>> {
        Ok(self
            .target_archives()
            .await?
            .into_iter()
            .map(|a| (a.session_id.clone(), a))
            .collect())
    }

    /// HEADs `keys`, `archive_concurrency` at a time; the answers in the keys' order.
    pub async fn head_all(
        &self,
        keys: &[crate::ids::ObjectKey],
    ) -> Vec<Result<Option<crate::store::ObjectMeta>>> {
        use futures::StreamExt;
        futures::stream::iter(keys.iter().map(|k| self.store.head(k)))
            .buffered(self.config.archive_concurrency.max(1))
            .collect()
            .await
    }

    /// The archive rows of the target in use: rows recording another bucket (or
    /// local root) belong to another target, and are not this one's backups.
    pub async fn target_archives(&self) -> Result<Vec<ArchiveRecord>> {
        let bucket = crate::store::ObjectStoreExt::bucket(self.store.as_ref());
        Ok(self
            .tracker
            .archives()
            .await?
            .into_iter()
            .filter(|a| a.bucket == bucket)
            .collect())
    }

    /// Retries made by the store so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` on a blocking thread (filesystem work), turning a panic into an
    /// error naming `task`.
    pub async fn blocking<T: Send + 'static>(
        task: &'static str,
        f: impl FnOnce() -> crate::Result<T> + Send + 'static,
    ) -> crate::Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::task(task, e))?
    }
}
