//! Crashes, network faults and Ctrl-C: an interrupted upload always ends, on the
//! next normal run, with the right object, consistent rows and nothing left behind.

use std::process::Command as Process;
use std::time::{Duration, Instant};

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::store::prelude::*;
use rusqlite::Connection;

use crate::support::*;

/// After a run that completed: one row, the object its ETag says, no upload left.
async fn assert_consistent(d: &S3Demo, reference: &[u8]) {
    let key = d.archive_key(0);
    assert_eq!(
        d.object(&key).await,
        reference,
        "the object is byte-identical to a fresh archive"
    );
    assert!(
        d.store.list_multipart_uploads("").await.unwrap().is_empty(),
        "no incomplete multipart upload remains"
    );
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let (rows, etag, size, verified): (i64, String, i64, bool) = conn
        .query_row(
            "SELECT COUNT(*), MAX(s3_etag), MAX(compressed_size_bytes), MAX(verified) FROM s3_backup_archives",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let head = d
        .store
        .head(&ObjectKey::new(key).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(size as u64, head.size);
    if verified {
        assert_eq!(
            etag, head.etag,
            "a row claiming verified names the object's ETag"
        );
    }
    let in_flight: i64 = conn
        .query_row("SELECT COUNT(*) FROM s3_backup_uploads", [], |r| r.get(0))
        .unwrap();
    assert_eq!(in_flight, 0);
    let members: i64 = conn
        .query_row("SELECT COUNT(*) FROM s3_backup_archive_members", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(members as usize, d.demo.lib.sessions[0].files.len());
}

/// A session of 12 x ~1.5 MiB files: 18 parts of 1 MiB.
async fn big_session(name: &str) -> S3Demo {
    S3Demo::new(name, 1, 12, 1536).await
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_points_a_normal_run_always_completes() {
    let d = big_session("kill").await;
    let started = Instant::now();
    let (code, first) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{first}");
    let full = started.elapsed();
    let reference = d.object(&d.archive_key(0)).await;
    let parts = first["sessions"][0]["parts"].as_u64().unwrap();
    assert!(parts >= 15, "{first}");

    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut report = Vec::new();
    // 20 random kill points over the whole run, then one inside the final commit.
    // Every fifth is taken once a random number of parts is recorded, in a run
    // slowed to 40 Mbit/s: a kill by the clock can land before the first part or
    // after the last on a fast machine, while these always leave a partial upload.
    for i in 0..21 {
        let crash = i == 20;
        let by_parts = i % 5 == 4;
        let env: &[(&str, &str)] = if crash {
            &[("FITSBAK_CRASH_AT", "archive-commit")]
        } else {
            &[]
        };
        let mut args = vec!["--json", "upload", "--no-skip-existing"];
        if by_parts {
            args.extend(["--bandwidth", "40"]);
        }
        let mut child = spawn(&d, &args, env);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = Duration::from_millis(seed % (full.as_millis() as u64 * 11 / 10).max(1));
        let recorded = 1 + seed % (parts / 2);
        let when = if crash {
            let status = child.wait().unwrap();
            assert!(!status.success(), "the crash point stopped the run");
            " (inside the archive commit)".to_owned()
        } else if by_parts {
            wait_for_parts(&d.demo.lib.database_path, recorded as i64);
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            format!(" once {recorded} parts were recorded")
        } else {
            std::thread::sleep(at);
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            format!(" at {:>5} ms", at.as_millis())
        };
        let (code, summary) = finish(spawn(&d, &["--json", "upload", "--no-skip-existing"], &[]));
        assert_eq!(code, Some(0), "after kill {i}: {summary}");
        let s = &summary["sessions"][0];
        assert_eq!(s["outcome"], "uploaded", "{summary}");
        let resumed = s["resumed_parts"].as_u64().unwrap();
        report.push(format!(
            "kill {i:>2}{when}: the next run re-sent {} of {parts} parts",
            parts - resumed
        ));
        if by_parts {
            assert!(
                resumed >= recorded,
                "kill {i} after {recorded} recorded parts: the next run resumed {resumed}"
            );
        }
        assert_consistent(&d, &reference).await;
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        report
            .iter()
            .any(|r| !r.contains(&format!("re-sent {parts} of"))),
        "at least one run resumed a partial upload:\n{}",
        report.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_survive_network_faults_and_resume_after_faults_outlast_the_retries() {
    let d = big_session("faults").await;
    let proxy =
        fitsbak_testkit::proxy::FaultProxy::start(d.server.port, 100, Duration::from_secs(3));
    edit_config(d.demo.config(), |c| {
        c["endpoint_url"] = proxy.endpoint.clone().into();
        c["retry_settings"]["max_retries"] = 8.into();
        c["retry_settings"]["request_timeout_seconds"] = 2.into();
    });
    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary["retries"].as_u64().unwrap() > 0,
        "faults were met and retried: {summary}"
    );
    let stats = &proxy.stats;
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!(
        "{} connections: {} reset, {} SlowDown, {} stalled; {} retries",
        stats.connections.load(Relaxed),
        stats.resets.load(Relaxed),
        stats.slowdowns.load(Relaxed),
        stats.stalls.load(Relaxed),
        summary["retries"]
    );
    // A fresh archive of the session, written to the local target for reference.
    let reference = d.object(&d.archive_key(0)).await;
    let deep = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(deep.0, Some(0), "{}", deep.1);

    // Faults that outlast the retries: the session fails cleanly, its parts kept.
    proxy.set_rate(0);
    proxy.fail_after(8);
    let (code, failed) = d.json_any(&["upload", "--no-skip-existing"]);
    assert_eq!(code, Some(1), "{failed}");
    assert_eq!(failed["sessions"][0]["outcome"], "failed");
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let kept: i64 = conn
        .query_row("SELECT COUNT(*) FROM s3_backup_upload_parts", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(kept > 0, "the parts sent before the faults are recorded");

    // The next run resumes it.
    proxy.fail_after(-1);
    let (code, resumed) = d.json_any(&["upload", "--no-skip-existing"]);
    assert_eq!(code, Some(0), "{resumed}");
    assert!(
        resumed["sessions"][0]["resumed_parts"].as_u64().unwrap() > 0,
        "{resumed}"
    );
    assert_consistent(&d, &reference).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_between_parts_and_the_next_run_resumes() {
    stop_between_parts_and_resume("-INT").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_like_ctrl_c() {
    stop_between_parts_and_resume("-TERM").await;
}

/// Sends `signal` once a few parts are recorded: the run stops between parts, keeps
/// them, and the next run resumes.
async fn stop_between_parts_and_resume(signal: &str) {
    let d = big_session(&format!("stop{}", signal.to_lowercase())).await;
    let child = spawn(&d, &["--json", "upload", "--bandwidth", "40"], &[]);
    // Stop once a few parts are recorded.
    wait_for_parts(&d.demo.lib.database_path, 3);
    let status = Process::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let (code, stopped) = finish(child);
    assert_eq!(code, Some(130), "{stopped}");
    assert_eq!(
        stopped["sessions"][0]["outcome"], "interrupted",
        "{stopped}"
    );
    let sent = stopped["bytes_uploaded"].as_u64().unwrap();
    assert!(
        sent >= 3 << 20,
        "the summary counts the parts sent before the stop: {stopped}"
    );
    let uploads = d.store.list_multipart_uploads("").await.unwrap();
    assert_eq!(uploads.len(), 1, "the upload is kept for the next run");

    let (code, resumed) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{resumed}");
    assert!(
        resumed["sessions"][0]["resumed_parts"].as_u64().unwrap() >= 3,
        "{resumed}"
    );
    let reference = d.object(&d.archive_key(0)).await;
    let (again, before) = (
        resumed["bytes_uploaded"].as_u64().unwrap(),
        resumed["bytes_resumed"].as_u64().unwrap(),
    );
    assert!(
        before >= 3 << 20,
        "what the first run sent is named apart: {resumed}"
    );
    assert_eq!(
        again + before,
        reference.len() as u64,
        "and not counted as sent: {resumed}"
    );
    assert_consistent(&d, &reference).await;
    let deep = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(deep.0, Some(0), "{}", deep.1);
}
