//! An object store in memory, with S3's semantics where fitsbak relies on them:
//! checksums checked on every request, MD5 ETags (MD5-of-MD5s for multipart
//! uploads), composite CRC32C checksums, conditional writes, versions and delete
//! markers, archive classes that refuse a GET until restored, tags and lifecycle
//! rules. The engine's unit tests run on it, and programs that embed the engine can
//! too.
//!
//! [`MemoryStore::set_faults`] makes chosen requests fail (before or after they take
//! effect) or store damaged bytes, so that the engine's error paths are tested on
//! a store that otherwise behaves.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest as _, Md5};

mod admin;
mod multipart;

use super::{
    Checksum, ChecksumKind, DeleteOptions, GetOptions, GetResult, Location, ObjectChecksum,
    ObjectMeta, ObjectStore, ObjectSummary, PartReceipt, Payload, PutOptions, PutResult,
    RestoreState,
};
use crate::error::{Result, StoreError, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::model::{StorageClass, Tags};
use crate::rules::LifecycleRule;

/// A request, as a fault hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The S3 operation: `PutObject`, `UploadPart`, `CompleteMultipartUpload`, ...
    pub operation: &'static str,
    /// The key (the prefix, for listings).
    pub key: &'a str,
    /// The part number, for `UploadPart`.
    pub part: Option<u32>,
}

/// What a fault hook makes of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fail without doing anything.
    Fail(StoreErrorKind, String),
    /// Do it, then fail (the answer was lost on the way back).
    FailAfter(StoreErrorKind, String),
    /// Store the bytes with one of them flipped, after their checksum was checked
    /// (damage inside the store).
    Corrupt,
}

impl Fault {
    /// Fail with `kind` before doing anything.
    pub fn fail(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Fault::Fail(kind, message.into())
    }

    /// Do it, then fail with `kind`.
    pub fn fail_after(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Fault::FailAfter(kind, message.into())
    }
}

