//! The tracker on the `s3_backup_*` tables.

use fitsbak_core::ids::{MemberPath, SessionId};
use fitsbak_core::manifest::ManifestMember;
use fitsbak_core::model::{Fingerprint, StorageClass};
use fitsbak_core::store::{MultipartId, PartReceipt};
use fitsbak_core::time::{from_db, to_db};
use fitsbak_core::tracker::{
    ArchiveFacts, ArchiveRecord, CheckOutcome, CheckRecord, DbSnapshotRecord, InflightUpload,
    LogEntry, NewArchive, NoteRecord, PartRecord, RestoreUpdate, StatsSnapshot,
};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::catalog::{flag, text};
use crate::{Database, DbError};

const ARCHIVE_SELECT: &str = "SELECT a.id, a.session_id, a.session_date, a.session_year,
    a.s3_bucket, a.s3_key, a.s3_region, a.s3_etag, a.s3_version_id, a.file_count,
    a.original_size_bytes, a.compressed_size_bytes, a.archive_policy, a.backup_policy,
    a.current_storage_class, a.expected_storage_class, a.uploaded_at, a.last_verified_at,
    a.verified, a.verification_method, a.restore_status, a.restore_requested_at,
    a.restore_expires_at, a.restore_tier, a.camera_name, a.telescope_name, a.notes, f.facts
    FROM s3_backup_archives a LEFT JOIN s3_backup_archive_facts f ON f.session_id = a.session_id";

fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, Option<i64>>(index)?.unwrap_or(0).max(0) as u64)
}

fn time(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(text(row, index)?.as_deref().and_then(from_db))
}

fn class(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<StorageClass>> {
    Ok(text(row, index)?.map(|c| StorageClass::parse(&c)))
}

/// Reads one archive row; `Ok(None)` for a row whose session id is not valid (it
/// was not written by fitsbak and cannot be acted on).
fn archive_row(row: &Row<'_>) -> rusqlite::Result<Option<ArchiveRecord>> {
    let Ok(session_id) = SessionId::new(text(row, 1)?.unwrap_or_default()) else {
        return Ok(None);
    };
    Ok(Some(ArchiveRecord {
        id: row.get(0)?,
        session_id,
        session_date: text(row, 2)?,
        session_year: row.get::<_, Option<i64>>(3)?.map(|y| y as i32),
        bucket: text(row, 4)?.unwrap_or_default(),
        key: text(row, 5)?.unwrap_or_default(),
        region: text(row, 6)?.unwrap_or_default(),
        etag: text(row, 7)?,
        version_id: text(row, 8)?,
        file_count: count(row, 9)?,
        original_size_bytes: count(row, 10)?,
        archive_size_bytes: count(row, 11)?,
        archive_policy: text(row, 12)?,
        backup_policy: text(row, 13)?,
        current_storage_class: class(row, 14)?,
        expected_storage_class: class(row, 15)?,
        uploaded_at: time(row, 16)?,
        last_verified_at: time(row, 17)?,
        verified: flag(row, 18)?,
        verification_method: text(row, 19)?,
        restore_status: text(row, 20)?,
        restore_requested_at: time(row, 21)?,
        restore_expires_at: time(row, 22)?,
        restore_tier: text(row, 23)?,
        camera_name: text(row, 24)?,
        telescope_name: text(row, 25)?,
        notes: text(row, 26)?,
        facts: text(row, 27)?.and_then(|json| serde_json::from_str(&json).ok()),
    }))
}

pub(crate) fn insert_log(conn: &Connection, entry: &LogEntry) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO s3_backup_log (operation_type, operation_status, archive_id, session_id,
            s3_bucket, s3_key, timestamp, duration_seconds, bytes_transferred,
            transfer_rate_mbps, error_message, error_code, retry_count, user_initiated,
            auto_backup, notes)
         VALUES (?1, ?2, (SELECT id FROM s3_backup_archives WHERE session_id = ?3), ?3, ?4, ?5,
            ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            entry.operation.as_str(),
            entry.status.as_str(),
            entry.session_id.as_ref().map(SessionId::as_str),
            entry.bucket,
            entry.key,
            to_db(entry.timestamp),
            entry.duration_seconds,
            entry.bytes_transferred.map(|b| b as i64),
            entry.rate_mb_per_s(),
            entry.error_message,
            entry.error_code,
            entry.retry_count,
            entry.user_initiated,
            !entry.user_initiated,
            entry.notes,
        ],
    )?;
    Ok(())
}

