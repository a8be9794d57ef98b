//! `fitsbak upload` against moto_server, as a user runs it.

use std::collections::BTreeMap;
use std::io::Read;

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::manifest::Manifest;
use fitsbak_core::store::prelude::*;
use md5::{Digest, Md5};
use rusqlite::Connection;

use crate::support::*;

/// What a session's archive holds: member path -> bytes.
fn members(tar_bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

/// The multipart ETag S3 computes for `bytes` cut in `part` byte parts.
fn multipart_etag(bytes: &[u8], part: usize) -> String {
    let mut joined = Vec::new();
    let chunks: Vec<&[u8]> = bytes.chunks(part).collect();
    for c in &chunks {
        joined.extend(Md5::digest(c));
    }
    format!("{}-{}", hex::encode(Md5::digest(&joined)), chunks.len())
}

fn archive_rows(db: &std::path::Path) -> Vec<(String, String, String, i64, i64, String, bool)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT session_id, s3_key, s3_etag, file_count, compressed_size_bytes,
                    current_storage_class, verified FROM s3_backup_archives ORDER BY session_id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

async fn assert_uploaded(d: &S3Demo, session: usize) -> Manifest {
    let key = d.archive_key(session);
    let k = ObjectKey::new(key.clone()).unwrap();
    let head = d
        .store
        .head(&k)
        .await
        .unwrap()
        .expect("the archive is in the bucket");
    let tags = d.store.get_tags(&k).await.unwrap();
    assert_eq!(tags.get("archive").map(String::as_str), Some("fast"));
    assert_eq!(tags.get("backup").map(String::as_str), Some("deep-archive"));
    let s = &d.demo.lib.sessions[session];
    let manifest = Manifest::from_json(&d.object(&d.manifest_key(session)).await, "test").unwrap();
    assert_eq!(head.metadata.get("session-id"), Some(&s.id));
    assert_eq!(
        head.metadata.get("file-count"),
        Some(&manifest.members.len().to_string())
    );
    assert_eq!(
        head.storage_class,
        fitsbak_core::model::StorageClass::Standard
    );

    let bytes = d.object(&key).await;
    assert_eq!(bytes.len() as u64, head.size);
    assert_eq!(manifest.archive.size, head.size);
    let inside = members(&bytes);
    assert_eq!(inside.len(), manifest.members.len());
    for m in &manifest.members {
        let source = std::fs::read(&m.source_path).unwrap();
        assert_eq!(inside[m.path.as_str()], source, "{}", m.path);
        assert_eq!(m.md5, hex::encode(Md5::digest(&source)));
    }
    // The ETag is what S3 computes from the bytes and the part size.
    let expected = if manifest.archive.part_size == 0 {
        hex::encode(Md5::digest(&bytes))
    } else {
        multipart_etag(&bytes, manifest.archive.part_size as usize)
    };
    assert_eq!(head.etag, expected);
    assert_eq!(manifest.archive.etag.as_deref(), Some(expected.as_str()));
    manifest
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_land_with_tags_metadata_manifest_and_matching_etags() {
    // Sessions of ~1.8 MiB go multipart with 1 MiB parts; session 2 loses most of
    // its catalogued files and goes in a single PUT.
    let d = S3Demo::new("upload", 3, 6, 300).await;
    edit_config(d.demo.config(), |c| {
        c["upload_settings"]["multipart_threshold_mb"] = 1.5.into();
    });
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute(
            "DELETE FROM fits_files WHERE id IN
                (SELECT id FROM fits_files WHERE imaging_session_id = ?1 LIMIT 4)",
            [&d.demo.lib.sessions[2].id],
        )
        .unwrap();
    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{summary}");
    let sessions = summary["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert!(
        sessions.iter().all(|s| s["outcome"] == "uploaded"),
        "{summary}"
    );
    for i in 0..3 {
        assert_uploaded(&d, i).await;
    }
    let parts: Vec<u64> = sessions
        .iter()
        .map(|s| s["parts"].as_u64().unwrap())
        .collect();
    assert!(
        parts.iter().any(|p| *p > 1),
        "one session went multipart: {parts:?}"
    );
    assert!(parts.contains(&1), "one went in a single PUT: {parts:?}");

    let rows = archive_rows(&d.demo.lib.database_path);
    assert_eq!(rows.len(), 3);
    for (row, s) in rows.iter().zip({
        let mut s = d.demo.lib.sessions.clone();
        s.sort_by(|a, b| a.id.cmp(&b.id));
        s
    }) {
        assert_eq!(row.0, s.id);
        let catalogued = if s.id == d.demo.lib.sessions[2].id {
            2
        } else {
            6
        };
        assert_eq!(row.3, catalogued);
        assert_eq!(row.5, "STANDARD");
        assert!(row.6, "verified after upload");
        let head = d
            .store
            .head(&ObjectKey::new(row.1.clone()).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.2, head.etag);
        assert_eq!(row.4 as u64, head.size);
    }
    assert!(d.store.list_multipart_uploads("").await.unwrap().is_empty());

    // A second run uploads nothing.
    let (code, again) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    assert!(
        again["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "skipped"),
        "{again}"
    );
    assert_eq!(again["bytes_uploaded"], 0);

    // --no-skip-existing uploads again, and the rows stay one per session.
    let (code, forced) = d.json_any(&[
        "upload",
        "--no-skip-existing",
        "--session-id",
        &d.demo.lib.sessions[1].id,
    ]);
    assert_eq!(code, Some(0), "{forced}");
    assert_eq!(forced["sessions"][0]["outcome"], "uploaded");
    assert_eq!(archive_rows(&d.demo.lib.database_path).len(), 3);
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let uploads: i64 = conn
        .query_row("SELECT COUNT(*) FROM s3_backup_log WHERE operation_type = 'upload' AND operation_status = 'success'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uploads, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn content_md5_mode_uploads_and_checks_the_etag() {
    let d = S3Demo::new("md5", 1, 5, 500).await;
    edit_config(d.demo.config(), |c| {
        c["upload_settings"]["checksum_algorithm"] = "md5".into();
    });
    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary["sessions"][0]["parts"].as_u64().unwrap() > 1,
        "{summary}"
    );
    assert_uploaded(&d, 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file_fails_only_its_session_and_leaves_nothing_behind() {
    let d = S3Demo::new("missing", 2, 5, 400).await;
    let victim = &d.demo.lib.sessions[0].files[2].path;
    std::fs::remove_file(victim).unwrap();
    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(1), "{summary}");
    let failed = &summary["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "failed")
        .unwrap();
    assert_eq!(failed["session_id"], d.demo.lib.sessions[0].id.as_str());
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains(victim.to_str().unwrap()) && error.contains("--allow-missing"),
        "{error}"
    );
    d.assert_nothing_left_of(0).await;
    assert_uploaded(&d, 1).await;
    let rows = archive_rows(&d.demo.lib.database_path);
    assert_eq!(rows.len(), 1, "nothing recorded for the failed session");
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let failed_logs: i64 = conn
        .query_row("SELECT COUNT(*) FROM s3_backup_log WHERE operation_status = 'failed' AND session_id = ?1", [&d.demo.lib.sessions[0].id], |r| r.get(0))
        .unwrap();
    assert_eq!(failed_logs, 1);

    // --allow-missing backs up the rest and says what was left out.
    let (code, summary) = d.json_any(&["upload", "--allow-missing"]);
    assert_eq!(code, Some(0), "{summary}");
    let manifest = Manifest::from_json(&d.object(&d.manifest_key(0)).await, "m").unwrap();
    assert_eq!(manifest.members.len(), 4);
    assert_eq!(manifest.excluded.len(), 1);
    assert!(manifest.excluded[0].reason.contains("missing"));
    let notes: String = conn
        .query_row(
            "SELECT notes FROM s3_backup_archives WHERE session_id = ?1",
            [&d.demo.lib.sessions[0].id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(notes.contains("left out"), "{notes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_md5_that_differs_from_the_catalog_aborts_the_multipart_upload() {
    let d = S3Demo::new("md5drift", 1, 6, 500).await;
    let s = &d.demo.lib.sessions[0];
    // The last file in archive order, so that parts were already sent.
    let victim = s.files.iter().max_by_key(|f| f.file.clone()).unwrap();
    let mut bytes = std::fs::read(&victim.path).unwrap();
    bytes[4000] ^= 1;
    let file = std::fs::File::options()
        .write(true)
        .open(&victim.path)
        .unwrap();
    let mtime = file.metadata().unwrap().modified().unwrap();
    drop(file);
    std::fs::write(&victim.path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim.path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(1), "{summary}");
    let error = summary["sessions"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&victim.file) && error.contains(&victim.md5),
        "{error}"
    );
    d.assert_nothing_left_of(0).await;
    assert!(archive_rows(&d.demo.lib.database_path).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_session_id_is_refused_and_the_others_go_on() {
    let d = S3Demo::new("badid", 1, 4, 50).await;
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute_batch(
            "INSERT INTO imaging_sessions (id, date) VALUES ('../../etc', '2024-01-01');
             INSERT INTO fits_files (file, folder, imaging_session_id) VALUES ('x.fits', '/tmp', '../../etc');",
        )
        .unwrap();
    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(1), "{summary}");
    let sessions = summary["sessions"].as_array().unwrap();
    let bad = sessions
        .iter()
        .find(|s| s["session_id"] == "../../etc")
        .unwrap();
    assert_eq!(bad["outcome"], "failed");
    assert!(
        bad["error"].as_str().unwrap().contains("contains `/`"),
        "{bad}"
    );
    assert!(sessions.iter().any(|s| s["outcome"] == "uploaded"));
    let keys: Vec<String> = d
        .store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(keys.iter().all(|k| !k.contains("etc")), "{keys:?}");

    let err = failure(&mut d.cmd(&["upload", "--session-id", "a/b"]), 2);
    assert!(err.contains("invalid session id \"a/b\""), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_and_wrong_credentials_give_one_clear_error_each() {
    let d = S3Demo::new("nobucket", 2, 3, 20).await;
    edit_config(d.demo.config(), |c| {
        c["buckets"]["primary"] = "fitsbak-cli-never-created".into();
    });
    let out = d.cmd(&["upload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NoSuchBucket") && err.contains("fitsbak-cli-never-created"),
        "{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "one error: {err}");
    assert!(archive_rows(&d.demo.lib.database_path).is_empty());

    let guarded =
        fitsbak_testkit::moto::MotoServer::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    edit_config(d.demo.config(), |c| {
        c["buckets"]["primary"] = "any-bucket".into();
        c["endpoint_url"] = guarded.endpoint.clone().into();
    });
    let out = d
        .cmd(&["upload"])
        .env("AWS_SECRET_ACCESS_KEY", "SECRET-do-not-print-42")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("InvalidAccessKeyId") && err.contains("credentials"),
        "{err}"
    );
    assert!(!err.contains("SECRET-do-not-print-42"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("SECRET-do-not-print-42"));
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_sends_nothing_and_limit_takes_the_oldest() {
    let d = S3Demo::new("dry", 3, 3, 20).await;
    let (code, plan) = d.json_any(&["upload", "--dry-run"]);
    assert_eq!(code, Some(0));
    let planned: Vec<&serde_json::Value> = plan["sessions"].as_array().unwrap().iter().collect();
    assert!(
        planned
            .iter()
            .all(|s| s["outcome"] == "planned" && s["bytes"].as_u64().unwrap() > 0)
    );
    assert!(d.store.list("").await.unwrap().is_empty(), "nothing sent");
    assert!(
        archive_rows(&d.demo.lib.database_path).is_empty(),
        "nothing recorded"
    );

    let (code, limited) = d.json_any(&["upload", "--limit", "2"]);
    assert_eq!(code, Some(0));
    let ids: Vec<&str> = limited["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            d.demo.lib.sessions[0].id.as_str(),
            d.demo.lib.sessions[1].id.as_str()
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_in_the_bucket_without_a_row_is_adopted_when_its_manifest_matches() {
    let d = S3Demo::new("adopt", 2, 3, 20).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    // The tracking rows are lost (a new database, say).
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute_batch("DELETE FROM s3_backup_archive_members; DELETE FROM s3_backup_archives;")
        .unwrap();
    // And one session's catalog changed since.
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute(
            "UPDATE fits_files SET md5sum = '00000000000000000000000000000000' WHERE id = (SELECT MIN(id) FROM fits_files WHERE imaging_session_id = ?1)",
            [&d.demo.lib.sessions[1].id],
        )
        .unwrap();
    let (code, summary) = d.json_any(&["upload"]);
    assert_eq!(code, Some(1), "{summary}");
    let by_id: BTreeMap<&str, &serde_json::Value> = summary["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["session_id"].as_str().unwrap(), s))
        .collect();
    assert_eq!(
        by_id[d.demo.lib.sessions[0].id.as_str()]["outcome"],
        "adopted"
    );
    let refused = by_id[d.demo.lib.sessions[1].id.as_str()];
    assert_eq!(refused["outcome"], "failed");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("does not match the catalog"),
        "{refused}"
    );
    assert_eq!(archive_rows(&d.demo.lib.database_path).len(), 1);
}

#[test]
fn the_demo_default_backs_up_to_the_local_target() {
    let demo = Demo::new();
    let out = demo.json(&["upload"]);
    assert!(
        out["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "uploaded"),
        "{out}"
    );
    let v = demo.json(&["status"]);
    assert_eq!(v["sessions_backed_up"], 4);
    assert_eq!(v["archives_verified"], 4);
    for s in &demo.lib.sessions {
        let key = format!(
            "backups/raw/{}/{}.tar",
            chrono::Datelike::year(&s.date),
            s.id
        );
        let bytes = std::fs::read(demo.lib.local_root.join(&key)).unwrap();
        let inside = members(&bytes);
        assert_eq!(inside.len(), s.files.len());
        let total: usize = inside.values().map(Vec::len).sum();
        assert_eq!(total as u64, s.files.iter().map(|f| f.size).sum::<u64>());
    }
}