type FaultHook = Box<dyn Fn(&Request<'_>) -> Option<Fault> + Send + Sync>;

#[derive(Debug, Clone)]
struct Stored {
    bytes: Bytes,
    etag: String,
    checksum: Option<ObjectChecksum>,
    storage_class: StorageClass,
    tags: Tags,
    metadata: BTreeMap<String, String>,
    last_modified: chrono::DateTime<chrono::Utc>,
    version_id: Option<String>,
    restore: Option<RestoreState>,
    /// A delete marker (versioned stores only).
    deleted: bool,
}

#[derive(Debug)]
struct Upload {
    key: String,
    options: PutOptions,
    checksum: Option<ChecksumKind>,
    initiated: chrono::DateTime<chrono::Utc>,
    parts: BTreeMap<u32, (Bytes, PartReceipt)>,
}

#[derive(Debug, Default)]
struct State {
    /// Every version of every key, oldest first.
    objects: BTreeMap<String, Vec<Stored>>,
    uploads: HashMap<String, Upload>,
    lifecycle: Vec<LifecycleRule>,
}

impl State {
    fn current(&self, key: &str) -> Option<&Stored> {
        self.objects
            .get(key)
            .and_then(|v| v.last())
            .filter(|s| !s.deleted)
    }
}

/// An S3-like store in memory.
pub struct MemoryStore {
    location: Location,
    versioned: bool,
    state: Mutex<State>,
    next_id: AtomicU64,
    faults: Mutex<Option<FaultHook>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("versioned", &self.versioned)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn error(kind: StoreErrorKind, operation: &'static str, key: &str, message: &str) -> crate::Error {
    StoreError::new(kind, operation, format!("memory:{key}"), message).into()
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Checks a body against the client's checksum, as S3 does.
fn check(payload: &Payload, operation: &'static str, key: &str) -> Result<()> {
    let ok = payload.checksums().all(|checksum| match checksum {
        Checksum::Md5(d) => Md5::digest(&payload.bytes)[..] == d[..],
        Checksum::Crc32c(c) => crate::checksum::crc32c(&payload.bytes) == c,
        Checksum::Crc64Nvme(_) => true,
    });
    if ok {
        Ok(())
    } else {
        Err(error(
            StoreErrorKind::Integrity,
            operation,
            key,
            "BadDigest: the checksum you specified did not match the bytes received",
        ))
    }
}

/// `bytes` with one byte flipped.
fn damaged(bytes: &Bytes) -> Bytes {
    let mut v = bytes.to_vec();
    let middle = v.len() / 2;
    if let Some(b) = v.get_mut(middle) {
        *b ^= 0xFF;
    }
    v.into()
}

/// The part of `len` bytes a range covers, or an error when it starts past the end.
fn cut(range: &Option<Range<u64>>, len: u64, key: &str) -> Result<Range<u64>> {
    match range {
        None => Ok(0..len),
        Some(r) if r.end <= r.start => Ok(r.start.min(len)..r.start.min(len)),
        Some(r) if r.start >= len => Err(error(
            StoreErrorKind::InvalidRequest,
            "GetObject",
            key,
            "InvalidRange: the range starts past the end of the object",
        )),
        Some(r) => Ok(r.start..r.end.min(len)),
    }
}

impl MemoryStore {
    /// An empty store without versioning.
    pub fn new() -> Self {
        Self::with_versioning(false)
    }

    /// An empty store that keeps every version.
    pub fn versioned() -> Self {
        Self::with_versioning(true)
    }

    fn with_versioning(versioned: bool) -> Self {
        Self {
            location: Location {
                description: "memory:".into(),
                bucket: "memory".into(),
                region: "memory".into(),
            },
            versioned,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            faults: Mutex::new(None),
        }
    }

    /// Asks `hook` about every request from now on: `Some(fault)` injects it.
    pub fn set_faults(&self, hook: impl Fn(&Request<'_>) -> Option<Fault> + Send + Sync + 'static) {
        *self.faults.lock().expect("not poisoned") = Some(Box::new(hook));
    }

    /// Replaces the bytes of the current object at `key`, keeping its metadata,
    /// ETag and checksum: what tampering in the bucket looks like.
    pub fn tamper(&self, key: &str, bytes: impl Into<Bytes>) -> bool {
        let mut state = self.lock();
        match state.objects.get_mut(key).and_then(|v| v.last_mut()) {
            Some(stored) if !stored.deleted => {
                stored.bytes = bytes.into();
                true
            }
            _ => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fault(&self, operation: &'static str, key: &str, part: Option<u32>) -> Option<Fault> {
        let hook = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        hook.as_ref()?(&Request {
            operation,
            key,
            part,
        })
    }

    /// Runs `f` unless a fault says otherwise.
    fn guarded<T>(
        &self,
        operation: &'static str,
        key: &str,
        part: Option<u32>,
        f: impl FnOnce(bool) -> Result<T>,
    ) -> Result<T> {
        match self.fault(operation, key, part) {
            Some(Fault::Fail(kind, message)) => Err(error(kind, operation, key, &message)),
            Some(Fault::FailAfter(kind, message)) => {
                f(false)?;
                Err(error(kind, operation, key, &message))
            }
            Some(Fault::Corrupt) => f(true),
            None => f(false),
        }
    }

    fn new_version(&self) -> Option<String> {
        self.versioned
            .then(|| format!("v{}", self.next_id.fetch_add(1, Ordering::Relaxed)))
    }

    fn store(&self, key: &str, stored: Stored) {
        let mut state = self.lock();
        let versions = state.objects.entry(key.to_owned()).or_default();
        if !self.versioned {
            versions.clear();
        }
        versions.push(stored);
    }

    /// Stores a new current object (a new version when versioned) and answers as
    /// S3 does.
    fn commit(
        &self,
        key: &str,
        bytes: Bytes,
        etag: String,
        checksum: Option<ObjectChecksum>,
        options: &PutOptions,
    ) -> PutResult {
        let version_id = self.new_version();
        self.store(
            key,
            Stored {
                bytes,
                etag: etag.clone(),
                checksum: checksum.clone(),
                storage_class: options.storage_class.clone(),
                tags: options.tags.clone(),
                metadata: options.metadata.clone(),
                last_modified: crate::time::now(),
                version_id: version_id.clone(),
                restore: None,
                deleted: false,
            },
        );
        PutResult {
            etag,
            version_id,
            checksum,
        }
    }

    fn meta(key: &ObjectKey, s: &Stored) -> ObjectMeta {
        ObjectMeta {
            key: key.clone(),
            size: s.bytes.len() as u64,
            etag: s.etag.clone(),
            last_modified: Some(s.last_modified),
            storage_class: s.storage_class.clone(),
            restore: s.restore.clone(),
            version_id: s.version_id.clone(),
            metadata: s.metadata.clone(),
            checksum: s.checksum.clone(),
        }
    }

    fn with_current<T>(
        &self,
        operation: &'static str,
        key: &ObjectKey,
        f: impl FnOnce(&mut Stored) -> T,
    ) -> Result<T> {
        let mut state = self.lock();
        match state
            .objects
            .get_mut(key.as_str())
            .and_then(|v| v.last_mut())
        {
            Some(s) if !s.deleted => Ok(f(s)),
            _ => Err(error(
                StoreErrorKind::NotFound,
                operation,
                key.as_str(),
                "NoSuchKey",
            )),
        }
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn location(&self) -> &Location {
        &self.location
    }

    async fn put_opts(
        &self,
        key: &ObjectKey,
        payload: Payload,
        options: &PutOptions,
    ) -> Result<PutResult> {
        self.guarded("PutObject", key.as_str(), None, |corrupt| {
            check(&payload, "PutObject", key.as_str())?;
            if options.if_none_match && self.lock().current(key.as_str()).is_some() {
                return Err(error(
                    StoreErrorKind::PreconditionFailed,
                    "PutObject",
                    key.as_str(),
                    "PreconditionFailed: the key exists",
                ));
            }
            let etag = md5_hex(&payload.bytes);
            let checksum = match payload.checksum {
                Some(c @ (Checksum::Crc32c(_) | Checksum::Crc64Nvme(_))) => Some(ObjectChecksum {
                    kind: c.kind(),
                    value: c.to_base64(),
                }),
                _ => None,
            };
            let bytes = if corrupt {
                damaged(&payload.bytes)
            } else {
                payload.bytes
            };
            Ok(self.commit(key.as_str(), bytes, etag, checksum, options))
        })
    }

    async fn get_opts(&self, key: &ObjectKey, options: &GetOptions) -> Result<GetResult> {
        self.guarded("GetObject", key.as_str(), None, |_| {
            let state = self.lock();
            let stored = match &options.version_id {
                Some(v) => state
                    .objects
                    .get(key.as_str())
                    .and_then(|all| all.iter().find(|s| s.version_id.as_ref() == Some(v))),
                None => state.current(key.as_str()),
            }
            .filter(|s| !s.deleted)
            .ok_or_else(|| {
                error(
                    StoreErrorKind::NotFound,
                    "GetObject",
                    key.as_str(),
                    "NoSuchKey",
                )
            })?;
            let meta = Self::meta(key, stored);
            if !meta.is_readable() {
                return Err(error(
                    StoreErrorKind::NeedsRestore,
                    "GetObject",
                    key.as_str(),
                    "InvalidObjectState: the object is archived and not restored",
                ));
            }
            let range = cut(&options.range, meta.size, key.as_str())?;
            let body = stored.bytes.slice(range.start as usize..range.end as usize);
            Ok(GetResult {
                meta,
                range,
                body: Box::pin(futures::stream::iter([Ok(body)])),
            })
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        // A corrupting fault here is a store that reports another checksum than
        // that of the bytes it was sent.
        self.guarded("HeadObject", key.as_str(), None, |corrupt| {
            let meta = self
                .lock()
                .current(key.as_str())
                .map(|s| Self::meta(key, s));
            Ok(meta.map(|mut m| {
                if corrupt {
                    if let Some(c) = &mut m.checksum {
                        c.value = format!("AAAAAA=={}", c.value.get(8..).unwrap_or(""));
                    }
                    m.etag = format!("0{}", m.etag.get(1..).unwrap_or(""));
                }
                m
            }))
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        self.guarded("ListObjectsV2", prefix, None, |_| {
            let state = self.lock();
            Ok(state
                .objects
                .keys()
                .filter(|k| k.starts_with(prefix))
                .filter_map(|k| {
                    state.current(k).map(|s| ObjectSummary {
                        key: k.clone(),
                        size: s.bytes.len() as u64,
                        etag: Some(s.etag.clone()),
                        last_modified: Some(s.last_modified),
                        storage_class: s.storage_class.clone(),
                    })
                })
                .collect())
        })
    }

    async fn delete_opts(&self, key: &ObjectKey, options: &DeleteOptions) -> Result<()> {
        self.guarded("DeleteObject", key.as_str(), None, |_| {
            let mut state = self.lock();
            let Some(versions) = state.objects.get_mut(key.as_str()) else {
                return Ok(());
            };
            match &options.version_id {
                Some(v) => versions.retain(|s| s.version_id.as_ref() != Some(v)),
                None if self.versioned => {
                    if versions.last().is_some_and(|s| !s.deleted) {
                        let mut marker = versions.last().expect("checked").clone();
                        marker.deleted = true;
                        marker.bytes = Bytes::new();
                        marker.version_id = self.new_version();
                        versions.push(marker);
                    }
                }
                None => versions.clear(),
            }
            if versions.is_empty() {
                state.objects.remove(key.as_str());
            }
            Ok(())
        })
    }

    crate::offers_every_capability!();

    fn known_capabilities(&self) -> Option<crate::store::Capabilities> {
        Some(crate::store::Capabilities::aws())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ColdStorage, ObjectStoreExt};

    #[tokio::test]
    async fn a_versioned_store_keeps_what_a_delete_hides() {
        let store = MemoryStore::versioned();
        let k = ObjectKey::new("a/b").unwrap();
        let first = store
            .put(&k, Bytes::from_static(b"one"), None, &PutOptions::default())
            .await
            .unwrap();
        store.delete(&k).await.unwrap();
        assert!(store.head(&k).await.unwrap().is_none());
        let versions = store.list_versions("a/").await.unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].version_id, first.version_id);
        let old = store
            .get_version(&k, first.version_id.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(old.meta.size, 3);
        store
            .delete_opts(
                &k,
                &DeleteOptions {
                    version_id: first.version_id,
                },
            )
            .await
            .unwrap();
        assert!(store.list_versions("a/").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_corrupting_fault_changes_the_stored_bytes_not_the_checks() {
        let store = MemoryStore::new();
        store.set_faults(|r| (r.operation == "PutObject").then_some(Fault::Corrupt));
        let k = ObjectKey::new("k").unwrap();
        let body = Bytes::from_static(b"0123456789");
        let c = Checksum::Crc32c(crate::checksum::crc32c(&body));
        store
            .put(&k, body.clone(), Some(c), &PutOptions::default())
            .await
            .unwrap();
        let stored = store.read_to_end(&k, 100).await.unwrap();
        assert_ne!(stored, body);
        assert_eq!(stored.len(), body.len());
    }
}
