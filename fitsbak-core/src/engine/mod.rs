//! The engine: plans, uploads, verifies and restores through the core traits only.
//!
//! Nothing here knows about S3, SQLite or a terminal; the CLI wires real
//! implementations into an [`Engine`], and the unit tests wire mocks in.

pub mod costs;
pub mod database;
pub mod lifecycle;
pub mod notes;
pub mod report;
pub mod restore;
pub mod stream;
pub mod upload;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::archive::{ArchiveBuilder, ArchiveReader};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::progress::Progress;
use crate::store::ObjectStore;
use crate::tracker::Tracker;

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
    /// Shows progress.
    pub progress: Arc<dyn Progress>,
    /// Retries made by the store (shared with its retry layer).
    pub retries: Arc<AtomicU64>,
    /// Ctrl-C: stop between parts, or abort.
    pub cancel: Cancel,
}

impl Engine {
    /// The target, as messages name it: `s3://bucket (region)` or `local:/path`.
    pub fn target(&self) -> String {
        self.store.location().description.clone()
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
