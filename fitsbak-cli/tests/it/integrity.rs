//! Integrity against a hostile bucket, catalog and target, end to end on
//! moto_server: the tracking rows and the catalog outrank the bucket, drift is
//! noticed, a restore cannot be steered outside its target, and nothing is
//! recorded as good that was not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::manifest::Manifest;
use fitsbak_core::store::PutOptions;
use fitsbak_core::store::prelude::*;
use md5::{Digest, Md5};
use rusqlite::Connection;

use crate::support::*;

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// session id -> (verified, etag) of the archive rows.
fn rows(d: &S3Demo) -> BTreeMap<String, (bool, Option<String>)> {
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let mut stmt = conn
        .prepare("SELECT session_id, verified, s3_etag FROM s3_backup_archives")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Replaces an object's bytes, keeping its tags (what a tamperer would do).
async fn replace_keeping_tags(d: &S3Demo, key: &str, bytes: Vec<u8>) {
    let key = ObjectKey::new(key).unwrap();
    let tags = d.store.get_tags(&key).await.unwrap();
    let options = PutOptions {
        tags,
        ..PutOptions::default()
    };
    d.store
        .put(&key, bytes.into(), None, &options)
        .await
        .unwrap();
}

async fn manifest_of(d: &S3Demo, session: usize) -> Manifest {
    Manifest::from_json(&d.object(&d.manifest_key(session)).await, "manifest").unwrap()
}

async fn put_manifest(d: &S3Demo, session: usize, manifest: &Manifest) {
    let key = ObjectKey::new(d.manifest_key(session)).unwrap();
    let body = serde_json::to_vec_pretty(manifest).unwrap();
    d.store
        .put(&key, body.into(), None, &PutOptions::default())
        .await
        .unwrap();
}

/// The outcome of each session in an upload summary.
fn outcomes(summary: &serde_json::Value) -> BTreeMap<String, String> {
    summary["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["session_id"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn forget_archives(d: &S3Demo) {
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute_batch(
            "DELETE FROM s3_backup_archive_members; DELETE FROM s3_backup_archive_facts;
             DELETE FROM s3_backup_archives;",
        )
        .unwrap();
}

/// Case 1: a member's bytes flipped, the manifest's MD5 and CRC32C rewritten to
/// match, the tags kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_member_with_a_matching_manifest_is_caught_by_deep_upload_and_restore() {
    let d = S3Demo::new("tamper", 1, 4, 300).await;
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let id = d.demo.lib.sessions[0].id.clone();

    let mut manifest = manifest_of(&d, 0).await;
    let mut bytes = d.object(&d.archive_key(0)).await;
    let victim = manifest.members[1].clone();
    let start = victim.data_offset as usize + 50;
    for b in &mut bytes[start..start + 100] {
        *b ^= 0xa5;
    }
    let data = bytes[victim.data_offset as usize..][..victim.size as usize].to_vec();
    manifest.members[1].md5 = md5_hex(&data);
    manifest.members[1].catalog_md5 = Some(md5_hex(&data));
    manifest.archive.crc32c = fitsbak_core::checksum::crc32c_hex(&bytes);
    replace_keeping_tags(&d, &d.archive_key(0), bytes).await;
    put_manifest(&d, 0, &manifest).await;

    let (code, deep) = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(code, Some(1), "{deep}");
    let reasons = deep[0]["reasons"].to_string();
    assert_eq!(deep[0]["outcome"], "failed", "{deep}");
    assert!(reasons.contains(victim.path.as_str()), "{reasons}");
    assert!(!rows(&d)[&id].0, "not verified");

    // The restore writes nothing that is not the catalog's, and says so.
    let target = d.demo.dir.path().join("restored");
    let out = d
        .cmd(&[
            "restore",
            "download",
            "--session-id",
            &id,
            "--to",
            target.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MD5") && err.contains(".fitsbak-mismatch"),
        "{err}"
    );
    let original = PathBuf::from(&victim.source_path);
    let dest = target.join(original.strip_prefix("/").unwrap());
    assert!(!dest.exists(), "the wrong bytes are not at the destination");
    let aside = PathBuf::from(format!("{}.fitsbak-mismatch", dest.display()));
    assert_eq!(std::fs::read(&aside).unwrap(), data, "kept aside, as read");

    // The upload does not skip it: it backs the session up again.
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    assert_eq!(outcomes(&up)[&id], "uploaded", "{up}");
    let (code, deep) = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(code, Some(0), "{deep}");
}

/// An archive large enough to be read in several ranges side by side: deep
/// verify, a whole restore and single files come back right from the lanes, and a
/// byte changed in a later lane (manifest and CRC made to match) is caught there.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_archive_is_read_in_lanes_and_a_change_in_any_lane_is_caught() {
    let d = S3Demo::new("lanes", 1, 12, 2048).await;
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let id = d.demo.lib.sessions[0].id.clone();
    let out = d
        .cmd(&["-vv", "verify", "--all", "--deep"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("3 range(s) read side by side"), "{err}");

    let target = d.demo.dir.path().join("whole");
    let (code, files) = d.json_any(&[
        "restore",
        "download",
        "--session-id",
        &id,
        "--to",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{files}");
    assert_eq!(files.as_array().unwrap().len(), 12);
    for f in &d.demo.lib.sessions[0].files {
        let back = target.join(f.path.strip_prefix("/").unwrap());
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&f.path).unwrap()
        );
    }
    let single = d.demo.dir.path().join("single");
    let mut args = vec!["restore", "download", "--session-id", &id, "--to"];
    args.push(single.to_str().unwrap());
    let names: Vec<String> = d.demo.lib.sessions[0].files[..5]
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        args.extend(["--file", name]);
    }
    let (code, files) = d.json_any(&args);
    assert_eq!(code, Some(0), "{files}");
    assert_eq!(files.as_array().unwrap().len(), 5);

    let mut manifest = manifest_of(&d, 0).await;
    let mut bytes = d.object(&d.archive_key(0)).await;
    let victim = manifest.members[10].clone();
    bytes[victim.data_offset as usize + 7] ^= 0x5a;
    manifest.archive.crc32c = fitsbak_core::checksum::crc32c_hex(&bytes);
    replace_keeping_tags(&d, &d.archive_key(0), bytes).await;
    put_manifest(&d, 0, &manifest).await;
    let (code, deep) = d.json_any(&["verify", "--all", "--deep"]);
    assert_eq!(code, Some(1), "{deep}");
    let reasons = deep[0]["reasons"].to_string();
    assert!(
        reasons.contains(victim.path.as_str()) && reasons.contains("MD5"),
        "{reasons}"
    );
}

/// Case 2: the archive overwritten by random bytes of the same size, tags kept.
#[tokio::test(flavor = "multi_thread")]
async fn sync_db_never_adopts_an_object_that_is_not_its_manifests() {
    let d = S3Demo::new("syncrandom", 2, 3, 200).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let ids: Vec<String> = d.demo.lib.sessions.iter().map(|s| s.id.clone()).collect();
    let before = rows(&d);
    let size = d.object(&d.archive_key(0)).await.len();
    let random: Vec<u8> = (0..size as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 29) as u8)
        .collect();
    replace_keeping_tags(&d, &d.archive_key(0), random).await;

    // With the rows: they outrank the bucket; the conflict is reported.
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(1), "{synced}");
    assert!(synced["updated"].as_array().unwrap().is_empty(), "{synced}");
    assert!(
        synced["conflicts"].to_string().contains(&ids[0]),
        "{synced}"
    );
    assert_eq!(rows(&d)[&ids[0]].1, before[&ids[0]].1, "the ETag is kept");

    // Without them (a lost database): the object is not recorded at all.
    forget_archives(&d);
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(1), "{synced}");
    assert_eq!(synced["added"], serde_json::json!([ids[1]]), "{synced}");
    assert!(synced["conflicts"].to_string().contains(&ids[0]));
    let after = rows(&d);
    assert!(!after.contains_key(&ids[0]), "nothing recorded: {after:?}");
    let proof: String = Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .query_row(
            "SELECT facts FROM s3_backup_archive_facts WHERE session_id = ?1",
            [&ids[1]],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        proof.contains("sync-db"),
        "the proof used is recorded: {proof}"
    );
    let (code, quick) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(0), "{quick}");
    assert_eq!(quick.as_array().unwrap().len(), 1);
}

