//! The tracking tables and their migrations.
//!
//! The first four tables keep the cataloger's own names, columns and index names
//! (`s3_backup_archives`, `s3_backup_session_notes`, `s3_backup_log`,
//! `s3_backup_stats`), so the cataloger's other tools keep reading them. If they
//! already exist (written by the original Python tool), they are kept, and any
//! column they lack is added. fitsbak's own state goes in its own tables: archive
//! members, uploads in flight with their parts, and the schema version.

use rusqlite::Connection;

/// The newest schema version this build writes. Every version brings older tables
/// forward by the same idempotent steps (create what is missing, add missing
/// columns), so a bump is all a schema change needs:
///
/// 1. archives, members, uploads in flight and their parts, notes, log, stats;
/// 2. `s3_backup_session_notes.content_md5` and `s3_backup_db_snapshots`;
/// 3. `s3_backup_archive_facts` (what the client knew of each archive: stream CRC32C,
///    object checksum, catalog fingerprint, files left out, proof) and
///    `s3_backup_archive_history` (archives a later upload replaced);
/// 4. `s3_backup_store_profiles`;
/// 5. processing sessions: the cataloger's `s3_backup_processed_file_records`,
///    `s3_backup_processing_session_summary` and `s3_backup_processing_sessions`
///    (with `fingerprint` and `content_md5` added), fitsbak's
///    `s3_backup_processed_companions`.
pub const SCHEMA_VERSION: i64 = 5;

/// A column: name and SQL type, as the cataloger declares it.
type Column = (&'static str, &'static str);

/// The cataloger's tables: name, columns after `id`, indexes (name, columns).
pub(crate) struct Table {
    pub name: &'static str,
    /// Whether the first column is `id INTEGER PRIMARY KEY AUTOINCREMENT`.
    pub id: bool,
    pub columns: &'static [Column],
    pub indexes: &'static [(&'static str, &'static str)],
}

pub(crate) const ARCHIVES: Table = Table {
    name: "s3_backup_archives",
    id: true,
    columns: &[
        ("session_id", "VARCHAR(50) NOT NULL UNIQUE"),
        ("session_date", "VARCHAR(10)"),
        ("session_year", "INTEGER"),
        ("s3_bucket", "VARCHAR(255) NOT NULL"),
        ("s3_key", "VARCHAR(500) NOT NULL"),
        ("s3_region", "VARCHAR(50) NOT NULL"),
        ("s3_etag", "VARCHAR(100)"),
        ("s3_version_id", "VARCHAR(100)"),
        ("file_count", "INTEGER"),
        ("original_size_bytes", "INTEGER"),
        ("compressed_size_bytes", "INTEGER"),
        ("compression_ratio", "FLOAT"),
        ("archive_policy", "VARCHAR(20)"),
        ("backup_policy", "VARCHAR(20)"),
        ("current_storage_class", "VARCHAR(50)"),
        ("expected_storage_class", "VARCHAR(50)"),
        ("transition_date", "DATETIME"),
        ("created_at", "DATETIME"),
        ("uploaded_at", "DATETIME"),
        ("last_verified_at", "DATETIME"),
        ("verified", "BOOLEAN"),
        ("verification_method", "VARCHAR(20)"),
        ("restore_requested_at", "DATETIME"),
        ("restore_expires_at", "DATETIME"),
        ("restore_status", "VARCHAR(20)"),
        ("restore_tier", "VARCHAR(20)"),
        ("camera_name", "VARCHAR(50)"),
        ("telescope_name", "VARCHAR(50)"),
        ("notes", "TEXT"),
    ],
    indexes: &[
        ("idx_backup_archive_session", "session_id"),
        ("idx_backup_archive_year", "session_year"),
        ("idx_backup_archive_bucket_key", "s3_bucket, s3_key"),
        ("idx_backup_archive_storage", "current_storage_class"),
        ("idx_backup_archive_verified", "verified"),
    ],
};

