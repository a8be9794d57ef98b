//! Store tests on real SQLite files.

use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use fitsbak_core::ids::{MemberPath, SessionId};
use fitsbak_core::manifest::ManifestMember;
use fitsbak_core::model::StorageClass;
use fitsbak_core::store::{MultipartId, PartReceipt, RestoreTier};
use fitsbak_core::tracker::*;
use rusqlite::Connection;

use crate::{Database, DbError, OpenOptions};
use fitsbak_demo::{self as demo, DemoSpec};

fn open(path: &Path) -> Result<Database, DbError> {
    Database::open(path, None, &OpenOptions::default())
}

fn small_demo(dir: &Path) -> demo::DemoLibrary {
    demo::create(
        dir,
        &DemoSpec {
            sessions: 4,
            files_per_session: 6,
            width: 16,
            height: 8,
            ..DemoSpec::default()
        },
    )
    .unwrap()
}

fn table_names(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_missing_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let err = open(&path).unwrap_err();
    assert!(matches!(err, DbError::NotFound { .. }));
    assert!(err.to_string().contains("nope.db"), "{err}");
    assert!(!path.exists(), "nothing is created");
}

#[test]
fn a_database_without_the_catalog_tables_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (x TEXT);")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = open(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("is not a FITS cataloger database"), "{text}");
    assert!(text.contains("imaging_sessions or fits_files"), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing written");
    assert_eq!(table_names(&path), vec!["notes"]);

    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not sqlite at all, just some text in a file....",
    )
    .unwrap();
    let err = open(&junk).unwrap_err().to_string();
    assert!(err.contains("junk.db"), "{err}");
}

#[test]
fn the_demo_catalog_reads_back_with_true_md5s() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = open(&lib.database_path).unwrap();
    let scan = db.sessions().unwrap();
    assert!(scan.rejected.is_empty());
    assert_eq!(scan.sessions.len(), 4);
    let years: std::collections::BTreeSet<i32> = scan.sessions.iter().map(|s| s.year()).collect();
    assert_eq!(years.len(), 3, "sessions spread over three years");
    for s in &scan.sessions {
        assert_eq!(s.file_count, 6);
        assert!(s.telescope.is_some() && s.camera.is_some());
    }
    let files = db.files(None).unwrap();
    assert_eq!(files.len(), 24);
    for f in &files {
        let bytes = std::fs::read(&f.path).unwrap();
        assert_eq!(bytes.len() % 2880, 0, "{}", f.path.display());
        assert!(bytes.starts_with(b"SIMPLE  ="));
        let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes));
        assert_eq!(f.md5sum.as_deref(), Some(md5.as_str()));
    }
    assert!(files.iter().any(|f| f.file.len() > 100), "long names");
    assert!(
        files.iter().any(|f| f.file.contains('α')),
        "non-ASCII names"
    );
    let first = &scan.sessions[0].id;
    let flats: Vec<_> = files
        .iter()
        .filter(|f| f.session_id == *first && f.file == "Flat_0001.fits")
        .collect();
    assert_eq!(flats.len(), 2, "the same name in two folders");
    assert_ne!(flats[0].folder, flats[1].folder);

    let some = db.files(Some(std::slice::from_ref(first))).unwrap();
    assert_eq!(some.len(), 6);
    assert!(some.iter().all(|f| f.session_id == *first));
    assert!(db.files(Some(&[])).unwrap().is_empty());
}

