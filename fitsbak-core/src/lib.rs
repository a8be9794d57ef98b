//! fitsbak-core: the domain, the configuration, the traits and the engine of fitsbak.
//!
//! fitsbak backs up astrophotography imaging sessions (the FITS files a cataloger
//! database lists for one night and rig) to S3 and Glacier Deep Archive, one
//! uncompressed tar archive per session. This crate knows no vendor: it defines what
//! a catalog, a tracker, an archive builder, an object store and a progress display
//! must do, and drives them. `fitsbak-store` (SQLite), `fitsbak-archive` (tar),
//! `fitsbak-s3` (aws-sdk-s3 and a local directory) and `fitsbak-cli` fill them in.

pub mod archive;
pub mod catalog;
pub mod checksum;
pub mod config;
pub mod engine;
pub mod error;
pub mod ids;
pub mod manifest;
pub mod model;
pub mod processed;
pub mod progress;
pub mod rules;
pub mod runlock;
pub mod snapshot;
pub mod store;
pub mod tags;
pub mod time;
pub mod tracker;

pub use error::{Error, Hint, HintText, Result, StoreError, StoreErrorKind};

/// This build's version, as recorded in manifests and object metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `fitsbak {VERSION}`.
pub fn tool_version() -> String {
    format!("fitsbak {VERSION}")
}

/// 64 random bits, for names nobody can guess or produce ahead of time (a
/// restore's staging directory, a probe's prefix): from the standard library's
/// per-process random hash keys, the process id and the time.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}