pub(crate) const SESSION_NOTES: Table = Table {
    name: "s3_backup_session_notes",
    id: true,
    columns: &[
        ("session_id", "VARCHAR(50) NOT NULL UNIQUE"),
        ("session_year", "INTEGER"),
        ("s3_bucket", "VARCHAR(255) NOT NULL"),
        ("s3_key", "VARCHAR(500) NOT NULL"),
        ("s3_region", "VARCHAR(50) NOT NULL"),
        ("s3_etag", "VARCHAR(100)"),
        ("uploaded_at", "DATETIME"),
        ("file_size_bytes", "INTEGER"),
        ("archive_policy", "VARCHAR(20)"),
        ("backup_policy", "VARCHAR(20)"),
        ("current_storage_class", "VARCHAR(50)"),
        ("last_verified_at", "DATETIME"),
        ("verified", "BOOLEAN"),
        ("content_md5", "VARCHAR(32)"),
    ],
    indexes: &[
        ("idx_backup_note_session", "session_id"),
        ("idx_backup_note_year", "session_year"),
    ],
};

pub(crate) const LOG: Table = Table {
    name: "s3_backup_log",
    id: true,
    columns: &[
        ("operation_type", "VARCHAR(20)"),
        ("operation_status", "VARCHAR(20)"),
        (
            "archive_id",
            "INTEGER REFERENCES s3_backup_archives(id) ON DELETE SET NULL",
        ),
        ("session_id", "VARCHAR(50)"),
        ("s3_bucket", "VARCHAR(255)"),
        ("s3_key", "VARCHAR(500)"),
        ("timestamp", "DATETIME"),
        ("duration_seconds", "FLOAT"),
        ("bytes_transferred", "INTEGER"),
        ("transfer_rate_mbps", "FLOAT"),
        ("error_message", "TEXT"),
        ("error_code", "VARCHAR(50)"),
        ("retry_count", "INTEGER"),
        ("user_initiated", "BOOLEAN"),
        ("auto_backup", "BOOLEAN"),
        ("notes", "TEXT"),
    ],
    indexes: &[
        ("idx_backup_log_timestamp", "timestamp"),
        (
            "idx_backup_log_operation",
            "operation_type, operation_status",
        ),
        ("idx_backup_log_session", "session_id"),
    ],
};

pub(crate) const STATS: Table = Table {
    name: "s3_backup_stats",
    id: true,
    columns: &[
        ("stat_date", "DATETIME"),
        ("period_type", "VARCHAR(10)"),
        ("total_archives", "INTEGER"),
        ("archives_in_standard", "INTEGER"),
        ("archives_in_glacier", "INTEGER"),
        ("archives_in_deep_archive", "INTEGER"),
        ("total_original_size_bytes", "INTEGER"),
        ("total_compressed_size_bytes", "INTEGER"),
        ("total_storage_cost_estimate", "FLOAT"),
        ("uploads_count", "INTEGER"),
        ("uploads_bytes", "INTEGER"),
        ("verifications_count", "INTEGER"),
        ("restores_count", "INTEGER"),
    ],
    indexes: &[
        ("idx_backup_stats_date", "stat_date"),
        ("idx_backup_stats_period", "period_type"),
    ],
};

pub(crate) const PROCESSING_NOTES: Table = Table {
    name: "s3_backup_processing_sessions",
    id: true,
    columns: &[
        ("processing_session_id", "VARCHAR(50) NOT NULL UNIQUE"),
        ("s3_bucket", "VARCHAR(255) NOT NULL"),
        ("s3_key", "VARCHAR(500) NOT NULL"),
        ("s3_region", "VARCHAR(50) NOT NULL"),
        ("s3_etag", "VARCHAR(100)"),
        ("uploaded_at", "DATETIME"),
        ("file_size_bytes", "INTEGER"),
        ("archive_policy", "VARCHAR(20)"),
        ("backup_policy", "VARCHAR(20)"),
        ("current_storage_class", "VARCHAR(50)"),
        ("content_md5", "VARCHAR(32)"),
    ],
    indexes: &[("idx_backup_proc_session", "processing_session_id")],
};

