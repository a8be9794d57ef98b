//! What the checks around an upload cost per archive, on moto_server: the requests
//! each `fitsbak upload` sends, by operation (counted by a proxy in front of moto,
//! which answers one request per connection), and the wall time of the checking
//! requests (ListParts before Complete, HEAD after it) measured by repeating them.
//!
//! ```text
//! cargo bench -p fitsbak-cli --bench checks        # FITSBAK_BENCH_SESSIONS=20
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use fitsbak_core::ids::ObjectKey;
use fitsbak_core::store::prelude::*;
use fitsbak_demo::DemoSpec;
use fitsbak_testkit::proxy::FaultProxy;
use fitsbak_testkit::server::StoreServer;

mod support;
use support::{edit_config, fitsbak};

/// Uploads every session of a fresh library through the proxy, the first one
/// alone (it carries the store's probe); returns the requests of the others by
/// operation and their wall seconds.
fn run(
    server: &StoreServer,
    proxy: &FaultProxy,
    bucket: &str,
    sessions: usize,
    threshold_mb: u64,
) -> (BTreeMap<&'static str, u64>, f64) {
    let dir = tempfile::tempdir().unwrap();
    let spec = DemoSpec {
        sessions,
        files_per_session: 4,
        ..DemoSpec::default()
    }
    .with_file_size(1600 * 1024);
    let lib = fitsbak_demo::create(&dir.path().join("demo"), &spec).unwrap();
    edit_config(&lib.config_path, |c| {
        c["target"] = "s3".into();
        c["buckets"]["primary"] = bucket.into();
        c["endpoint_url"] = proxy.endpoint.clone().into();
        c["force_path_style"] = true.into();
        c["upload_settings"]["multipart_chunksize_mb"] = 5.into();
        c["upload_settings"]["multipart_threshold_mb"] = threshold_mb.into();
        c["notes_dir"] = serde_json::Value::Null;
    });
    // The first archive goes alone, with the store's probe (once per target).
    fitsbak(server, &lib.config_path, &["upload", "--limit", "1"]);
    let before = proxy.stats.requests();
    let started = Instant::now();
    fitsbak(server, &lib.config_path, &["upload"]);
    let seconds = started.elapsed().as_secs_f64();
    let mut counts = proxy.stats.requests();
    for (op, n) in before {
        *counts.entry(op).or_default() -= n;
    }
    counts.retain(|_, n| *n > 0);
    (counts, seconds)
}

#[tokio::main]
async fn main() {
    let sessions: usize = std::env::var("FITSBAK_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let server = StoreServer::start_with(&[]);
    let proxy = FaultProxy::start(server.port, 0, std::time::Duration::from_secs(1));
    for (label, threshold) in [("multipart (2 parts)", 5), ("single PUT", 100)] {
        let bucket = format!("fitsbak-bench-checks-{threshold}");
        let store = server.bucket(&bucket).await;
        let (counts, seconds) = run(&server, &proxy, &bucket, sessions + 1, threshold);
        let per = |op: &str| counts.get(op).copied().unwrap_or(0) as f64 / sessions as f64;
        println!("{label}: {sessions} archives of 6.4 MiB in {seconds:.2} s");
        for (op, n) in &counts {
            println!(
                "  {op:<28} {n:>5}  {:>6.2} per archive",
                *n as f64 / sessions as f64
            );
        }
        // The checking requests, timed on their own.
        let keys: Vec<ObjectKey> = store
            .list("backups/raw/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| ObjectKey::new(o.key).unwrap())
            .collect();
        let started = Instant::now();
        for key in &keys {
            store.head(key).await.unwrap();
        }
        let head_ms = started.elapsed().as_secs_f64() * 1000.0 / keys.len() as f64;
        println!(
            "  checks per archive: {:.2} ListParts + {:.2} HEAD; one HEAD takes {head_ms:.1} ms \
             here, the upload {:.0} ms per archive",
            per("ListParts"),
            per("HeadObject"),
            seconds * 1000.0 / sessions as f64
        );
    }
}