#[test]
fn the_database_is_switched_to_wal_with_the_tracking_tables() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    drop(open(&lib.database_path).unwrap());
    let conn = Connection::open(&lib.database_path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let tables = table_names(&lib.database_path);
    for t in [
        "s3_backup_archives",
        "s3_backup_session_notes",
        "s3_backup_log",
        "s3_backup_stats",
        "s3_backup_archive_members",
        "s3_backup_uploads",
        "s3_backup_upload_parts",
        "s3_backup_schema_version",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} in {tables:?}");
    }
    let cols = crate::schema::existing_columns(&conn, "s3_backup_archives").unwrap();
    for c in [
        "session_id",
        "s3_etag",
        "compressed_size_bytes",
        "compression_ratio",
        "transition_date",
        "verification_method",
        "restore_tier",
        "telescope_name",
    ] {
        assert!(cols.iter().any(|x| x == c), "{c}");
    }
    let indexes: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 's3_backup_log'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(indexes.iter().any(|i| i == "idx_backup_log_operation"));
    // Opening again is a no-op migration.
    drop(open(&lib.database_path).unwrap());
    let versions: i64 = conn
        .query_row("SELECT COUNT(*) FROM s3_backup_schema_version", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(versions, 1);
}

#[test]
fn older_tracking_tables_gain_missing_columns_and_keep_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let conn = Connection::open(&lib.database_path).unwrap();
    conn.execute_batch(
        "CREATE TABLE s3_backup_archives (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id VARCHAR(50) NOT NULL UNIQUE,
            s3_bucket VARCHAR(255) NOT NULL, s3_key VARCHAR(500) NOT NULL,
            s3_region VARCHAR(50) NOT NULL, s3_etag VARCHAR(100), verified BOOLEAN);
         INSERT INTO s3_backup_archives (session_id, s3_bucket, s3_key, s3_region, s3_etag, verified)
         VALUES ('20200101_OLD', 'b', 'backups/raw/2020/20200101_OLD.tar', 'us-east-1', 'e', 1);",
    )
    .unwrap();
    drop(conn);
    let db = open(&lib.database_path).unwrap();
    let rows = db.archives().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].session_id.as_str(), "20200101_OLD");
    assert!(rows[0].verified);
    assert_eq!(rows[0].file_count, 0);
}

#[test]
fn a_database_at_schema_version_1_gains_note_md5s_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    drop(open(&lib.database_path).unwrap());
    let conn = Connection::open(&lib.database_path).unwrap();
    // What version 1 wrote: no content_md5 column, no snapshot table.
    conn.execute_batch(
        "ALTER TABLE s3_backup_session_notes DROP COLUMN content_md5;
         DROP TABLE s3_backup_db_snapshots;
         DELETE FROM s3_backup_schema_version;
         INSERT INTO s3_backup_schema_version (version, applied_at, description)
         VALUES (1, '2026-01-01 00:00:00.000000', 'version 1');",
    )
    .unwrap();
    drop(conn);
    let db = open(&lib.database_path).unwrap();
    assert!(db.notes().unwrap().is_empty());
    assert!(db.db_snapshots().unwrap().is_empty());
    let conn = Connection::open(&lib.database_path).unwrap();
    let version: i64 = conn
        .query_row(
            "SELECT MAX(version) FROM s3_backup_schema_version",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, crate::schema::SCHEMA_VERSION);
}

#[test]
fn invalid_session_rows_are_rejected_with_the_reason_and_others_kept() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let conn = Connection::open(&lib.database_path).unwrap();
    conn.execute_batch(
        "INSERT INTO imaging_sessions (id, date) VALUES ('20240230_BADDATE', '2024-02-30');
         INSERT INTO imaging_sessions (id, date) VALUES ('../escape', '2024-01-01');
         INSERT INTO imaging_sessions (id, date) VALUES ('20240101_NODATE', '');
         INSERT INTO fits_files (file, folder, imaging_session_id) VALUES ('x.fits', '/tmp', '../escape');",
    )
    .unwrap();
    drop(conn);
    let db = open(&lib.database_path).unwrap();
    let scan = db.sessions().unwrap();
    assert_eq!(scan.sessions.len(), 4);
    assert_eq!(scan.rejected.len(), 3);
    let reasons: Vec<&str> = scan.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("20240230_BADDATE")
        && r.contains("invalid imaging_sessions.date \"2024-02-30\"")));
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("imaging_sessions.id") && r.contains("../escape"))
    );
    assert!(reasons.iter().any(|r| r.contains("20240101_NODATE")));
    assert!(
        db.files(None).unwrap().iter().all(|f| f.file != "x.fits"),
        "files of a rejected session are not listed"
    );
}

