//! Helpers: a demo library in a temporary directory and the binary to run on it.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};

use assert_cmd::Command;
use fitsbak_demo::{self as demo, DemoLibrary, DemoSpec};

pub struct Demo {
    pub dir: tempfile::TempDir,
    pub lib: DemoLibrary,
}

impl Demo {
    /// 4 sessions of 6 small files over three years.
    pub fn new() -> Self {
        Self::with(DemoSpec {
            sessions: 4,
            files_per_session: 6,
            width: 32,
            height: 16,
            ..DemoSpec::default()
        })
    }

    pub fn with(spec: DemoSpec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lib = demo::create(&dir.path().join("demo"), &spec).unwrap();
        Self { dir, lib }
    }

    pub fn config(&self) -> &Path {
        &self.lib.config_path
    }

    /// `fitsbak --config <demo config> args...`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = fitsbak();
        cmd.arg("--config").arg(self.config()).args(args);
        cmd
    }

    /// Runs and parses the JSON on stdout; the command must succeed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self
            .cmd(args)
            .arg("--json")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }
}

/// The binary, with a clean environment for the variables fitsbak reads.
pub fn fitsbak() -> Command {
    let mut cmd = Command::cargo_bin("fitsbak").unwrap();
    cmd.env_remove("FITSBAK_CONFIG")
        .env_remove("FITSBAK_DATABASE")
        .env_remove("RUST_LOG");
    cmd
}

pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

pub fn failure(cmd: &mut Command, code: i32) -> String {
    String::from_utf8(cmd.assert().code(code).get_output().stderr.clone()).unwrap()
}

/// A demo library whose config points at a fresh bucket on the shared moto_server,
/// with 1 MiB parts above a 1 MiB threshold and quick retries.
pub struct S3Demo {
    pub demo: Demo,
    pub server: &'static fitsbak_testkit::moto::MotoServer,
    pub store: fitsbak_s3::S3Store,
}

/// A bucket name no other test of this process uses.
pub fn unique_bucket(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "fitsbak-cli-{name}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Edits the JSON config file at `path`.
pub fn edit_config(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

impl S3Demo {
    /// Sessions of `files` files of about `kib` KiB each.
    pub async fn new(name: &str, sessions: usize, files: usize, kib: u64) -> Self {
        Self::on(
            fitsbak_testkit::moto::MotoServer::shared(),
            name,
            sessions,
            files,
            kib,
        )
        .await
    }

    /// The same, on a server of the test's own.
    pub async fn on(
        server: &'static fitsbak_testkit::moto::MotoServer,
        name: &str,
        sessions: usize,
        files: usize,
        kib: u64,
    ) -> Self {
        let demo = Demo::with(
            DemoSpec {
                sessions,
                files_per_session: files,
                ..DemoSpec::default()
            }
            .with_file_size(kib * 1024),
        );
        let bucket = unique_bucket(name);
        let store = server.bucket(&bucket).await;
        edit_config(demo.config(), |c| {
            c["target"] = "s3".into();
            c["buckets"]["primary"] = bucket.clone().into();
            c["endpoint_url"] = server.endpoint.clone().into();
            c["force_path_style"] = true.into();
            c["upload_settings"]["multipart_chunksize_mb"] = 1.into();
            c["upload_settings"]["multipart_threshold_mb"] = 1.into();
            c["retry_settings"]["initial_backoff_seconds"] = 0.05.into();
            c["retry_settings"]["max_backoff_seconds"] = 0.2.into();
        });
        Self {
            demo,
            server,
            store,
        }
    }

    /// `fitsbak --config <config> args...`, with the tests' credentials.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.demo.cmd(args);
        for (k, v) in self.server.child_env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs and parses the JSON on stdout, whatever the exit code.
    pub fn json_any(&self, args: &[&str]) -> (Option<i32>, serde_json::Value) {
        exit_and_json(self.cmd(args).arg("--json").output().unwrap())
    }

    /// The bytes of an object.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        use fitsbak_core::store::prelude::*;
        use futures::TryStreamExt;
        let got = self
            .store
            .get(&fitsbak_core::ids::ObjectKey::new(key).unwrap(), None)
            .await
            .unwrap();
        let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.unwrap();
        chunks.concat()
    }

    /// A failed `session` left nothing in the bucket: no archive object, and no
    /// incomplete multipart upload of any session.
    pub async fn assert_nothing_left_of(&self, session: usize) {
        use fitsbak_core::store::prelude::*;
        let key = fitsbak_core::ids::ObjectKey::new(self.archive_key(session)).unwrap();
        assert!(
            self.store.head(&key).await.unwrap().is_none(),
            "no archive of session {session}"
        );
        assert!(
            self.store
                .list_multipart_uploads("")
                .await
                .unwrap()
                .is_empty(),
            "its multipart upload was aborted"
        );
    }

    pub fn archive_key(&self, session: usize) -> String {
        let s = &self.demo.lib.sessions[session];
        format!(
            "backups/raw/{}/{}.tar",
            chrono::Datelike::year(&s.date),
            s.id
        )
    }

    pub fn manifest_key(&self, session: usize) -> String {
        let s = &self.demo.lib.sessions[session];
        format!(
            "backups/manifests/{}/{}.json",
            chrono::Datelike::year(&s.date),
            s.id
        )
    }
}

impl S3Demo {
    /// The bucket's name.
    pub fn store_bucket(&self) -> String {
        use fitsbak_core::store::prelude::*;
        self.store.bucket()
    }
}

/// A finished run's exit code and the JSON it printed on stdout.
pub fn exit_and_json(out: std::process::Output) -> (Option<i32>, serde_json::Value) {
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

/// Starts the binary on `d` in the background, output piped.
pub fn spawn(d: &S3Demo, args: &[&str], extra_env: &[(&str, &str)]) -> Child {
    let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("fitsbak"));
    cmd.arg("--config").arg(d.demo.config()).args(args);
    for (k, v) in d.server.child_env() {
        cmd.env(k, v);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.env_remove("FITSBAK_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs to the end; returns the exit code and the JSON summary.
pub fn finish(child: Child) -> (Option<i32>, serde_json::Value) {
    exit_and_json(child.wait_with_output().unwrap())
}

/// The names of the entries of `dir`.
pub fn file_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// One HTTP request received on loopback, answered 200: (request line, body).
pub fn http_receiver() -> (u16, std::thread::JoinHandle<(String, String)>) {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        (first, String::from_utf8(body).unwrap())
    });
    (port, handle)
}

/// Waits until `n` parts of an upload are recorded in the tracking database at
/// `db` (a minute at most).
pub fn wait_for_parts(db: &Path, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let parts: i64 = rusqlite::Connection::open(db)
            .ok()
            .and_then(|c| {
                c.query_row("SELECT COUNT(*) FROM s3_backup_upload_parts", [], |r| {
                    r.get(0)
                })
                .ok()
            })
            .unwrap_or(0);
        if parts >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no part was recorded");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
