//! Processing sessions on moto_server: their final and intermediate files land at
//! the Python tool's keys with the rules' tags and class, go again only when they
//! changed (a file, a `.data` folder), come back byte-identical, and the Python
//! tool's models read every row fitsbak wrote.

use std::collections::BTreeMap;
use std::path::Path;

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::store::prelude::*;
use fitsbak_demo::processing::DemoProcessing;

use crate::support::*;

fn key_of(p: &DemoProcessing, subfolder: &str, name: &str) -> String {
    format!(
        "backups/processed/{}/{}/{subfolder}/{name}",
        &p.id[..4],
        p.id
    )
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// (key, action) of each file of an upload's summary.
fn actions(summary: &serde_json::Value) -> BTreeMap<String, String> {
    summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap_or_default().to_owned(),
                o["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn bytes_below(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        total += if path.is_dir() {
            bytes_below(&path)
        } else {
            std::fs::metadata(&path).unwrap().len()
        };
    }
    total
}

#[tokio::test(flavor = "multi_thread")]
async fn processed_files_land_at_the_python_keys_and_go_again_only_when_changed() {
    let d = S3Demo::new("processed", 2, 4, 400).await;
    let lib = d.demo.lib.clone();
    assert_eq!(lib.processing.len(), 2);

    // Finals first, alone.
    let (code, up) = d.json_any(&["processed", "upload", "--subfolder", "final"]);
    assert_eq!(code, Some(0), "{up}");
    let first = actions(&up);
    assert_eq!(first.len(), 4, "{up}");
    assert!(first.keys().all(|k| k.contains("/final/")), "{first:?}");
    assert!(first.values().all(|a| a == "uploaded"), "{first:?}");

    // Then everything: the finals are unchanged, the rest goes.
    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{up}");
    let second = actions(&up);
    assert_eq!(
        second.len(),
        10,
        "4 finals, 4 intermediates, 2 companions: {second:?}"
    );
    for (key, action) in &second {
        let expected = if key.contains("/final/") {
            "unchanged"
        } else {
            "uploaded"
        };
        assert_eq!(action, expected, "{key}");
    }

    // The Python tool's keys, the rules' tags and class.
    for p in &lib.processing {
        for f in &p.files {
            let key = ObjectKey::new(key_of(p, &f.subfolder, &name(&f.path))).unwrap();
            let head = d.store.head(&key).await.unwrap().expect("uploaded");
            assert_eq!(head.size, f.size);
            assert_eq!(head.storage_class.as_str(), "STANDARD");
            let tags = d.store.get_tags(&key).await.unwrap();
            let want = if f.subfolder == "final" {
                ("instant", "instant")
            } else {
                ("delayed", "flexible")
            };
            assert_eq!(
                (tags["archive"].as_str(), tags["backup"].as_str()),
                want,
                "{key}"
            );
            if let Some(companion) = &f.companion {
                let tar = key_of(p, &f.subfolder, &format!("{}.tar", name(companion)));
                let bytes = d.object(&tar).await;
                let mut archive = tar::Archive::new(&bytes[..]);
                let mut names: Vec<String> = archive
                    .entries()
                    .unwrap()
                    .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                let folder = name(companion);
                assert_eq!(
                    names,
                    [
                        format!("{folder}/cache.bin"),
                        format!("{folder}/history/step1.xisf")
                    ]
                );
            }
        }
        let note = d.object(&format!("backups/processing/{}.md", p.id)).await;
        assert_eq!(note, std::fs::read(&p.note).unwrap());
    }

    // Nothing changed: nothing goes.
    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{up}");
    assert!(actions(&up).values().all(|a| a == "unchanged"), "{up}");

    // A file rewritten with other bytes of the same size and its mtime put back (as
    // `cp -p` does, or a rewrite within the second of the last run: whole-second
    // mtimes missed it), and a companion folder that gained a file: those two go
    // again, nothing else.
    let p = &lib.processing[0];
    let master = p
        .files
        .iter()
        .find(|f| name(&f.path).contains("master"))
        .unwrap();
    let mtime = std::fs::metadata(&master.path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&master.path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&master.path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&master.path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let project = p.files.iter().find(|f| f.companion.is_some()).unwrap();
    let companion = project.companion.clone().unwrap();
    std::fs::write(companion.join("history/step2.xisf"), b"another step").unwrap();
    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{up}");
    let sent: Vec<String> = actions(&up)
        .into_iter()
        .filter(|(_, a)| a == "uploaded")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        sent,
        [
            key_of(p, "intermediate", &name(&master.path)),
            key_of(p, "intermediate", &format!("{}.tar", name(&companion))),
        ],
        "{up}"
    );

    // Checked, then restored byte-identical.
    let (code, checks) = d.json_any(&["processed", "verify", "--deep"]);
    assert_eq!(code, Some(0), "{checks}");
    assert_eq!(checks.as_array().unwrap().len(), 10);
    let target = d.demo.dir.path().join("restored");
    let (code, files) = d.json_any(&[
        "processed",
        "restore",
        "--processing-session",
        &p.id,
        "--to",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{files}");
    for f in &p.files {
        let back = target.join(&f.subfolder).join(name(&f.path));
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&f.path).unwrap(),
            "{}",
            back.display()
        );
    }
    let tar = target
        .join("intermediate")
        .join(format!("{}.tar", name(&companion)));
    let mut archive = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    let unpacked = d.demo.dir.path().join("unpacked");
    archive.unpack(&unpacked).unwrap();
    assert_eq!(
        std::fs::read(unpacked.join(name(&companion)).join("history/step2.xisf")).unwrap(),
        b"another step"
    );

    // The cataloger's models read every row, with their types.
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    assert!(
        Path::new(python).exists(),
        "{python} is missing: run scripts/install-test-tools.sh"
    );
    let out = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/py/processed_models.py"
        ))
        .arg(&lib.database_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = rows["s3_backup_processed_file_records"].as_array().unwrap();
    assert_eq!(records.len(), 8, "one row per processed file");
    assert!(
        records
            .iter()
            .all(|r| r["verified"] == true && r["uploaded_at"].is_string())
    );
    let summary = rows["s3_backup_processing_session_summary"]
        .as_array()
        .unwrap();
    assert_eq!(summary.len(), 2);
    for s in summary {
        assert_eq!(s["total_files"], 4);
        assert_eq!(s["backed_up_files"], 4);
        assert_eq!(s["backup_complete"], true);
        assert_eq!(s["all_verified"], true);
    }
    assert_eq!(
        rows["s3_backup_processing_sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The bucket alone rebuilds the rows: sync-db after the rows are gone, then a
    // deep check of every file against the MD5 it recorded.
    let conn = rusqlite::Connection::open(&lib.database_path).unwrap();
    conn.execute_batch(
        "DELETE FROM s3_backup_processed_file_records; DELETE FROM s3_backup_processed_companions;",
    )
    .unwrap();
    drop(conn);
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(0), "{synced}");
    assert_eq!(
        synced["processed_added"].as_array().unwrap().len(),
        10,
        "{synced}"
    );
    let (code, checks) = d.json_any(&["processed", "verify", "--deep"]);
    assert_eq!(code, Some(0), "{checks}");
    assert_eq!(checks.as_array().unwrap().len(), 10);
    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{up}");
    assert!(
        actions(&up).values().all(|a| a == "unchanged"),
        "rebuilt rows know the files: {up}"
    );

    // status --json: the six categories, against sums made here.
    let (code, status) = d.json_any(&["status"]);
    assert_eq!(code, Some(0), "{status}");
    let categories: BTreeMap<String, serde_json::Value> = status["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect();
    let names: Vec<&str> = categories.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "database snapshots",
            "final files",
            "intermediate files",
            "processing notes",
            "raw sessions",
            "session notes"
        ]
    );
    for (label, finals) in [("final files", true), ("intermediate files", false)] {
        let files: Vec<_> = lib
            .processing
            .iter()
            .flat_map(|p| p.files.iter().map(move |f| (p, f)))
            .filter(|(_, f)| (f.subfolder == "final") == finals)
            .collect();
        let local: u64 = files
            .iter()
            .map(|(_, f)| {
                std::fs::metadata(&f.path).unwrap().len()
                    + f.companion.as_deref().map_or(0, bytes_below)
            })
            .sum();
        let mut stored = 0;
        for (p, f) in &files {
            let mut keys = vec![key_of(p, &f.subfolder, &name(&f.path))];
            if let Some(c) = &f.companion {
                keys.push(key_of(p, &f.subfolder, &format!("{}.tar", name(c))));
            }
            for key in keys {
                let key = ObjectKey::new(key).unwrap();
                stored += d.store.head(&key).await.unwrap().unwrap().size;
            }
        }
        let c = &categories[label];
        assert_eq!(c["local_count"], files.len(), "{label}");
        assert_eq!(c["local_bytes"], local, "{label}");
        assert_eq!(c["backed_up_count"], files.len(), "{label}");
        assert_eq!(c["backed_up_bytes"], stored, "{label}");
        assert_eq!(c["not_backed_up"], 0, "{label}");
    }
    assert_eq!(categories["final files"]["storage_class"], "GLACIER_IR");
    assert_eq!(categories["intermediate files"]["storage_class"], "GLACIER");
    let notes = &categories["processing notes"];
    assert_eq!(notes["local_count"], 2);
    assert_eq!(notes["backed_up_count"], 2);
    let raw = &categories["raw sessions"];
    assert_eq!(raw["local_count"], 2);
    assert_eq!(raw["backed_up_count"], 0);
    assert_eq!(raw["not_backed_up"], 2);
    assert_eq!(categories["database snapshots"]["local_count"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file_or_a_link_fails_alone_and_nothing_of_it_is_recorded() {
    let d = S3Demo::new("processed-bad", 1, 4, 50).await;
    let p = d.demo.lib.processing[0].clone();
    let gone = &p.files[0];
    std::fs::remove_file(&gone.path).unwrap();
    let linked = &p.files[1];
    std::fs::remove_file(&linked.path).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &linked.path).unwrap();
    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(1), "{up}");
    let files = up["files"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> =
        files.iter().filter(|o| o["action"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{up}");
    let reasons = serde_json::to_string(&failed).unwrap();
    assert!(
        reasons.contains("is missing") && reasons.contains(&name(&gone.path)),
        "{reasons}"
    );
    assert!(reasons.contains("symbolic link"), "{reasons}");
    assert_eq!(
        files.iter().filter(|o| o["action"] == "uploaded").count(),
        3,
        "the other two files and the companion went: {up}"
    );
    for f in [gone, linked] {
        let key = ObjectKey::new(key_of(&p, &f.subfolder, &name(&f.path))).unwrap();
        assert!(d.store.head(&key).await.unwrap().is_none(), "{key}");
    }
    let conn = rusqlite::Connection::open(&d.demo.lib.database_path).unwrap();
    let ids: Vec<i64> = conn
        .prepare("SELECT processed_file_id FROM s3_backup_processed_file_records")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !ids.contains(&gone.id) && !ids.contains(&linked.id),
        "{ids:?}"
    );
    let (_, status) = d.json_any(&["status"]);
    let finals = status["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "final files")
        .unwrap()
        .clone();
    assert_eq!(finals["not_backed_up"], 2, "{finals}");
}

/// The rows recorded of processed file `id`.
fn records_of(d: &S3Demo, id: i64) -> i64 {
    rusqlite::Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM s3_backup_processed_file_records WHERE processed_file_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

/// A processing session whose biggest file goes up at 16 Mbit/s, in several parts:
/// the demo, the session, the file, and the `processed upload --json` of its
/// subfolder, under way.
async fn slow_processed_upload(
    name: &str,
) -> (
    S3Demo,
    DemoProcessing,
    fitsbak_demo::processing::DemoProcessed,
    std::process::Child,
) {
    let d = S3Demo::new(name, 1, 4, 2048).await;
    edit_config(d.demo.config(), |c| {
        c["upload_settings"]["max_bandwidth_mbps"] = 16.into();
    });
    let p = d.demo.lib.processing[0].clone();
    let big = p.files.iter().max_by_key(|f| f.size).unwrap().clone();
    assert!(big.size > 4 << 20, "several parts: {}", big.size);
    let child = spawn(
        &d,
        &[
            "--json",
            "processed",
            "upload",
            "--subfolder",
            &big.subfolder,
        ],
        &[],
    );
    (d, p, big, child)
}

/// SIGTERM during a processed file's multipart upload: the run stops, keeps the
/// parts, records nothing of the file, and the next run resumes where it stopped.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_processed_upload_resumes_where_it_stopped() {
    let (d, p, big, child) = slow_processed_upload("processed-stop").await;
    wait_for_parts(&d.demo.lib.database_path, 2);
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let (code, stopped) = finish(child);
    assert_eq!(code, Some(130), "{stopped}");
    assert_eq!(stopped["interrupted"], true, "{stopped}");
    assert_eq!(d.store.list_multipart_uploads("").await.unwrap().len(), 1);
    assert_eq!(
        records_of(&d, big.id),
        0,
        "nothing recorded of the file cut short"
    );

    let (code, resumed) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{resumed}");
    let key = key_of(&p, &big.subfolder, &name(&big.path));
    let outcome = resumed["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == key.as_str())
        .unwrap()
        .clone();
    assert_eq!(outcome["action"], "uploaded", "{outcome}");
    assert!(outcome["resumed_parts"].as_u64().unwrap() >= 2, "{outcome}");
    assert_eq!(d.object(&key).await, std::fs::read(&big.path).unwrap());
    assert!(d.store.list_multipart_uploads("").await.unwrap().is_empty());
}

/// The processing software writes to a file while its upload runs: that file
/// fails, naming it, nothing of it is recorded, and the next run sends it whole as
/// it is now.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_while_it_is_read_fails_and_goes_again_whole() {
    use std::io::Write as _;
    let (d, p, big, child) = slow_processed_upload("processed-changed").await;
    wait_for_parts(&d.demo.lib.database_path, 2);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&big.path)
        .unwrap();
    file.write_all(b"more, written while the upload ran")
        .unwrap();
    drop(file);
    let (code, up) = finish(child);
    assert_eq!(code, Some(1), "{up}");
    let key = key_of(&p, &big.subfolder, &name(&big.path));
    let outcome = |run: &serde_json::Value| {
        run["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == key.as_str())
            .unwrap_or_else(|| panic!("no outcome for {key}: {run}"))
            .clone()
    };
    let failed = outcome(&up);
    assert_eq!(failed["action"], "failed", "{failed}");
    let reason = failed.to_string();
    assert!(
        reason.contains("changed while it was read") && reason.contains(&name(&big.path)),
        "{reason}"
    );
    assert_eq!(
        records_of(&d, big.id),
        0,
        "nothing recorded of the file that changed"
    );

    let (code, again) = d.json_any(&["processed", "upload", "--subfolder", &big.subfolder]);
    assert_eq!(code, Some(0), "{again}");
    let sent = outcome(&again);
    assert_eq!(sent["action"], "uploaded", "{sent}");
    assert_eq!(
        sent["resumed_parts"], 0,
        "no part of the old bytes is kept: {sent}"
    );
    assert_eq!(d.object(&key).await, std::fs::read(&big.path).unwrap());
    assert!(d.store.list_multipart_uploads("").await.unwrap().is_empty());
}

/// Every processed row's (table, processed_file_id, fingerprint).
fn prints(d: &S3Demo) -> Vec<(String, i64, String)> {
    let db = rusqlite::Connection::open(&d.demo.lib.database_path).unwrap();
    let mut out = Vec::new();
    for table in [
        "s3_backup_processed_file_records",
        "s3_backup_processed_companions",
    ] {
        let mut q = db
            .prepare(&format!(
                "SELECT processed_file_id, fingerprint FROM {table} ORDER BY processed_file_id"
            ))
            .unwrap();
        let rows = q
            .query_map([], |r| Ok((table.to_owned(), r.get(0)?, r.get(1)?)))
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// Rows an earlier version wrote (whole-second prints) and a file touched with its
/// bytes kept: each is hashed once, found unchanged, not sent, and its row keeps
/// what it is now, so that the run after hashes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn older_prints_and_touched_files_are_hashed_once_and_not_sent() {
    let d = S3Demo::new("processed-prints", 1, 2, 100).await;
    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{up}");
    let first = prints(&d);
    assert!(
        first.iter().any(|(t, ..)| t.ends_with("companions")),
        "the demo has a companion folder: {first:?}"
    );
    assert!(first.iter().all(|(.., p)| p.contains("@ns:")), "{first:?}");

    // The rows as an earlier version left them.
    let db = rusqlite::Connection::open(&d.demo.lib.database_path).unwrap();
    for (table, id, print) in &first {
        let old = match print.split_once("@ns:") {
            Some(("file", rest)) => format!("file:{}:1700000000", rest.split(':').next().unwrap()),
            _ => "tree:2:00000000000000000000000000000000".to_owned(),
        };
        db.execute(
            &format!("UPDATE {table} SET fingerprint = ?2 WHERE processed_file_id = ?1"),
            rusqlite::params![id, old],
        )
        .unwrap();
    }
    // And a final file touched: a new mtime, the same bytes.
    let touched = &d.demo.lib.processing[0].files[0].path;
    std::fs::File::options()
        .write(true)
        .open(touched)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();

    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{up}");
    assert!(actions(&up).values().all(|a| a == "unchanged"), "{up}");
    let second = prints(&d);
    assert!(
        second.iter().all(|(.., p)| p.contains("@ns:")),
        "every row keeps what its file is now: {second:?}"
    );
    let row = |rows: &[(String, i64, String)], table: &str, id: i64| {
        rows.iter()
            .find(|(t, i, _)| t == table && *i == id)
            .unwrap()
            .2
            .clone()
    };
    let touched_id = d.demo.lib.processing[0].files[0].id;
    let files = "s3_backup_processed_file_records";
    assert_ne!(
        row(&first, files, touched_id),
        row(&second, files, touched_id),
        "the touched file's row has its new mtime"
    );

    let (code, up) = d.json_any(&["processed", "upload"]);
    assert_eq!(code, Some(0), "{up}");
    assert!(actions(&up).values().all(|a| a == "unchanged"), "{up}");
    assert_eq!(prints(&d), second, "nothing to refresh the run after");
}
