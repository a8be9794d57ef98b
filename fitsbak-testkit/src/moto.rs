//! A real S3 protocol server for the tests: `moto_server` (moto 5.2.5) on a free
//! loopback port, stopped when the process that started it goes away.
//!
//! The binary is `$FITSBAK_MOTO_SERVER`, else `.venv/bin/moto_server` at the
//! workspace root (`scripts/install-test-tools.sh` makes it), else `moto_server` on
//! the `PATH`. A test that needs it and does not find it fails, saying how to
//! install it; it never skips.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::Credentials;

use fitsbak_core::store::ObjectStore;
use fitsbak_s3::{S3Settings, S3Store};

/// The access key the tests use (moto accepts any unless told otherwise).
pub const ACCESS_KEY: &str = "AKIAFITSBAKTESTS0001";
/// The secret key the tests use.
pub const SECRET_KEY: &str = "fitsbak-test-secret-key-not-a-real-one";

/// A running moto_server.
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    /// Its port.
    pub port: u16,
}

/// Where the moto_server binary is.
pub fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FITSBAK_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = crate::workspace_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    crate::on_path("moto_server").unwrap_or_else(|| {
        panic!(
            "moto_server (moto[server]==5.2.5) is needed by this test and was not found at {} \
             nor on the PATH: run scripts/install-test-tools.sh, or set FITSBAK_MOTO_SERVER",
            venv.display()
        )
    })
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl MotoServer {
    /// Starts a server with moto's defaults except a 1 MiB minimum part size, so
    /// that multipart tests can use small parts.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra environment variables (for example
    /// `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let binary = moto_binary();
        let port = free_port();
        // The shell stops moto when our end of its stdin closes, which happens
        // however this process ends.
        let script = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & child=$!; \
             echo started; cat >/dev/null; kill $child 2>/dev/null; wait $child 2>/dev/null"
        );
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg(&binary)
            .env("S3_UPLOAD_PART_MIN_SIZE", (1 << 20).to_string())
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the moto wrapper starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server ({}) did not listen on port {port} within 60 s",
                binary.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        }
    }

    /// One server shared by the tests of this process; each test uses its own
    /// bucket.
    pub fn shared() -> &'static MotoServer {
        static SERVER: OnceLock<MotoServer> = OnceLock::new();
        SERVER.get_or_init(MotoServer::start)
    }

    /// Settings for `bucket` on this server.
    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            bucket: bucket.to_owned(),
            region: "us-east-1".into(),
            endpoint_url: Some(self.endpoint.clone()),
            force_path_style: true,
            request_timeout: Duration::from_secs(60),
        }
    }

    /// A store for `bucket`, with the test credentials.
    pub fn store(&self, bucket: &str) -> S3Store {
        S3Store::with_credentials(
            &self.settings(bucket),
            Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "fitsbak-tests"),
        )
    }

    /// Creates `bucket` and returns a store for it.
    pub async fn bucket(&self, bucket: &str) -> S3Store {
        let store = self.store(bucket);
        store
            .client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating bucket {bucket}: {e:?}"));
        store
    }

    /// Turns versioning on for `store`'s bucket.
    pub async fn enable_versioning(&self, store: &S3Store) {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        let bucket = store.location().bucket.clone();
        store
            .client()
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("turning versioning on for {bucket}: {e:?}"));
    }

    /// The environment a child process needs to reach this server as the tests'
    /// user.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            (
                "AWS_CONFIG_FILE",
                "/nonexistent/fitsbak-test-aws-config".to_owned(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/fitsbak-test-aws-credentials".to_owned(),
            ),
        ]
    }

    /// Posts to moto's own API (`/moto-api/...`), for state the S3 API cannot set.
    pub fn moto_api(&self, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("moto listens");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("the request is sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("moto answers");
        response
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // the wrapper kills moto
        let _ = self.child.wait();
    }
}