pub(crate) const PROCESSED_FILES: Table = Table {
    name: "s3_backup_processed_file_records",
    id: true,
    columns: &[
        ("processed_file_id", "INTEGER NOT NULL UNIQUE"),
        ("processing_session_id", "VARCHAR(50) NOT NULL"),
        ("s3_bucket", "VARCHAR(255) NOT NULL"),
        ("s3_key", "VARCHAR(500) NOT NULL UNIQUE"),
        ("s3_region", "VARCHAR(50) NOT NULL"),
        ("s3_etag", "VARCHAR(100)"),
        ("file_size", "INTEGER"),
        ("md5sum", "VARCHAR(32)"),
        ("uploaded_at", "DATETIME"),
        ("storage_class", "VARCHAR(50)"),
        ("verified", "BOOLEAN"),
        ("verified_at", "DATETIME"),
        ("notes", "VARCHAR(500)"),
        ("fingerprint", "TEXT"),
    ],
    indexes: &[
        ("idx_backup_file_processed_id", "processed_file_id"),
        ("idx_backup_file_session", "processing_session_id"),
        ("idx_backup_file_s3_key", "s3_key"),
        ("idx_backup_file_uploaded", "uploaded_at"),
        ("idx_backup_file_verified", "verified"),
    ],
};

pub(crate) const PROCESSING_SUMMARY: Table = Table {
    name: "s3_backup_processing_session_summary",
    id: false,
    columns: &[
        ("processing_session_id", "VARCHAR(50) NOT NULL PRIMARY KEY"),
        ("total_files", "INTEGER"),
        ("backed_up_files", "INTEGER"),
        ("total_size_bytes", "INTEGER"),
        ("first_backup_at", "DATETIME"),
        ("last_backup_at", "DATETIME"),
        ("last_verified_at", "DATETIME"),
        ("backup_complete", "BOOLEAN"),
        ("all_verified", "BOOLEAN"),
        ("s3_bucket", "VARCHAR(255)"),
        ("s3_prefix", "VARCHAR(500)"),
    ],
    indexes: &[],
};

/// The cataloger's tables fitsbak writes.
pub(crate) const CATALOGER_TABLES: [&Table; 7] = [
    &ARCHIVES,
    &SESSION_NOTES,
    &LOG,
    &STATS,
    &PROCESSING_NOTES,
    &PROCESSED_FILES,
    &PROCESSING_SUMMARY,
];

/// fitsbak's own tables (version 1).
const FITSBAK_TABLES: &str = "
CREATE TABLE IF NOT EXISTS s3_backup_archive_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    archive_id INTEGER NOT NULL REFERENCES s3_backup_archives(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    member_path TEXT NOT NULL,
    file VARCHAR(255) NOT NULL,
    folder VARCHAR(500) NOT NULL,
    source_path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    md5 VARCHAR(32) NOT NULL,
    catalog_md5 VARCHAR(32),
    header_offset INTEGER NOT NULL,
    data_offset INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    frame_type VARCHAR(20),
    object VARCHAR(100),
    filter VARCHAR(20),
    catalog_file_id INTEGER,
    UNIQUE (archive_id, position)
);
CREATE INDEX IF NOT EXISTS idx_backup_member_md5 ON s3_backup_archive_members (md5);

CREATE TABLE IF NOT EXISTS s3_backup_archive_facts (
    session_id VARCHAR(50) PRIMARY KEY,
    facts TEXT NOT NULL,
    recorded_at DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS s3_backup_archive_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id VARCHAR(50) NOT NULL,
    s3_bucket VARCHAR(255) NOT NULL,
    s3_key VARCHAR(500) NOT NULL,
    s3_etag VARCHAR(100),
    s3_version_id VARCHAR(100),
    compressed_size_bytes INTEGER,
    file_count INTEGER,
    uploaded_at DATETIME,
    superseded_at DATETIME NOT NULL,
    facts TEXT
);
CREATE INDEX IF NOT EXISTS idx_backup_history_session ON s3_backup_archive_history (session_id);

