//! status, list-sessions, analyze, init-config and demo init: human and JSON output
//! against numbers known from the files.

use predicates::prelude::*;
use rusqlite::Connection;

use crate::support::*;

#[test]
fn status_json_counts_the_demo_library() {
    let demo = Demo::new();
    let v = demo.json(&["status"]);
    assert_eq!(v["sessions_total"], 4);
    assert_eq!(v["sessions_backed_up"], 0);
    assert_eq!(v["sessions_not_backed_up"], 4);
    assert_eq!(v["files_total"], 24);
    assert_eq!(v["files_backed_up"], 0);
    assert_eq!(v["bytes_backed_up"], 0);
    assert_eq!(v["storage_classes"], serde_json::json!({}));
    let target = v["target"].as_str().unwrap();
    assert!(
        target.starts_with("local:") && target.ends_with("bucket"),
        "{target}"
    );
}

#[test]
fn status_reads_backed_up_rows_written_by_other_tools() {
    let demo = Demo::new();
    // Initialise the tracking tables, then add rows the way the original tool did.
    let before = demo.json(&["status"]);
    // Of this target: its bucket (here the local target's root).
    let bucket = before["target"]
        .as_str()
        .unwrap()
        .trim_start_matches("local:");
    let conn = Connection::open(&demo.lib.database_path).unwrap();
    let s = &demo.lib.sessions;
    conn.execute(
        "INSERT INTO s3_backup_archives (session_id, session_year, s3_bucket, s3_key, s3_region,
            file_count, original_size_bytes, compressed_size_bytes, current_storage_class, verified)
         VALUES (?1, 2022, ?3, 'k1', 'us-east-1', 6, 1000, 2048, 'DEEP_ARCHIVE', 1),
                (?2, 2022, ?3, 'k2', 'us-east-1', 5, 500, 1024, 'STANDARD', 0)",
        [&s[0].id, &s[1].id, &bucket.to_owned()],
    )
    .unwrap();
    let v = demo.json(&["status"]);
    assert_eq!(v["sessions_backed_up"], 2);
    assert_eq!(v["sessions_not_backed_up"], 2);
    assert_eq!(v["percent_backed_up"], 50.0);
    assert_eq!(v["files_backed_up"], 11);
    assert_eq!(v["bytes_backed_up"], 1500);
    assert_eq!(v["archives_verified"], 1);
    assert_eq!(v["storage_classes"]["DEEP_ARCHIVE"]["archives"], 1);
    assert_eq!(v["storage_classes"]["STANDARD"]["bytes"], 1024);

    let text = stdout(&mut demo.cmd(&["status"]));
    assert!(
        text.contains("4 total, 2 backed up (50.0% up to date), 2 not backed up"),
        "{text}"
    );
    assert!(
        text.contains("11 of 24 catalogued files backed up, 1.46 KiB"),
        "{text}"
    );
    assert!(text.contains("DEEP_ARCHIVE"), "{text}");

    let rows = demo.json(&["list-sessions"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let first = rows
        .iter()
        .find(|r| r["session_id"] == s[0].id.as_str())
        .unwrap();
    assert_eq!(first["backed_up"], true);
    assert_eq!(
        first["size_bytes"], 1000,
        "backed-up size from the tracking row"
    );
    assert_eq!(first["storage_class"], "DEEP_ARCHIVE");
    let not = demo.json(&["list-sessions", "--not-backed-up"]);
    let ids: Vec<&str> = not
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![s[2].id.as_str(), s[3].id.as_str()]);
}

