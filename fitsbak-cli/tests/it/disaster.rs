//! Disaster recovery, end to end on moto_server: the library is backed up to
//! DEEP_ARCHIVE, then the database and the FITS files are lost; the bucket alone
//! brings every file back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rusqlite::Connection;

use crate::support::*;

fn md5_of(path: &Path) -> String {
    hex::encode(Md5::digest(std::fs::read(path).unwrap()))
}

/// Where a restore puts a file: below its original folder, made relative.
fn restored(dir: &Path, original: &Path) -> PathBuf {
    dir.join(original.strip_prefix("/").unwrap())
}

fn restore_status(d: &S3Demo, session: &str) -> String {
    let (code, rows) = d.json_any(&["restore", "status", "--session-id", session]);
    assert_eq!(code, Some(0), "{rows}");
    rows[0]["status"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bucket_alone_brings_every_file_back() {
    let server: &'static fitsbak_testkit::moto::MotoServer =
        Box::leak(Box::new(fitsbak_testkit::moto::MotoServer::start_with(&[])));
    let d = S3Demo::on(server, "disaster", 3, 4, 200).await;
    edit_config(d.demo.config(), |c| {
        c["backup_rules"]["raw_lights"]["storage_class"] = "DEEP_ARCHIVE".into();
    });
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{up}");
    let (code, snap) = d.json_any(&["backup-db", "--description", "before the disk died"]);
    assert_eq!(code, Some(0), "{snap}");
    let notes_sent = up["notes"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["action"] == "uploaded")
        .count();
    assert!(notes_sent > 0, "{up}");

    // The disaster: the catalog database and the FITS files are gone.
    let originals: BTreeMap<PathBuf, String> = d
        .demo
        .lib
        .sessions
        .iter()
        .flat_map(|s| &s.files)
        .map(|f| (f.path.clone(), md5_of(&f.path)))
        .collect();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", d.demo.lib.database_path.display()));
    }
    std::fs::remove_dir_all(&d.demo.lib.library_dir).unwrap();

    // Rebuild the tracking tables from the bucket, into a new database.
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(0), "{synced}");
    assert_eq!(synced["added"].as_array().unwrap().len(), 3);
    assert!(
        synced["archives_without_manifest"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        synced["notes_added"].as_array().unwrap().len(),
        notes_sent,
        "{synced}"
    );
    assert_eq!(
        synced["snapshots_added"].as_array().unwrap().len(),
        1,
        "{synced}"
    );

    let (_, again) = d.json_any(&["sync-db"]);
    assert_eq!(
        again["unchanged"].as_array().unwrap().len(),
        3,
        "idempotent: {again}"
    );
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let (rows, verified, class): (i64, i64, String) = conn
        .query_row(
            "SELECT COUNT(*), SUM(verified), MIN(current_storage_class) FROM s3_backup_archives",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (rows, verified, class.as_str()),
        (3, 0, "DEEP_ARCHIVE"),
        "nothing marked verified"
    );
    drop(conn);

    // The README's step 3, as written: the checks and reports run on a database of
    // tracking rows alone, and say the catalog is absent.
    let (code, verified) = d.json_any(&["verify", "--all"]);
    assert_eq!(
        code,
        Some(0),
        "quick checks pass on archived objects: {verified}"
    );
    let (code, status) = d.json_any(&["status"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(
        status["catalog"].as_str().unwrap().contains("no catalog"),
        "{status}"
    );
    assert_eq!(status["sessions_backed_up"], 3, "{status}");
    let (code, listed) = d.json_any(&["list-sessions"]);
    assert_eq!(code, Some(0), "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let out = d.cmd(&["doctor"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("is not a FITS cataloger database"), "{text}");
    assert!(text.contains("tracked objects"), "{text}");

    let session = d.demo.lib.sessions[1].id.clone();
    let target = d.demo.dir.path().join("restored");
    let target_arg = target.to_str().unwrap().to_owned();

    // Archived and not restored: refused, naming the command to run.
    let err = failure(
        &mut d.cmd(&[
            "restore",
            "download",
            "--session-id",
            &session,
            "--to",
            &target_arg,
        ]),
        2,
    );
    assert!(
        err.contains("must be restored first")
            && err.contains("fitsbak restore request --session-id"),
        "{err}"
    );
    assert!(err.contains("within 12 hours"), "{err}");

    // Expedited is refused for Deep Archive.
    let err = failure(
        &mut d.cmd(&[
            "restore",
            "request",
            "--all",
            "--tier",
            "Expedited",
            "--yes",
        ]),
        2,
    );
    assert!(
        err.contains("Expedited tier is not offered for DEEP_ARCHIVE"),
        "{err}"
    );

    // The request shows what it costs and takes, then is sent.
    server.moto_api(
        "/moto-api/state-manager/set-transition",
        r#"{"model_name": "s3::keyrestore", "transition": {"progression": "manual", "times": 2}}"#,
    );
    let text = stdout(&mut d.cmd(&["restore", "request", "--all", "--tier", "Bulk", "--yes"]));
    assert!(
        text.contains("within 48 hours") && text.contains("Bulk (chosen)"),
        "{text}"
    );
    assert!(text.contains("$"), "{text}");

    assert_eq!(restore_status(&d, &session), "in-progress");
    let mut polls = 1;
    while restore_status(&d, &session) != "available" {
        polls += 1;
        assert!(polls < 10, "the restore never became available");
    }
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let (status, tier): (String, String) = conn
        .query_row(
            "SELECT restore_status, restore_tier FROM s3_backup_archives WHERE session_id = ?1",
            [&session],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), tier.as_str()), ("available", "Bulk"));

    // The whole session comes back, byte for byte, below the original folders.
    let (code, files) = d.json_any(&[
        "restore",
        "download",
        "--session-id",
        &session,
        "--to",
        &target_arg,
    ]);
    assert_eq!(code, Some(0), "{files}");
    let lost = &d.demo.lib.sessions[1];
    assert_eq!(files.as_array().unwrap().len(), lost.files.len());
    for f in &lost.files {
        assert_eq!(
            md5_of(&restored(&target, &f.path)),
            originals[&f.path],
            "{}",
            f.path.display()
        );
    }

    // A second download skips everything.
    let text = stdout(&mut d.cmd(&[
        "restore",
        "download",
        "--session-id",
        &session,
        "--to",
        &target_arg,
    ]));
    assert!(
        text.contains(&format!(
            "0 file(s) restored (0 B), {} already there",
            lost.files.len()
        )),
        "{text}"
    );

    // A file edited since is never replaced without --overwrite: the CLI names it.
    let edited = restored(&target, &lost.files[0].path);
    std::fs::write(&edited, b"edited by hand").unwrap();
    let err = failure(
        &mut d.cmd(&[
            "restore",
            "download",
            "--session-id",
            &session,
            "--to",
            &target_arg,
        ]),
        2,
    );
    assert!(
        err.contains("exists and differs") && err.contains("pass --overwrite to replace it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&edited).unwrap(), b"edited by hand");

    // One file, with a ranged GET of its bytes only.
    let one = &lost.files[1];
    let single = d.demo.dir.path().join("single");
    let (code, got) = d.json_any(&[
        "restore",
        "download",
        "--session-id",
        &session,
        "--to",
        single.to_str().unwrap(),
        "--file",
        &one.file,
    ]);
    assert_eq!(code, Some(0), "{got}");
    assert_eq!(got.as_array().unwrap().len(), 1);
    assert_eq!(md5_of(&restored(&single, &one.path)), originals[&one.path]);
    let conn = Connection::open(&d.demo.lib.database_path).unwrap();
    let bytes: i64 = conn
        .query_row(
            "SELECT bytes_transferred FROM s3_backup_log WHERE operation_type = 'restore' ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        bytes as u64,
        512 + one.size.div_ceil(512) * 512,
        "only the member's range was fetched: its header block, data and padding"
    );

    // Step 7: the catalog itself, with nothing left beside it.
    let (code, listed) = d.json_any(&["list-db-backups"]);
    assert_eq!(code, Some(0), "{listed}");
    assert!(
        listed.to_string().contains("before the disk died"),
        "{listed}"
    );
    let back = d.demo.dir.path().join("back");
    std::fs::create_dir_all(&back).unwrap();
    let output = back.join("fits_catalog.db");
    let (code, restored_db) = d.json_any(&["restore-db", "--output", output.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{restored_db}");
    let left = file_names(&back);
    assert_eq!(
        left,
        vec!["fits_catalog.db".to_owned()],
        "only the output file"
    );
}