impl Database {
    pub(crate) fn tx<T>(
        &self,
        what: &str,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let mut conn = self.tracking_conn();
        let run = || {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = body(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|e| self.tracking_err(what, e))
    }

    pub(crate) fn query<T>(
        &self,
        what: &str,
        body: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let conn = self.tracking_conn();
        body(&conn).map_err(|e| self.tracking_err(what, e))
    }

    fn load_parts(conn: &Connection, upload: &str) -> rusqlite::Result<Vec<PartRecord>> {
        let mut stmt = conn.prepare_cached(
            "SELECT part_number, etag, size_bytes, server_checksum, client_checksum
             FROM s3_backup_upload_parts WHERE upload_id = ?1 ORDER BY part_number",
        )?;
        let rows = stmt.query_map([upload], |row| {
            Ok(PartRecord {
                receipt: PartReceipt {
                    part_number: row.get(0)?,
                    etag: row.get(1)?,
                    size: count(row, 2)?,
                    checksum: row.get(3)?,
                },
                client_checksum: row.get(4)?,
            })
        })?;
        rows.collect()
    }
}

/// The blocking implementations of the tracker traits (see `asynced`, which runs
/// them on blocking threads).
impl Database {
    pub fn archives(&self) -> fitsbak_core::Result<Vec<ArchiveRecord>> {
        let rows = self.query("reading s3_backup_archives", |conn| {
            let mut stmt = conn.prepare(&format!("{ARCHIVE_SELECT} ORDER BY a.session_id"))?;
            let rows = stmt.query_map([], archive_row)?;
            rows.filter_map(Result::transpose).collect()
        })?;
        Ok(rows)
    }

    pub fn archive(&self, session: &SessionId) -> fitsbak_core::Result<Option<ArchiveRecord>> {
        let row = self.query("reading s3_backup_archives", |conn| {
            conn.query_row(
                &format!("{ARCHIVE_SELECT} WHERE a.session_id = ?1"),
                [session.as_str()],
                archive_row,
            )
            .optional()
            .map(Option::flatten)
        })?;
        Ok(row)
    }

