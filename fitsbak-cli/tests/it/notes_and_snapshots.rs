//! Session notes, catalog snapshots and cost estimates, on moto_server and the
//! local target.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::store::prelude::*;
use rusqlite::Connection;

use crate::support::{Demo, S3Demo, edit_config, failure, stdout};

fn notes_key(d: &S3Demo, session: usize) -> String {
    let s = &d.demo.lib.sessions[session];
    format!(
        "backups/sessions/{}/{}.md",
        chrono::Datelike::year(&s.date),
        s.id
    )
}

fn note_rows(db: &Path) -> Vec<(String, String, i64)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT session_id, content_md5, file_size_bytes FROM s3_backup_session_notes
             ORDER BY session_id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn actions(summary: &serde_json::Value) -> Vec<String> {
    summary["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["action"].as_str().unwrap().to_owned())
        .collect()
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

#[tokio::test]
async fn notes_upload_once_skip_when_unchanged_and_upload_again_after_an_edit() {
    let d = S3Demo::new("notes", 4, 2, 8).await;
    let lib = &d.demo.lib;
    // The demo gives every session a note but the fourth.
    let with_note: Vec<usize> = (0..4)
        .filter(|i| lib.note_path(&lib.sessions[*i]).exists())
        .collect();
    assert_eq!(with_note.len(), 3);

    let (code, status) = d.json_any(&["notes", "status"]);
    assert_eq!(code, Some(0), "{status}");
    let states: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "new").count(), 3);
    assert_eq!(states.iter().filter(|s| **s == "no-note").count(), 1);

    // A dry run sends nothing and records nothing.
    let (_, dry) = d.json_any(&["notes", "upload", "--dry-run"]);
    assert_eq!(count(&actions(&dry), "would-upload"), 3);
    assert!(note_rows(&lib.database_path).is_empty());
    let key = ObjectKey::new(notes_key(&d, with_note[0])).unwrap();
    assert!(d.store.head(&key).await.unwrap().is_none());

    // First upload: the three notes, byte for byte, tagged by the notes rule.
    let (code, first) = d.json_any(&["notes", "upload"]);
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(count(&actions(&first), "uploaded"), 3, "{first}");
    assert_eq!(count(&actions(&first), "no-note"), 1);
    for &i in &with_note {
        let on_disk = std::fs::read(lib.note_path(&lib.sessions[i])).unwrap();
        assert_eq!(d.object(&notes_key(&d, i)).await, on_disk);
    }
    let tags = d.store.get_tags(&key).await.unwrap();
    assert_eq!(tags["archive"], "normal");
    assert_eq!(tags["backup"], "deep-archive");
    let rows = note_rows(&lib.database_path);
    assert_eq!(rows.len(), 3);
    let etag_before = d.store.head(&key).await.unwrap().unwrap().last_modified;

    // Unchanged, even with a new mtime: nothing is sent.
    let path = lib.note_path(&lib.sessions[with_note[0]]);
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    drop(file);
    let (_, second) = d.json_any(&["notes", "upload"]);
    assert_eq!(count(&actions(&second), "uploaded"), 0, "{second}");
    assert_eq!(count(&actions(&second), "unchanged"), 3);
    assert_eq!(
        d.store.head(&key).await.unwrap().unwrap().last_modified,
        etag_before
    );

    // Edited: that note alone goes up again, and its row follows.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\nMeridian flip at 01:12, refocused after.\n");
    std::fs::write(&path, &text).unwrap();
    let (_, status) = d.json_any(&["notes", "status"]);
    assert_eq!(
        status
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "changed")
            .count(),
        1
    );
    let (_, third) = d.json_any(&["notes", "upload"]);
    assert_eq!(count(&actions(&third), "uploaded"), 1, "{third}");
    assert_eq!(
        d.object(&notes_key(&d, with_note[0])).await,
        text.as_bytes()
    );
    let rows_after = note_rows(&lib.database_path);
    let id = lib.sessions[with_note[0]].id.as_str();
    let md5 = |rows: &[(String, String, i64)]| {
        rows.iter()
            .find(|r| r.0 == id)
            .map(|r| r.1.clone())
            .unwrap()
    };
    assert_ne!(md5(&rows), md5(&rows_after));
    assert_eq!(
        md5(&rows_after),
        hex::encode(<md5::Md5 as md5::Digest>::digest(text.as_bytes()))
    );

    // --force sends them all again.
    let (_, forced) = d.json_any(&["notes", "upload", "--force"]);
    assert_eq!(count(&actions(&forced), "uploaded"), 3);

    // `upload` backs up the notes of the sessions it backs up.
    std::fs::write(lib.note_path(&lib.sessions[with_note[1]]), "# rewritten\n").unwrap();
    let out = stdout(&mut d.cmd(&["upload"]));
    assert!(
        out.contains("Notes: 1 uploaded, 2 unchanged, 1 without notes, 0 failed"),
        "{out}"
    );
    assert_eq!(
        d.object(&notes_key(&d, with_note[1])).await,
        b"# rewritten\n"
    );
}

