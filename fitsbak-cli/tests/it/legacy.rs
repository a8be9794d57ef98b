//! Coming from the cataloger's Python `s3_backup`: a bucket and a database as its
//! `S3BackupManager` leaves them (its tables, rows, keys, tags, metadata, a gzip
//! body under a `.tar` key, a `.tar.gz` archive in DEEP_ARCHIVE, notes under both
//! key forms, a versioned database snapshot with a description), adopted by
//! `fitsbak migrate` without uploading any archive again.

use std::io::Write;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass as AwsClass;
use rusqlite::{Connection, params};

use crate::support::*;

/// The Python tool's own table definitions (SQLAlchemy, `s3_backup/models.py`),
/// before fitsbak ever opened the database.
const PYTHON_TABLES: &str = "
CREATE TABLE s3_backup_archives (
    id INTEGER NOT NULL PRIMARY KEY, session_id VARCHAR(50) NOT NULL UNIQUE,
    session_date VARCHAR(10), session_year INTEGER, s3_bucket VARCHAR(255) NOT NULL,
    s3_key VARCHAR(500) NOT NULL, s3_region VARCHAR(50) NOT NULL, s3_etag VARCHAR(100),
    s3_version_id VARCHAR(100), file_count INTEGER, original_size_bytes INTEGER,
    compressed_size_bytes INTEGER, compression_ratio FLOAT, archive_policy VARCHAR(20),
    backup_policy VARCHAR(20), current_storage_class VARCHAR(50),
    expected_storage_class VARCHAR(50), transition_date DATETIME, created_at DATETIME,
    uploaded_at DATETIME, last_verified_at DATETIME, verified BOOLEAN,
    verification_method VARCHAR(20), restore_requested_at DATETIME,
    restore_expires_at DATETIME, restore_status VARCHAR(20), restore_tier VARCHAR(20),
    camera_name VARCHAR(50), telescope_name VARCHAR(50), notes TEXT);
CREATE TABLE s3_backup_session_notes (
    id INTEGER NOT NULL PRIMARY KEY, session_id VARCHAR(50) NOT NULL UNIQUE,
    session_year INTEGER, s3_bucket VARCHAR(255) NOT NULL, s3_key VARCHAR(500) NOT NULL,
    s3_region VARCHAR(50) NOT NULL, s3_etag VARCHAR(100), uploaded_at DATETIME,
    file_size_bytes INTEGER, archive_policy VARCHAR(20), backup_policy VARCHAR(20),
    current_storage_class VARCHAR(50), last_verified_at DATETIME, verified BOOLEAN);
";

