//! A real S3 protocol server for the tests: `moto_server` (moto 5.2.5) on a free
//! loopback port, stopped when the process that started it goes away.
//!
//! The binary is `$FITSBAK_MOTO_SERVER`, else `.venv/bin/moto_server` at the
//! workspace root (`scripts/install-test-tools.sh` makes it). A test that needs it and
//! does not find it fails, saying how to install it; it never skips.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::Credentials;

use crate::s3::{S3Settings, S3Store};

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
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".venv/bin/moto_server");
    assert!(
        venv.is_file(),
        "moto_server (moto[server]==5.2.5) is needed by this test and was not found at {}: \
         run scripts/install-test-tools.sh, or set FITSBAK_MOTO_SERVER",
        venv.display()
    );
    venv
}

fn free_port() -> u16 {
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

/// A TCP proxy in front of a server that fails a share of the connections: it
/// resets some mid-request, answers some `503 SlowDown`, and stalls some past the
/// client's timeout. moto_server closes every connection after one response, so a
/// share of connections is a share of requests.
pub struct FaultProxy {
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    /// Faults per thousand connections.
    pub rate: std::sync::Arc<std::sync::atomic::AtomicU32>,
    /// Healthy connections left before every connection fails (negative: no limit).
    pub budget: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// Connections seen and faults injected.
    pub stats: std::sync::Arc<FaultStats>,
}

/// What a [`FaultProxy`] did.
#[derive(Debug, Default)]
pub struct FaultStats {
    /// Connections accepted.
    pub connections: std::sync::atomic::AtomicU64,
    /// Connections reset mid-request.
    pub resets: std::sync::atomic::AtomicU64,
    /// `503 SlowDown` answers.
    pub slowdowns: std::sync::atomic::AtomicU64,
    /// Connections stalled.
    pub stalls: std::sync::atomic::AtomicU64,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (a port on loopback) failing `per_mille`
    /// connections in 1000; stalled connections hang for `stall`.
    pub fn start(upstream: u16, per_mille: u32, stall: Duration) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("bound").port();
        let rate = Arc::new(AtomicU32::new(per_mille));
        let budget = Arc::new(std::sync::atomic::AtomicI64::new(-1));
        let stats = Arc::new(FaultStats::default());
        let (rate2, stats2, budget2) = (rate.clone(), stats.clone(), budget.clone());
        std::thread::spawn(move || {
            let counter = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let n = stats2.connections.fetch_add(1, Ordering::Relaxed);
                // A small deterministic generator: the same run faults the same way.
                let mut z = counter.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let roll = ((z ^ (z >> 31)) % 1000) as u32;
                let spent = budget2
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                        (b > 0).then(|| b - 1)
                    })
                    .is_err()
                    && budget2.load(Ordering::Relaxed) == 0;
                let fault = (spent || roll < rate2.load(Ordering::Relaxed)).then_some(n % 3);
                let stats = stats2.clone();
                std::thread::spawn(move || serve(client, upstream, fault, stall, &stats));
            }
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            rate,
            budget,
            stats,
        }
    }

    /// Changes the share of failed connections.
    pub fn set_rate(&self, per_mille: u32) {
        self.rate
            .store(per_mille, std::sync::atomic::Ordering::Relaxed);
    }

    /// Lets `healthy` more connections through, then fails every one (negative:
    /// no limit).
    pub fn fail_after(&self, healthy: i64) {
        self.budget
            .store(healthy, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Reads one request's head (and body, by its length) from `client`.
fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

fn serve(
    mut client: TcpStream,
    upstream: u16,
    fault: Option<u64>,
    stall: Duration,
    stats: &FaultStats,
) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    match fault {
        Some(0) => {
            // Reset mid-request: take part of it, then drop the connection.
            let mut part = [0u8; 1024];
            let _ = std::io::Read::read(&mut client, &mut part);
            stats.resets.fetch_add(1, Ordering::Relaxed);
            let _ = client.shutdown(std::net::Shutdown::Both);
        }
        Some(1) => {
            let _ = read_request(&mut client);
            stats.slowdowns.fetch_add(1, Ordering::Relaxed);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                        <Message>Please reduce your request rate.</Message></Error>";
            let _ = write!(
                client,
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Some(_) => {
            let _ = read_request(&mut client);
            stats.stalls.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(stall);
        }
        None => {
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (Ok(mut client_read), Ok(mut server_write)) =
                (client.try_clone(), server.try_clone())
            else {
                return;
            };
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_read, &mut server_write);
                let _ = server_write.shutdown(std::net::Shutdown::Write);
            });
            let _ = std::io::copy(&mut server, &mut client);
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = up.join();
        }
    }
}