/// Adds `n` files to session 0 of the catalog, as the cataloger would when it
/// finds more frames of the night: real FITS bytes in the session's folder.
fn catalog_more(d: &S3Demo, n: usize) -> Vec<PathBuf> {
    let session = &d.demo.lib.sessions[0];
    let model = &session.files[0];
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    (0..n)
        .map(|i| {
            let mut bytes = std::fs::read(&model.path).unwrap();
            let at = bytes.len() - 1;
            bytes[at] = bytes[at].wrapping_add(i as u8 + 1);
            let name = format!("late_frame_{i:04}.fits");
            let path = Path::new(&model.folder).join(&name);
            std::fs::write(&path, &bytes).unwrap();
            conn.execute(
                "INSERT INTO fits_files (file, folder, imaging_session_id, frame_type, md5sum)
                 VALUES (?1, ?2, ?3, 'LIGHT', ?4)",
                rusqlite::params![name, model.folder, session.id, md5_hex(&bytes)],
            )
            .unwrap();
            path
        })
        .collect()
}

/// Case 3: files catalogued after the backup.
#[tokio::test(flavor = "multi_thread")]
async fn files_catalogued_later_are_reported_and_backed_up_again() {
    let d = S3Demo::new("drift", 2, 4, 100).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let id = d.demo.lib.sessions[0].id.clone();
    let other = d.demo.lib.sessions[1].id.clone();
    catalog_more(&d, 3);

    let (_, list) = d.json_any(&["list-sessions"]);
    let changed: BTreeMap<String, bool> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["session_id"].as_str().unwrap().to_owned(),
                r["changed_since_backup"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(changed[&id], "{list}");
    assert!(!changed[&other], "{list}");
    let text = stdout(&mut d.cmd(&["list-sessions"]));
    assert!(text.contains("yes, changed since backup"), "{text}");
    let (_, status) = d.json_any(&["status"]);
    assert_eq!(
        status["sessions_changed"],
        serde_json::json!([id]),
        "{status}"
    );
    assert_eq!(status["percent_backed_up"], 50.0, "{status}");
    let text = stdout(&mut d.cmd(&["status"]));
    assert!(text.contains("changed since backup"), "{text}");

    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let done = outcomes(&up);
    assert_eq!(done[&id], "uploaded", "{up}");
    assert_eq!(done[&other], "skipped", "{up}");
    assert_eq!(manifest_of(&d, 0).await.members.len(), 7);
    let (_, status) = d.json_any(&["status"]);
    assert_eq!(
        status["sessions_changed"],
        serde_json::json!([]),
        "{status}"
    );
    let history: i64 = Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM s3_backup_archive_history WHERE session_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        history, 1,
        "the replaced archive's row is kept in the history"
    );
}

