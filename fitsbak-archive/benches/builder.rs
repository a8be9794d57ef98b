//! The archive builder against one plain MD5 pass over the same warm files.
//!
//! ```text
//! cargo bench -p fitsbak-archive --bench builder          # 1 GiB in 64 files
//! FITSBAK_BENCH_MIB=4096 cargo bench -p fitsbak-archive --bench builder
//! ```
//!
//! Both read the files with 1 MiB reads; the builder also writes the tar stream (to
//! a sink that drops it) and checks each file's MD5 against the catalog's. It hashes
//! files 8 at a time in SIMD lanes and reads each twice (the second time from the
//! page cache), so it can outrun one plain MD5 stream: the target is a builder at
//! >= 85 % of the plain MD5 throughput, whatever the CPU.

use std::fs::File;
use std::io::Read;
use std::time::Instant;

use fitsbak_archive::TarArchiver;
use fitsbak_archive::write::mtime_seconds;
use fitsbak_core::archive::{ArchiveBuilder, MemberSource};
use fitsbak_core::ids::SessionId;
use fitsbak_core::model::CatalogFile;
use md5::{Digest, Md5};

const FILES: usize = 64;
const RUNS: usize = 5;

fn main() {
    let total_mib: usize = std::env::var("FITSBAK_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let file_bytes = total_mib * (1 << 20) / FILES;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let session = SessionId::new("20240315_BENCH").unwrap();
    let mut sources = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..FILES {
        let path = dir.path().join(format!("light_{i:04}.fits"));
        let mut bytes = vec![0u8; file_bytes];
        for chunk in bytes.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(&path, &bytes).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        sources.push(MemberSource {
            catalog: CatalogFile {
                id: i as i64,
                session_id: session.clone(),
                file: format!("light_{i:04}.fits"),
                folder: dir.path().to_string_lossy().into_owned(),
                path: path.clone(),
                frame_type: Some("LIGHT".into()),
                md5sum: Some(hex::encode(Md5::digest(&bytes))),
                object: None,
                filter: None,
                bad: false,
                file_not_found: false,
            },
            size: meta.len(),
            mtime: mtime_seconds(&meta),
        });
    }
    let bytes = (file_bytes * FILES) as f64;
    let plain = || {
        let mut buf = vec![0u8; 1 << 20];
        for s in &sources {
            let mut md5 = Md5::new();
            let mut f = File::open(&s.catalog.path).unwrap();
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                md5.update(&buf[..n]);
            }
            std::hint::black_box(md5.finalize());
        }
    };
    let plan = TarArchiver.plan(&session, sources.clone()).unwrap();
    let builder = || {
        let md5s = TarArchiver.write(&plan, &mut std::io::sink()).unwrap();
        std::hint::black_box(md5s);
    };
    plain(); // warm the page cache
    let best = |f: &dyn Fn()| {
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let (p, b) = (best(&plain), best(&builder));
    let mb = |secs: f64| bytes / secs / 1e6;
    println!("{total_mib} MiB in {FILES} warm files, best of {RUNS} runs");
    println!("plain MD5 pass   {:8.1} MB/s", mb(p));
    println!("archive builder  {:8.1} MB/s", mb(b));
    println!("builder / plain  {:8.1} %", 100.0 * p / b);
}
