//! Reading the cataloger's `imaging_sessions` and `fits_files`.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use fitsbak_core::ids::SessionId;
use fitsbak_core::model::{
    CatalogFile, Fingerprint, FolderFiles, RejectedSession, Session, SessionPaths, SessionScan,
};
use rusqlite::Row;
use rusqlite::types::ValueRef;

use crate::{Database, DbError};

/// A column as text, whatever type the other tool stored it with.
pub(crate) fn text(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(index)? {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) => Some(r.to_string()),
    })
}

/// A column as text without copying it when it is valid UTF-8 text.
fn borrowed_text<'r>(
    row: &'r Row<'_>,
    index: usize,
) -> rusqlite::Result<std::borrow::Cow<'r, str>> {
    Ok(match row.get_ref(index)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => match std::str::from_utf8(t) {
            Ok(text) => text.into(),
            Err(_) => String::from_utf8_lossy(t),
        },
        ValueRef::Null => "".into(),
        ValueRef::Integer(i) => i.to_string().into(),
        ValueRef::Real(r) => r.to_string().into(),
    })
}

/// A column as a boolean: SQLAlchemy writes 0/1, other tools `true`/`false`.
pub(crate) fn flag(row: &Row<'_>, index: usize) -> rusqlite::Result<bool> {
    Ok(match row.get_ref(index)? {
        ValueRef::Null => false,
        ValueRef::Integer(i) => i != 0,
        ValueRef::Real(r) => r != 0.0,
        ValueRef::Text(t) | ValueRef::Blob(t) => matches!(
            String::from_utf8_lossy(t)
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "1" | "true" | "t" | "yes" | "y"
        ),
    })
}

/// Parses `imaging_sessions.date`; the cataloger writes `YYYY-MM-DD`, some tools
/// append a time.
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let day = raw.get(..10).unwrap_or(raw);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10 || raw[10..].starts_with([' ', 'T']))
}