/// Case 3, the lossy side: a file dropped from the catalog. Replacing the archive
/// in a bucket without versions would lose its only copy: refused, named, until
/// asked for; with versioning the old archive stays as a noncurrent version.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_dropped_from_the_catalog_is_not_lost_by_a_silent_replace() {
    let d = S3Demo::new("driftloss", 1, 4, 100).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let id = d.demo.lib.sessions[0].id.clone();
    let dropped = d.demo.lib.sessions[0].files[2].clone();
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute(
            "DELETE FROM fits_files WHERE file = ?1 AND folder = ?2",
            [&dropped.file, &dropped.folder],
        )
        .unwrap();
    let before = rows(&d);

    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(1), "{up}");
    let error = up["sessions"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&dropped.file) && error.contains("no longer catalogued"),
        "{error}"
    );
    assert!(error.contains("--no-skip-existing"), "{error}");
    assert_eq!(rows(&d), before, "nothing changed");
    assert_eq!(manifest_of(&d, 0).await.members.len(), 4);

    d.server.enable_versioning(&d.store).await;
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    assert_eq!(outcomes(&up)[&id], "uploaded");
    assert_eq!(manifest_of(&d, 0).await.members.len(), 3);
    let versions = d
        .store
        .try_cold_storage()
        .unwrap()
        .list_versions(&d.archive_key(0))
        .await
        .unwrap();
    assert!(
        versions.len() >= 2,
        "the old archive is a noncurrent version: {versions:?}"
    );
}

