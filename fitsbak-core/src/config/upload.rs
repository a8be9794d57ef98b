//! `upload_settings`: part sizes, concurrency, bandwidth, checksums, encryption.

use serde::{Deserialize, Serialize};

use super::error::{Check, ConfigError};

/// `upload_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadSettings {
    /// Archives smaller than this go in one PUT.
    pub multipart_threshold_mb: f64,
    /// Part size, raised when an archive would need more than 10,000 parts. Memory
    /// is about (`max_concurrency` + 2) x this: 8 MiB keeps an upload near 50 MiB.
    pub multipart_chunksize_mb: f64,
    /// Parts uploaded at once.
    pub max_concurrency: usize,
    /// Kept for compatibility (uploads always run concurrently).
    pub use_threads: bool,
    /// Upload rate limit in megabits per second; none when null.
    pub max_bandwidth_mbps: Option<f64>,
    /// How each request's bytes are checked by the server: `crc32c` (an
    /// `x-amz-checksum-crc32c` header; AWS and most S3-compatible stores) or `md5`
    /// (`Content-MD5`; every S3-compatible store, one more MD5 pass on the client).
    pub checksum_algorithm: ChecksumAlgorithm,
    /// Server-side encryption: null, `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    /// The KMS key for `aws:kms` (the bucket's default key when null).
    pub kms_key_id: Option<String>,
}

/// `upload_settings.checksum_algorithm`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// CRC32C per request, composite CRC32C for the object.
    #[default]
    Crc32c,
    /// Content-MD5 per request, MD5-of-MD5s ETag for the object.
    Md5,
}

impl ChecksumAlgorithm {
    /// The checksum a multipart upload asks its parts for (`None`: Content-MD5,
    /// which needs no algorithm named when the upload starts).
    pub fn kind(self) -> Option<crate::store::ChecksumKind> {
        match self {
            ChecksumAlgorithm::Crc32c => Some(crate::store::ChecksumKind::Crc32c),
            ChecksumAlgorithm::Md5 => None,
        }
    }
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            multipart_threshold_mb: 100.0,
            multipart_chunksize_mb: 8.0,
            max_concurrency: 4,
            use_threads: true,
            max_bandwidth_mbps: None,
            checksum_algorithm: ChecksumAlgorithm::Crc32c,
            server_side_encryption: None,
            kms_key_id: None,
        }
    }
}

/// Bytes in a configured megabyte (`*_mb` settings are MiB, as in the original).
pub const MIB: u64 = 1 << 20;

impl UploadSettings {
    /// `multipart_chunksize_mb` in bytes.
    pub fn chunk_bytes(&self) -> u64 {
        (self.multipart_chunksize_mb * MIB as f64) as u64
    }

    /// `multipart_threshold_mb` in bytes.
    pub fn threshold_bytes(&self) -> u64 {
        (self.multipart_threshold_mb * MIB as f64) as u64
    }
}

impl UploadSettings {
    /// Concurrency 1 to 64, positive sizes, parts of at most 5 GiB, a positive rate,
    /// a known encryption.
    pub(crate) fn validate(&self, check: &Check) -> Result<(), ConfigError> {
        if self.max_concurrency == 0 {
            return Err(check.invalid("upload_settings.max_concurrency", "must be at least 1"));
        }
        if self.max_concurrency > 64 {
            return Err(check.invalid(
                "upload_settings.max_concurrency",
                format!("{} is more than 64", self.max_concurrency),
            ));
        }
        for (key, value) in [
            (
                "upload_settings.multipart_chunksize_mb",
                self.multipart_chunksize_mb,
            ),
            (
                "upload_settings.multipart_threshold_mb",
                self.multipart_threshold_mb,
            ),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(check.invalid(key, format!("{value} is not a positive size")));
            }
        }
        if self.multipart_threshold_mb > 5120.0 {
            return Err(check.invalid(
                "upload_settings.multipart_threshold_mb",
                "S3 refuses a single PUT over 5 GiB (5120 MB), and a single PUT is held in \
                 memory whole: keep it at a few hundred MB at most",
            ));
        }
        if self.multipart_chunksize_mb > 5120.0 {
            return Err(check.invalid(
                "upload_settings.multipart_chunksize_mb",
                "S3 parts are at most 5 GiB (5120 MB)",
            ));
        }
        if let Some(rate) = self.max_bandwidth_mbps
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(check.invalid(
                "upload_settings.max_bandwidth_mbps",
                format!("{rate} is not a positive rate (use null for no limit)"),
            ));
        }
        if let Some(sse) = &self.server_side_encryption
            && sse != "AES256"
            && sse != "aws:kms"
        {
            return Err(check.invalid(
                "upload_settings.server_side_encryption",
                format!("{sse:?} is not null, \"AES256\" or \"aws:kms\""),
            ));
        }
        Ok(())
    }
}
