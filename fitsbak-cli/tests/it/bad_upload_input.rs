//! The bad-input matrix of the upload and restore paths: each case a clear error
//! naming the thing, and nothing lost or recorded as done that was not.
//! (Missing files, MD5 drift, bad session ids, wrong credentials and missing
//! buckets are in `upload.rs`; broken configs and databases in `bad_input.rs`.)

use std::io::Read;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use fitsbak_core::manifest::Manifest;
use fitsbak_core::store::prelude::*;
use rusqlite::Connection;

use crate::support::*;

fn archive_rows(d: &S3Demo) -> i64 {
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM s3_backup_archives", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_while_it_is_read_fails_its_session() {
    // 18 MiB: the writer reads at most ~6 MiB ahead of the (limited) upload, so the
    // last file is still unread when it changes.
    let d = S3Demo::new("changed", 1, 12, 1536).await;
    let s = &d.demo.lib.sessions[0];
    // The last member in archive order.
    let victim = s
        .files
        .iter()
        .max_by_key(|f| f.file.clone())
        .unwrap()
        .path
        .clone();
    let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("fitsbak"));
    cmd.arg("--config")
        .arg(d.demo.config())
        .args(["--json", "upload", "--bandwidth", "40"]);
    for (k, v) in d.server.child_env() {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&victim)
        .unwrap();
    std::io::Write::write_all(&mut f, b"appended by the cataloger").unwrap();
    drop(f);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = summary["sessions"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(victim.to_str().unwrap()) && error.contains("changed while it was archived"),
        "{error}"
    );
    d.assert_nothing_left_of(0).await;
    assert_eq!(archive_rows(&d), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_basenames_long_and_non_ascii_names_all_arrive_exactly() {
    // Session 2 of the demo has names over 100 bytes with non-ASCII characters;
    // every session has two flats of the same name in two folders.
    let d = S3Demo::new("names", 3, 6, 20).await;
    assert_eq!(d.json_any(&["upload"]).0, Some(0));
    let odd = d
        .demo
        .lib
        .sessions
        .iter()
        .position(|s| s.files.iter().any(|f| f.file.len() > 100))
        .expect("the demo has a session with long names");
    let manifest = Manifest::from_json(&d.object(&d.manifest_key(odd)).await, "m").unwrap();
    let flats: Vec<_> = manifest
        .members
        .iter()
        .filter(|m| m.file == "Flat_0001.fits")
        .collect();
    assert_eq!(flats.len(), 2);
    assert_ne!(flats[0].path, flats[1].path);
    assert_ne!(flats[0].folder, flats[1].folder);
    assert!(
        manifest
            .members
            .iter()
            .any(|m| m.path.as_str().len() > 100 && !m.path.as_str().is_ascii())
    );
    let bytes = d.object(&d.archive_key(odd)).await;
    let mut archive = tar::Archive::new(&bytes[..]);
    for (entry, member) in archive.entries().unwrap().zip(&manifest.members) {
        let mut entry = entry.unwrap();
        assert_eq!(entry.path_bytes().as_ref(), member.path.as_str().as_bytes());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        assert_eq!(data, std::fs::read(&member.source_path).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_session_is_skipped_by_name_and_an_invalid_date_fails_its_own() {
    let d = S3Demo::new("emptyday", 1, 3, 20).await;
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute_batch(
            "INSERT INTO imaging_sessions (id, date) VALUES ('20240101_EMPTY', '2024-01-01');
             INSERT INTO imaging_sessions (id, date) VALUES ('20240231_NODAY', '2024-02-31');",
        )
        .unwrap();
    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(1), "{summary}");
    let by = |id: &str| {
        summary["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["session_id"] == id)
            .unwrap()
            .clone()
    };
    let empty = by("20240101_EMPTY");
    assert_eq!(empty["outcome"], "skipped");
    assert_eq!(empty["reason"], "no files in the catalog");
    let bad = by("20240231_NODAY");
    assert_eq!(bad["outcome"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("invalid imaging_sessions.date \"2024-02-31\""),
        "{bad}"
    );
    assert_eq!(by(&d.demo.lib.sessions[0].id)["outcome"], "uploaded");
    assert_eq!(archive_rows(&d), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_that_names_no_bucket_is_refused() {
    let d = S3Demo::new("nobucketname", 1, 2, 10).await;
    edit_config(d.demo.config(), |c| {
        c["buckets"]["primary"] = serde_json::Value::Null;
    });
    let err = failure(&mut d.cmd(&["upload"]), 2);
    assert!(
        err.contains("buckets.primary") && err.contains("names no bucket"),
        "{err}"
    );
    assert_eq!(archive_rows(&d), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_locked_past_the_busy_timeout_is_named_and_nothing_is_sent() {
    let d = S3Demo::new("locked", 1, 2, 10).await;
    edit_config(d.demo.config(), |c| {
        c["database_busy_timeout_seconds"] = 1.into();
    });
    // Create the tracking tables, then hold a write lock like a busy cataloger.
    d.cmd(&["status"]).assert().success();
    let other = Connection::open(&d.demo.lib.database_path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE imaging_sessions SET notes = notes;")
        .unwrap();
    let started = Instant::now();
    let err = failure(&mut d.cmd(&["upload"]), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited for the lock"
    );
    assert!(
        err.contains("locked by another process") && err.contains("catalog.db"),
        "{err}"
    );
    other.execute_batch("ROLLBACK;").unwrap();
    assert!(d.store.list("").await.unwrap().is_empty(), "nothing sent");
}

/// A directory that cannot be written: a read-only tmpfs when the test may mount
/// one, else a path below /proc.
fn read_only_dir(base: &std::path::Path) -> (std::path::PathBuf, bool) {
    let dir = base.join("readonly");
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Process::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
        .arg(&dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        (dir, true)
    } else {
        (
            std::path::PathBuf::from("/proc/fitsbak-restore-target"),
            false,
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_target_that_is_read_only_or_full_gives_a_clear_error() {
    let d = S3Demo::new("fulltarget", 1, 3, 200).await;
    assert_eq!(d.json_any(&["upload"]).0, Some(0));
    let session = d.demo.lib.sessions[0].id.clone();

    let (readonly, mounted) = read_only_dir(d.demo.dir.path());
    let out = d
        .cmd(&[
            "restore",
            "download",
            "--session-id",
            &session,
            "--to",
            readonly.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    if mounted {
        let _ = Process::new("umount").arg(&readonly).status();
    }
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(readonly.to_str().unwrap()),
        "the target is named: {err}"
    );

    // Out of space: a 64 KiB tmpfs when possible, else a file-size limit.
    let small = d.demo.dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Process::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&small)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut cmd = if mounted {
        d.cmd(&[
            "restore",
            "download",
            "--session-id",
            &session,
            "--to",
            small.to_str().unwrap(),
        ])
    } else {
        let mut c = assert_cmd::Command::new("bash");
        c.arg("-c")
            .arg("trap '' XFSZ; ulimit -f 64; exec \"$@\"")
            .arg("bash")
            .arg(assert_cmd::cargo::cargo_bin("fitsbak"))
            .args(["--config", d.demo.config().to_str().unwrap()])
            .args([
                "restore",
                "download",
                "--session-id",
                &session,
                "--to",
                small.to_str().unwrap(),
            ]);
        for (k, v) in d.server.child_env() {
            c.env(k, v);
        }
        c
    };
    let out = cmd.output().unwrap();
    if mounted {
        let _ = Process::new("umount").arg(&small).status();
    }
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No space left on device") || err.contains("File too large"),
        "{err}"
    );
    assert!(err.contains("cannot write"), "the file is named: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_never_appears_in_output_logs_errors_or_rows() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKESECRET42";
    let key_id = "AKIAFAKEKEYID4242TEST";
    let guarded = Box::leak(Box::new(fitsbak_testkit::moto::MotoServer::start_with(&[
        ("INITIAL_NO_AUTH_ACTION_COUNT", "0"),
    ])));
    let d = S3Demo::new("secrets", 1, 3, 20).await;
    edit_config(d.demo.config(), |c| {
        c["endpoint_url"] = guarded.endpoint.clone().into();
    });
    let out = d
        .cmd(&["-vvv", "upload"])
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("InvalidAccessKeyId"), "{text}");
    assert!(!text.contains(secret), "the secret is in the output");
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let mut stmt = conn
        .prepare("SELECT COALESCE(error_message, '') || COALESCE(notes, '') FROM s3_backup_log")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(rows.iter().all(|r| !r.contains(secret)));
    // Nor anywhere on disk next to the library.
    for entry in walk(d.demo.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.push(p);
        }
    }
    out
}
