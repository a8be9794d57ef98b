//! The store matrix: the whole job, as a user runs it, on each S3 server people
//! use — moto (the AWS model), Ceph's RADOS Gateway, s3s-fs and s3rver — with the
//! default settings plus endpoint, path style, credentials and 5 MiB parts (S3's
//! minimum, so that multipart uploads stay small). What a store cannot do is
//! asserted as a warning `doctor` prints, never skipped.

#[path = "../it/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command as Process, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fitsbak_testkit::server::{Flavor, StoreServer};
use md5::{Digest, Md5};
use rusqlite::Connection;

use support::*;

fn server(flavor: Flavor) -> &'static StoreServer {
    static MOTO: OnceLock<StoreServer> = OnceLock::new();
    static CEPH: OnceLock<StoreServer> = OnceLock::new();
    static S3S: OnceLock<StoreServer> = OnceLock::new();
    static S3RVER: OnceLock<StoreServer> = OnceLock::new();
    let cell = match flavor {
        Flavor::Moto => &MOTO,
        Flavor::Ceph => &CEPH,
        Flavor::S3sFs => &S3S,
        Flavor::S3rver => &S3RVER,
    };
    cell.get_or_init(|| StoreServer::start(flavor))
}

fn spawn(d: &S3Demo, args: &[&str]) -> Child {
    let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("fitsbak"));
    cmd.arg("--config").arg(d.demo.config()).args(args);
    for (k, v) in d.server.child_env() {
        cmd.env(k, v);
    }
    cmd.env_remove("FITSBAK_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn parts_recorded(d: &S3Demo) -> i64 {
    Connection::open(&d.demo.lib.database_path)
        .ok()
        .and_then(|c| {
            c.query_row("SELECT COUNT(*) FROM s3_backup_upload_parts", [], |r| {
                r.get(0)
            })
            .ok()
        })
        .unwrap_or(0)
}

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

fn md5_of(path: &std::path::Path) -> String {
    hex::encode(Md5::digest(std::fs::read(path).unwrap()))
}

