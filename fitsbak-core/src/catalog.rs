//! The catalog: the cataloger's database of sessions and FITS files, read only.

use crate::error::Result;
use crate::ids::SessionId;
use crate::model::{CatalogFile, SessionScan};

/// Read access to the cataloger's `imaging_sessions` and `fits_files`.
///
/// Implementations read set-wise (one query for all sessions, one for the files of
/// many sessions), never one query per session.
#[cfg_attr(test, mockall::automock)]
pub trait Catalog: Send + Sync {
    /// Where the catalog lives, for messages.
    fn describe(&self) -> String;

    /// Every session, with its file count; rows that cannot be used are returned as
    /// rejected, with the reason.
    fn sessions(&self) -> Result<SessionScan>;

    /// The files of `sessions` (of every session when `None`), ordered by session,
    /// then file name, then folder.
    #[allow(clippy::needless_lifetimes)] // mockall needs the lifetime named
    fn files<'a>(&self, sessions: Option<&'a [SessionId]>) -> Result<Vec<CatalogFile>>;
}
