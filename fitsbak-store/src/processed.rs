//! Processing sessions: the cataloger's `processing_sessions` and
//! `processed_files` (read only), and the tracking rows of their backups in the
//! tables the cataloger's Python tool reads.

use async_trait::async_trait;
use fitsbak_core::ids::SessionId;
use fitsbak_core::model::StorageClass;
use fitsbak_core::processed::{
    Part, ProcessedFile, ProcessedRecord, ProcessingNoteRecord, ProcessingScan, ProcessingSession,
};
use fitsbak_core::time::{from_db, now, to_db};
use fitsbak_core::tracker::{LogEntry, ProcessedTracker};
use rusqlite::{Connection, Row, params};

use crate::catalog::{flag, text};
use crate::tracker::insert_log;
use crate::{Database, DbError};

type Result<T> = fitsbak_core::Result<T>;

/// The table of a part's rows.
fn table(part: Part) -> &'static str {
    match part {
        Part::File => "s3_backup_processed_file_records",
        Part::Companion => "s3_backup_processed_companions",
    }
}

const RECORD_COLUMNS: &str = "processed_file_id, processing_session_id, s3_bucket, s3_key, \
    s3_region, s3_etag, file_size, md5sum, uploaded_at, storage_class, verified, verified_at, \
    notes, fingerprint";

fn record_row(row: &Row<'_>, part: Part) -> rusqlite::Result<Option<ProcessedRecord>> {
    let Ok(session_id) = SessionId::new(text(row, 1)?.unwrap_or_default()) else {
        return Ok(None);
    };
    Ok(Some(ProcessedRecord {
        processed_file_id: row.get(0)?,
        part,
        session_id,
        bucket: text(row, 2)?.unwrap_or_default(),
        key: text(row, 3)?.unwrap_or_default(),
        region: text(row, 4)?.unwrap_or_default(),
        etag: text(row, 5)?,
        size: row.get::<_, Option<i64>>(6)?.unwrap_or(0).max(0) as u64,
        md5: text(row, 7)?.unwrap_or_default(),
        uploaded_at: text(row, 8)?
            .as_deref()
            .and_then(from_db)
            .unwrap_or_default(),
        storage_class: StorageClass::parse(&text(row, 9)?.unwrap_or_default()),
        verified: flag(row, 10)?,
        verified_at: text(row, 11)?.as_deref().and_then(from_db),
        notes: text(row, 12)?,
        fingerprint: text(row, 13)?,
    }))
}

const NOTE_COLUMNS: &str = "processing_session_id, s3_bucket, s3_key, s3_region, s3_etag, \
    uploaded_at, file_size_bytes, content_md5, archive_policy, backup_policy, \
    current_storage_class";

fn note_row(row: &Row<'_>) -> rusqlite::Result<Option<ProcessingNoteRecord>> {
    let Ok(session_id) = SessionId::new(text(row, 0)?.unwrap_or_default()) else {
        return Ok(None);
    };
    Ok(Some(ProcessingNoteRecord {
        session_id,
        bucket: text(row, 1)?.unwrap_or_default(),
        key: text(row, 2)?.unwrap_or_default(),
        region: text(row, 3)?.unwrap_or_default(),
        etag: text(row, 4)?,
        uploaded_at: text(row, 5)?
            .as_deref()
            .and_then(from_db)
            .unwrap_or_default(),
        size: row.get::<_, Option<i64>>(6)?.unwrap_or(0).max(0) as u64,
        content_md5: text(row, 7)?,
        archive_policy: text(row, 8)?.unwrap_or_default(),
        backup_policy: text(row, 9)?.unwrap_or_default(),
        storage_class: StorageClass::parse(&text(row, 10)?.unwrap_or_default()),
    }))
}