/// Case 4: a link planted where older versions staged a single file.
#[tokio::test(flavor = "multi_thread")]
async fn a_single_file_restore_never_writes_through_a_planted_link() {
    let d = S3Demo::new("plantedlink", 1, 4, 100).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let session = &d.demo.lib.sessions[0];
    let file = &session.files[0];
    let target = d.demo.dir.path().join("restore-here");
    let victim = d.demo.dir.path().join("precious.txt");
    std::fs::write(&victim, b"not yours").unwrap();
    std::fs::create_dir_all(target.join(".fitsbak-partial")).unwrap();
    std::os::unix::fs::symlink(
        &victim,
        target
            .join(".fitsbak-partial")
            .join(format!("{}.part", file.file)),
    )
    .unwrap();
    let text = stdout(&mut d.cmd(&[
        "restore",
        "download",
        "--session-id",
        &session.id,
        "--file",
        &file.file,
        "--to",
        target.to_str().unwrap(),
    ]));
    assert!(text.contains("1 file(s) restored"), "{text}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"not yours");
    let restored = target.join(file.path.strip_prefix("/").unwrap());
    let meta = std::fs::symlink_metadata(&restored).unwrap();
    assert!(meta.file_type().is_file(), "a regular file, not a link");
    assert_eq!(
        std::fs::read(&restored).unwrap(),
        std::fs::read(&file.path).unwrap()
    );
}

/// Case 5: a catalogued folder named like the old staging directory.
#[tokio::test(flavor = "multi_thread")]
async fn a_catalog_folder_named_like_the_staging_directory_is_restored_whole() {
    let d = S3Demo::new("stagingname", 1, 4, 100).await;
    let session = d.demo.lib.sessions[0].clone();
    // Two files moved into relative folders below the catalog's directory.
    let base = d.demo.lib.database_path.parent().unwrap().to_owned();
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    for (file, folder) in session.files[..2].iter().zip([".fitsbak-partial", "LIGHT"]) {
        std::fs::create_dir_all(base.join(folder)).unwrap();
        std::fs::rename(&file.path, base.join(folder).join(&file.file)).unwrap();
        conn.execute(
            "UPDATE fits_files SET folder = ?1 WHERE file = ?2 AND folder = ?3",
            [folder, &file.file, &file.folder],
        )
        .unwrap();
    }
    drop(conn);
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let target = d.demo.dir.path().join("back");
    let text = stdout(&mut d.cmd(&[
        "restore",
        "download",
        "--session-id",
        &session.id,
        "--to",
        target.to_str().unwrap(),
    ]));
    assert!(text.contains("4 file(s) restored"), "{text}");
    for (file, folder) in session.files[..2].iter().zip([".fitsbak-partial", "LIGHT"]) {
        let restored = target.join(folder).join(&file.file);
        assert_eq!(
            md5_hex(&std::fs::read(&restored).unwrap()),
            file.md5,
            "{}",
            restored.display()
        );
    }
}

/// Case 6: a deleted manifest.
#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_manifest_fails_every_check_and_is_written_again() {
    let d = S3Demo::new("nomanifest", 1, 3, 100).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let id = d.demo.lib.sessions[0].id.clone();
    let key = ObjectKey::new(d.manifest_key(0)).unwrap();
    let original = manifest_of(&d, 0).await;
    d.store.delete(&key).await.unwrap();

    for method in [&["verify", "--all"][..], &["verify", "--all", "--deep"]] {
        let (code, out) = d.json_any(method);
        assert_eq!(code, Some(1), "{method:?}: {out}");
        let reasons = out[0]["reasons"].to_string();
        assert!(
            reasons.contains("manifest") && reasons.contains("missing"),
            "{reasons}"
        );
    }
    assert!(!rows(&d)[&id].0);

    // upload writes it again from the tracking rows, and the archive passes.
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let again = manifest_of(&d, 0).await;
    assert_eq!(again.members, original.members);
    assert!(rows(&d)[&id].0, "verified once its manifest is back");

    // So does verify --repair.
    d.store.delete(&key).await.unwrap();
    let (code, out) = d.json_any(&["verify", "--all", "--repair"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(manifest_of(&d, 0).await.members, original.members);

    // After losing the database, an archive without a manifest is a problem to
    // look at, not a silent skip.
    d.store.delete(&key).await.unwrap();
    forget_archives(&d);
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(1), "{synced}");
    assert_eq!(
        synced["archives_without_manifest"],
        serde_json::json!([d.archive_key(0)])
    );
}

/// Case 7: a manifest too large to be one is refused with a clear error, read
/// no further than the limit.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_manifest_is_refused_without_reading_it_whole() {
    let d = S3Demo::new("hugemanifest", 1, 3, 50).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let mut huge = serde_json::to_vec(&manifest_of(&d, 0).await).unwrap();
    huge.pop(); // the closing brace, padded with whitespace past the limit
    huge.resize(129 << 20, b' ');
    huge.push(b'}');
    let key = ObjectKey::new(d.manifest_key(0)).unwrap();
    d.store
        .put(&key, huge.into(), None, &PutOptions::default())
        .await
        .unwrap();
    let (code, out) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(1), "{out}");
    let reasons = out[0]["reasons"].to_string();
    assert!(reasons.contains("larger than"), "{reasons}");

    forget_archives(&d);
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(1), "{synced}");
    let unreadable = synced["unreadable"].to_string();
    assert!(
        unreadable.contains(key.as_str()) && unreadable.contains("larger than"),
        "{unreadable}"
    );
}