#[test]
fn notes_need_a_notes_dir_that_exists() {
    let d = Demo::new();
    edit_config(d.config(), |c| c["notes_dir"] = serde_json::Value::Null);
    let err = failure(&mut d.cmd(&["notes", "status"]), 2);
    assert!(err.contains("notes_dir is not set"), "{err}");

    edit_config(d.config(), |c| c["notes_dir"] = "no/such/dir".into());
    let err = failure(&mut d.cmd(&["notes", "upload"]), 2);
    assert!(
        err.contains("no/such/dir") && err.contains("does not exist"),
        "{err}"
    );
    // The archives still go up; the run says why the notes did not.
    let out = d.cmd(&["upload"]).assert().success().get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("session notes not backed up") && stderr.contains("no/such/dir"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 uploaded"));
}

#[tokio::test]
async fn notes_on_the_local_target_and_odd_sessions() {
    let d = Demo::new();
    let out = stdout(&mut d.cmd(&["notes", "upload"]));
    assert!(out.contains("3 uploaded"), "{out}");
    let unknown = failure(
        &mut d.cmd(&["notes", "upload", "--session-id", "20990101_FFFFFFFF"]),
        2,
    );
    assert!(unknown.contains("20990101_FFFFFFFF") && unknown.contains("not in the catalog"));
    // A note that is a directory is named, and the others still go up.
    let lib = &d.lib;
    let without = lib
        .sessions
        .iter()
        .find(|s| !lib.note_path(s).exists())
        .unwrap();
    let odd = lib.note_path(without);
    std::fs::create_dir_all(&odd).unwrap();
    let err = failure(&mut d.cmd(&["notes", "status"]), 2);
    assert!(
        err.contains(&*odd.to_string_lossy()) && err.contains("not a file"),
        "{err}"
    );
}

/// A writer that keeps inserting rows into the catalog, in WAL mode, from another
/// connection, until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    rows: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(db: &Path) -> Self {
        let conn = Connection::open(db).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS observing_log (id INTEGER PRIMARY KEY, line TEXT NOT NULL);",
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let rows = Arc::new(AtomicU64::new(0));
        let (s, r) = (stop.clone(), rows.clone());
        let thread = std::thread::spawn(move || {
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            while !s.load(Ordering::Relaxed) {
                let tx = conn.unchecked_transaction().unwrap();
                for _ in 0..50 {
                    tx.execute(
                        "INSERT INTO observing_log (line) VALUES (?1)",
                        [format!(
                            "frame at {:?} {}",
                            std::time::SystemTime::now(),
                            "x".repeat(200)
                        )],
                    )
                    .unwrap();
                }
                tx.commit().unwrap();
                r.fetch_add(50, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        Self {
            stop,
            rows,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.rows.load(Ordering::Relaxed)
    }
}

fn integrity(path: &Path) -> String {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn logged_rows(path: &Path) -> u64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM observing_log", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64
}

#[tokio::test]
async fn snapshots_taken_while_the_catalog_is_written_restore_and_pass_integrity_check() {
    let d = S3Demo::new("snapshots", 2, 2, 8).await;
    d.store
        .client()
        .put_bucket_versioning()
        .bucket(d.store_bucket())
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let db = d.demo.lib.database_path.clone();
    let writer = Writer::start(&db);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let first = stdout(&mut d.cmd(&["backup-db", "--description", "before the flip, Hα 100%"]));
    assert!(
        first.contains("integrity ok") && first.contains("as version"),
        "{first}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = stdout(&mut d.cmd(&["backup-db"]));
    let written = writer.stop();
    assert!(written > 0);
    assert!(second.contains("backups/database/catalog.db"), "{second}");

    // Two versions of one key, newest first, with the description kept.
    let (code, list) = d.json_any(&["list-db-backups"]);
    assert_eq!(code, Some(0));
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(
        list.iter()
            .all(|s| s["key"] == "backups/database/catalog.db")
    );
    assert_eq!(list[0]["is_latest"], true);
    let older = list[1]["version_id"].as_str().unwrap().to_owned();
    assert_eq!(list[1]["description"], "before the flip, Hα 100%");
    let text = stdout(&mut d.cmd(&["list-db-backups"]));
    assert!(text.contains("(latest)") && text.contains(&older), "{text}");

    // Each restores, passes integrity_check, and holds the rows committed before it.
    let out_dir = tempfile::tempdir().unwrap();
    let old_copy = out_dir.path().join("old.db");
    let restored = stdout(&mut d.cmd(&[
        "restore-db",
        "--version-id",
        &older,
        "--output",
        old_copy.to_str().unwrap(),
    ]));
    assert!(
        restored.contains("integrity_check ok") && restored.contains("as uploaded"),
        "{restored}"
    );
    assert_eq!(integrity(&old_copy), "ok");
    let newest = out_dir.path().join("new.db");
    stdout(&mut d.cmd(&["restore-db", "--output", newest.to_str().unwrap()]));
    assert_eq!(integrity(&newest), "ok");
    let (old_rows, new_rows) = (logged_rows(&old_copy), logged_rows(&newest));
    assert!(
        old_rows > 0 && old_rows <= new_rows && new_rows <= written,
        "{old_rows} {new_rows} {written}"
    );
    assert_eq!(old_rows % 50, 0, "a snapshot holds whole transactions only");
    // The catalog's own tables came along.
    let sessions: i64 = Connection::open(&newest)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM imaging_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 2);

    // An existing file is not replaced without --overwrite; an unknown version is named.
    let err = failure(
        &mut d.cmd(&["restore-db", "--output", newest.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("--overwrite"), "{err}");
    stdout(&mut d.cmd(&[
        "restore-db",
        "--output",
        newest.to_str().unwrap(),
        "--overwrite",
    ]));
    let err = failure(
        &mut d.cmd(&[
            "restore-db",
            "--version-id",
            "no-such-version",
            "--output",
            "x.db",
        ]),
        2,
    );
    assert!(
        err.contains("no-such-version") && err.contains("list-db-backups"),
        "{err}"
    );
}

#[tokio::test]
async fn a_damaged_snapshot_is_refused_and_nothing_is_written() {
    let d = S3Demo::new("badsnap", 1, 1, 8).await;
    stdout(&mut d.cmd(&["backup-db"]));
    // Replace the snapshot (the bucket has no versioning: one timestamped key) with
    // bytes of the same MD5 metadata that are not a database.
    let (_, list) = d.json_any(&["list-db-backups"]);
    let key = list[0]["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("backups/database/catalog_") && key.ends_with("Z.db"),
        "{key}"
    );
    let junk = b"SQLite format 3\0 but not really".repeat(200);
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&junk));
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("md5".to_owned(), md5);
    d.store
        .put(
            &ObjectKey::new(key.clone()).unwrap(),
            junk.into(),
            None,
            &fitsbak_core::store::PutOptions {
                metadata,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("restored.db");
    let err = failure(
        &mut d.cmd(&[
            "restore-db",
            "--key",
            &key,
            "--output",
            out.to_str().unwrap(),
        ]),
        2,
    );
    assert!(
        err.contains("integrity_check") || err.contains("not a database"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial file left"
    );
}

#[tokio::test]
async fn a_snapshot_in_deep_archive_is_restored_first() {
    let d = S3Demo::new("deepsnap", 1, 1, 8).await;
    edit_config(d.demo.config(), |c| {
        c["backup_rules"]["imaging_sessions"]["storage_class"] = "DEEP_ARCHIVE".into();
    });
    stdout(&mut d.cmd(&["backup-db"]));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("restored.db");
    let err = failure(
        &mut d.cmd(&["restore-db", "--output", out.to_str().unwrap()]),
        2,
    );
    assert!(
        err.contains("DEEP_ARCHIVE") && err.contains("--request-restore"),
        "{err}"
    );
    let err = failure(
        &mut d.cmd(&["restore-db", "--request-restore", "--tier", "Expedited"]),
        2,
    );
    assert!(err.contains("Expedited"), "{err}");
    let requested = stdout(&mut d.cmd(&["restore-db", "--request-restore", "--tier", "Bulk"]));
    assert!(requested.contains("Bulk"), "{requested}");
    // moto makes the copy readable at once.
    stdout(&mut d.cmd(&["restore-db", "--output", out.to_str().unwrap()]));
    assert_eq!(integrity(&out), "ok");
}

#[test]
fn snapshots_on_the_local_target_get_timestamped_keys() {
    let d = Demo::new();
    stdout(&mut d.cmd(&["backup-db", "--description", "first"]));
    stdout(&mut d.cmd(&["backup-db", "--description", "second"]));
    let list = d.json(&["list-db-backups"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_ne!(list[0]["key"], list[1]["key"]);
    assert_eq!(list[0]["description"], "second");
    let key = list[1]["key"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let out = d.dir.path().join("restored.db");
    stdout(&mut d.cmd(&[
        "restore-db",
        "--key",
        &key,
        "--output",
        out.to_str().unwrap(),
    ]));
    assert_eq!(integrity(&out), "ok");
    // A catalog that is missing is named.
    edit_config(d.config(), |c| c["database_path"] = "gone.db".into());
    let err = failure(&mut d.cmd(&["backup-db"]), 2);
    assert!(err.contains("gone.db"), "{err}");
}

#[tokio::test]
async fn estimate_costs_matches_a_hand_computation() {
    let d = S3Demo::new("costs", 3, 3, 64).await;
    stdout(&mut d.cmd(&["upload"]));
    stdout(&mut d.cmd(&["backup-db"]));

    // Sizes by hand, from the tracking tables.
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let sum =
        |sql: &str| -> f64 { conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as f64 };
    let archives = sum("SELECT SUM(compressed_size_bytes) FROM s3_backup_archives");
    let notes = sum("SELECT SUM(file_size_bytes) FROM s3_backup_session_notes");
    let snapshots = sum("SELECT SUM(size_bytes) FROM s3_backup_db_snapshots");
    assert!(archives > 0.0 && notes > 0.0 && snapshots > 0.0);
    let gb = (archives + notes + snapshots) / (1u64 << 30) as f64;

    let (code, e) = d.json_any(&["estimate-costs", "--storage-class", "GLACIER_IR"]);
    assert_eq!(code, Some(0), "{e}");
    let close = |v: &serde_json::Value, expected: f64| {
        let v = v.as_f64().unwrap();
        assert!(
            (v - expected).abs() <= 1e-12 + expected * 1e-9,
            "{v} vs {expected}"
        );
    };
    // Everything sits in STANDARD on moto ($0.023); the default rules send
    // everything to DEEP_ARCHIVE at once ($0.00099), but for objects under
    // 128 KiB, which S3 does not transition: they stay in STANDARD.
    let sizes: Vec<f64> = {
        let mut stmt = conn
            .prepare(
                "SELECT compressed_size_bytes FROM s3_backup_archives
                 UNION ALL SELECT file_size_bytes FROM s3_backup_session_notes
                 UNION ALL SELECT size_bytes FROM s3_backup_db_snapshots",
            )
            .unwrap();
        stmt.query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|v| v.unwrap() as f64)
            .collect()
    };
    let small: f64 = sizes.iter().filter(|b| **b < 131_072.0).sum::<f64>() / (1u64 << 30) as f64;
    assert!(small > 0.0, "the notes are small");
    let lifecycle = (gb - small) * 0.00099 + small * 0.023;
    close(&e["as_stored"]["monthly_usd"], gb * 0.023);
    close(&e["as_stored"]["first_year_usd"], gb * 0.023 * 12.0);
    close(&e["with_lifecycle"]["monthly_usd"], lifecycle);
    close(&e["with_lifecycle"]["first_year_usd"], lifecycle * 12.0);
    close(&e["in_class"][1]["monthly_usd"], gb * 0.004);
    close(&e["egress_usd"], gb * 0.09);
    let tiers = e["restore_tiers"].as_array().unwrap();
    close(&tiers[0]["cost_usd"], gb * 0.0025);
    close(&tiers[1]["cost_usd"], gb * 0.02);
    assert_eq!(tiers[2]["available"], false);
    assert_eq!(e["kinds"][0]["objects"], 3);
    assert_eq!(e["kinds"][1]["objects"], 3);
    assert_eq!(e["kinds"][2]["objects"], 1);

    let text = stdout(&mut d.cmd(&["estimate-costs"]));
    assert!(
        text.contains("with the lifecycle rules") && text.contains("DEEP_ARCHIVE"),
        "{text}"
    );
    let err = failure(
        &mut d.cmd(&["estimate-costs", "--storage-class", "COLD"]),
        2,
    );
    assert!(err.contains("COLD"), "{err}");

    // status: the cost line and the last run.
    let status = stdout(&mut d.cmd(&["status"]));
    assert!(
        status.contains("Cost:") && status.contains("/month"),
        "{status}"
    );
    assert!(
        status.contains("Last run:") && status.contains("3 upload(s)"),
        "{status}"
    );
    let json = d.json_any(&["status"]).1;
    close(&json["cost"]["monthly_usd_as_stored"], gb * 0.023);
    assert_eq!(json["last_run"]["uploads_count"], 3);
}
