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
pub mod progress;
pub mod rules;
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