/// The whole job on one store; returns doctor's report and the proofs used.
async fn the_whole_job(flavor: Flavor) -> Job {
    let server = server(flavor);
    let d = S3Demo::on(server, flavor.name(), 3, 4, 1600).await;
    edit_config(d.demo.config(), |c| {
        c["upload_settings"]["multipart_chunksize_mb"] = 5.into();
        c["upload_settings"]["multipart_threshold_mb"] = 100.into();
    });
    let ids: Vec<String> = d.demo.lib.sessions.iter().map(|s| s.id.clone()).collect();
    let name = flavor.name();

    // One PUT (below the threshold).
    let (code, up) = d.json_any(&["upload", "--session-id", &ids[0]]);
    assert_eq!(code, Some(0), "{name}: single PUT: {up}");
    assert_eq!(outcomes(&up)[&ids[0]], "uploaded", "{name}: {up}");

    // Multipart, killed after its first parts, then resumed.
    edit_config(d.demo.config(), |c| {
        c["upload_settings"]["multipart_threshold_mb"] = 5.into();
    });
    let mut child = spawn(
        &d,
        &["upload", "--session-id", &ids[1], "--bandwidth", "20"],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while parts_recorded(&d) < 1 {
        assert!(Instant::now() < deadline, "{name}: no part was recorded");
        if child.try_wait().unwrap().is_some() {
            break; // done before it could be killed: nothing to resume
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let (code, up) = d.json_any(&["upload"]);
    assert_eq!(code, Some(0), "{name}: multipart after a kill: {up}");
    let done = outcomes(&up);
    assert_eq!(done[&ids[1]], "uploaded", "{name}: {up}");
    assert_eq!(done[&ids[2]], "uploaded", "{name}: {up}");

    // Checks, quick and deep.
    for args in [&["verify", "--all"][..], &["verify", "--all", "--deep"]] {
        let (code, out) = d.json_any(args);
        assert_eq!(code, Some(0), "{name}: {args:?}: {out}");
        assert!(
            out.as_array()
                .unwrap()
                .iter()
                .all(|r| r["outcome"] == "passed"),
            "{name}: {out}"
        );
    }

    // Restore.
    let target = d.demo.dir.path().join("restored");
    let out = d
        .cmd(&[
            "restore",
            "download",
            "--session-id",
            &ids[1],
            "--to",
            target.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{name}: restore: {out:?}");
    for f in &d.demo.lib.sessions[1].files {
        let back = target.join(f.path.strip_prefix("/").unwrap());
        assert_eq!(md5_of(&back), f.md5, "{name}: {}", back.display());
    }

    // Catalog snapshots.
    let out = d.cmd(&["backup-db"]).output().unwrap();
    assert!(out.status.success(), "{name}: backup-db: {out:?}");
    let (code, listed) = d.json_any(&["list-db-backups"]);
    assert_eq!(code, Some(0), "{name}: {listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{name}: {listed}");

    let proofs: Vec<String> = {
        let conn = Connection::open(&d.demo.lib.database_path).unwrap();
        let mut stmt = conn
            .prepare("SELECT facts FROM s3_backup_archive_facts ORDER BY session_id")
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|f| {
                let facts: serde_json::Value = serde_json::from_str(&f.unwrap()).unwrap();
                facts["proof"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    // The tracking rows lost: the bucket alone rebuilds them.
    Connection::open(&d.demo.lib.database_path)
        .unwrap()
        .execute_batch(
            "DELETE FROM s3_backup_archive_members; DELETE FROM s3_backup_archive_facts;
             DELETE FROM s3_backup_archives;",
        )
        .unwrap();
    let (code, synced) = d.json_any(&["sync-db"]);
    assert_eq!(code, Some(0), "{name}: sync-db: {synced}");
    assert_eq!(
        synced["added"].as_array().unwrap().len(),
        3,
        "{name}: {synced}"
    );
    let (code, out) = d.json_any(&["verify", "--all"]);
    assert_eq!(code, Some(0), "{name}: verify after sync-db: {out}");

    // doctor reports, never stops; lifecycle apply where the store has rules.
    let out = d.cmd(&["doctor"]).output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(2),
        "{name}: doctor stopped: {out:?}"
    );
    let doctor = String::from_utf8_lossy(&out.stdout).into_owned();
    let out = d.cmd(&["lifecycle", "apply"]).output().unwrap();
    let lifecycle = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() || lifecycle.contains("does not offer"),
        "{name}: lifecycle apply: {lifecycle}"
    );
    eprintln!("{name}: doctor:\n{doctor}\n{name}: proofs: {proofs:#?}");
    assert_eq!(proofs.len(), 3, "{name}");
    assert!(
        proofs.iter().all(|p| !p.contains("size only")),
        "{name}: every upload proven by more than its size: {proofs:#?}"
    );
    Job { doctor, proofs }
}

/// What a store's run showed.
struct Job {
    doctor: String,
    /// The proof each archive's upload was checked by, by session.
    proofs: Vec<String>,
}

#[tokio::test(flavor = "multi_thread")]
async fn moto() {
    let job = the_whole_job(Flavor::Moto).await;
    assert!(
        job.doctor.contains("offers: reports CRC32C of a PUT"),
        "{}",
        job.doctor
    );
    assert!(
        job.proofs[1].contains("composite CRC32C"),
        "{:?}",
        job.proofs
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ceph_rgw() {
    let job = the_whole_job(Flavor::Ceph).await;
    // Ceph 16 drops tags sent with CreateMultipartUpload (they are put after the
    // upload, and the quick checks found them) and keeps no CRC32C.
    assert!(
        job.doctor.contains("no tags on CreateMultipartUpload"),
        "{}",
        job.doctor
    );
    assert!(
        job.doctor.contains("no reports CRC32C of a PUT"),
        "{}",
        job.doctor
    );
    assert!(
        job.proofs[0].contains("ETag (MD5 of the bytes)"),
        "{:?}",
        job.proofs
    );
    assert!(
        job.proofs[1].contains("MD5 of the parts' MD5s"),
        "{:?}",
        job.proofs
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3s_fs() {
    let job = the_whole_job(Flavor::S3sFs).await;
    assert!(job.doctor.contains("no object tagging"), "{}", job.doctor);
    assert!(job.doctor.contains("no lifecycle rules"), "{}", job.doctor);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3rver() {
    let job = the_whole_job(Flavor::S3rver).await;
    // Its multipart ETag is the whole object's MD5 and it keeps no CRC32C: the
    // object is read back.
    assert!(
        job.doctor.contains("no multipart ETag is MD5 of part MD5s"),
        "{}",
        job.doctor
    );
    assert!(job.proofs[1].contains("read back"), "{:?}", job.proofs);
}
