//! fitsbak-s3: the object stores fitsbak writes to.
//!
//! - [`S3Store`]: an S3 bucket through aws-sdk-s3, with the standard AWS credential
//!   chain, any region, and any S3-compatible endpoint (MinIO, Backblaze B2,
//!   Cloudflare R2, Wasabi, Ceph).
//! - [`LocalStore`]: a local directory with the same key layout, the default target
//!   of a new config, so fitsbak runs without an AWS account.
//!
//! Both implement the core's `ObjectStore` and pass the same contract tests.

pub mod local;
pub mod s3;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use fitsbak_core::config::{Config, TargetKind};
use fitsbak_core::store::ObjectStore;
use fitsbak_core::store::layer::{retrying, throttled};

pub use local::LocalStore;
pub use s3::{S3Settings, S3Store};

/// The config's target, wrapped with retries (S3) and the bandwidth limit:
/// `bandwidth_mbps` overrides `upload_settings.max_bandwidth_mbps`. Retries are
/// counted in `retries`.
pub async fn open_target(
    config: &Config,
    bandwidth_mbps: Option<f64>,
    retries: Arc<AtomicU64>,
) -> Result<Arc<dyn ObjectStore>, fitsbak_core::config::ConfigError> {
    let base: Arc<dyn ObjectStore> = match config.target {
        TargetKind::Local => Arc::new(LocalStore::new(config.local_root())),
        TargetKind::S3 => {
            let s3 = S3Store::connect(&S3Settings::from_config(config)?).await;
            Arc::new(retrying(
                Arc::new(s3),
                config.retry_settings.clone(),
                retries,
            ))
        }
    };
    Ok(
        match bandwidth_mbps.or(config.upload_settings.max_bandwidth_mbps) {
            Some(rate) => Arc::new(throttled(base, rate)),
            None => base,
        },
    )
}
