//! A TCP proxy that injects faults between a client and an S3 server on loopback.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

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
    /// Requests passed through, by S3 operation (from their request lines).
    pub requests: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Added before each request passed through, in milliseconds: the round trip
    /// of a home connection to a region, on loopback.
    pub delay_ms: std::sync::atomic::AtomicU64,
    /// Requests being passed through now, and the most at once.
    pub in_flight: std::sync::atomic::AtomicU64,
    /// The most requests passed through at once.
    pub max_in_flight: std::sync::atomic::AtomicU64,
}

impl FaultStats {
    /// The requests passed through so far, by operation.
    pub fn requests(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The S3 operation a request line (`PUT /bucket/key?partNumber=1&uploadId=x HTTP/1.1`)
/// asks for.
pub fn operation(line: &str) -> &'static str {
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let has = |name: &str| {
        query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    };
    match method {
        "HEAD" => "HeadObject",
        "GET" if has("tagging") => "GetObjectTagging",
        "GET" if has("uploadId") => "ListParts",
        "GET" if has("uploads") => "ListMultipartUploads",
        "GET" if has("versions") => "ListObjectVersions",
        "GET" if has("lifecycle") => "GetBucketLifecycle",
        "GET" if has("versioning") => "GetBucketVersioning",
        "GET" if has("location") => "GetBucketLocation",
        "GET" if has("list-type") || target.trim_matches('/').split('/').count() < 2 => {
            "ListObjects"
        }
        "GET" => "GetObject",
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" if has("tagging") => "PutObjectTagging",
        "PUT" if has("lifecycle") => "PutBucketLifecycle",
        "PUT" => "PutObject",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "POST" if has("restore") => "RestoreObject",
        "POST" => "Post",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" => "DeleteObject",
        _ => "Other",
    }
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

    /// Delays every request passed through by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.stats.delay_ms.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
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
            let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            stats.max_in_flight.fetch_max(now, Ordering::Relaxed);
            let delay = stats.delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            pass_through(client, upstream, stats);
            stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Passes one connection through to `upstream`, counting its request.
fn pass_through(mut client: TcpStream, upstream: u16, stats: &FaultStats) {
    {
        {
            let mut peeked = [0u8; 2048];
            if let Ok(n) = client.peek(&mut peeked) {
                let head = String::from_utf8_lossy(&peeked[..n]);
                let op = operation(head.lines().next().unwrap_or(""));
                let mut requests = stats.requests.lock().unwrap_or_else(|e| e.into_inner());
                *requests.entry(op).or_default() += 1;
            }
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