/// How the Python tool packs a session: `tarfile` with `{session_id}/{file}`
/// members, gzip'd at level 6 unless `compression_level` is 0 and it was asked.
fn python_archive(session: &fitsbak_demo::DemoSession, gzip: bool, damage: bool) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (i, f) in session.files.iter().enumerate() {
        let mut bytes = std::fs::read(&f.path).unwrap();
        if damage && i == 0 {
            for b in &mut bytes[100..200] {
                *b ^= 0x5a;
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        tar.append_data(
            &mut header,
            format!("{}/{}", session.id, f.file),
            &bytes[..],
        )
        .unwrap();
    }
    let bytes = tar.into_inner().unwrap();
    if !gzip {
        return bytes;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&bytes).unwrap();
    gz.finish().unwrap()
}

struct Legacy {
    d: S3Demo,
    keys: Vec<String>,
    etags: Vec<String>,
}

impl Legacy {
    fn year(&self, i: usize) -> i32 {
        chrono::Datelike::year(&self.d.demo.lib.sessions[i].date)
    }
}

/// Uploads as `upload_archive` does: one PUT with its tags and metadata.
async fn python_put(
    d: &S3Demo,
    key: &str,
    body: Vec<u8>,
    class: AwsClass,
    tags: &str,
    metadata: &[(&str, String)],
) -> String {
    let mut put = d
        .store
        .client()
        .put_object()
        .bucket(d.store_bucket())
        .key(key)
        .storage_class(class)
        .tagging(tags)
        .body(ByteStream::from(body));
    for (k, v) in metadata {
        put = put.metadata(*k, v);
    }
    let out = put.send().await.unwrap();
    out.e_tag().unwrap().trim_matches('"').to_owned()
}

/// Four sessions backed up the Python way: a plain tar, gzip under `.tar`, a
/// `.tar.gz` in DEEP_ARCHIVE, and a damaged one; notes under `{id}.md` with rows
/// and one without; a database snapshot with a description.
async fn legacy_state() -> Legacy {
    let d = S3Demo::new("legacy", 4, 3, 40).await;
    d.server.enable_versioning(&d.store).await;
    // The Python tool keeps its own template's layout; fitsbak reads it as is.
    edit_config(d.demo.config(), |c| {
        c["backup_rules"]["raw_lights"]["backup_policy"] = "deep".into();
    });
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    conn.execute_batch(PYTHON_TABLES).unwrap();
    let bucket = d.store_bucket();
    let mut keys = Vec::new();
    let mut etags = Vec::new();
    for (i, s) in d.demo.lib.sessions.iter().enumerate() {
        let year = chrono::Datelike::year(&s.date);
        let (ext, gzip, class, damage) = match i {
            0 => (".tar", false, AwsClass::Standard, false),
            1 => (".tar", true, AwsClass::Standard, false),
            2 => (".tar.gz", true, AwsClass::DeepArchive, false),
            _ => (".tar", false, AwsClass::Standard, true),
        };
        let key = format!("backups/raw/{year}/{}{ext}", s.id);
        let body = python_archive(s, gzip, damage);
        let size = body.len() as i64;
        let original: u64 = s.files.iter().map(|f| f.size).sum();
        let etag = python_put(
            &d,
            &key,
            body,
            class,
            "archive_policy=fast&backup_policy=deep",
            &[
                ("session_id", s.id.clone()),
                ("year", year.to_string()),
                ("original_size", size.to_string()),
                ("created_by", "astrocat-backup".into()),
            ],
        )
        .await;
        conn.execute(
            "INSERT INTO s3_backup_archives (session_id, session_date, session_year, s3_bucket,
                s3_key, s3_region, s3_etag, file_count, original_size_bytes,
                compressed_size_bytes, compression_ratio, uploaded_at, verified,
                verification_method, archive_policy, backup_policy, current_storage_class)
             VALUES (?1, ?2, ?3, ?4, ?5, 'us-east-1', ?6, ?7, ?8, ?9, ?10,
                     '2025-01-02 03:04:05.000000', 1, 'head_object', 'fast', 'deep', 'STANDARD')",
            params![
                s.id,
                s.date.to_string(),
                year,
                bucket,
                key,
                etag,
                s.files.len() as i64,
                original as i64,
                size,
                size as f64 / original as f64
            ],
        )
        .unwrap();
        // Notes: every session but each fourth has one (the demo's rule); the
        // Python tool's key is `{id}.md`; session 2's note has no row (its
        // sync-database was never run).
        let note = d.demo.lib.note_path(s);
        if let Ok(text) = std::fs::read(&note) {
            let note_key = format!("backups/sessions/{year}/{}.md", s.id);
            let note_etag = python_put(
                &d,
                &note_key,
                text.clone(),
                AwsClass::Standard,
                "archive_policy=standard&backup_policy=deep",
                &[
                    ("session_id", s.id.clone()),
                    ("type", "imaging_session".into()),
                ],
            )
            .await;
            if i != 2 {
                conn.execute(
                    "INSERT INTO s3_backup_session_notes (session_id, session_year, s3_bucket,
                        s3_key, s3_region, s3_etag, uploaded_at, file_size_bytes,
                        archive_policy, backup_policy, current_storage_class, verified)
                     VALUES (?1, ?2, ?3, ?4, 'us-east-1', ?5, '2025-01-02 03:04:05.000000',
                             ?6, 'never', 'never', 'STANDARD', 1)",
                    params![s.id, year, bucket, note_key, note_etag, text.len() as i64],
                )
                .unwrap();
            }
        }
        keys.push(key);
        etags.push(etag);
    }
    // `backup_database`: the database file itself (the cataloger keeps it in WAL
    // mode), with a description.
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    python_put(
        &d,
        "backups/database/fits_catalog.db",
        std::fs::read(&d.demo.lib.database_path).unwrap(),
        AwsClass::Standard,
        "archive_policy=standard&backup_policy=flexible",
        &[
            ("original_filename", "fits_catalog.db".into()),
            ("description", "before the 2025 reprocessing".into()),
        ],
    )
    .await;
    drop(conn);
    Legacy { d, keys, etags }
}

