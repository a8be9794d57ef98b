//! fitsbak-testkit: what the tests of every crate share, and nothing a user runs.
//!
//! - [`server`]: real S3 protocol servers on free loopback ports (moto_server, Ceph
//!   RGW, s3s-fs, s3rver), the store matrix's four;
//! - [`moto`]: moto_server, the AWS model, and its own API;
//! - [`proxy`]: a TCP proxy that resets, slows down or stalls a share of requests;
//! - [`contract`]: the object-store contract suite, as functions over
//!   `&dyn ObjectStore`, run against every store and every wrapper layer.
//!
//! A test that needs a server and cannot find it fails, saying how to install it;
//! it never skips.

pub mod contract;
pub mod moto;
pub mod proxy;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use fitsbak_core::store::memory::MemoryStore;

/// The workspace's root directory (the one whose `Cargo.toml` has `[workspace]`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.contains("[workspace]"))
        })
        .unwrap_or(here)
        .to_path_buf()
}

/// The first `name` on the `PATH` that is a file.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A bucket name no other test of this process uses, starting with `prefix`.
pub fn unique_bucket(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("fitsbak-{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
