//! Errors of the SQLite store. Each names the database file; see the rules in
//! `fitsbak_core::error`.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can fail in the store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database file does not exist.
    #[error("catalog database {} not found", path.display())]
    NotFound {
        /// The path tried.
        path: PathBuf,
    },

    /// The file is a database but not the cataloger's.
    #[error("{} is not a FITS cataloger database: it has no {} table", path.display(), missing.join(" or "))]
    NotACatalog {
        /// The file.
        path: PathBuf,
        /// The cataloger tables it lacks.
        missing: Vec<String>,
    },

    /// A catalog table lacks a column fitsbak cannot do without.
    #[error("{}: table {table} has no column {column}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
    },

    /// Another process held a lock for longer than the busy timeout.
    #[error("{}: the database is locked by another process (waited {}s); try again when it is done", path.display(), waited.as_secs_f64())]
    Locked {
        /// The file.
        path: PathBuf,
        /// How long fitsbak waited.
        waited: Duration,
    },

    /// The tracking tables were written by a newer fitsbak.
    #[error("{}: the tracking tables are at schema version {found}; this fitsbak knows up to {supported}: upgrade fitsbak", path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Newest version known.
        supported: i64,
    },

    /// Any other SQLite failure, with what was being done.
    #[error("{}: {what}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },

    /// A stored value could not be understood.
    #[error("{}: {what}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming table and column.
        what: String,
    },

    /// A file of the demo library could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl DbError {
    /// Wraps a SQLite error, turning `SQLITE_BUSY` into [`DbError::Locked`].
    pub(crate) fn sqlite(
        path: &std::path::Path,
        what: impl Into<String>,
        busy_timeout: Duration,
        source: rusqlite::Error,
    ) -> Self {
        let busy = matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            DbError::Locked {
                path: path.to_owned(),
                waited: busy_timeout,
            }
        } else {
            DbError::Sqlite {
                path: path.to_owned(),
                what: what.into(),
                source,
            }
        }
    }
}
