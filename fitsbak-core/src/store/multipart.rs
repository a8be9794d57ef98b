//! Multipart uploads: what streams an archive in parts with bounded memory.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ChecksumKind, Payload, PutOptions, PutResult};
use crate::error::Result;
use crate::ids::ObjectKey;

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MultipartId(pub String);

impl fmt::Display for MultipartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A part the server has stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartReceipt {
    /// 1-based part number.
    pub part_number: u32,
    /// The part's ETag, quotes removed.
    pub etag: String,
    /// The part's size in bytes.
    pub size: u64,
    /// The checksum the server recorded for the part, when one was sent.
    pub checksum: Option<String>,
}

/// A multipart upload that was started and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultipartUploadInfo {
    /// Its key.
    pub key: String,
    /// Its id.
    pub upload_id: MultipartId,
    /// When it was started.
    pub initiated: Option<DateTime<Utc>>,
}

/// Multipart uploads (S3's CreateMultipartUpload, UploadPart, ...).
#[async_trait]
pub trait MultipartStore: Send + Sync {
    /// Starts a multipart upload; its parts must carry checksums of `checksum`
    /// when set.
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        checksum: Option<ChecksumKind>,
    ) -> Result<MultipartId>;

    /// Uploads one part (1-based number).
    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        payload: Payload,
    ) -> Result<PartReceipt>;

    /// Completes an upload from its parts, in order.
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult>;

    /// Aborts an upload, freeing its parts (no error when it is gone already).
    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()>;

    /// The parts the server holds for an upload, every page of them.
    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>>;

    /// Uploads in progress below `prefix`.
    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>>;
}