impl Database {
    fn scan_sessions(&self) -> Result<SessionScan, DbError> {
        let conn = self.catalog_conn()?;
        let sql = format!(
            "SELECT s.id, s.date, {telescope}, {camera}, {notes}, COALESCE(c.n, 0)
             FROM imaging_sessions s
             LEFT JOIN (SELECT imaging_session_id AS sid, COUNT(*) AS n
                        FROM fits_files WHERE imaging_session_id IS NOT NULL
                        GROUP BY imaging_session_id) c ON c.sid = s.id
             ORDER BY s.date, s.id",
            telescope = self.columns.session("telescope"),
            camera = self.columns.session("camera"),
            notes = self.columns.session("notes"),
        );
        let err = |e| self.catalog_err("reading imaging_sessions", e);
        let mut stmt = conn.prepare(&sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut scan = SessionScan::default();
        while let Some(row) = rows.next().map_err(err)? {
            let raw_id = text(row, 0).map_err(err)?.unwrap_or_default();
            let raw_date = text(row, 1).map_err(err)?;
            let id = match SessionId::new(raw_id.clone()) {
                Ok(id) => id,
                Err(e) => {
                    scan.rejected.push(RejectedSession {
                        raw_id,
                        raw_date,
                        reason: format!("imaging_sessions.id: {e}"),
                    });
                    continue;
                }
            };
            let Some(date) = raw_date.as_deref().and_then(parse_date) else {
                scan.rejected.push(RejectedSession {
                    reason: format!(
                        "session {raw_id}: invalid imaging_sessions.date {:?} (expected YYYY-MM-DD)",
                        raw_date.as_deref().unwrap_or("")
                    ),
                    raw_id,
                    raw_date,
                });
                continue;
            };
            scan.sessions.push(Session {
                id,
                date,
                telescope: text(row, 2).map_err(err)?,
                camera: text(row, 3).map_err(err)?,
                notes: text(row, 4).map_err(err)?,
                file_count: row.get::<_, i64>(5).map_err(err)?.max(0) as u64,
            });
        }
        scan.sessions
            .sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
        Ok(scan)
    }

    fn scan_files(&self, sessions: Option<&[SessionId]>) -> Result<Vec<CatalogFile>, DbError> {
        let c = &self.columns;
        let sql = format!(
            "SELECT {id}, f.imaging_session_id, f.file, f.folder, {frame_type}, {md5sum},
                    {object}, {filter_col}, {bad}, {not_found}
             FROM fits_files f WHERE {filter}",
            id = c.file("id"),
            frame_type = c.file("frame_type"),
            md5sum = c.file("md5sum"),
            object = c.file("object"),
            filter_col = c.file("filter"),
            bad = c.file("bad"),
            not_found = c.file("file_not_found"),
            filter = session_filter(sessions),
        );
        let base = self.catalog_dir();
        let mut files = Vec::new();
        let mut ids = RowSessions::default();
        self.each_file_row(&sql, sessions, |row| {
            let Some(session_id) = ids.of(row, 1)? else {
                return Ok(()); // a rejected session's files
            };
            let file = text(row, 2)?.unwrap_or_default();
            let folder = text(row, 3)?.unwrap_or_default();
            let path = resolve(&base, &folder, &file);
            files.push(CatalogFile {
                id: row.get::<_, Option<i64>>(0)?.unwrap_or(0),
                session_id: session_id.clone(),
                file,
                folder,
                path,
                frame_type: text(row, 4)?,
                md5sum: md5_of(text(row, 5)?),
                object: text(row, 6)?,
                filter: text(row, 7)?,
                bad: flag(row, 8)?,
                file_not_found: flag(row, 9)?,
            });
            Ok(())
        })?;
        Ok(files)
    }

    fn scan_file_paths(
        &self,
        sessions: Option<&[SessionId]>,
    ) -> Result<Vec<SessionPaths>, DbError> {
        // Without a filter, a plain table scan (rows with no session are skipped
        // below) is faster than anything an index could offer.
        let sql = match sessions {
            Some(_) => format!(
                "SELECT imaging_session_id, folder, file FROM fits_files f WHERE {}",
                session_filter(sessions)
            ),
            None => "SELECT imaging_session_id, folder, file FROM fits_files".to_owned(),
        };
        let base = self.catalog_dir();
        let mut groups: Vec<Grouping> = Vec::new();
        let mut index: HashMap<Vec<u8>, Option<usize>> = Default::default();
        // Rows of one session mostly come together: remember the last one.
        let mut last: (Vec<u8>, Option<usize>) = (Vec::new(), None);
        self.each_file_row(&sql, sessions, |row| {
            let ValueRef::Text(raw) = row.get_ref(0)? else {
                return Ok(());
            };
            if raw != last.0.as_slice() {
                let slot = *index.entry(raw.to_vec()).or_insert_with(|| {
                    let session = SessionId::new(String::from_utf8_lossy(raw)).ok()?;
                    groups.push(Grouping::new(session));
                    Some(groups.len() - 1)
                });
                last = (raw.to_vec(), slot);
            }
            if let Some(slot) = last.1 {
                let folder = borrowed_text(row, 1)?;
                let file = borrowed_text(row, 2)?;
                groups[slot].add(&base, &folder, &file);
            }
            Ok(())
        })?;
        Ok(groups.into_iter().map(|g| g.paths).collect())
    }

    fn scan_fingerprints(
        &self,
        sessions: Option<&[SessionId]>,
    ) -> Result<HashMap<SessionId, Fingerprint>, DbError> {
        let sql = format!(
            "SELECT f.imaging_session_id, f.folder, f.file, {md5sum} FROM fits_files f WHERE {filter}",
            md5sum = self.columns.file("md5sum"),
            filter = session_filter(sessions),
        );
        let mut out: HashMap<SessionId, Fingerprint> = HashMap::new();
        let mut ids = RowSessions::default();
        self.each_file_row(&sql, sessions, |row| {
            if let Some(session) = ids.of(row, 0)? {
                let folder = text(row, 1)?.unwrap_or_default();
                let file = text(row, 2)?.unwrap_or_default();
                let md5 = md5_of(text(row, 3)?);
                out.entry(session.clone())
                    .or_default()
                    .add(&folder, &file, md5.as_deref());
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs a `fits_files` query, `?1` bound to the JSON list of `sessions` when
    /// given, and hands each row to `each`.
    fn each_file_row(
        &self,
        sql: &str,
        sessions: Option<&[SessionId]>,
        mut each: impl FnMut(&Row<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), DbError> {
        let conn = self.catalog_conn()?;
        let err = |e| self.catalog_err("reading fits_files", e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let ids_json = sessions.map(session_list_json);
        let mut rows = match &ids_json {
            Some(ids) => stmt.query([ids]),
            None => stmt.query([]),
        }
        .map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            each(row).map_err(err)?;
        }
        Ok(())
    }
}

/// The `WHERE` clause choosing the rows of `sessions` (of every session).
fn session_filter(sessions: Option<&[SessionId]>) -> &'static str {
    match sessions {
        Some(_) => "f.imaging_session_id IN (SELECT value FROM json_each(?1))",
        None => "f.imaging_session_id IS NOT NULL",
    }
}

/// The session id of consecutive rows, validated once per run of rows that share
/// it (the rows of a rejected session give `None`).
#[derive(Default)]
struct RowSessions {
    last: Option<(String, Option<SessionId>)>,
}

impl RowSessions {
    fn of(&mut self, row: &Row<'_>, index: usize) -> rusqlite::Result<Option<&SessionId>> {
        let raw = text(row, index)?.unwrap_or_default();
        if self.last.as_ref().is_none_or(|(r, _)| *r != raw) {
            let id = SessionId::new(raw.clone()).ok();
            self.last = Some((raw, id));
        }
        Ok(self.last.as_ref().and_then(|(_, id)| id.as_ref()))
    }
}

/// `fits_files.md5sum` as compared: trimmed, lower case, `None` when empty.
fn md5_of(raw: Option<String>) -> Option<String> {
    raw.map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
}

/// Builds one session's [`SessionPaths`], folder by folder.
struct Grouping {
    paths: SessionPaths,
    folders: HashMap<String, usize>,
}

impl Grouping {
    fn new(session: SessionId) -> Self {
        Self {
            paths: SessionPaths {
                session,
                folders: Vec::new(),
            },
            folders: Default::default(),
        }
    }

    fn add(&mut self, base: &Path, folder: &str, file: &str) {
        let slot = match self.folders.get(folder) {
            Some(&slot) => slot,
            None => {
                self.paths
                    .folders
                    .push(FolderFiles::new(resolve_dir(base, folder)));
                self.folders
                    .insert(folder.to_owned(), self.paths.folders.len() - 1);
                self.paths.folders.len() - 1
            }
        };
        self.paths.folders[slot].push(file);
    }
}

fn session_list_json(ids: &[SessionId]) -> String {
    serde_json::to_string(&ids.iter().map(SessionId::as_str).collect::<Vec<_>>())
        .expect("strings serialise")
}

/// `folder/file`, a relative folder taken relative to the catalog's directory.
fn resolve(base: &Path, folder: &str, file: &str) -> std::path::PathBuf {
    resolve_dir(base, folder).join(file)
}

/// A folder as catalogued, a relative one taken relative to the catalog's directory.
fn resolve_dir(base: &Path, folder: &str) -> std::path::PathBuf {
    let folder = Path::new(folder);
    if folder.is_absolute() {
        folder.to_owned()
    } else {
        base.join(folder)
    }
}

fn catalog_error(e: DbError) -> fitsbak_core::Error {
    fitsbak_core::Error::Catalog(Box::new(e))
}

impl Database {
    /// Every session, with its file count (blocking).
    pub fn sessions(&self) -> fitsbak_core::Result<SessionScan> {
        self.scan_sessions().map_err(catalog_error)
    }

    /// The files of `sessions` (blocking).
    pub fn files(&self, sessions: Option<&[SessionId]>) -> fitsbak_core::Result<Vec<CatalogFile>> {
        self.scan_files(sessions).map_err(catalog_error)
    }

    /// Where the files of `sessions` are on disk (blocking).
    pub fn file_paths(
        &self,
        sessions: Option<&[SessionId]>,
    ) -> fitsbak_core::Result<Vec<SessionPaths>> {
        self.scan_file_paths(sessions).map_err(catalog_error)
    }

    /// The catalog fingerprint of each of `sessions` (blocking).
    pub fn fingerprints(
        &self,
        sessions: Option<&[SessionId]>,
    ) -> fitsbak_core::Result<HashMap<SessionId, Fingerprint>> {
        self.scan_fingerprints(sessions).map_err(catalog_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strict_days() {
        assert_eq!(
            parse_date("2024-03-15"),
            NaiveDate::from_ymd_opt(2024, 3, 15)
        );
        assert_eq!(
            parse_date("2024-03-15 00:00:00.000000"),
            NaiveDate::from_ymd_opt(2024, 3, 15)
        );
        for bad in [
            "2024-02-30",
            "2024/03/15",
            "15-03-2024",
            "",
            "2024-03-15x",
            "soon",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
