//! The object store: where archives, manifests and notes are kept.
//!
//! [`ObjectStore`] holds the few operations a transport must provide, one per S3
//! request that fitsbak makes. The S3 transport (aws-sdk-s3, any endpoint) and the
//! local directory transport implement it in `fitsbak-s3`, and both pass the same
//! contract tests. Streaming an archive into a multipart upload with bounded memory,
//! retries and resume are built on top of these primitives in the engine, not inside
//! a transport.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::ObjectKey;
use crate::lifecycle::LifecycleRule;
use crate::model::{StorageClass, Tags};

/// Server-side encryption of written objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encryption {
    /// SSE-S3 (`AES256`).
    Aes256,
    /// SSE-KMS, with the default key when none is named.
    Kms {
        /// The KMS key id or ARN.
        key_id: Option<String>,
    },
}

/// How an object is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutOptions {
    /// Object tags (drive the bucket's lifecycle rules).
    pub tags: Tags,
    /// User metadata (`x-amz-meta-*`).
    pub metadata: BTreeMap<String, String>,
    /// Storage class to write with.
    pub storage_class: StorageClass,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Server-side encryption, when asked for.
    pub encryption: Option<Encryption>,
    /// Fail with [`crate::error::StoreErrorKind::PreconditionFailed`] when the key
    /// already exists (`If-None-Match: *`).
    pub if_none_match: bool,
}

/// A checksum the client computed over bytes it sends; the server checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// `Content-MD5`.
    Md5([u8; 16]),
    /// `x-amz-checksum-crc32c`.
    Crc32c(u32),
    /// `x-amz-checksum-crc64nvme`.
    Crc64Nvme(u64),
}

impl Checksum {
    /// The algorithm's name as S3 spells it.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Md5(_) => "MD5",
            Checksum::Crc32c(_) => "CRC32C",
            Checksum::Crc64Nvme(_) => "CRC64NVME",
        }
    }

    /// The raw big-endian digest bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Checksum::Md5(d) => d.to_vec(),
            Checksum::Crc32c(v) => v.to_be_bytes().to_vec(),
            Checksum::Crc64Nvme(v) => v.to_be_bytes().to_vec(),
        }
    }

    /// Base64 of the digest, as S3 headers carry it.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    /// Lower-case hex of the digest.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.to_base64())
    }
}

/// A whole-object checksum reported by the server (`x-amz-checksum-*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    /// `CRC32C`, `CRC64NVME`, ...
    pub algorithm: String,
    /// Base64 value; composite checksums end in `-{parts}`.
    pub value: String,
}

impl fmt::Display for ObjectChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.value)
    }
}

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

/// The result of a completed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// The object's ETag, quotes removed.
    pub etag: String,
    /// The version id, when the bucket is versioned.
    pub version_id: Option<String>,
    /// The whole-object checksum, when the server computed one.
    pub checksum: Option<ObjectChecksum>,
}

/// The state of a restore from GLACIER or DEEP_ARCHIVE (`x-amz-restore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RestoreState {
    /// Requested, not yet readable.
    InProgress,
    /// A readable copy exists until `expires`.
    Available {
        /// When the restored copy goes away.
        expires: Option<DateTime<Utc>>,
    },
}

/// What HEAD tells about an object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    /// The key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// ETag, quotes removed.
    pub etag: String,
    /// Last modification time.
    pub last_modified: Option<DateTime<Utc>>,
    /// Storage class (`STANDARD` when the server reports none).
    pub storage_class: StorageClass,
    /// Restore state of an archived object.
    pub restore: Option<RestoreState>,
    /// Version id.
    pub version_id: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Whole-object checksum, when the server has one.
    pub checksum: Option<ObjectChecksum>,
}

impl ObjectMeta {
    /// True when the object's bytes can be read now (not archived, or restored).
    pub fn is_readable(&self) -> bool {
        !self.storage_class.needs_restore()
            || matches!(self.restore, Some(RestoreState::Available { .. }))
    }
}

/// The body of a GET: the object's bytes, or those of the range asked for.
pub struct GetResult {
    /// The object's metadata.
    pub meta: ObjectMeta,
    /// The byte range the body covers.
    pub range: Range<u64>,
    /// The bytes, in order.
    pub body: BoxStream<'static, Result<Bytes>>,
}

impl fmt::Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectSummary {
    /// The key as listed.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, quotes removed.
    pub etag: Option<String>,
    /// Last modification time.
    pub last_modified: Option<DateTime<Utc>>,
    /// Storage class.
    pub storage_class: StorageClass,
}

/// One version of an object, as a version listing gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectVersion {
    /// The key.
    pub key: String,
    /// The version id (`None` where the store keeps no versions; S3 says `null`
    /// for objects written before versioning was turned on).
    pub version_id: Option<String>,
    /// Whether this is the current version.
    pub is_latest: bool,
    /// Size in bytes.
    pub size: u64,
    /// ETag, quotes removed.
    pub etag: Option<String>,
    /// When this version was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// Storage class.
    pub storage_class: StorageClass,
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

/// Retrieval tier of a restore request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreTier {
    /// Minutes (GLACIER only).
    Expedited,
    /// Hours (Deep Archive: within 12 h).
    Standard,
    /// The cheapest (Deep Archive: within 48 h).
    Bulk,
}

