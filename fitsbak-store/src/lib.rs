//! fitsbak-store: the cataloger's SQLite database, read as a catalog and written as
//! the backup tracker.
//!
//! The catalog side reads `imaging_sessions` and `fits_files` as the FITS Cataloger
//! writes them, tolerating columns it does not use and missing optional ones. The
//! tracker side owns the `s3_backup_*` tables (see [`schema`]), created on first run
//! in the same database unless a separate tracking database is configured. The
//! database is opened in WAL mode with a busy timeout so that the cataloger can keep
//! running alongside; every query is set-based.

mod asynced;
mod catalog;
mod error;
mod processed;
pub mod schema;
pub mod snapshot;
mod tracker;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::DbError;

/// How to open the database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long to wait for another process's lock before failing.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// Which optional catalog columns the database has.
#[derive(Debug, Clone, Default)]
struct CatalogColumns {
    sessions: Vec<String>,
    files: Vec<String>,
}

impl CatalogColumns {
    fn session(&self, name: &str) -> String {
        pick(&self.sessions, "s", name)
    }
    fn file(&self, name: &str) -> String {
        pick(&self.files, "f", name)
    }
}

fn pick(have: &[String], alias: &str, name: &str) -> String {
    if have.iter().any(|c| c.eq_ignore_ascii_case(name)) {
        format!("{alias}.\"{name}\"")
    } else {
        "NULL".to_owned()
    }
}

/// The cataloger's database (and the tracking database, when kept apart).
#[derive(Debug, Clone)]
pub struct Database {
    catalog: Option<Arc<Mutex<Connection>>>,
    tracking: Arc<Mutex<Connection>>,
    catalog_path: PathBuf,
    tracking_path: PathBuf,
    busy_timeout: Duration,
    columns: CatalogColumns,
}

impl Database {
    /// Opens the catalog at `catalog` and the tracking tables in `tracking` (the
    /// catalog database when `None`), creating or migrating the tracking tables.
    pub fn open(
        catalog: &Path,
        tracking: Option<&Path>,
        options: &OpenOptions,
    ) -> Result<Self, DbError> {
        let catalog_conn = open_existing(catalog, options)?;
        let columns = check_catalog(&catalog_conn, catalog, options)?;
        enable_wal(&catalog_conn, catalog, options)?;
        let same = tracking.is_none_or(|t| same_file(t, catalog));
        let catalog_conn = Arc::new(Mutex::new(catalog_conn));
        let (tracking_conn, tracking_path) = if same {
            (catalog_conn.clone(), catalog.to_owned())
        } else {
            let path = tracking.expect("checked above");
            (
                Arc::new(Mutex::new(open_tracking(path, options)?)),
                path.to_owned(),
            )
        };
        let db = Self {
            catalog: Some(catalog_conn),
            tracking: tracking_conn,
            catalog_path: catalog.to_owned(),
            tracking_path,
            busy_timeout: options.busy_timeout,
            columns,
        };
        db.migrate()?;
        Ok(db)
    }

    /// Opens (creating when needed) a database holding only the tracking tables, for
    /// rebuilding them from the bucket after the catalog is lost.
    pub fn open_tracking_only(path: &Path, options: &OpenOptions) -> Result<Self, DbError> {
        let conn = open_tracking(path, options)?;
        let db = Self {
            catalog: None,
            tracking: Arc::new(Mutex::new(conn)),
            catalog_path: path.to_owned(),
            tracking_path: path.to_owned(),
            busy_timeout: options.busy_timeout,
            columns: CatalogColumns::default(),
        };
        db.migrate()?;
        Ok(db)
    }

