//! One contract suite, two stores: the local directory and S3 (moto_server on
//! loopback) answer the same requests the same way.

mod contract;
mod s3_only;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A bucket name no other test of this process uses.
pub fn unique_bucket(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("fitsbak-{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