impl RestoreTier {
    /// The name S3 uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            RestoreTier::Expedited => "Expedited",
            RestoreTier::Standard => "Standard",
            RestoreTier::Bulk => "Bulk",
        }
    }

    /// Parses a tier name, any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "expedited" => Some(RestoreTier::Expedited),
            "standard" => Some(RestoreTier::Standard),
            "bulk" => Some(RestoreTier::Bulk),
            _ => None,
        }
    }
}

impl fmt::Display for RestoreTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a bucket says about itself, for `doctor`. `None` where the store does not
/// know or does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BucketFacts {
    /// The bucket's region.
    pub region: Option<String>,
    /// `Enabled` or `Suspended`; `None` when versioning was never turned on.
    pub versioning: Option<String>,
    /// Whether every public access is blocked.
    pub public_access_blocked: Option<bool>,
    /// The default encryption (`AES256`, `aws:kms`).
    pub default_encryption: Option<String>,
}

/// The operations a transport provides. One method per request; each names its key
/// in its errors and maps failures to a [`crate::error::StoreErrorKind`].
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// `s3://bucket` or `local:/path`, for messages and records.
    fn describe(&self) -> String;

    /// The bucket name recorded with archives (the local target's root for `local`).
    fn bucket(&self) -> String;

    /// The region recorded with archives (`local` for the local target).
    fn region(&self) -> String;

    /// Writes a whole object in one request.
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        checksum: Option<Checksum>,
        options: &PutOptions,
    ) -> Result<PutResult>;

    /// Starts a multipart upload; parts must carry checksums of `algorithm` when set.
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        algorithm: Option<&'static str>,
    ) -> Result<MultipartId>;

    /// Uploads one part (1-based number) of a multipart upload.
    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
        checksum: Option<Checksum>,
    ) -> Result<PartReceipt>;

    /// Completes a multipart upload from its parts, in order.
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult>;

    /// Aborts a multipart upload, freeing its parts.
    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()>;

    /// The parts the server holds for an upload, every page of them.
    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>>;

    /// Multipart uploads in progress below `prefix`.
    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>>;

    /// The object's metadata, or `None` when there is no such object.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>>;

    /// The object's bytes, or those of `range`.
    async fn get(&self, key: &ObjectKey, range: Option<Range<u64>>) -> Result<GetResult>;

    /// The object's tags.
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags>;

    /// Replaces the object's tags.
    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()>;

    /// Every object below `prefix`, every page of them.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>>;

    /// Deletes an object (no error when it does not exist).
    async fn delete(&self, key: &ObjectKey) -> Result<()>;

    /// One version of an object, whole (S3 versioning; stores without versions
    /// answer for `null`, the only version they have).
    async fn get_version(&self, key: &ObjectKey, version_id: &str) -> Result<GetResult>;

    /// Every version of the objects below `prefix`, every page of them (deletion
    /// markers left out). A store without versioning lists each object once.
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>>;

    /// Asks for a readable copy of an archived object (of one version of it, when
    /// `version_id` is given) for `days`.
    async fn restore(
        &self,
        key: &ObjectKey,
        version_id: Option<String>,
        days: u32,
        tier: RestoreTier,
    ) -> Result<()>;

    /// The bucket's lifecycle rules (empty when it has none).
    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>>;

    /// Replaces the bucket's lifecycle rules.
    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()>;

    /// What the bucket says about itself (nothing, for stores that are not buckets).
    async fn bucket_facts(&self) -> Result<BucketFacts> {
        Ok(BucketFacts::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_encode_as_s3_headers_do() {
        assert_eq!(Checksum::Crc32c(0xE306_9283).to_base64(), "4waSgw==");
        assert_eq!(Checksum::Crc32c(1).to_hex(), "00000001");
        assert_eq!(Checksum::Md5([0; 16]).algorithm(), "MD5");
        assert_eq!(Checksum::Crc64Nvme(0).to_string(), "CRC64NVME:AAAAAAAAAAA=");
    }

    #[test]
    fn restore_tiers_parse_any_case() {
        assert_eq!(RestoreTier::parse("bulk"), Some(RestoreTier::Bulk));
        assert_eq!(
            RestoreTier::parse(" Standard "),
            Some(RestoreTier::Standard)
        );
        assert_eq!(RestoreTier::parse("fast"), None);
    }

    #[test]
    fn archived_objects_are_readable_only_when_restored() {
        let mut meta = ObjectMeta {
            key: ObjectKey::new("k").unwrap(),
            size: 1,
            etag: "e".into(),
            last_modified: None,
            storage_class: StorageClass::DeepArchive,
            restore: None,
            version_id: None,
            metadata: BTreeMap::new(),
            checksum: None,
        };
        assert!(!meta.is_readable());
        meta.restore = Some(RestoreState::InProgress);
        assert!(!meta.is_readable());
        meta.restore = Some(RestoreState::Available { expires: None });
        assert!(meta.is_readable());
        meta.storage_class = StorageClass::Standard;
        meta.restore = None;
        assert!(meta.is_readable());
    }
}