    pub fn members(&self, session: &SessionId) -> fitsbak_core::Result<Vec<ManifestMember>> {
        let rows = self.query("reading s3_backup_archive_members", |conn| {
            let mut stmt = conn.prepare(
                "SELECT m.member_path, m.file, m.folder, m.source_path, m.size_bytes, m.md5,
                        m.catalog_md5, m.header_offset, m.data_offset, m.mtime, m.frame_type,
                        m.object, m.filter, m.catalog_file_id
                 FROM s3_backup_archive_members m
                 JOIN s3_backup_archives a ON a.id = m.archive_id
                 WHERE a.session_id = ?1 ORDER BY m.position",
            )?;
            let rows = stmt.query_map([session.as_str()], |row| {
                let path = MemberPath::new(row.get::<_, String>(0)?).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e))
                })?;
                Ok(ManifestMember {
                    path,
                    file: row.get(1)?,
                    folder: row.get(2)?,
                    source_path: row.get(3)?,
                    size: count(row, 4)?,
                    md5: row.get(5)?,
                    catalog_md5: row.get(6)?,
                    header_offset: count(row, 7)?,
                    data_offset: count(row, 8)?,
                    mtime: row.get(9)?,
                    frame_type: row.get(10)?,
                    object: row.get(11)?,
                    filter: row.get(12)?,
                    catalog_id: row.get(13)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(rows)
    }

    pub fn record_archive(
        &self,
        archive: &NewArchive,
        members: &[ManifestMember],
        log: &LogEntry,
    ) -> fitsbak_core::Result<i64> {
        let id = self.tx("recording the archive", |tx| {
            keep_superseded(tx, archive)?;
            let id = upsert_archive(tx, archive, members.len())?;
            write_facts(tx, &archive.session_id, &archive.facts)?;
            replace_members(tx, id, members)?;
            insert_log(tx, log)?;
            tx.execute(
                "DELETE FROM s3_backup_uploads WHERE session_id = ?1",
                [archive.session_id.as_str()],
            )?;
            crate::crash_point("archive-commit");
            Ok(id)
        })?;
        Ok(id)
    }

    pub fn record_check(&self, check: &CheckRecord, log: &LogEntry) -> fitsbak_core::Result<()> {
        self.tx("recording the check", |tx| {
            let class = check.storage_class.as_ref().map(StorageClass::as_str);
            match &check.outcome {
                CheckOutcome::Passed => tx.execute(
                    "UPDATE s3_backup_archives SET verified = 1, last_verified_at = ?2,
                        verification_method = ?3,
                        current_storage_class = COALESCE(?4, current_storage_class)
                     WHERE session_id = ?1",
                    params![
                        check.session_id.as_str(),
                        to_db(check.at),
                        check.method.name(),
                        class
                    ],
                )?,
                CheckOutcome::Failed(_) => tx.execute(
                    "UPDATE s3_backup_archives SET verified = 0,
                        current_storage_class = COALESCE(?2, current_storage_class)
                     WHERE session_id = ?1",
                    params![check.session_id.as_str(), class],
                )?,
                CheckOutcome::NeedsRestore(_) | CheckOutcome::NotAdopted(_) => tx.execute(
                    "UPDATE s3_backup_archives
                     SET current_storage_class = COALESCE(?2, current_storage_class)
                     WHERE session_id = ?1",
                    params![check.session_id.as_str(), class],
                )?,
            };
            insert_log(tx, log)
        })?;
        Ok(())
    }

    /// The newest `limit` log rows about `session`, newest first.
    pub fn log_rows(
        &self,
        session: &SessionId,
        limit: usize,
    ) -> fitsbak_core::Result<Vec<fitsbak_core::tracker::LogRow>> {
        let rows = self.query("reading s3_backup_log", |conn| {
            let mut stmt = conn.prepare(
                "SELECT operation_type, operation_status, timestamp, s3_key, bytes_transferred,
                        duration_seconds, error_message, notes
                 FROM s3_backup_log WHERE session_id = ?1
                 ORDER BY timestamp DESC, id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![session.as_str(), limit as i64], |row| {
                Ok(fitsbak_core::tracker::LogRow {
                    operation: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    status: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    timestamp: row.get(2)?,
                    key: row.get(3)?,
                    bytes_transferred: row.get::<_, Option<i64>>(4)?.map(|b| b.max(0) as u64),
                    duration_seconds: row.get(5)?,
                    error_message: row.get(6)?,
                    notes: row.get(7)?,
                })
            })?;
            rows.collect()
        })?;
        Ok(rows)
    }

    pub fn log(&self, entry: &LogEntry) -> fitsbak_core::Result<()> {
        self.query("writing s3_backup_log", |conn| insert_log(conn, entry))?;
        Ok(())
    }

    pub fn begin_upload(&self, upload: &InflightUpload) -> fitsbak_core::Result<()> {
        self.tx("recording the upload in flight", |tx| {
            tx.execute(
                "INSERT INTO s3_backup_uploads (upload_id, session_id, s3_bucket, s3_key,
                    part_size, archive_size, checksum_algorithm, snapshot, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    upload.upload_id.0,
                    upload.session_id.as_str(),
                    upload.bucket,
                    upload.key,
                    upload.part_size as i64,
                    upload.archive_size as i64,
                    upload.checksum_algorithm,
                    upload.snapshot,
                    to_db(upload.started_at),
                ],
            )?;
            for part in &upload.parts {
                insert_part(tx, &upload.upload_id, part)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    pub fn record_part(&self, upload: &MultipartId, part: &PartRecord) -> fitsbak_core::Result<()> {
        self.query("recording a completed part", |conn| {
            insert_part(conn, upload, part)
        })?;
        Ok(())
    }

    pub fn inflight(&self) -> fitsbak_core::Result<Vec<InflightUpload>> {
        let uploads = self.query("reading s3_backup_uploads", |conn| {
            let mut stmt = conn.prepare(
                "SELECT upload_id, session_id, s3_bucket, s3_key, part_size, archive_size,
                        checksum_algorithm, snapshot, started_at
                 FROM s3_backup_uploads ORDER BY started_at, upload_id",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    text(row, 1)?.unwrap_or_default(),
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    count(row, 4)?,
                    count(row, 5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, String>(7)?,
                    time(row, 8)?,
                ))
            })?;
            let mut uploads = Vec::new();
            for row in rows {
                let (id, session, bucket, key, part_size, size, algorithm, snapshot, started) =
                    row?;
                let Ok(session_id) = SessionId::new(session) else {
                    continue;
                };
                let parts = Database::load_parts(conn, &id)?;
                uploads.push(InflightUpload {
                    session_id,
                    bucket,
                    key,
                    upload_id: MultipartId(id),
                    part_size,
                    archive_size: size,
                    checksum_algorithm: algorithm,
                    snapshot,
                    started_at: started.unwrap_or_default(),
                    parts,
                });
            }
            Ok(uploads)
        })?;
        Ok(uploads)
    }

    pub fn end_upload(&self, upload: &MultipartId) -> fitsbak_core::Result<()> {
        self.query("forgetting the upload in flight", |conn| {
            conn.execute(
                "DELETE FROM s3_backup_uploads WHERE upload_id = ?1",
                [&upload.0],
            )
            .map(drop)
        })?;
        Ok(())
    }

    pub fn record_restore(
        &self,
        update: &RestoreUpdate,
        log: &LogEntry,
    ) -> fitsbak_core::Result<()> {
        self.tx("recording the restore", |tx| {
            tx.execute(
                "UPDATE s3_backup_archives SET restore_status = ?2,
                    restore_requested_at = COALESCE(?3, restore_requested_at),
                    restore_tier = COALESCE(?4, restore_tier),
                    restore_expires_at = ?5,
                    current_storage_class = COALESCE(?6, current_storage_class)
                 WHERE session_id = ?1",
                params![
                    update.session_id.as_str(),
                    update.status.as_str(),
                    update.requested_at.map(to_db),
                    update.tier.map(|t| t.as_str()),
                    update.expires_at.map(to_db),
                    update.storage_class.as_ref().map(StorageClass::as_str),
                ],
            )?;
            insert_log(tx, log)
        })?;
        Ok(())
    }

    /// Writes a stats row. A `daily` row is one per UTC day, as the cataloger's
    /// tools read them: a later run of the same day updates the totals and adds its
    /// counts to the day's.
    pub fn record_stats(&self, s: &StatsSnapshot) -> fitsbak_core::Result<()> {
        self.query("writing s3_backup_stats", |conn| {
            let at = to_db(s.stat_date.unwrap_or_else(fitsbak_core::time::now));
            let values = params![
                at,
                s.period_type,
                s.total_archives as i64,
                s.archives_in_standard as i64,
                s.archives_in_glacier as i64,
                s.archives_in_deep_archive as i64,
                s.total_original_size_bytes as i64,
                s.total_archive_size_bytes as i64,
                s.total_storage_cost_estimate,
                s.uploads_count as i64,
                s.uploads_bytes as i64,
                s.verifications_count as i64,
                s.restores_count as i64,
            ];
            if s.period_type == "daily" {
                let updated = conn.execute(
                    "UPDATE s3_backup_stats SET stat_date = ?1, total_archives = ?3,
                        archives_in_standard = ?4, archives_in_glacier = ?5,
                        archives_in_deep_archive = ?6, total_original_size_bytes = ?7,
                        total_compressed_size_bytes = ?8, total_storage_cost_estimate = ?9,
                        uploads_count = COALESCE(uploads_count, 0) + ?10,
                        uploads_bytes = COALESCE(uploads_bytes, 0) + ?11,
                        verifications_count = COALESCE(verifications_count, 0) + ?12,
                        restores_count = COALESCE(restores_count, 0) + ?13
                     WHERE id = (SELECT id FROM s3_backup_stats
                                 WHERE period_type = ?2 AND date(stat_date) = date(?1)
                                 ORDER BY id DESC LIMIT 1)",
                    values,
                )?;
                if updated > 0 {
                    return Ok(());
                }
            }
            conn.execute(
                "INSERT INTO s3_backup_stats (stat_date, period_type, total_archives,
                    archives_in_standard, archives_in_glacier, archives_in_deep_archive,
                    total_original_size_bytes, total_compressed_size_bytes,
                    total_storage_cost_estimate, uploads_count, uploads_bytes,
                    verifications_count, restores_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                values,
            )
            .map(drop)
        })?;
        Ok(())
    }

    /// The checks of `method` the log recorded as passed or failed, oldest first
    /// (their log rows start with `{method} check`).
    pub fn check_history(
        &self,
        method: fitsbak_core::tracker::CheckMethod,
    ) -> fitsbak_core::Result<Vec<fitsbak_core::tracker::PastCheck>> {
        let rows = self.query("reading s3_backup_log", |conn| {
            let mut stmt = conn.prepare(
                "SELECT session_id, timestamp, bytes_transferred FROM s3_backup_log
                 WHERE operation_type = 'verify' AND operation_status IN ('success', 'failed')
                   AND (notes = ?1 OR notes LIKE ?1 || ';%') AND session_id IS NOT NULL
                 ORDER BY timestamp, id",
            )?;
            let rows = stmt
                .query_map([format!("{} check", method.name())], |row| {
                    Ok((text(row, 0)?, time(row, 1)?, count(row, 2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(session, at, bytes)| {
                Some(fitsbak_core::tracker::PastCheck {
                    session_id: SessionId::new(session?).ok()?,
                    at: at?,
                    bytes,
                })
            })
            .collect())
    }

    pub fn latest_stats(&self) -> fitsbak_core::Result<Option<StatsSnapshot>> {
        let row = self.query("reading s3_backup_stats", |conn| {
            conn.query_row(
                "SELECT stat_date, period_type, total_archives, archives_in_standard,
                        archives_in_glacier, archives_in_deep_archive,
                        total_original_size_bytes, total_compressed_size_bytes,
                        total_storage_cost_estimate, uploads_count, uploads_bytes,
                        verifications_count, restores_count
                 FROM s3_backup_stats ORDER BY stat_date DESC, id DESC LIMIT 1",
                [],
                |row| {
                    Ok(StatsSnapshot {
                        stat_date: time(row, 0)?,
                        period_type: text(row, 1)?.unwrap_or_default(),
                        total_archives: count(row, 2)?,
                        archives_in_standard: count(row, 3)?,
                        archives_in_glacier: count(row, 4)?,
                        archives_in_deep_archive: count(row, 5)?,
                        total_original_size_bytes: count(row, 6)?,
                        total_archive_size_bytes: count(row, 7)?,
                        total_storage_cost_estimate: row.get::<_, Option<f64>>(8)?.unwrap_or(0.0),
                        uploads_count: count(row, 9)?,
                        uploads_bytes: count(row, 10)?,
                        verifications_count: count(row, 11)?,
                        restores_count: count(row, 12)?,
                    })
                },
            )
            .optional()
        })?;
        Ok(row)
    }

    pub fn notes(&self) -> fitsbak_core::Result<Vec<NoteRecord>> {
        let rows = self.query("reading s3_backup_session_notes", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {NOTE_COLUMNS} FROM s3_backup_session_notes ORDER BY session_id"
            ))?;
            let rows = stmt.query_map([], |row| {
                let Ok(session_id) = SessionId::new(text(row, 0)?.unwrap_or_default()) else {
                    return Ok(None);
                };
                Ok(Some(NoteRecord {
                    session_id,
                    session_year: row.get::<_, Option<i64>>(1)?.unwrap_or_default() as i32,
                    bucket: text(row, 2)?.unwrap_or_default(),
                    key: text(row, 3)?.unwrap_or_default(),
                    region: text(row, 4)?.unwrap_or_default(),
                    etag: text(row, 5)?,
                    uploaded_at: time(row, 6)?,
                    size_bytes: count(row, 7)?,
                    content_md5: text(row, 8)?,
                    archive_policy: text(row, 9)?,
                    backup_policy: text(row, 10)?,
                    storage_class: class(row, 11)?,
                }))
            })?;
            rows.filter_map(Result::transpose).collect()
        })?;
        Ok(rows)
    }

    pub fn record_note(&self, note: &NoteRecord, log: &LogEntry) -> fitsbak_core::Result<()> {
        self.tx("recording the session notes", |tx| {
            tx.execute(
                "DELETE FROM s3_backup_session_notes WHERE session_id = ?1",
                [note.session_id.as_str()],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO s3_backup_session_notes ({NOTE_COLUMNS}, verified)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0)"
                ),
                params![
                    note.session_id.as_str(),
                    note.session_year,
                    note.bucket,
                    note.key,
                    note.region,
                    note.etag,
                    note.uploaded_at.map(to_db),
                    note.size_bytes as i64,
                    note.content_md5,
                    note.archive_policy,
                    note.backup_policy,
                    note.storage_class.as_ref().map(StorageClass::as_str),
                ],
            )?;
            insert_log(tx, log)
        })?;
        Ok(())
    }

    pub fn db_snapshots(&self) -> fitsbak_core::Result<Vec<DbSnapshotRecord>> {
        let rows = self.query("reading s3_backup_db_snapshots", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {SNAPSHOT_COLUMNS} FROM s3_backup_db_snapshots ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([], snapshot_row)?;
            rows.collect()
        })?;
        Ok(rows)
    }

    pub fn record_db_snapshot(
        &self,
        snapshot: &DbSnapshotRecord,
        log: &LogEntry,
    ) -> fitsbak_core::Result<i64> {
        let id = self.tx("recording the catalog snapshot", |tx| {
            tx.execute(
                "INSERT INTO s3_backup_db_snapshots (s3_bucket, s3_key, s3_region, s3_version_id,
                    s3_etag, size_bytes, md5, source_path, description, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    snapshot.bucket,
                    snapshot.key,
                    snapshot.region,
                    snapshot.version_id,
                    snapshot.etag,
                    snapshot.size_bytes as i64,
                    snapshot.md5,
                    snapshot.source_path,
                    snapshot.description,
                    to_db(snapshot.created_at),
                ],
            )?;
            let id = tx.last_insert_rowid();
            insert_log(tx, log)?;
            Ok(id)
        })?;
        Ok(id)
    }
}

impl Database {
    pub fn store_profile(
        &self,
        target: &str,
    ) -> fitsbak_core::Result<
        Option<(
            fitsbak_core::store::Capabilities,
            chrono::DateTime<chrono::Utc>,
        )>,
    > {
        let row: Option<(String, String)> =
            self.query("reading s3_backup_store_profiles", |conn| {
                conn.query_row(
                "SELECT capabilities, probed_at FROM s3_backup_store_profiles WHERE target = ?1",
                [target],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            })?;
        // A profile this build cannot read is probed again.
        Ok(row.and_then(|(json, at)| {
            Some((
                serde_json::from_str(&json).ok()?,
                fitsbak_core::time::from_db(&at)?,
            ))
        }))
    }

    pub fn record_store_profile(
        &self,
        target: &str,
        capabilities: &fitsbak_core::store::Capabilities,
    ) -> fitsbak_core::Result<()> {
        self.tx("recording the store's capabilities", |tx| {
            tx.execute(
                "INSERT INTO s3_backup_store_profiles (target, capabilities, probed_at)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (target) DO UPDATE SET capabilities = excluded.capabilities,
                    probed_at = excluded.probed_at",
                params![
                    target,
                    serde_json::to_string(capabilities).expect("capabilities serialise"),
                    to_db(fitsbak_core::time::now()),
                ],
            )?;
            Ok(())
        })?;
        Ok(())
    }
}

const NOTE_COLUMNS: &str = "session_id, session_year, s3_bucket, s3_key, s3_region, s3_etag,
    uploaded_at, file_size_bytes, content_md5, archive_policy, backup_policy,
    current_storage_class";

const SNAPSHOT_COLUMNS: &str = "id, s3_bucket, s3_key, s3_region, s3_version_id, s3_etag,
    size_bytes, md5, source_path, description, created_at";

const UPSERT_ARCHIVE: &str =
    "INSERT INTO s3_backup_archives (session_id, session_date, session_year,
                    s3_bucket, s3_key, s3_region, s3_etag, s3_version_id, file_count,
                    original_size_bytes, compressed_size_bytes, compression_ratio,
                    archive_policy, backup_policy, current_storage_class,
                    expected_storage_class, created_at, uploaded_at, verified,
                    verification_method, last_verified_at, restore_requested_at,
                    restore_expires_at, restore_status, restore_tier, camera_name,
                    telescope_name, notes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, 0, NULL, NULL, NULL, NULL, NULL, NULL, ?19, ?20, ?21)
                 ON CONFLICT (session_id) DO UPDATE SET
                    session_date = excluded.session_date, session_year = excluded.session_year,
                    s3_bucket = excluded.s3_bucket, s3_key = excluded.s3_key,
                    s3_region = excluded.s3_region, s3_etag = excluded.s3_etag,
                    s3_version_id = excluded.s3_version_id, file_count = excluded.file_count,
                    original_size_bytes = excluded.original_size_bytes,
                    compressed_size_bytes = excluded.compressed_size_bytes,
                    compression_ratio = excluded.compression_ratio,
                    archive_policy = excluded.archive_policy,
                    backup_policy = excluded.backup_policy,
                    current_storage_class = excluded.current_storage_class,
                    expected_storage_class = excluded.expected_storage_class,
                    uploaded_at = excluded.uploaded_at, verified = 0,
                    verification_method = NULL, last_verified_at = NULL,
                    restore_requested_at = NULL, restore_expires_at = NULL,
                    restore_status = NULL, restore_tier = NULL,
                    camera_name = excluded.camera_name,
                    telescope_name = excluded.telescope_name, notes = excluded.notes
                 RETURNING id";

const INSERT_MEMBER: &str =
    "INSERT INTO s3_backup_archive_members (archive_id, position, member_path, file,
                    folder, source_path, size_bytes, md5, catalog_md5, header_offset,
                    data_offset, mtime, frame_type, object, filter, catalog_file_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/// Writes the session's archive row (a new upload resets its checks and restore
/// state); returns its id.
fn upsert_archive(
    conn: &Connection,
    archive: &NewArchive,
    members: usize,
) -> rusqlite::Result<i64> {
    let now = to_db(fitsbak_core::time::now());
    let ratio = (archive.original_size_bytes > 0)
        .then(|| archive.archive_size_bytes as f64 / archive.original_size_bytes as f64);
    conn.query_row(
        UPSERT_ARCHIVE,
        params![
            archive.session_id.as_str(),
            archive.session_date.to_string(),
            chrono::Datelike::year(&archive.session_date),
            archive.bucket,
            archive.key,
            archive.region,
            archive.etag,
            archive.version_id,
            members as i64,
            archive.original_size_bytes as i64,
            archive.archive_size_bytes as i64,
            ratio,
            archive.archive_policy,
            archive.backup_policy,
            archive.storage_class.as_str(),
            archive.expected_storage_class.as_str(),
            now,
            to_db(archive.uploaded_at),
            archive.camera_name,
            archive.telescope_name,
            archive.notes,
        ],
        |row| row.get(0),
    )
}

/// Keeps the session's archive row in `s3_backup_archive_history` when the new
/// one is another object (a session uploaded again after its catalog changed).
fn keep_superseded(conn: &Connection, archive: &NewArchive) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO s3_backup_archive_history (session_id, s3_bucket, s3_key, s3_etag,
            s3_version_id, compressed_size_bytes, file_count, uploaded_at, superseded_at, facts)
         SELECT a.session_id, a.s3_bucket, a.s3_key, a.s3_etag, a.s3_version_id,
            a.compressed_size_bytes, a.file_count, a.uploaded_at, ?4, f.facts
         FROM s3_backup_archives a LEFT JOIN s3_backup_archive_facts f ON f.session_id = a.session_id
         WHERE a.session_id = ?1
           AND (a.s3_etag IS NOT ?2 OR a.s3_key IS NOT ?3 OR a.s3_bucket IS NOT ?5)",
        params![
            archive.session_id.as_str(),
            archive.etag,
            archive.key,
            to_db(fitsbak_core::time::now()),
            archive.bucket
        ],
    )?;
    Ok(())
}

