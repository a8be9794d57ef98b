//! The object store: where archives, manifests and notes are kept.
//!
//! The shape follows object_store's: a small [`ObjectStore`] that every target has
//! (put, get, head, list, delete, with option structs), and narrow traits for what
//! not every store offers, each reached through an accessor that says whether the
//! store has it:
//!
//! - [`MultipartStore`]: multipart uploads (create, put part, complete, abort,
//!   list parts, list uploads);
//! - [`ColdStorage`]: restores from archive classes, and object versions;
//! - [`BucketAdmin`]: object tags, lifecycle rules, and what the bucket says about
//!   itself.
//!
//! Conveniences built on top (read an object whole with a bound, the shorthand
//! `put`/`get`/`delete`, "this store must offer X") are in [`ObjectStoreExt`].
//! Behaviour added around every request (retries, the bandwidth limit) is a
//! [`layer::Layer`] wrapped around a store, not flags inside one. The S3 transport
//! and the local directory live in `fitsbak-s3`; [`memory::MemoryStore`] is here,
//! for tests and for programs that embed the engine. All of them pass the same
//! contract suite (`fitsbak-testkit`).

mod admin;
mod capabilities;
mod cold;
mod ext;
pub mod layer;
pub mod memory;
mod multipart;

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
use crate::model::{StorageClass, Tags};

pub use admin::{BucketAdmin, BucketFacts, Versioning};
pub use capabilities::{Capabilities, EtagForm, PartChecks};
pub use cold::{ColdStorage, ObjectVersion, RestoreRequest, RestoreState, RestoreTier};
pub use ext::ObjectStoreExt;
pub use multipart::{MultipartId, MultipartStore, MultipartUploadInfo, PartReceipt};

/// The accessors of a store that offers every capability itself: put inside its
/// `impl ObjectStore`.
#[macro_export]
macro_rules! offers_every_capability {
    () => {
        fn multipart(&self) -> Option<&dyn $crate::store::MultipartStore> {
            Some(self)
        }

        fn cold_storage(&self) -> Option<&dyn $crate::store::ColdStorage> {
            Some(self)
        }

        fn admin(&self) -> Option<&dyn $crate::store::BucketAdmin> {
            Some(self)
        }
    };
}

/// The store traits, for callers that use a concrete store directly (tests, tools).
pub mod prelude {
    pub use super::{BucketAdmin, ColdStorage, MultipartStore, ObjectStore, ObjectStoreExt};
}

/// Where a store keeps its objects, as records and messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `s3://bucket (region)`, `s3://bucket at http://endpoint`, `local:/path`.
    pub description: String,
    /// The bucket name recorded with archives (the local target's root for `local`).
    pub bucket: String,
    /// The region recorded with archives (`local` for the local target).
    pub region: String,
}

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

/// How an object is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Only these bytes (an empty range reads nothing; a range past the end is
    /// cut at the end).
    pub range: Option<Range<u64>>,
    /// One version of the object (`None`: the current one).
    pub version_id: Option<String>,
}

/// How an object is deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Delete this version for good (`None`: the current object; a versioned
    /// bucket keeps the bytes as a noncurrent version).
    pub version_id: Option<String>,
}

/// The checksum algorithms S3 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumKind {
    /// MD5 (`Content-MD5`, and the ETag of a single PUT without SSE-KMS).
    #[serde(rename = "MD5")]
    Md5,
    /// CRC32.
    #[serde(rename = "CRC32")]
    Crc32,
    /// CRC32C (Castagnoli).
    #[serde(rename = "CRC32C")]
    Crc32c,
    /// CRC64/NVME.
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    /// SHA-1.
    #[serde(rename = "SHA1")]
    Sha1,
    /// SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
}

impl ChecksumKind {
    /// The algorithm's name as S3 spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChecksumKind::Md5 => "MD5",
            ChecksumKind::Crc32 => "CRC32",
            ChecksumKind::Crc32c => "CRC32C",
            ChecksumKind::Crc64Nvme => "CRC64NVME",
            ChecksumKind::Sha1 => "SHA1",
            ChecksumKind::Sha256 => "SHA256",
        }
    }
}

impl fmt::Display for ChecksumKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The algorithm.
    pub fn kind(&self) -> ChecksumKind {
        match self {
            Checksum::Md5(_) => ChecksumKind::Md5,
            Checksum::Crc32c(_) => ChecksumKind::Crc32c,
            Checksum::Crc64Nvme(_) => ChecksumKind::Crc64Nvme,
        }
    }

    /// The algorithm's name as S3 spells it.
    pub fn algorithm(&self) -> &'static str {
        self.kind().as_str()
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

/// The bytes of one request, and the checksum the server is asked to check them
/// against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    /// The bytes (reference-counted: a retry does not copy them).
    pub bytes: Bytes,
    /// The client's checksum of them.
    pub checksum: Option<Checksum>,
    /// Their MD5, sent as `Content-MD5` beside `checksum` (the one check most
    /// S3-compatible stores enforce).
    pub content_md5: Option<[u8; 16]>,
}

