//! The catalog: the cataloger's database of sessions and FITS files, read only.

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::SessionId;
use std::collections::HashMap;

use crate::model::{CatalogFile, Fingerprint, SessionPaths, SessionScan};

/// Read access to the cataloger's `imaging_sessions` and `fits_files`.
///
/// Implementations read set-wise (one query for all sessions, one for the files of
/// many sessions), never one query per session.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Catalog: Send + Sync {
    /// Where the catalog lives, for messages.
    fn describe(&self) -> String;

    /// Every session, with its file count; rows that cannot be used are returned as
    /// rejected, with the reason.
    async fn sessions(&self) -> Result<SessionScan>;

    /// The files of `sessions` (of every session when `None`), in no set order.
    #[allow(clippy::needless_lifetimes)] // mockall needs the lifetime named
    async fn files<'a>(&self, sessions: Option<&'a [SessionId]>) -> Result<Vec<CatalogFile>>;

    /// Where the files of `sessions` (of every session when `None`) are on disk,
    /// grouped by session: the lean read behind the size reports.
    #[allow(clippy::needless_lifetimes)] // mockall needs the lifetime named
    async fn file_paths<'a>(&self, sessions: Option<&'a [SessionId]>) -> Result<Vec<SessionPaths>>;

    /// The [`Fingerprint`] of the rows of `sessions` (of every session when
    /// `None`): what tells that the catalog changed since an archive was made.
    #[allow(clippy::needless_lifetimes)] // mockall needs the lifetime named
    async fn fingerprints<'a>(
        &self,
        sessions: Option<&'a [SessionId]>,
    ) -> Result<HashMap<SessionId, Fingerprint>>;

    /// The processing sessions and processed files (`processing_sessions`,
    /// `processed_files`); none when the catalog has no such tables.
    async fn processing(&self) -> Result<crate::processed::ProcessingScan> {
        Ok(Default::default())
    }
}

mod rows;

pub use rows::TrackedCatalog;