fn archive_rows(l: &Legacy) -> Vec<serde_json::Value> {
    l.d.json_any(&["list-sessions"])
        .1
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_adopts_the_python_tools_backups_without_uploading_any_again() {
    let l = legacy_state().await;
    let d = &l.d;

    // Before migrate: checks say what to do and change no row; upload sends nothing.
    let (code, before) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(0), "{before}");
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "not_adopted"),
        "{before}"
    );
    assert!(before.to_string().contains("fitsbak migrate"), "{before}");
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    assert!(
        up["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "skipped"),
        "nothing uploaded over the cataloger's archives: {up}"
    );
    assert!(
        up["notes"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["action"] != "uploaded"),
        "a note already in the bucket is adopted, not sent: {up}"
    );

    // The plan changes nothing.
    let (code, plan) = d.json_any(&["migrate", "--dry-run"]);
    assert_eq!(code, Some(0), "{plan}");
    let adoption = |r: &serde_json::Value, i: usize| {
        r["archives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == l.keys[i].as_str())
            .unwrap_or_else(|| panic!("{} in {r}", l.keys[i]))["adoption"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(adoption(&plan, 0), "to-read");
    assert_eq!(adoption(&plan, 1), "to-read");
    assert_eq!(adoption(&plan, 2), "on-head-evidence");
    let text = stdout(
        d.cmd(&["migrate", "--dry-run"])
            .arg("--json")
            .arg("--quiet"),
    );
    assert!(text.contains("before the 2025 reprocessing"), "{text}");
    let human = stdout(&mut d.cmd(&["migrate", "--dry-run"]));
    println!("{human}");
    assert!(human.contains("nothing was changed"), "{human}");

    // The run: three adopted, the damaged one named, nothing uploaded.
    let (code, done) = d.json_any(&["migrate"]);
    println!("{}", serde_json::to_string_pretty(&done).unwrap());
    assert_eq!(code, Some(1), "the damaged archive is a failure: {done}");
    assert_eq!(adoption(&done, 0), "deep-checked");
    assert_eq!(adoption(&done, 1), "deep-checked");
    assert_eq!(adoption(&done, 2), "on-head-evidence");
    assert_eq!(adoption(&done, 3), "damaged");
    let damaged = done["archives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["adoption"] == "damaged")
        .unwrap();
    assert!(
        damaged["details"].to_string().contains("MD5"),
        "says what is wrong: {damaged}"
    );
    let gz = done["archives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == l.keys[1].as_str())
        .unwrap();
    assert_eq!(gz["compression"], "gzip", "gzip found under a .tar key");
    for i in 0..2 {
        let manifest = d
            .object(&format!(
                "backups/manifests/{}/{}.json",
                l.year(i),
                d.demo.lib.sessions[i].id
            ))
            .await;
        let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(
            m["members"].as_array().unwrap().len(),
            d.demo.lib.sessions[i].files.len()
        );
    }
    let notes = done["notes"].as_array().unwrap();
    assert!(!notes.is_empty());
    assert!(
        notes
            .iter()
            .all(|n| n["adoption"] == "adopted" || n["adoption"] == "tracked"),
        "every note adopted as it is (the one without a row by upload's notes pass): {notes:?}"
    );

    // Objects untouched (same ETags), now under the config's tags.
    for (i, key) in l.keys.iter().enumerate().take(3) {
        let head = d
            .store
            .client()
            .head_object()
            .bucket(d.store_bucket())
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.e_tag().unwrap().trim_matches('"'), l.etags[i], "{key}");
        if i < 2 {
            let tags = d
                .store
                .client()
                .get_object_tagging()
                .bucket(d.store_bucket())
                .key(key)
                .send()
                .await
                .unwrap();
            let tags: Vec<(String, String)> = tags
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            assert!(
                tags.contains(&("archive".into(), "fast".into())),
                "{tags:?}"
            );
            assert!(
                tags.contains(&("backup".into(), "deep-archive".into())),
                "{tags:?}"
            );
        }
    }

    // verify and doctor pass on what was adopted.
    let (code, verified) = d.json_any(&["verify", "--all"]);
    let outcome = |i: usize| {
        verified
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == l.keys[i].as_str())
            .unwrap()["outcome"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(outcome(0), "passed", "{verified}");
    assert_eq!(outcome(1), "passed", "{verified}");
    assert_eq!(outcome(2), "passed", "{verified}");
    assert_eq!(outcome(3), "failed", "{verified}");
    assert_eq!(code, Some(1));
    let (code, deep) = d.json_any(&[
        "verify",
        "--session-id",
        &d.demo.lib.sessions[1].id,
        "--deep",
    ]);
    assert_eq!(
        code,
        Some(0),
        "the gzip archive reads back member by member: {deep}"
    );
    // A file restores from the gzip archive.
    let out = tempfile::tempdir().unwrap();
    let wanted = d.demo.lib.sessions[1].files.last().unwrap();
    let (code, restored) = d.json_any(&[
        "restore",
        "download",
        "--session-id",
        &d.demo.lib.sessions[1].id,
        "--file",
        &wanted.file,
        "--to",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{restored}");

    // Its snapshot restores, leaving only the output file.
    let back = tempfile::tempdir().unwrap();
    let output = back.path().join("fits_catalog.db");
    let (code, db) = d.json_any(&["restore-db", "--output", output.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{db}");
    let left = file_names(back.path());
    assert_eq!(
        left,
        vec!["fits_catalog.db".to_owned()],
        "no -wal or -shm beside it"
    );

    // A second run changes nothing.
    let (code, again) = d.json_any(&["migrate"]);
    assert_eq!(code, Some(1), "the damaged one is still reported: {again}");
    assert!(again["retagged"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(adoption(&again, 0), "tracked");
    assert_eq!(adoption(&again, 2), "tracked");
    assert!(
        again["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["adoption"] == "tracked"),
        "{again}"
    );

    // upload sends only the damaged session; notes upload sends nothing.
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let uploaded: Vec<&str> = up["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "uploaded")
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(uploaded, vec![d.demo.lib.sessions[3].id.as_str()], "{up}");
    let (code, notes_up) = d.json_any(&["notes", "upload"]);
    assert_eq!(code, Some(0), "{notes_up}");
    assert!(
        notes_up["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["action"] != "uploaded"),
        "{notes_up}"
    );
    let rows = archive_rows(&l);
    assert_eq!(rows.len(), 4);

    // The values the cataloger's tools read are in its words.
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let words: Vec<(String, String, String)> = conn
        .prepare("SELECT archive_policy, backup_policy, verification_method FROM s3_backup_archives ORDER BY session_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (archive, backup, method) in &words {
        assert_eq!(
            (archive.as_str(), backup.as_str()),
            ("fast", "deep"),
            "{words:?}"
        );
        assert!(
            ["head_object", "deep"].contains(&method.as_str()),
            "{words:?}"
        );
    }
    let periods: Vec<String> = conn
        .prepare("SELECT DISTINCT period_type FROM s3_backup_stats")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(periods, vec!["daily".to_owned()]);
    drop(conn);

    // The bucket is one fitsbak keeps: rules match every tracked object.
    let (code, applied) = d.json_any(&["lifecycle", "apply"]);
    assert_eq!(code, Some(0), "{applied}");
    let (_, doctor) = d.json_any(&["doctor"]);
    let checks = doctor.as_array().unwrap();
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} in {doctor}"))["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        check("tracked objects"),
        "ok",
        "every tracked object matched by a rule: {doctor}"
    );
    assert_eq!(check("lifecycle"), "ok", "{doctor}");
    assert!(
        checks.iter().all(|c| c["status"] != "fail"),
        "doctor passes on the migrated bucket: {doctor}"
    );
    let (code, verified) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(0), "{verified}");
}
