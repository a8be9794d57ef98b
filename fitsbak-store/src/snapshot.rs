//! Consistent snapshots of a SQLite database, and the check a restored one must pass.
//!
//! A plain file copy of a database the cataloger is writing (in WAL mode, recent
//! commits live in the `-wal` file) can be torn or stale. The snapshot is taken with
//! SQLite's online backup API in a single step, under one read transaction: it holds
//! exactly the database as of one commit, while writers go on.

use std::path::Path;

use fitsbak_core::snapshot::CatalogSnapshots;
use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use crate::DbError;

pub use fitsbak_core::snapshot::SnapshotInfo;

/// The core's [`CatalogSnapshots`] with SQLite's online backup API.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteSnapshots;

impl CatalogSnapshots for SqliteSnapshots {
    fn take(&self, source: &Path, dest: &Path) -> fitsbak_core::Result<SnapshotInfo> {
        snapshot(source, dest).map_err(|e| fitsbak_core::Error::Catalog(Box::new(e)))
    }

    fn check(&self, path: &Path) -> fitsbak_core::Result<()> {
        integrity_check(path).map_err(|e| {
            let what = path.display().to_string();
            let text = e.to_string();
            let message = text
                .strip_prefix(&format!("{what}: "))
                .unwrap_or(&text)
                .to_owned();
            fitsbak_core::Error::Integrity { what, message }
        })
    }
}

fn sqlite_err(path: &Path, what: &str) -> impl FnOnce(rusqlite::Error) -> DbError {
    let path = path.to_path_buf();
    let what = what.to_owned();
    move |source| DbError::Sqlite { path, what, source }
}

/// Copies the database at `source` into a new database file at `dest` (which must
/// not exist) with the online backup API, then checks the copy with
/// `PRAGMA integrity_check`. The copy is written in rollback-journal mode, so that
/// it is one self-contained file.
pub fn snapshot(source: &Path, dest: &Path) -> Result<SnapshotInfo, DbError> {
    if !source.is_file() {
        return Err(DbError::NotFound {
            path: source.to_path_buf(),
        });
    }
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(source, "opening the database to snapshot it"))?;
    src.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sqlite_err(source, "setting the busy timeout"))?;
    let mut dst = Connection::open(dest).map_err(sqlite_err(dest, "creating the snapshot"))?;
    let pages = {
        let backup =
            Backup::new(&src, &mut dst).map_err(sqlite_err(dest, "starting the backup"))?;
        // One step copies every page under one read transaction of the source: the
        // snapshot is consistent even while another connection writes.
        backup
            .step(-1)
            .map_err(sqlite_err(source, "copying the database"))?;
        backup.progress().pagecount.max(0) as u64
    };
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(sqlite_err(dest, "switching the snapshot out of WAL mode"))?;
    drop(dst);
    integrity_check(dest)?;
    let size_bytes = std::fs::metadata(dest)
        .map_err(|source| DbError::Io {
            path: dest.to_path_buf(),
            source,
        })?
        .len();
    Ok(SnapshotInfo { size_bytes, pages })
}

/// Opens the database at `path` read-only and runs `PRAGMA integrity_check`; an
/// error names the file and SQLite's findings.
pub fn integrity_check(path: &Path) -> Result<(), DbError> {
    // A database in WAL mode gets `-wal` and `-shm` files when it is opened, even
    // read only: those the check made are removed, so that only the file stays.
    let sidecars: Vec<std::path::PathBuf> = ["-wal", "-shm"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::path::PathBuf::from(p)
        })
        .filter(|p| !p.exists())
        .collect();
    let result = check_with_sqlite(path);
    for p in sidecars {
        let _ = std::fs::remove_file(p);
    }
    result
}

fn check_with_sqlite(path: &Path) -> Result<(), DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(path, "opening the database"))?;
    let findings: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sqlite_err(path, "PRAGMA integrity_check failed"))?;
    if findings.len() == 1 && findings[0] == "ok" {
        Ok(())
    } else {
        Err(DbError::BadValue {
            path: path.to_path_buf(),
            what: format!(
                "PRAGMA integrity_check failed: {}",
                findings
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_database(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO t (body) VALUES ('first');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_snapshot_holds_the_committed_rows_of_a_wal_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("catalog.db");
        let conn = wal_database(&db);
        // Committed, but still only in the -wal file.
        conn.execute("INSERT INTO t (body) VALUES ('second')", [])
            .unwrap();
        let copy = dir.path().join("snap.db");
        let info = snapshot(&db, &copy).unwrap();
        assert!(info.pages > 0);
        assert_eq!(info.size_bytes, std::fs::metadata(&copy).unwrap().len());
        let restored = Connection::open(&copy).unwrap();
        let n: i64 = restored
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let mode: String = restored
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "the snapshot is one self-contained file");
        assert!(!dir.path().join("snap.db-wal").exists());
    }

    #[test]
    fn a_missing_source_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = snapshot(&dir.path().join("nope.db"), &dir.path().join("s.db")).unwrap_err();
        assert!(err.to_string().contains("nope.db"), "{err}");
    }

    #[test]
    fn a_damaged_database_fails_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("catalog.db");
        {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(
                "PRAGMA page_size = 1024;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
                 CREATE INDEX t_body ON t (body);",
            )
            .unwrap();
            let tx = conn.unchecked_transaction().unwrap();
            for i in 0..2000 {
                tx.execute("INSERT INTO t (body) VALUES (?1)", [format!("row {i}")])
                    .unwrap();
            }
            tx.commit().unwrap();
        }
        integrity_check(&db).unwrap();
        // Overwrite a page in the middle with garbage.
        let mut bytes = std::fs::read(&db).unwrap();
        let mid = bytes.len() / 2 / 1024 * 1024;
        for b in &mut bytes[mid..mid + 1024] {
            *b = 0x5a;
        }
        std::fs::write(&db, bytes).unwrap();
        let err = integrity_check(&db).unwrap_err();
        assert!(err.to_string().contains("catalog.db"), "{err}");
        assert!(err.to_string().contains("integrity_check"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_database_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "clear skies ".repeat(400)).unwrap();
        assert!(integrity_check(&path).is_err());
    }
}
