//! Operations over many archives at internet latency: `verify --all`, `sync-db`,
//! `upload` with nothing to do and `restore status`, over 2,000 small archives in
//! Deep Archive (each with a restore requested) on moto_server, through a proxy
//! that adds a fixed delay before each request (0 ms, then 50 ms: a home
//! connection's round trip to a region) and counts the requests by operation.
//! Prints the median seconds of RUNS runs and the requests of one, and the target:
//! at 50 ms, within 3x the 0 ms time plus requests x 50 ms / archive_concurrency.
//!
//! ```text
//! ./scripts/bench-latency.sh        # FITSBAK_BENCH_ARCHIVES=2000 RUNS=3
//! ```

use std::time::{Duration, Instant};

use fitsbak_demo::DemoSpec;
use fitsbak_testkit::proxy::FaultProxy;
use fitsbak_testkit::server::StoreServer;

mod support;
use support::{edit_config, fitsbak};

const COMMANDS: [&[&str]; 4] = [
    &["verify", "--all"],
    &["sync-db"],
    &["upload"],
    &["restore", "status"],
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn total(proxy: &FaultProxy) -> u64 {
    proxy.stats.requests().values().sum()
}

#[tokio::main]
async fn main() {
    let archives = env_or("FITSBAK_BENCH_ARCHIVES", 2000);
    let runs = env_or("RUNS", 3);
    let server = StoreServer::start_with(&[]);
    let proxy = FaultProxy::start(server.port, 0, Duration::from_secs(30));
    let bucket = "fitsbak-bench-latency";
    server.bucket(bucket).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = DemoSpec {
        sessions: archives,
        files_per_session: 4,
        width: 16,
        height: 16,
        ..DemoSpec::default()
    };
    eprintln!("writing a demo library of {archives} sessions ...");
    let lib = fitsbak_demo::create(&dir.path().join("demo"), &spec).unwrap();
    let concurrency = 8;
    edit_config(&lib.config_path, |c| {
        c["target"] = "s3".into();
        c["buckets"]["primary"] = bucket.into();
        c["endpoint_url"] = proxy.endpoint.clone().into();
        c["force_path_style"] = true.into();
        c["notes_dir"] = serde_json::Value::Null;
        c["archive_concurrency"] = concurrency.into();
        for rule in ["raw_lights", "raw_calibration"] {
            c["backup_rules"][rule]["storage_class"] = "DEEP_ARCHIVE".into();
        }
    });
    let config = lib.config_path.clone();
    eprintln!("uploading {archives} archives (no delay) ...");
    let started = Instant::now();
    fitsbak(&server, &config, &["-q", "upload"]);
    fitsbak(
        &server,
        &config,
        &["-q", "restore", "request", "--all", "--yes"],
    );
    eprintln!("  done in {:.0} s", started.elapsed().as_secs_f64());

    let mut zero = Vec::new();
    println!(
        "{archives} archives in DEEP_ARCHIVE on moto_server through a delaying proxy, \
         archive_concurrency {concurrency}, medians of {runs} runs\n"
    );
    println!(
        "{:<16} {:>8} {:>9} {:>10} {:>9}",
        "command", "delay", "seconds", "requests", "target s"
    );
    for delay_ms in [0u64, 50] {
        proxy.set_delay(Duration::from_millis(delay_ms));
        for (i, args) in COMMANDS.iter().enumerate() {
            let mut seconds = Vec::new();
            let mut requests = 0;
            for _ in 0..runs {
                let before = total(&proxy);
                let started = Instant::now();
                let mut quiet = vec!["-q"];
                quiet.extend_from_slice(args);
                fitsbak(&server, &config, &quiet);
                seconds.push(started.elapsed().as_secs_f64());
                requests = total(&proxy) - before;
            }
            seconds.sort_by(f64::total_cmp);
            let median = seconds[seconds.len() / 2];
            let target = if delay_ms == 0 {
                zero.push(median);
                String::new()
            } else {
                let allowed =
                    3.0 * zero[i] + requests as f64 * delay_ms as f64 / 1000.0 / concurrency as f64;
                format!("{allowed:.1}")
            };
            println!(
                "{:<16} {:>6}ms {:>9.2} {:>10} {:>9}",
                args.join(" "),
                delay_ms,
                median,
                requests,
                target
            );
        }
    }
}