/// Brings the summary row of `session` up to date from the file rows.
fn refresh_summary(
    tx: &Connection,
    session: &SessionId,
    catalogued: Option<u64>,
    bucket: &str,
    prefix: &str,
) -> rusqlite::Result<()> {
    let (backed_up, bytes, first, last, checked, unverified): (
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    ) = tx.query_row(
        "SELECT COUNT(*), COALESCE(SUM(file_size), 0), MIN(uploaded_at), MAX(uploaded_at),
                MAX(verified_at), COALESCE(SUM(CASE WHEN verified THEN 0 ELSE 1 END), 0)
         FROM s3_backup_processed_file_records WHERE processing_session_id = ?1",
        [session.as_str()],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    let total = match catalogued {
        Some(n) => n as i64,
        None => tx
            .query_row(
                "SELECT total_files FROM s3_backup_processing_session_summary
                 WHERE processing_session_id = ?1",
                [session.as_str()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .unwrap_or(None)
            .unwrap_or(backed_up),
    };
    tx.execute(
        "INSERT OR REPLACE INTO s3_backup_processing_session_summary
            (processing_session_id, total_files, backed_up_files, total_size_bytes,
             first_backup_at, last_backup_at, last_verified_at, backup_complete, all_verified,
             s3_bucket, s3_prefix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            session.as_str(),
            total,
            backed_up,
            bytes,
            first,
            last,
            checked,
            backed_up >= total,
            backed_up > 0 && unverified == 0,
            bucket,
            prefix,
        ],
    )?;
    Ok(())
}

impl Database {
    fn scan_processing(&self) -> std::result::Result<ProcessingScan, DbError> {
        let conn = self.catalog_conn()?;
        let err = |e| self.catalog_err("reading processing_sessions", e);
        let exists = |name: &str| -> std::result::Result<bool, DbError> {
            conn.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(err)
        };
        let mut scan = ProcessingScan::default();
        if !exists("processing_sessions")? {
            return Ok(scan);
        }
        let mut stmt = conn
            .prepare("SELECT id, name, folder_path, status FROM processing_sessions ORDER BY id")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let raw = text(row, 0).map_err(err)?.unwrap_or_default();
            match SessionId::new(raw.clone()) {
                Ok(id) => scan.sessions.push(ProcessingSession {
                    id,
                    name: text(row, 1).map_err(err)?.unwrap_or_default(),
                    folder_path: text(row, 2).map_err(err)?,
                    status: text(row, 3).map_err(err)?,
                }),
                Err(e) => scan
                    .rejected
                    .push(format!("processing_sessions.id {raw:?}: {e}")),
            }
        }
        if !exists("processed_files")? {
            return Ok(scan);
        }
        let err = |e| self.catalog_err("reading processed_files", e);
        let mut stmt = conn
            .prepare(
                "SELECT id, processing_session_id, file_path, filename, file_type, subfolder,
                        file_size, md5sum, has_companion, companion_path
                 FROM processed_files ORDER BY processing_session_id, id",
            )
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let base = self.catalog_dir();
        while let Some(row) = rows.next().map_err(err)? {
            let id: i64 = row.get(0).map_err(err)?;
            let raw = text(row, 1).map_err(err)?.unwrap_or_default();
            let Ok(session_id) = SessionId::new(raw.clone()) else {
                scan.rejected.push(format!(
                    "processed_files {id}: processing session {raw:?} is not a usable id"
                ));
                continue;
            };
            let path = text(row, 2).map_err(err)?.unwrap_or_default();
            let filename = text(row, 3).map_err(err)?.unwrap_or_default();
            if path.is_empty() || filename.is_empty() || filename.contains(['/', '\\']) {
                scan.rejected.push(format!(
                    "processed_files {id}: no usable file_path/filename ({path:?}, {filename:?})"
                ));
                continue;
            }
            let has_companion = flag(row, 8).map_err(err)?;
            let companion = text(row, 9)
                .map_err(err)?
                .filter(|p| has_companion && !p.is_empty())
                .map(|p| base.join(p));
            scan.files.push(ProcessedFile {
                id,
                session_id,
                path: base.join(path),
                filename,
                file_type: text(row, 4)
                    .map_err(err)?
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                subfolder: text(row, 5)
                    .map_err(err)?
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(|| "intermediate".into()),
                size: row
                    .get::<_, Option<i64>>(6)
                    .map_err(err)?
                    .map(|n| n.max(0) as u64),
                md5sum: text(row, 7)
                    .map_err(err)?
                    .map(|m| m.trim().to_ascii_lowercase())
                    .filter(|m| !m.is_empty()),
                companion,
            });
        }
        Ok(scan)
    }

    /// Every processed file's backup row (blocking).
    pub fn processed(&self) -> Result<Vec<ProcessedRecord>> {
        let rows = self.query("reading the processed file rows", |conn| {
            let mut out = Vec::new();
            for part in [Part::File, Part::Companion] {
                let mut stmt = conn.prepare(&format!(
                    "SELECT {RECORD_COLUMNS} FROM {} ORDER BY processing_session_id, processed_file_id",
                    table(part)
                ))?;
                let rows = stmt.query_map([], |row| record_row(row, part))?;
                for row in rows {
                    out.extend(row?);
                }
            }
            Ok(out)
        })?;
        Ok(rows)
    }

    /// Records a processed file's backup (blocking).
    pub fn record_processed(
        &self,
        record: &ProcessedRecord,
        catalogued: u64,
        log: &LogEntry,
    ) -> Result<()> {
        let prefix = record
            .key
            .rsplit_once(&format!("/{}/", record.session_id))
            .map(|(head, _)| format!("{head}/{}/", record.session_id))
            .unwrap_or_default();
        self.tx("recording a processed file", |tx| {
            let t = table(record.part);
            tx.execute(
                &format!("DELETE FROM {t} WHERE processed_file_id = ?1 OR s3_key = ?2"),
                params![record.processed_file_id, record.key],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO {t} ({RECORD_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                ),
                params![
                    record.processed_file_id,
                    record.session_id.as_str(),
                    record.bucket,
                    record.key,
                    record.region,
                    record.etag,
                    record.size as i64,
                    record.md5,
                    to_db(record.uploaded_at),
                    record.storage_class.as_str(),
                    record.verified,
                    record.verified_at.map(to_db),
                    record.notes,
                    record.fingerprint,
                ],
            )?;
            refresh_summary(
                tx,
                &record.session_id,
                Some(catalogued),
                &record.bucket,
                &prefix,
            )?;
            insert_log(tx, log)
        })?;
        Ok(())
    }

    /// Replaces the fingerprint of a processed file's row (blocking).
    pub fn refresh_processed_fingerprint(
        &self,
        processed_file_id: i64,
        part: Part,
        fingerprint: &str,
    ) -> Result<()> {
        self.tx("refreshing a processed file's fingerprint", |tx| {
            tx.execute(
                &format!(
                    "UPDATE {} SET fingerprint = ?2 WHERE processed_file_id = ?1",
                    table(part)
                ),
                params![processed_file_id, fingerprint],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// Records a check of a processed file's backup (blocking).
    pub fn record_processed_check(
        &self,
        processed_file_id: i64,
        part: Part,
        passed: bool,
        log: &LogEntry,
    ) -> Result<()> {
        self.tx("recording a processed file's check", |tx| {
            let t = table(part);
            let found: Option<(String, String)> = tx
                .query_row(
                    &format!(
                        "SELECT processing_session_id, s3_bucket FROM {t} WHERE processed_file_id = ?1"
                    ),
                    [processed_file_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .ok();
            tx.execute(
                &format!(
                    "UPDATE {t} SET verified = ?2, verified_at = ?3 WHERE processed_file_id = ?1"
                ),
                params![processed_file_id, passed, to_db(now())],
            )?;
            if let Some((session, bucket)) = found
                && let Ok(session) = SessionId::new(session)
            {
                let prefix: Option<String> = tx
                    .query_row(
                        "SELECT s3_prefix FROM s3_backup_processing_session_summary
                         WHERE processing_session_id = ?1",
                        [session.as_str()],
                        |r| r.get(0),
                    )
                    .ok()
                    .flatten();
                refresh_summary(tx, &session, None, &bucket, &prefix.unwrap_or_default())?;
            }
            insert_log(tx, log)
        })?;
        Ok(())
    }

    /// Every processing notes row (blocking).
    pub fn processing_notes(&self) -> Result<Vec<ProcessingNoteRecord>> {
        let rows = self.query("reading s3_backup_processing_sessions", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {NOTE_COLUMNS} FROM s3_backup_processing_sessions ORDER BY processing_session_id"
            ))?;
            let rows = stmt.query_map([], note_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.extend(row?);
            }
            Ok(out)
        })?;
        Ok(rows)
    }

    /// Records a processing session's notes (blocking).
    pub fn record_processing_note(
        &self,
        note: &ProcessingNoteRecord,
        log: &LogEntry,
    ) -> Result<()> {
        self.tx("recording processing notes", |tx| {
            tx.execute(
                "DELETE FROM s3_backup_processing_sessions WHERE processing_session_id = ?1",
                [note.session_id.as_str()],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO s3_backup_processing_sessions ({NOTE_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                params![
                    note.session_id.as_str(),
                    note.bucket,
                    note.key,
                    note.region,
                    note.etag,
                    to_db(note.uploaded_at),
                    note.size as i64,
                    note.content_md5,
                    note.archive_policy,
                    note.backup_policy,
                    note.storage_class.as_str(),
                ],
            )?;
            insert_log(tx, log)
        })?;
        Ok(())
    }

    /// The processing sessions and processed files of the catalog (blocking).
    pub fn processing(&self) -> Result<ProcessingScan> {
        self.scan_processing()
            .map_err(|e| fitsbak_core::Error::Catalog(Box::new(e)))
    }
}

#[async_trait]
impl ProcessedTracker for Database {
    async fn processed(&self) -> Result<Vec<ProcessedRecord>> {
        self.run(|db| db.processed()).await
    }

    async fn record_processed(
        &self,
        record: &ProcessedRecord,
        catalogued: u64,
        log: &LogEntry,
    ) -> Result<()> {
        let (record, log) = (record.clone(), log.clone());
        self.run(move |db| db.record_processed(&record, catalogued, &log))
            .await
    }

    async fn refresh_processed_fingerprint(
        &self,
        processed_file_id: i64,
        part: Part,
        fingerprint: &str,
    ) -> Result<()> {
        let fingerprint = fingerprint.to_owned();
        self.run(move |db| db.refresh_processed_fingerprint(processed_file_id, part, &fingerprint))
            .await
    }

    async fn record_processed_check(
        &self,
        processed_file_id: i64,
        part: Part,
        passed: bool,
        log: &LogEntry,
    ) -> Result<()> {
        let log = log.clone();
        self.run(move |db| db.record_processed_check(processed_file_id, part, passed, &log))
            .await
    }

    async fn processing_notes(&self) -> Result<Vec<ProcessingNoteRecord>> {
        self.run(|db| db.processing_notes()).await
    }

    async fn record_processing_note(
        &self,
        note: &ProcessingNoteRecord,
        log: &LogEntry,
    ) -> Result<()> {
        let (note, log) = (note.clone(), log.clone());
        self.run(move |db| db.record_processing_note(&note, &log))
            .await
    }
}