#[test]
fn a_minimal_catalog_written_by_another_tool_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minimal.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE imaging_sessions (date TEXT, id TEXT, extra BLOB);
         CREATE TABLE fits_files (imaging_session_id TEXT, folder TEXT, file TEXT, whatever INT);
         INSERT INTO imaging_sessions VALUES ('2023-08-01', '20230801_X', NULL);
         INSERT INTO fits_files VALUES ('20230801_X', 'frames', 'a.fits', 1);",
    )
    .unwrap();
    drop(conn);
    let db = open(&path).unwrap();
    let scan = db.sessions().unwrap();
    assert_eq!(scan.sessions.len(), 1);
    assert_eq!(scan.sessions[0].file_count, 1);
    assert_eq!(scan.sessions[0].telescope, None);
    let files = db.files(None).unwrap();
    assert_eq!(
        files[0].path,
        dir.path().join("frames/a.fits"),
        "relative folders resolve against the catalog"
    );
    assert_eq!(files[0].md5sum, None);
    assert!(!files[0].bad);
}

#[test]
fn a_catalog_missing_a_required_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nofolder.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE imaging_sessions (id TEXT, date TEXT);
             CREATE TABLE fits_files (file TEXT, imaging_session_id TEXT);",
        )
        .unwrap();
    let err = open(&path).unwrap_err().to_string();
    assert!(
        err.contains("table fits_files has no column folder"),
        "{err}"
    );
}

fn new_archive(session: &str) -> NewArchive {
    NewArchive {
        session_id: SessionId::new(session).unwrap(),
        session_date: NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
        bucket: "bucket".into(),
        key: format!("backups/raw/2024/{session}.tar"),
        region: "us-east-1".into(),
        etag: "abc-2".into(),
        version_id: None,
        original_size_bytes: 5000,
        archive_size_bytes: 7168,
        archive_policy: "fast".into(),
        backup_policy: "deep-archive".into(),
        storage_class: StorageClass::Standard,
        expected_storage_class: StorageClass::DeepArchive,
        uploaded_at: fitsbak_core::time::now(),
        camera_name: Some("cam".into()),
        telescope_name: None,
        notes: None,
        facts: ArchiveFacts {
            archive_crc32c: Some("0a1b2c3d".into()),
            catalog_fingerprint: Some("2:00000000000000ff".into()),
            proof: "upload".into(),
            ..ArchiveFacts::default()
        },
    }
}

fn member(session: &str, name: &str, offset: u64) -> ManifestMember {
    let s = SessionId::new(session).unwrap();
    ManifestMember {
        path: MemberPath::in_session(&s, name).unwrap(),
        file: name.into(),
        folder: "/data".into(),
        source_path: format!("/data/{name}"),
        size: 2500,
        md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
        catalog_md5: None,
        header_offset: offset,
        data_offset: offset + 512,
        mtime: 1_700_000_000,
        frame_type: Some("LIGHT".into()),
        object: None,
        filter: Some("Hα".into()),
        catalog_id: Some(3),
    }
}

