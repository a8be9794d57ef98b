//! Snapshots of the catalog database: what `backup-db` needs from the database
//! layer, without the core knowing SQLite.

use std::path::Path;

use crate::error::Result;

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotInfo {
    /// Size of the snapshot file in bytes.
    pub size_bytes: u64,
    /// Database pages copied.
    pub pages: u64,
}

/// Takes consistent copies of the catalog database and checks database files.
/// Both are blocking; the engine calls them on a blocking thread.
pub trait CatalogSnapshots: Send + Sync {
    /// Copies the database at `source` into a new file at `dest` as of one commit,
    /// safe while the cataloger writes, and checks the copy.
    fn take(&self, source: &Path, dest: &Path) -> Result<SnapshotInfo>;

    /// Checks a database file (`PRAGMA integrity_check`): an error names its
    /// findings.
    fn check(&self, path: &Path) -> Result<()>;
}
