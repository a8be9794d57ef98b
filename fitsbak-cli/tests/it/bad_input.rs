//! Bad input: a clear error naming the thing, a non-zero exit, nothing written.

use rusqlite::Connection;

use crate::support::*;

#[test]
fn a_missing_config_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = failure(fitsbak().current_dir(dir.path()).arg("status"), 2);
    assert!(
        err.contains("config file s3_config.json not found"),
        "{err}"
    );
    assert!(err.contains("fitsbak init-config"), "{err}");
}

#[test]
fn a_config_that_is_not_json_names_file_line_and_column() {
    let demo = Demo::new();
    std::fs::write(
        demo.config(),
        "{\n  \"aws_region\": \"us-east-1\",\n  oops\n}\n",
    )
    .unwrap();
    let err = failure(&mut demo.cmd(&["status"]), 2);
    assert!(err.contains("s3_config.json:3:3: not valid JSON"), "{err}");
}

#[test]
fn a_wrong_type_names_the_key_path() {
    let demo = Demo::new();
    let text = std::fs::read_to_string(demo.config())
        .unwrap()
        .replace("\"max_concurrency\": 4", "\"max_concurrency\": \"four\"");
    std::fs::write(demo.config(), text).unwrap();
    let err = failure(&mut demo.cmd(&["list-sessions"]), 2);
    assert!(err.contains("`upload_settings.max_concurrency`"), "{err}");
    assert!(err.contains("invalid type: string \"four\""), "{err}");
}

#[test]
fn unknown_keys_warn_and_the_command_runs() {
    let demo = Demo::new();
    let text = std::fs::read_to_string(demo.config()).unwrap().replacen(
        '{',
        "{\n  \"turbo_mode\": true,",
        1,
    );
    std::fs::write(demo.config(), text).unwrap();
    let out = demo
        .cmd(&["status"])
        .assert()
        .success()
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown key `turbo_mode` ignored"), "{err}");
}

#[test]
fn a_missing_database_is_named_and_not_created() {
    let demo = Demo::new();
    std::fs::remove_file(&demo.lib.database_path).unwrap();
    let err = failure(&mut demo.cmd(&["status"]), 2);
    assert!(
        err.contains("catalog database") && err.contains("catalog.db") && err.contains("not found"),
        "{err}"
    );
    assert!(!demo.lib.database_path.exists());
}

#[test]
fn a_database_without_the_catalog_tables_is_refused_untouched() {
    let demo = Demo::new();
    let other = demo.dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let err = failure(
        &mut demo.cmd(&["--database", other.to_str().unwrap(), "list-sessions"]),
        2,
    );
    assert!(
        err.contains("other.db is not a FITS cataloger database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

#[test]
fn sessions_with_invalid_dates_are_named_and_the_rest_listed() {
    let demo = Demo::new();
    Connection::open(&demo.lib.database_path)
        .unwrap()
        .execute_batch(
            "INSERT INTO imaging_sessions (id, date) VALUES ('20241332_BAD', '2024-13-32');
             INSERT INTO imaging_sessions (id, date) VALUES ('bad/id', '2024-01-01');",
        )
        .unwrap();
    for cmd in [&["status"][..], &["list-sessions"], &["analyze"]] {
        let out = demo.cmd(cmd).assert().success().get_output().clone();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("session 20241332_BAD: invalid imaging_sessions.date \"2024-13-32\""),
            "{cmd:?}: {err}"
        );
        assert!(
            err.contains("\"bad/id\"") && err.contains("contains `/`"),
            "{cmd:?}: {err}"
        );
    }
    let v = demo.json(&["status"]);
    assert_eq!(v["sessions_total"], 4);
    assert_eq!(v["rejected_sessions"].as_array().unwrap().len(), 2);
}

#[test]
fn a_bad_bandwidth_is_refused() {
    let demo = Demo::new();
    let err = failure(&mut demo.cmd(&["analyze", "--bandwidth", "0"]), 2);
    assert!(
        err.contains("--bandwidth must be a positive number"),
        "{err}"
    );
}