#[test]
fn archives_members_log_and_checks_are_recorded_in_one_place() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = open(&lib.database_path).unwrap();
    let members = vec![member("S1", "b.fits", 0), member("S1", "a.fits", 3072)];
    let log = LogEntry {
        session_id: Some(SessionId::new("S1").unwrap()),
        bytes_transferred: Some(7168),
        duration_seconds: Some(2.0),
        ..LogEntry::new(Operation::Upload, OperationStatus::Success)
    };
    let id = db
        .record_archive(&new_archive("S1"), &members, &log)
        .unwrap();
    let row = db.archive(&SessionId::new("S1").unwrap()).unwrap().unwrap();
    assert_eq!(row.id, id);
    assert_eq!(row.file_count, 2);
    assert_eq!(row.session_year, Some(2024));
    assert_eq!(row.current_storage_class, Some(StorageClass::Standard));
    assert_eq!(row.expected_storage_class, Some(StorageClass::DeepArchive));
    assert!(!row.verified, "nothing is verified until checked");
    let back = db.members(&row.session_id).unwrap();
    assert_eq!(back, members, "members keep archive order");

    let conn = Connection::open(&lib.database_path).unwrap();
    let (archive_id, rate, ts): (i64, f64, String) = conn
        .query_row(
            "SELECT archive_id, transfer_rate_mbps, timestamp FROM s3_backup_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(archive_id, id);
    assert!((rate - 0.003584).abs() < 1e-9);
    assert_eq!(ts.len(), "2024-03-15 21:04:05.123456".len());

    let check = |outcome| CheckRecord {
        session_id: row.session_id.clone(),
        method: CheckMethod::Quick,
        outcome,
        storage_class: Some(StorageClass::DeepArchive),
        at: fitsbak_core::time::now(),
    };
    let vlog = LogEntry::new(Operation::Verify, OperationStatus::Success);
    db.record_check(&check(CheckOutcome::Passed), &vlog)
        .unwrap();
    let r = db.archive(&row.session_id).unwrap().unwrap();
    assert!(r.verified && r.last_verified_at.is_some());
    assert_eq!(r.verification_method.as_deref(), Some("head_object"));
    assert_eq!(r.current_storage_class, Some(StorageClass::DeepArchive));
    db.record_check(&check(CheckOutcome::NeedsRestore("x".into())), &vlog)
        .unwrap();
    assert!(
        db.archive(&row.session_id).unwrap().unwrap().verified,
        "unchanged"
    );
    db.record_check(&check(CheckOutcome::Failed(vec!["etag".into()])), &vlog)
        .unwrap();
    assert!(!db.archive(&row.session_id).unwrap().unwrap().verified);

    // A second upload of the same session replaces the row, keeping its id.
    let again = db
        .record_archive(&new_archive("S1"), &members[..1], &log)
        .unwrap();
    assert_eq!(again, id);
    assert_eq!(db.members(&row.session_id).unwrap().len(), 1);
    assert_eq!(db.archives().unwrap().len(), 1);

    db.record_restore(
        &RestoreUpdate {
            session_id: row.session_id.clone(),
            status: RestoreStatus::InProgress,
            requested_at: Some(fitsbak_core::time::now()),
            tier: Some(RestoreTier::Bulk),
            expires_at: None,
            storage_class: None,
        },
        &LogEntry::new(Operation::RestoreRequest, OperationStatus::Success),
    )
    .unwrap();
    let r = db.archive(&row.session_id).unwrap().unwrap();
    assert_eq!(r.restore_status.as_deref(), Some("in-progress"));
    assert_eq!(r.restore_tier.as_deref(), Some("Bulk"));
}