/// Gives every archive row fitsbak recorded before schema 3 the facts its members
/// tell: the catalog's fingerprint, as the members recorded the catalog's MD5s.
/// Rows without members (written by other tools) get none.
pub(crate) fn backfill_facts(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let fingerprints: Vec<(String, Fingerprint)> = {
        let mut stmt = tx.prepare(
            "SELECT a.session_id, m.folder, m.file, m.catalog_md5
             FROM s3_backup_archives a
             JOIN s3_backup_archive_members m ON m.archive_id = a.id
             WHERE a.session_id NOT IN (SELECT session_id FROM s3_backup_archive_facts)
             ORDER BY a.session_id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<(String, Fingerprint)> = Vec::new();
        while let Some(row) = rows.next()? {
            let session: String = row.get(0)?;
            let (folder, file, md5): (String, String, Option<String>) =
                (row.get(1)?, row.get(2)?, row.get(3)?);
            if out.last().is_none_or(|(s, _)| *s != session) {
                out.push((session, Fingerprint::default()));
            }
            let last = out.last_mut().expect("pushed above");
            last.1.add(&folder, &file, md5.as_deref());
        }
        out
    };
    for (session, fingerprint) in fingerprints {
        let Ok(session) = SessionId::new(session) else {
            continue;
        };
        let facts = ArchiveFacts {
            catalog_fingerprint: Some(fingerprint.to_string()),
            proof: "upload (recorded before fitsbak kept the stream checksum)".into(),
            ..ArchiveFacts::default()
        };
        write_facts(&tx, &session, &facts)?;
    }
    tx.commit()
}

/// Writes what the client knew of the session's archive.
pub(crate) fn write_facts(
    conn: &Connection,
    session: &SessionId,
    facts: &ArchiveFacts,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO s3_backup_archive_facts (session_id, facts, recorded_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (session_id) DO UPDATE SET facts = excluded.facts,
            recorded_at = excluded.recorded_at",
        params![
            session.as_str(),
            serde_json::to_string(facts).expect("facts serialise"),
            to_db(fitsbak_core::time::now())
        ],
    )?;
    Ok(())
}

/// Replaces the members of archive `id`.
fn replace_members(conn: &Connection, id: i64, members: &[ManifestMember]) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM s3_backup_archive_members WHERE archive_id = ?1",
        [id],
    )?;
    let mut insert = conn.prepare_cached(INSERT_MEMBER)?;
    for (position, m) in members.iter().enumerate() {
        insert.execute(params![
            id,
            position as i64,
            m.path.as_str(),
            m.file,
            m.folder,
            m.source_path,
            m.size as i64,
            m.md5,
            m.catalog_md5,
            m.header_offset as i64,
            m.data_offset as i64,
            m.mtime,
            m.frame_type,
            m.object,
            m.filter,
            m.catalog_id,
        ])?;
    }
    Ok(())
}

fn snapshot_row(row: &Row<'_>) -> rusqlite::Result<DbSnapshotRecord> {
    Ok(DbSnapshotRecord {
        id: row.get(0)?,
        bucket: text(row, 1)?.unwrap_or_default(),
        key: text(row, 2)?.unwrap_or_default(),
        region: text(row, 3)?.unwrap_or_default(),
        version_id: text(row, 4)?,
        etag: text(row, 5)?,
        size_bytes: count(row, 6)?,
        md5: text(row, 7)?.unwrap_or_default(),
        source_path: text(row, 8)?.unwrap_or_default(),
        description: text(row, 9)?,
        created_at: time(row, 10)?.unwrap_or_default(),
    })
}

fn insert_part(conn: &Connection, upload: &MultipartId, part: &PartRecord) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO s3_backup_upload_parts (upload_id, part_number, etag,
            size_bytes, server_checksum, client_checksum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        upload.0,
        part.receipt.part_number,
        part.receipt.etag,
        part.receipt.size as i64,
        part.receipt.checksum,
        part.client_checksum,
    ])
    .map(drop)
}