CREATE TABLE IF NOT EXISTS s3_backup_uploads (
    upload_id TEXT PRIMARY KEY,
    session_id VARCHAR(50) NOT NULL,
    s3_bucket VARCHAR(255) NOT NULL,
    s3_key VARCHAR(500) NOT NULL,
    part_size INTEGER NOT NULL,
    archive_size INTEGER NOT NULL,
    checksum_algorithm VARCHAR(20),
    snapshot TEXT NOT NULL,
    started_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_backup_upload_session ON s3_backup_uploads (session_id);

CREATE TABLE IF NOT EXISTS s3_backup_upload_parts (
    upload_id TEXT NOT NULL REFERENCES s3_backup_uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    etag VARCHAR(100) NOT NULL,
    size_bytes INTEGER NOT NULL,
    server_checksum VARCHAR(100),
    client_checksum VARCHAR(100) NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

CREATE TABLE IF NOT EXISTS s3_backup_db_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    s3_bucket VARCHAR(255) NOT NULL,
    s3_key VARCHAR(500) NOT NULL,
    s3_region VARCHAR(50) NOT NULL,
    s3_version_id VARCHAR(100),
    s3_etag VARCHAR(100),
    size_bytes INTEGER NOT NULL,
    md5 VARCHAR(32) NOT NULL,
    source_path TEXT NOT NULL,
    description TEXT,
    created_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_backup_db_snapshot_key ON s3_backup_db_snapshots (s3_key, s3_version_id);

CREATE TABLE IF NOT EXISTS s3_backup_processed_companions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    processed_file_id INTEGER NOT NULL UNIQUE,
    processing_session_id VARCHAR(50) NOT NULL,
    s3_bucket VARCHAR(255) NOT NULL,
    s3_key VARCHAR(500) NOT NULL UNIQUE,
    s3_region VARCHAR(50) NOT NULL,
    s3_etag VARCHAR(100),
    file_size INTEGER,
    md5sum VARCHAR(32),
    uploaded_at DATETIME,
    storage_class VARCHAR(50),
    verified BOOLEAN,
    verified_at DATETIME,
    notes VARCHAR(500),
    fingerprint TEXT
);

CREATE TABLE IF NOT EXISTS s3_backup_store_profiles (
    target TEXT PRIMARY KEY,
    capabilities TEXT NOT NULL,
    probed_at DATETIME NOT NULL
);
";

fn create_table_sql(table: &Table) -> String {
    let mut columns: Vec<String> = table
        .columns
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect();
    if table.id {
        columns.insert(0, "id INTEGER PRIMARY KEY AUTOINCREMENT".into());
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    {}",
        table.name,
        columns.join(",\n    ")
    );
    sql.push_str("\n);\n");
    sql
}

fn create_indexes_sql(table: &Table) -> String {
    table
        .indexes
        .iter()
        .map(|(index, columns)| {
            format!(
                "CREATE INDEX IF NOT EXISTS {index} ON {} ({columns});\n",
                table.name
            )
        })
        .collect()
}

/// Columns of `table` in the database.
pub(crate) fn existing_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |row| row.get::<_, String>(0))?;
    names.collect()
}

/// The version recorded in the database (0 when fitsbak never ran on it).
pub(crate) fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS s3_backup_schema_version (
            version INTEGER PRIMARY KEY,
            applied_at DATETIME NOT NULL,
            description VARCHAR(255)
        );",
    )?;
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM s3_backup_schema_version",
        [],
        |row| row.get(0),
    )
}

/// Brings the tracking tables to [`SCHEMA_VERSION`] in one transaction. Returns the
/// version found before.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = current_version(&tx)?;
    if found >= SCHEMA_VERSION {
        tx.commit()?;
        return Ok(found);
    }
    for table in CATALOGER_TABLES {
        tx.execute_batch(&create_table_sql(table))?;
        // Tables written by an older tool may lack columns: add them.
        let have = existing_columns(&tx, table.name)?;
        for (name, ty) in table.columns {
            if !have.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                // ALTER TABLE cannot add UNIQUE or NOT NULL without a default.
                let ty = ty
                    .replace(" NOT NULL UNIQUE", "")
                    .replace(" NOT NULL PRIMARY KEY", "")
                    .replace(" NOT NULL", "");
                tx.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {name} {ty};",
                    table.name
                ))?;
            }
        }
        tx.execute_batch(&create_indexes_sql(table))?;
    }
    tx.execute_batch(FITSBAK_TABLES)?;
    tx.execute(
        "INSERT INTO s3_backup_schema_version (version, applied_at, description)
         VALUES (?1, ?2, ?3)",
        rusqlite::params![
            SCHEMA_VERSION,
            fitsbak_core::time::to_db(fitsbak_core::time::now()),
            "fitsbak tracking tables: archives, members, uploads in flight, notes, catalog snapshots, log, stats"
        ],
    )?;
    tx.commit()?;
    Ok(found)
}
