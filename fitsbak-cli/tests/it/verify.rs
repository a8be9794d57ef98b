//! `fitsbak verify` against moto_server: every check fails for the reason it should,
//! and the tracking rows say exactly what passed.

use std::collections::BTreeMap;

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::manifest::Manifest;
use fitsbak_core::model::Tags;
use fitsbak_core::store::PutOptions;
use fitsbak_core::store::prelude::*;
use rusqlite::Connection;

use crate::support::*;

/// session id -> (verified, verification_method)
fn verified_rows(d: &S3Demo) -> BTreeMap<String, (bool, Option<String>)> {
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let mut stmt = conn
        .prepare("SELECT session_id, verified, verification_method FROM s3_backup_archives")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn results(v: &serde_json::Value) -> BTreeMap<String, (String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["session_id"].as_str().unwrap(),
                    r["method"].as_str().unwrap()
                ),
                (
                    r["outcome"].as_str().unwrap().to_owned(),
                    r["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_check_fails_for_its_reason_and_the_rows_say_what_passed() {
    let d = S3Demo::new("verify", 5, 4, 300).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let ids: Vec<String> = d.demo.lib.sessions.iter().map(|s| s.id.clone()).collect();

    let (code, all) = d.json_any(&["verify", "--all", "--deep", "--local"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(results(&all).values().all(|(o, _)| o == "passed"), "{all}");

    // 0: the object replaced by other bytes of the same size.
    let key0 = d.archive_key(0);
    let manifest0 = Manifest::from_json(&d.object(&d.manifest_key(0)).await, "m").unwrap();
    let mut bytes = d.object(&key0).await;
    let victim = &manifest0.members[1];
    bytes[victim.data_offset as usize + 10] ^= 0x55;
    let options = PutOptions {
        tags: [
            ("archive".to_string(), "fast".to_string()),
            ("backup".to_string(), "deep-archive".to_string()),
        ]
        .into(),
        ..PutOptions::default()
    };
    d.store
        .put(&ObjectKey::new(key0).unwrap(), bytes.into(), None, &options)
        .await
        .unwrap();
    // 1: deleted.
    d.store
        .delete(&ObjectKey::new(d.archive_key(1)).unwrap())
        .await
        .unwrap();
    // 2: a tag removed, another altered.
    let mut tags = Tags::new();
    tags.insert("archive".into(), "delayed".into());
    d.store
        .put_tags(&ObjectKey::new(d.archive_key(2)).unwrap(), &tags)
        .await
        .unwrap();
    // 3: its manifest deleted.
    d.store
        .delete(&ObjectKey::new(d.manifest_key(3)).unwrap())
        .await
        .unwrap();
    // 4: a source file edited after the upload.
    let edited = &d.demo.lib.sessions[4].files[1].path;
    let mut content = std::fs::read(edited).unwrap();
    content[3000] ^= 1;
    std::fs::write(edited, content).unwrap();

    let (code, quick) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(1), "{quick}");
    let quick = results(&quick);
    let q = |i: usize| &quick[&format!("{} head_object", ids[i])];
    assert_eq!(q(0).0, "failed");
    assert!(q(0).1.contains("ETag"), "{:?}", q(0));
    assert_eq!(q(1).0, "failed");
    assert!(q(1).1.contains("is not in"), "{:?}", q(1));
    assert_eq!(q(2).0, "failed");
    assert!(
        q(2).1.contains("lacks the tag backup=deep-archive"),
        "{:?}",
        q(2)
    );
    assert!(
        q(2).1
            .contains("archive=delayed, the config says archive=fast"),
        "{:?}",
        q(2)
    );
    assert_eq!(q(3).0, "failed");
    assert!(
        q(3).1.contains("manifest") && q(3).1.contains("missing"),
        "{:?}",
        q(3)
    );
    assert_eq!(q(4).0, "passed", "a quick check does not read source files");

    let rows = verified_rows(&d);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            rows[id].0,
            i == 4,
            "{id}: verified only where the check passed"
        );
    }

    let (code, deep) = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(code, Some(1));
    let deep = results(&deep);
    let dp = |i: usize| &deep[&format!("{} deep", ids[i])];
    assert_eq!(dp(0).0, "failed");
    assert!(
        dp(0).1.contains(victim.path.as_str()) && dp(0).1.contains("MD5"),
        "{:?}",
        dp(0)
    );
    assert_eq!(dp(1).0, "failed");
    assert_eq!(
        dp(2).0,
        "passed",
        "the bytes are fine; the tags are not the deep check's business"
    );
    assert_eq!(dp(3).0, "failed", "a missing manifest fails every check");
    assert!(
        dp(3).1.contains("manifest") && dp(3).1.contains("missing"),
        "{:?}",
        dp(3)
    );
    assert_eq!(verified_rows(&d)[&ids[2]], (true, Some("deep".into())));

    let (code, local) = d.json_any(&["verify", "--session-id", &ids[4], "--local"]);
    assert_eq!(code, Some(1));
    let local = results(&local);
    let l = &local[&format!("{} local", ids[4])];
    assert_eq!(l.0, "failed");
    assert!(
        l.1.contains(edited.to_str().unwrap()) && l.1.contains("changed since"),
        "{l:?}"
    );
    assert!(!verified_rows(&d)[&ids[4]].0);

    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let logged: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM s3_backup_log WHERE operation_type = 'verify'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // 5 after upload, 5 deep + 5 local, then 5 quick, 5 deep, 1 local.
    assert_eq!(logged, 5 + 10 + 5 + 5 + 1);
    let failures: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM s3_backup_log WHERE operation_type = 'verify' AND operation_status = 'failed' AND error_message IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failures, 4 + 3 + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deep_archive_object_passes_quick_and_needs_a_restore_for_deep() {
    let d = S3Demo::new("verifydeep", 1, 3, 50).await;
    edit_config(d.demo.config(), |c| {
        c["backup_rules"]["raw_lights"]["storage_class"] = "DEEP_ARCHIVE".into();
    });
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let (code, v) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v[0]["outcome"], "passed");
    assert_eq!(v[0]["storage_class"], "DEEP_ARCHIVE");
    let (code, v) = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(code, Some(0), "needs restore is not a failure: {v}");
    assert_eq!(v[0]["outcome"], "needs_restore");
    let hint = v[0]["reasons"][0].as_str().unwrap();
    assert!(
        hint.contains("fitsbak restore request --session-id"),
        "{hint}"
    );
    let text = stdout(&mut d.cmd(&["verify", "--all", "--deep"]));
    assert!(
        text.contains("needs restore") && text.contains("1 need a restore first"),
        "{text}"
    );
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let (verified, class): (bool, String) = conn
        .query_row(
            "SELECT verified, current_storage_class FROM s3_backup_archives",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(verified, "the quick pass stands");
    assert_eq!(class, "DEEP_ARCHIVE");
}

#[test]
fn the_local_target_runs_the_same_checks() {
    let demo = Demo::new();
    demo.cmd(&["upload"]).assert().success();
    let v = demo.json(&["verify", "--all", "--deep", "--local"]);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "passed"),
        "{v}"
    );
    let s = &demo.lib.sessions[0];
    let key = format!(
        "backups/raw/{}/{}.tar",
        chrono::Datelike::year(&s.date),
        s.id
    );
    let path = demo.lib.local_root.join(key);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 2000;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = demo
        .cmd(&["verify", "--session-id", &s.id, "--deep", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["outcome"], "failed", "{v}");
}

#[test]
fn a_dry_run_says_what_would_be_checked_from_the_rows_alone() {
    let demo = Demo::new();
    demo.cmd(&["upload"]).assert().success();
    let status = demo.json(&["status"]);
    let log_rows = || -> i64 {
        Connection::open(&demo.lib.database_path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM s3_backup_log", [], |r| r.get(0))
            .unwrap()
    };
    let before = log_rows();
    // The target is gone: a real check fails, the plan needs no request.
    std::fs::rename(&demo.lib.local_root, demo.lib.root.join("moved")).unwrap();
    let plan = demo.json(&["verify", "--all", "--deep", "--dry-run"]);
    assert_eq!(plan["archives"], status["sessions_backed_up"], "{plan}");
    assert_eq!(plan["checks"], plan["archives"]);
    assert_eq!(plan["methods"], serde_json::json!(["deep"]));
    assert_eq!(
        plan["bytes_read"], status["archive_bytes"],
        "{plan} {status}"
    );
    let per_year: u64 = plan["per_year"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(per_year, plan["archives"].as_u64().unwrap());
    let year = demo.lib.sessions[0].date.format("%Y").to_string();
    let of_year = demo.json(&["verify", "--year", &year, "--dry-run"]);
    assert_eq!(of_year["archives"], plan["per_year"][&year], "{of_year}");
    assert_eq!(of_year["bytes_read"], 0, "a quick check reads no archive");
    let text = stdout(&mut demo.cmd(&["verify", "--all", "--dry-run"]));
    assert!(text.contains("Nothing was checked (--dry-run)."), "{text}");
    assert_eq!(log_rows(), before, "a dry run records nothing");
    demo.cmd(&["verify", "--all"]).assert().code(1);
}