    /// Whether the database file at `path` already holds the tracking tables (read
    /// only: nothing is created or changed).
    pub fn holds_tracking_tables(path: &Path) -> bool {
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) else {
            return false;
        };
        schema::existing_columns(&conn, schema::ARCHIVES.name).is_ok_and(|c| !c.is_empty())
    }

    /// The catalog database file.
    pub fn catalog_path(&self) -> &Path {
        &self.catalog_path
    }

    /// The tracking database file.
    pub fn tracking_path(&self) -> &Path {
        &self.tracking_path
    }

    fn migrate(&self) -> Result<(), DbError> {
        let mut conn = lock(&self.tracking);
        let found = schema::current_version(&conn)
            .map_err(|e| self.tracking_err("reading the schema version", e))?;
        if found > schema::SCHEMA_VERSION {
            return Err(DbError::NewerSchema {
                path: self.tracking_path.clone(),
                found,
                supported: schema::SCHEMA_VERSION,
            });
        }
        let before = schema::migrate(&mut conn)
            .map_err(|e| self.tracking_err("creating the tracking tables", e))?;
        if before > 0 && before < 3 {
            tracker::backfill_facts(&mut conn)
                .map_err(|e| self.tracking_err("recording the facts of older archives", e))?;
        }
        Ok(())
    }

    pub(crate) fn catalog_conn(&self) -> Result<MutexGuard<'_, Connection>, DbError> {
        match &self.catalog {
            Some(conn) => Ok(lock(conn)),
            None => Err(DbError::NotACatalog {
                path: self.catalog_path.clone(),
                missing: vec!["imaging_sessions".into(), "fits_files".into()],
            }),
        }
    }

    pub(crate) fn tracking_conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.tracking)
    }

    pub(crate) fn catalog_err(&self, what: impl Into<String>, e: rusqlite::Error) -> DbError {
        DbError::sqlite(&self.catalog_path, what, self.busy_timeout, e)
    }

    pub(crate) fn tracking_err(&self, what: impl Into<String>, e: rusqlite::Error) -> DbError {
        DbError::sqlite(&self.tracking_path, what, self.busy_timeout, e)
    }

    /// The directory relative `fits_files.folder` values are resolved against.
    pub(crate) fn catalog_dir(&self) -> PathBuf {
        match self.catalog_path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        }
    }
}

/// Test hook: with the `crash-points` feature, aborts the process at the named
/// point when `FITSBAK_CRASH_AT` names it, to prove that a crash there loses
/// nothing. Without the feature it does nothing.
#[inline]
pub(crate) fn crash_point(name: &str) {
    #[cfg(feature = "crash-points")]
    if std::env::var("FITSBAK_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
    #[cfg(not(feature = "crash-points"))]
    let _ = name;
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves SQLite consistent (transactions roll
    // back on drop), so a poisoned lock is safe to take over.
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn configure(conn: &Connection, path: &Path, options: &OpenOptions) -> Result<(), DbError> {
    // Memory-mapped reads: a full scan of a large catalog costs far fewer syscalls.
    conn.busy_timeout(options.busy_timeout)
        .and_then(|()| {
            conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA mmap_size = 1073741824;")
        })
        .map_err(|e| DbError::sqlite(path, "configuring the connection", options.busy_timeout, e))
}

fn enable_wal(conn: &Connection, path: &Path, options: &OpenOptions) -> Result<(), DbError> {
    conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
        row.get::<_, String>(0)
    })
    .map(drop)
    .map_err(|e| DbError::sqlite(path, "switching to WAL mode", options.busy_timeout, e))
}

/// Opens a database that must exist already.
fn open_existing(path: &Path, options: &OpenOptions) -> Result<Connection, DbError> {
    if !path.is_file() {
        return Err(DbError::NotFound {
            path: path.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| DbError::sqlite(path, "opening the database", options.busy_timeout, e))?;
    configure(&conn, path, options)?;
    Ok(conn)
}

/// Opens or creates a tracking database.
fn open_tracking(path: &Path, options: &OpenOptions) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return Err(DbError::NotFound {
            path: path.to_owned(),
        });
    }
    let conn = Connection::open(path)
        .map_err(|e| DbError::sqlite(path, "opening the database", options.busy_timeout, e))?;
    configure(&conn, path, options)?;
    enable_wal(&conn, path, options)?;
    Ok(conn)
}

/// Checks that the cataloger's tables and required columns are there, without
/// writing anything; returns the columns found.
fn check_catalog(
    conn: &Connection,
    path: &Path,
    options: &OpenOptions,
) -> Result<CatalogColumns, DbError> {
    let err = |e| DbError::sqlite(path, "reading the schema", options.busy_timeout, e);
    let sessions = schema::existing_columns(conn, "imaging_sessions").map_err(err)?;
    let files = schema::existing_columns(conn, "fits_files").map_err(err)?;
    let missing: Vec<String> = [("imaging_sessions", &sessions), ("fits_files", &files)]
        .into_iter()
        .filter(|(_, cols)| cols.is_empty())
        .map(|(t, _)| t.to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(DbError::NotACatalog {
            path: path.to_owned(),
            missing,
        });
    }
    for (table, have, column) in [
        ("imaging_sessions", &sessions, "id"),
        ("imaging_sessions", &sessions, "date"),
        ("fits_files", &files, "file"),
        ("fits_files", &files, "folder"),
        ("fits_files", &files, "imaging_session_id"),
    ] {
        if !have.iter().any(|c| c.eq_ignore_ascii_case(column)) {
            return Err(DbError::MissingColumn {
                path: path.to_owned(),
                table,
                column,
            });
        }
    }
    Ok(CatalogColumns { sessions, files })
}

impl From<DbError> for fitsbak_core::Error {
    fn from(e: DbError) -> Self {
        fitsbak_core::Error::Tracker(Box::new(e))
    }
}

#[cfg(test)]
mod tests;