#[test]
fn uploads_in_flight_keep_their_parts_until_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = open(&lib.database_path).unwrap();
    let upload = InflightUpload {
        session_id: SessionId::new("S1").unwrap(),
        bucket: "b".into(),
        key: "backups/raw/2024/S1.tar".into(),
        upload_id: MultipartId("up-1".into()),
        part_size: 5 << 20,
        archive_size: 12 << 20,
        checksum_algorithm: Some("CRC32C".into()),
        snapshot: "[]".into(),
        started_at: fitsbak_core::time::now(),
        parts: vec![],
    };
    db.begin_upload(&upload).unwrap();
    for n in [2, 1] {
        db.record_part(
            &upload.upload_id,
            &PartRecord {
                receipt: PartReceipt {
                    part_number: n,
                    etag: format!("etag{n}"),
                    size: 5 << 20,
                    checksum: None,
                },
                client_checksum: format!("CRC32C:{n}"),
            },
        )
        .unwrap();
    }
    let inflight = db.inflight().unwrap();
    assert_eq!(inflight.len(), 1);
    let parts: Vec<u32> = inflight[0]
        .parts
        .iter()
        .map(|p| p.receipt.part_number)
        .collect();
    assert_eq!(parts, vec![1, 2]);
    assert_eq!(inflight[0].upload_id, upload.upload_id);

    db.record_archive(
        &new_archive("S1"),
        &[],
        &LogEntry::new(Operation::Upload, OperationStatus::Success),
    )
    .unwrap();
    assert!(
        db.inflight().unwrap().is_empty(),
        "recording forgets the upload"
    );
    let conn = Connection::open(&lib.database_path).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM s3_backup_upload_parts", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 0, "parts go with their upload");

    db.begin_upload(&upload).unwrap();
    db.end_upload(&upload.upload_id).unwrap();
    assert!(db.inflight().unwrap().is_empty());
}

#[test]
fn stats_rows_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = open(&lib.database_path).unwrap();
    assert_eq!(db.latest_stats().unwrap(), None);
    let s = StatsSnapshot {
        stat_date: Some(fitsbak_core::time::now()),
        period_type: "run".into(),
        total_archives: 3,
        uploads_bytes: 99,
        total_storage_cost_estimate: 0.5,
        ..StatsSnapshot::default()
    };
    db.record_stats(&s).unwrap();
    assert_eq!(db.latest_stats().unwrap(), Some(s));
}

#[test]
fn daily_stats_are_one_row_per_day_with_the_runs_counts_added() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = open(&lib.database_path).unwrap();
    let day = |h: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 3, 4)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
            .and_utc()
    };
    let run = |at, archives, uploads| StatsSnapshot {
        stat_date: Some(at),
        period_type: "daily".into(),
        total_archives: archives,
        uploads_count: uploads,
        uploads_bytes: uploads * 10,
        ..StatsSnapshot::default()
    };
    db.record_stats(&run(day(1), 3, 2)).unwrap();
    db.record_stats(&run(day(23), 5, 3)).unwrap();
    let latest = db.latest_stats().unwrap().unwrap();
    assert_eq!(
        (
            latest.total_archives,
            latest.uploads_count,
            latest.uploads_bytes
        ),
        (5, 5, 50)
    );
    db.record_stats(&run(day(1) + chrono::Duration::days(1), 5, 1))
        .unwrap();
    let rows: i64 = rusqlite::Connection::open(&lib.database_path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM s3_backup_stats WHERE period_type = 'daily'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 2, "one row per day");
    assert_eq!(db.latest_stats().unwrap().unwrap().uploads_count, 1);
}

#[test]
fn tracking_tables_can_live_in_their_own_database() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let tracking = dir.path().join("tracking.db");
    let db = Database::open(&lib.database_path, Some(&tracking), &OpenOptions::default()).unwrap();
    db.record_archive(
        &new_archive("S1"),
        &[],
        &LogEntry::new(Operation::Upload, OperationStatus::Success),
    )
    .unwrap();
    assert!(
        table_names(&tracking)
            .iter()
            .any(|t| t == "s3_backup_archives")
    );
    assert!(
        !table_names(&lib.database_path)
            .iter()
            .any(|t| t == "s3_backup_archives")
    );
    assert_eq!(db.tracking_path(), tracking);

    let only = Database::open_tracking_only(&tracking, &OpenOptions::default()).unwrap();
    assert_eq!(only.archives().unwrap().len(), 1);
    assert!(only.sessions().is_err(), "no catalog behind it");
}