impl Payload {
    /// `bytes`, with `checksum` for the server to check.
    pub fn new(bytes: impl Into<Bytes>, checksum: Option<Checksum>) -> Self {
        Self {
            bytes: bytes.into(),
            checksum,
            content_md5: None,
        }
    }

    /// The same, with `Content-MD5` too.
    pub fn with_md5(mut self, md5: Option<[u8; 16]>) -> Self {
        self.content_md5 = md5;
        self
    }

    /// Every checksum the request carries.
    pub fn checksums(&self) -> impl Iterator<Item = Checksum> + '_ {
        self.checksum
            .into_iter()
            .chain(self.content_md5.map(Checksum::Md5))
    }

    /// The `Content-MD5` the request carries, from either field.
    pub fn md5(&self) -> Option<[u8; 16]> {
        match self.checksum {
            Some(Checksum::Md5(d)) => Some(d),
            _ => self.content_md5,
        }
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A whole-object checksum reported by the server (`x-amz-checksum-*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    /// The algorithm.
    #[serde(rename = "algorithm")]
    pub kind: ChecksumKind,
    /// Base64 value; composite checksums end in `-{parts}`.
    pub value: String,
}

impl fmt::Display for ObjectChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
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
    /// What a listing says of an object (no metadata, checksum, version or
    /// restore state: a HEAD tells those).
    pub fn from_listing(listed: &ObjectSummary) -> Result<Self> {
        Ok(Self {
            key: ObjectKey::new(listed.key.clone())?,
            size: listed.size,
            etag: listed.etag.clone().unwrap_or_default(),
            last_modified: listed.last_modified,
            storage_class: listed.storage_class.clone(),
            restore: None,
            version_id: None,
            metadata: BTreeMap::new(),
            checksum: None,
        })
    }

    /// What a PUT's answer says of the object written (until a HEAD says more).
    pub fn from_put(key: &ObjectKey, size: u64, put: &PutResult) -> Self {
        Self {
            version_id: put.version_id.clone(),
            checksum: put.checksum.clone(),
            ..Self::new(key.clone(), size, put.etag.clone())
        }
    }

    /// Metadata of a STANDARD object with nothing but a size and an ETag.
    pub fn new(key: ObjectKey, size: u64, etag: impl Into<String>) -> Self {
        Self {
            key,
            size,
            etag: etag.into(),
            last_modified: None,
            storage_class: StorageClass::Standard,
            restore: None,
            version_id: None,
            metadata: BTreeMap::new(),
            checksum: None,
        }
    }

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

/// What every store provides. Each method names its key in its errors and maps
/// failures to a [`crate::error::StoreErrorKind`]; what only some stores offer is
/// behind the accessors at the end, `None` where the store has none of it.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Where the objects are.
    fn location(&self) -> &Location;

    /// Writes a whole object in one request.
    async fn put_opts(
        &self,
        key: &ObjectKey,
        payload: Payload,
        options: &PutOptions,
    ) -> Result<PutResult>;

    /// The object's bytes (or a range of them, or those of one version).
    async fn get_opts(&self, key: &ObjectKey, options: &GetOptions) -> Result<GetResult>;

    /// The object's metadata, or `None` when there is no such object.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>>;

    /// Every object below `prefix`, every page of them.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>>;

    /// Deletes an object or one version of it (no error when it does not exist).
    async fn delete_opts(&self, key: &ObjectKey, options: &DeleteOptions) -> Result<()>;

    /// Multipart uploads, when the store offers them.
    fn multipart(&self) -> Option<&dyn MultipartStore> {
        None
    }

    /// Restores from archive classes and object versions, when the store has them.
    fn cold_storage(&self) -> Option<&dyn ColdStorage> {
        None
    }

    /// Tags, lifecycle rules and bucket facts, when the store has them.
    fn admin(&self) -> Option<&dyn BucketAdmin> {
        None
    }

    /// What the store can do, when it knows without being probed (a local
    /// directory, the memory store); `None` for a remote store, which is probed.
    fn known_capabilities(&self) -> Option<Capabilities> {
        None
    }

    /// What the transport changed in its requests to suit the store (a header it
    /// stopped sending because the store refused it), for doctor.
    fn transport_notes(&self) -> Vec<String> {
        Vec::new()
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
    fn object_checksums_keep_their_json_shape() {
        let c = ObjectChecksum {
            kind: ChecksumKind::Crc32c,
            value: "4waSgw==-3".into(),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"algorithm":"CRC32C","value":"4waSgw==-3"}"#);
        assert_eq!(serde_json::from_str::<ObjectChecksum>(&json).unwrap(), c);
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
        let mut meta = ObjectMeta::new(ObjectKey::new("k").unwrap(), 1, "e");
        meta.storage_class = StorageClass::DeepArchive;
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