/// Case 8: refused credentials stop verify with one error and change no row.
#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_stop_verify_and_change_no_row() {
    let d = S3Demo::new("badcreds", 2, 3, 50).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let before = rows(&d);
    assert!(before.values().all(|(verified, _)| *verified));
    let guarded = Box::leak(Box::new(fitsbak_testkit::moto::MotoServer::start_with(&[
        ("INITIAL_NO_AUTH_ACTION_COUNT", "0"),
    ])));
    edit_config(d.demo.config(), |c| {
        c["endpoint_url"] = guarded.endpoint.clone().into();
    });
    for args in [&["verify", "--all"][..], &["verify", "--all", "--deep"]] {
        let out = d.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("InvalidAccessKeyId") || err.contains("credentials were refused"),
            "{err}"
        );
        assert_eq!(err.matches("error:").count(), 1, "one error: {err}");
        assert_eq!(rows(&d), before, "no row changed");
    }
}

/// Case 9: a catalogued file that became a FIFO or a link to /dev/zero.
#[test]
fn a_local_check_never_hangs_on_a_fifo_or_a_device() {
    let d = Demo::new();
    d.cmd(&["upload"]).assert().success();
    let session = &d.lib.sessions[0];
    let fifo = &session.files[0].path;
    std::fs::remove_file(fifo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let zero = &session.files[1].path;
    std::fs::remove_file(zero).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero).unwrap();
    let out = d
        .cmd(&["verify", "--session-id", &session.id, "--local", "--json"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("not a regular file").count() >= 2, "{text}");
}

/// Case 10: what a killed backup-db leaves is cleaned by the next one, and an
/// unversioned bucket's "null" version is never shown.
#[tokio::test(flavor = "multi_thread")]
async fn backup_db_cleans_what_a_killed_run_left() {
    let d = S3Demo::new("backupdb", 1, 2, 20).await;
    let scratch_parent = d.demo.dir.path().join("scratch");
    std::fs::create_dir_all(&scratch_parent).unwrap();
    edit_config(d.demo.config(), |c| {
        c["archive_settings"]["temp_dir"] = scratch_parent.to_str().unwrap().into();
    });
    // A killed run's copy is named after the catalog it copied.
    let tag = format!(
        "{:08x}",
        fitsbak_core::checksum::crc32c(
            std::fs::canonicalize(&d.demo.lib.database_path)
                .unwrap()
                .as_os_str()
                .as_encoded_bytes()
        )
    );
    let leftover = scratch_parent.join(format!("fitsbak-snapshot-{tag}-a1b2c3"));
    let someone_elses = scratch_parent.join("fitsbak-snapshot-0badc0de-x");
    std::fs::create_dir(&someone_elses).unwrap();
    std::fs::create_dir(&leftover).unwrap();
    std::fs::copy(&d.demo.lib.database_path, leftover.join("snapshot.db")).unwrap();
    let key = ObjectKey::new("backups/database/catalog_20260101T000000.000Z.db").unwrap();
    let multipart = d.store.try_multipart().unwrap();
    multipart
        .create_multipart(&key, &PutOptions::default(), None)
        .await
        .unwrap();

    let text = stdout(&mut d.cmd(&["backup-db"]));
    assert!(!text.contains("null"), "{text}");
    assert!(!leftover.exists(), "the killed run's copy is gone");
    let left: Vec<_> = std::fs::read_dir(&scratch_parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fitsbak-snapshot-"))
        .collect();
    assert_eq!(
        left,
        ["fitsbak-snapshot-0badc0de-x"],
        "another catalog's is left"
    );
    let uploads = multipart
        .list_multipart_uploads("backups/database/")
        .await
        .unwrap();
    assert!(uploads.is_empty(), "{uploads:?}");
    let noted: Option<String> = Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .query_row(
            "SELECT s3_version_id FROM s3_backup_db_snapshots",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(noted, None);
}

/// Case 11: an object that is not a tar at all.
#[tokio::test(flavor = "multi_thread")]
async fn an_archive_that_is_not_a_tar_fails_cleanly_and_leaves_no_staging() {
    let d = S3Demo::new("nottar", 1, 3, 50).await;
    let (code, _) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0));
    let size = d.object(&d.archive_key(0)).await.len();
    let mut junk: Vec<u8> = (0..size as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    junk[..6].copy_from_slice(b"\x1b[2J\x00\x07");
    replace_keeping_tags(&d, &d.archive_key(0), junk).await;
    let target = d.demo.dir.path().join("t");
    let out = d
        .cmd(&[
            "restore",
            "download",
            "--session-id",
            &d.demo.lib.sessions[0].id,
            "--to",
            target.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).expect("the error is text");
    assert!(err.contains("reading the archive"), "{err}");
    assert!(
        err.trim_end().chars().all(|c| c == '\n' || !c.is_control()),
        "no raw bytes: {err:?}"
    );
    let left: Vec<_> = std::fs::read_dir(&target)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// Case 12: a negative archive size limit is refused at load, located.
#[test]
fn a_negative_archive_size_limit_is_refused_at_load() {
    let d = Demo::new();
    edit_config(d.config(), |c| {
        c["archive_settings"]["max_archive_size_gb"] = (-1).into();
    });
    let err = failure(&mut d.cmd(&["status"]), 2);
    assert!(
        err.contains("s3_config.json:") && err.contains("`archive_settings.max_archive_size_gb`"),
        "{err}"
    );
    assert!(err.contains("-1 is not a positive size"), "{err}");
}