#[test]
fn a_writer_holding_the_lock_past_the_busy_timeout_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = Database::open(
        &lib.database_path,
        None,
        &OpenOptions {
            busy_timeout: Duration::from_millis(200),
        },
    )
    .unwrap();
    let other = Connection::open(&lib.database_path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO s3_backup_stats (period_type) VALUES ('x');")
        .unwrap();
    let err = db
        .log(&LogEntry::new(Operation::Verify, OperationStatus::Success))
        .unwrap_err()
        .to_string();
    assert!(err.contains("locked by another process"), "{err}");
    assert!(err.contains("catalog.db"), "{err}");
    other.execute_batch("ROLLBACK;").unwrap();
    db.log(&LogEntry::new(Operation::Verify, OperationStatus::Success))
        .unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    drop(open(&lib.database_path).unwrap());
    Connection::open(&lib.database_path)
        .unwrap()
        .execute(
            "INSERT INTO s3_backup_schema_version VALUES (99, '2030-01-01 00:00:00.000000', 'future')",
            [],
        )
        .unwrap();
    let err = open(&lib.database_path).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn facts_travel_with_the_row_and_a_replaced_archive_goes_to_history() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = open(&lib.database_path).unwrap();
    let members = vec![member("S1", "a.fits", 512)];
    let log = LogEntry::new(Operation::Upload, OperationStatus::Success);
    db.record_archive(&new_archive("S1"), &members, &log)
        .unwrap();
    let row = db.archive(&SessionId::new("S1").unwrap()).unwrap().unwrap();
    let facts = row.facts.expect("facts recorded with the row");
    assert_eq!(facts.archive_crc32c.as_deref(), Some("0a1b2c3d"));
    assert_eq!(facts.proof, "upload");

    // The same object recorded again: nothing goes to history.
    db.record_archive(&new_archive("S1"), &members, &log)
        .unwrap();
    let conn = Connection::open(&lib.database_path).unwrap();
    let history = |conn: &Connection| -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT s3_key, s3_etag FROM s3_backup_archive_history ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert!(history(&conn).is_empty());

    // Another object for the session: the old row is kept in history.
    let mut replaced = new_archive("S1");
    replaced.etag = "def-3".into();
    replaced.facts.archive_crc32c = Some("ffffffff".into());
    db.record_archive(&replaced, &members, &log).unwrap();
    assert_eq!(
        history(&conn),
        [("backups/raw/2024/S1.tar".to_owned(), "abc-2".to_owned())]
    );
    let row = db.archive(&SessionId::new("S1").unwrap()).unwrap().unwrap();
    assert_eq!(row.etag.as_deref(), Some("def-3"));
    assert_eq!(
        row.facts.unwrap().archive_crc32c.as_deref(),
        Some("ffffffff")
    );
}

#[test]
fn rows_of_schema_2_gain_the_fingerprint_their_members_tell() {
    let dir = tempfile::tempdir().unwrap();
    let lib = small_demo(dir.path());
    let db = open(&lib.database_path).unwrap();
    let members = vec![member("S1", "a.fits", 512), member("S1", "b.fits", 2048)];
    let log = LogEntry::new(Operation::Upload, OperationStatus::Success);
    db.record_archive(&new_archive("S1"), &members, &log)
        .unwrap();
    drop(db);
    // What version 2 had: no facts table.
    let conn = Connection::open(&lib.database_path).unwrap();
    conn.execute_batch(
        "DROP TABLE s3_backup_archive_facts;
         DROP TABLE s3_backup_archive_history;
         DELETE FROM s3_backup_schema_version;
         INSERT INTO s3_backup_schema_version (version, applied_at, description)
         VALUES (2, '2026-01-01 00:00:00.000000', 'version 2');",
    )
    .unwrap();
    drop(conn);
    let db = open(&lib.database_path).unwrap();
    let row = db.archive(&SessionId::new("S1").unwrap()).unwrap().unwrap();
    let expected = fitsbak_core::model::Fingerprint::of(
        members
            .iter()
            .map(|m| (m.folder.as_str(), m.file.as_str(), m.catalog_md5.as_deref())),
    );
    assert_eq!(
        row.facts.unwrap().catalog_fingerprint,
        Some(expected.to_string())
    );
}