#[test]
fn list_sessions_shows_sizes_from_disk_and_filters_by_year() {
    let demo = Demo::new();
    let rows = demo.json(&["list-sessions"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for (row, session) in rows.iter().zip(&demo.lib.sessions) {
        assert_eq!(row["session_id"], session.id.as_str());
        assert_eq!(row["date"], session.date.to_string());
        assert_eq!(row["year"], chrono::Datelike::year(&session.date));
        assert_eq!(row["file_count"], session.files.len());
        let bytes: u64 = session
            .files
            .iter()
            .map(|f| std::fs::metadata(&f.path).unwrap().len())
            .sum();
        assert_eq!(row["size_bytes"], bytes);
        assert_eq!(row["backed_up"], false);
        assert_eq!(row["storage_class"], serde_json::Value::Null);
    }
    let year = chrono::Datelike::year(&demo.lib.sessions[0].date);
    let only = demo.json(&["list-sessions", "--year", &year.to_string()]);
    let expected = demo
        .lib
        .sessions
        .iter()
        .filter(|s| chrono::Datelike::year(&s.date) == year)
        .count();
    assert_eq!(only.as_array().unwrap().len(), expected);
    assert!(only.as_array().unwrap().iter().all(|r| r["year"] == year));

    let text = stdout(&mut demo.cmd(&["list-sessions"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("Session") && lines[0].contains("Storage class"),
        "{text}"
    );
    assert!(lines[1].starts_with("---"), "{text}");
    assert_eq!(lines.len(), 4 + 3);
    assert!(lines[2].starts_with(demo.lib.sessions[0].id.as_str()));
    assert_eq!(lines.last().unwrap(), &"4 session(s), 0 backed up, 4 not");
}

#[test]
fn analyze_reports_each_year_and_lists_missing_files() {
    let demo = Demo::new();
    let gone = &demo.lib.sessions[1].files[0];
    std::fs::remove_file(&gone.path).unwrap();
    let v = demo.json(&["analyze", "--bandwidth", "8"]);
    assert_eq!(v["bandwidth_mbps"], 8.0);
    let years = v["years"].as_array().unwrap();
    let mut total_bytes = 0;
    for y in years {
        let year = y["year"].as_i64().unwrap() as i32;
        let sessions: Vec<_> = demo
            .lib
            .sessions
            .iter()
            .filter(|s| chrono::Datelike::year(&s.date) == year)
            .collect();
        let bytes: u64 = sessions
            .iter()
            .flat_map(|s| &s.files)
            .filter(|f| f.path.exists())
            .map(|f| f.size)
            .sum();
        assert_eq!(y["sessions"], sessions.len());
        assert_eq!(
            y["files"],
            sessions.iter().map(|s| s.files.len()).sum::<usize>()
        );
        assert_eq!(y["total_bytes"], bytes);
        assert_eq!(y["upload_seconds"], bytes as f64 * 8.0 / 8e6);
        total_bytes += bytes;
    }
    assert_eq!(v["total"]["total_bytes"], total_bytes);
    assert_eq!(v["total"]["missing_files"], 1);
    let missing: Vec<&str> = years
        .iter()
        .flat_map(|y| y["missing"].as_array().unwrap())
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(missing, vec![gone.path.to_str().unwrap()]);

    demo.cmd(&["analyze"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Upload times assume 20 Mbit/s."))
        .stdout(predicate::str::contains("not found on disk"))
        .stdout(predicate::str::contains(gone.path.to_str().unwrap()));
}

#[test]
fn init_config_writes_the_template_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3_config.json");
    fitsbak()
        .current_dir(dir.path())
        .arg("init-config")
        .assert()
        .success()
        .stdout(predicate::str::contains("local target"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, fitsbak_core::config::Config::template());
    std::fs::write(&path, "{\"aws_region\": \"eu-west-1\"}").unwrap();
    let err = failure(fitsbak().current_dir(dir.path()).arg("init-config"), 2);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("eu-west-1")
    );
    fitsbak()
        .current_dir(dir.path())
        .args(["init-config", "--force"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        fitsbak_core::config::Config::template()
    );
}

#[test]
fn demo_init_writes_a_library_the_other_commands_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lib");
    let out = stdout(fitsbak().args(["--json", "demo", "init"]).arg(&root).args([
        "--sessions",
        "3",
        "--files-per-session",
        "5",
        "--file-size-kib",
        "8",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sessions"], 3);
    assert_eq!(v["files"], 15);
    let config = v["config"].as_str().unwrap();
    let status: serde_json::Value = serde_json::from_slice(
        &fitsbak()
            .args(["--json", "--config", config, "status"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(status["sessions_total"], 3);
    assert_eq!(status["files_total"], 15);
    let err = failure(fitsbak().args(["demo", "init"]).arg(&root), 2);
    assert!(err.contains("is not empty"), "{err}");
}

#[test]
fn database_option_overrides_the_config() {
    let a = Demo::new();
    let b = Demo::with(fitsbak_demo::DemoSpec {
        sessions: 2,
        files_per_session: 4,
        width: 8,
        height: 8,
        seed: 7,
        ..Default::default()
    });
    let db = b.lib.database_path.to_str().unwrap();
    let v = a.json(&["--database", db, "status"]);
    assert_eq!(v["sessions_total"], 2);
    assert_eq!(v["catalog"], db);
}
