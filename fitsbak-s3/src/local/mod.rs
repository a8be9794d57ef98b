//! The local directory target: the bucket's key layout on disk.
//!
//! `{root}/{key}` holds each object's bytes; fitsbak's bookkeeping (tags, metadata,
//! ETags, multipart uploads in progress, lifecycle rules) lives below
//! `{root}/.fitsbak-store/`. Every write goes to a temporary name, is synced, and is
//! renamed into place, so an object is either whole or absent. ETags and checksums
//! are computed as S3 computes them, so the same checks apply to both targets.
//! Objects are always readable: a restore is a no-op.
//!
//! Every request runs its filesystem work on a blocking thread ([`LocalStore::run`]),
//! never on the async runtime's threads.

mod admin;
mod multipart;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use fitsbak_core::error::{Result, StoreError, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::{StorageClass, Tags};
use fitsbak_core::store::{
    Checksum, ChecksumKind, DeleteOptions, GetOptions, GetResult, Location, ObjectChecksum,
    ObjectMeta, ObjectStore, ObjectSummary, Payload, PutOptions, PutResult, RestoreState,
};
use futures::StreamExt;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// The directory of fitsbak's bookkeeping inside the root.
pub const INTERNAL_DIR: &str = ".fitsbak-store";

/// What S3 would keep about an object besides its bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Meta {
    etag: String,
    storage_class: StorageClass,
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    checksum: Option<ObjectChecksum>,
}

impl Meta {
    fn from_options(options: &PutOptions) -> Self {
        Meta {
            etag: String::new(),
            storage_class: options.storage_class.clone(),
            tags: options.tags.clone(),
            metadata: options.metadata.clone(),
            content_type: options.content_type.clone(),
            checksum: None,
        }
    }
}

/// A directory laid out like the bucket.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    location: Location,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_error(operation: &'static str, target: &Path, err: std::io::Error) -> StoreError {
    let kind = match err.kind() {
        std::io::ErrorKind::NotFound => StoreErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => StoreErrorKind::AccessDenied,
        _ => StoreErrorKind::Other,
    };
    StoreError {
        kind,
        operation,
        target: format!("local:{}", target.display()),
        message: err.to_string(),
        source: Some(Box::new(err)),
    }
}

fn error(
    kind: StoreErrorKind,
    operation: &'static str,
    target: &Path,
    message: String,
) -> StoreError {
    StoreError::new(
        kind,
        operation,
        format!("local:{}", target.display()),
        message,
    )
}

/// A temporary name beside `path`, which listings skip.
fn temp_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes what `fill` writes to `path` atomically: a temporary name, fsync, rename.
fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temp_path(path);
    let mut file = std::fs::File::create(&tmp)?;
    fill(&mut file)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Writes `bytes` to `path` atomically.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

fn crc32c_base64(bytes: &[u8]) -> String {
    Checksum::Crc32c(fitsbak_core::checksum::crc32c(bytes)).to_base64()
}

/// Checks the client's checksum of a body.
fn check_body(operation: &'static str, target: &Path, payload: &Payload) -> Result<()> {
    for expected in payload.checksums() {
        check_one(operation, target, &payload.bytes, expected)?;
    }
    Ok(())
}

fn check_one(
    operation: &'static str,
    target: &Path,
    body: &[u8],
    expected: Checksum,
) -> Result<()> {
    let actual = match expected {
        Checksum::Md5(_) => Checksum::Md5(Md5::digest(body).into()),
        Checksum::Crc32c(_) => Checksum::Crc32c(fitsbak_core::checksum::crc32c(body)),
        Checksum::Crc64Nvme(_) => {
            Checksum::Crc64Nvme(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, body))
        }
    };
    if actual == expected {
        return Ok(());
    }
    Err(error(
        StoreErrorKind::Integrity,
        operation,
        target,
        format!(
            "the body's {} does not match the one sent",
            expected.algorithm()
        ),
    )
    .into())
}

/// The part of an object of `size` bytes a GET's range covers.
fn cut(range: &Option<Range<u64>>, size: u64, path: &Path) -> Result<Range<u64>> {
    match range {
        None => Ok(0..size),
        Some(r) if r.end <= r.start => Ok(r.start.min(size)..r.start.min(size)),
        Some(r) if r.start >= size => Err(error(
            StoreErrorKind::InvalidRequest,
            "GetObject",
            path,
            "InvalidRange: the range starts past the end of the object".into(),
        )
        .into()),
        Some(r) => Ok(r.start..r.end.min(size)),
    }
}

impl LocalStore {
    /// A store rooted at `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let location = Location {
            description: format!("local:{}", root.display()),
            bucket: root.display().to_string(),
            region: "local".into(),
        };
        Self { root, location }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs `f` on a blocking thread with a handle on this store.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LocalStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| {
                fitsbak_core::Error::from(error(
                    StoreErrorKind::Other,
                    "local",
                    &self.root,
                    format!("the filesystem task failed: {e}"),
                ))
            })?
    }

    fn object_path(&self, operation: &'static str, key: &ObjectKey) -> Result<PathBuf> {
        if key.segments().next() == Some(INTERNAL_DIR) {
            return Err(StoreError::new(
                StoreErrorKind::InvalidRequest,
                operation,
                key.to_string(),
                format!("keys below {INTERNAL_DIR}/ are reserved"),
            )
            .into());
        }
        Ok(self.root.join(key.as_str()))
    }

    fn internal(&self, name: &str) -> PathBuf {
        self.root.join(INTERNAL_DIR).join(name)
    }

    fn meta_path(&self, key: &ObjectKey) -> PathBuf {
        self.internal("meta").join(format!("{}.json", key.as_str()))
    }

    fn read_meta(&self, key: &ObjectKey) -> Meta {
        std::fs::read(self.meta_path(key))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write_meta(&self, key: &ObjectKey, meta: &Meta) -> std::io::Result<()> {
        write_atomic(
            &self.meta_path(key),
            &serde_json::to_vec_pretty(meta).expect("metadata serialises"),
        )
    }

    fn object_meta(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        let path = self.object_path("HeadObject", key)?;
        let file = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("HeadObject", &path, e).into()),
        };
        let meta = self.read_meta(key);
        Ok(Some(ObjectMeta {
            key: key.clone(),
            size: file.len(),
            etag: meta.etag,
            last_modified: file.modified().ok().map(DateTime::<Utc>::from),
            restore: meta
                .storage_class
                .needs_restore()
                .then_some(RestoreState::Available { expires: None }),
            storage_class: meta.storage_class,
            version_id: None,
            metadata: meta.metadata,
            checksum: meta.checksum,
        }))
    }

    /// The object's metadata, or `NotFound` naming `operation`.
    fn existing(&self, operation: &'static str, key: &ObjectKey) -> Result<ObjectMeta> {
        self.object_meta(key)?.ok_or_else(|| {
            error(
                StoreErrorKind::NotFound,
                operation,
                &self.root.join(key.as_str()),
                "NoSuchKey: no such object".into(),
            )
            .into()
        })
    }

    fn put_sync(
        &self,
        key: &ObjectKey,
        payload: Payload,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let path = self.object_path("PutObject", key)?;
        check_body("PutObject", &path, &payload)?;
        if options.if_none_match && path.exists() {
            return Err(error(
                StoreErrorKind::PreconditionFailed,
                "PutObject",
                &path,
                "PreconditionFailed: the object exists".into(),
            )
            .into());
        }
        let mut meta = Meta::from_options(options);
        meta.etag = hex::encode(Md5::digest(&payload.bytes));
        meta.checksum = Some(ObjectChecksum {
            kind: ChecksumKind::Crc32c,
            value: crc32c_base64(&payload.bytes),
        });
        let err = |e| io_error("PutObject", &path, e);
        write_atomic(&path, &payload.bytes).map_err(err)?;
        self.write_meta(key, &meta).map_err(err)?;
        Ok(PutResult {
            etag: meta.etag,
            version_id: None,
            checksum: meta.checksum,
        })
    }

    fn open_range(
        &self,
        key: &ObjectKey,
        options: &GetOptions,
    ) -> Result<(ObjectMeta, Range<u64>, std::fs::File)> {
        let path = self.object_path("GetObject", key)?;
        if let Some(v) = options.version_id.as_deref().filter(|v| *v != "null") {
            return Err(error(
                StoreErrorKind::NotFound,
                "GetObject",
                &path,
                format!(
                    "NoSuchVersion: the local target keeps one version of each object, not {v}"
                ),
            )
            .into());
        }
        let meta = self.existing("GetObject", key)?;
        let range = cut(&options.range, meta.size, &path)?;
        let mut file = std::fs::File::open(&path).map_err(|e| io_error("GetObject", &path, e))?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| io_error("GetObject", &path, e))?;
        Ok((meta, range, file))
    }

    fn delete_sync(&self, key: &ObjectKey) -> Result<()> {
        let path = self.object_path("DeleteObject", key)?;
        for p in [path, self.meta_path(key)] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("DeleteObject", &p, e).into()),
            }
        }
        Ok(())
    }

    fn list_sync(&self, prefix: &str) -> Vec<ObjectSummary> {
        let mut out = Vec::new();
        self.walk(&self.root, prefix, &mut out);
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    fn walk(&self, dir: &Path, prefix: &str, out: &mut Vec<ObjectSummary>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(&self.root) else {
                continue;
            };
            let key = relative.to_string_lossy().replace('\\', "/");
            let temporary = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".tmp-"));
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if key == INTERNAL_DIR || temporary {
                continue;
            }
            if file_type.is_dir() {
                if prefix.starts_with(&format!("{key}/")) || key.starts_with(prefix) {
                    self.walk(&path, prefix, out);
                }
            } else if file_type.is_file()
                && key.starts_with(prefix)
                && let Ok(object_key) = ObjectKey::new(key.clone())
                && let Ok(Some(meta)) = self.object_meta(&object_key)
            {
                out.push(ObjectSummary {
                    key,
                    size: meta.size,
                    etag: Some(meta.etag),
                    last_modified: meta.last_modified,
                    storage_class: meta.storage_class,
                });
            }
        }
    }
}

/// Reads `left` bytes from `file` in chunks, each on a blocking thread.
fn file_body(
    file: std::fs::File,
    left: u64,
    path: PathBuf,
) -> futures::stream::BoxStream<'static, Result<Bytes>> {
    futures::stream::unfold(Some((file, left, path)), |state| async move {
        let (mut file, left, path) = state?;
        if left == 0 {
            return None;
        }
        let chunk = left.min(1 << 20) as usize;
        let read = tokio::task::spawn_blocking(move || {
            // Into uninitialised capacity: no zeroing of a buffer about to be
            // overwritten (`Take<&File>` reads through `read_buf`).
            let mut buf = Vec::with_capacity(chunk);
            let result = match (&mut file).take(chunk as u64).read_to_end(&mut buf) {
                Ok(n) if n == chunk => Ok(buf),
                Ok(_) => Err(std::io::ErrorKind::UnexpectedEof.into()),
                Err(e) => Err(e),
            };
            (file, result)
        })
        .await;
        match read {
            Ok((file, Ok(buf))) => Some((
                Ok(Bytes::from(buf)),
                Some((file, left - chunk as u64, path)),
            )),
            Ok((_, Err(e))) => Some((Err(io_error("GetObject", &path, e).into()), None)),
            Err(e) => Some((
                Err(error(StoreErrorKind::Other, "GetObject", &path, e.to_string()).into()),
                None,
            )),
        }
    })
    .boxed()
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn location(&self) -> &Location {
        &self.location
    }

    async fn put_opts(
        &self,
        key: &ObjectKey,
        payload: Payload,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let (key, options) = (key.clone(), options.clone());
        self.run(move |store| store.put_sync(&key, payload, &options))
            .await
    }

    async fn get_opts(&self, key: &ObjectKey, options: &GetOptions) -> Result<GetResult> {
        let (key, options) = (key.clone(), options.clone());
        let path = self.object_path("GetObject", &key)?;
        let (meta, range, file) = self
            .run(move |store| store.open_range(&key, &options))
            .await?;
        let body = file_body(file, range.end - range.start, path);
        Ok(GetResult { meta, range, body })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        let key = key.clone();
        self.run(move |store| store.object_meta(&key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        let prefix = prefix.to_owned();
        self.run(move |store| Ok(store.list_sync(&prefix))).await
    }

    async fn delete_opts(&self, key: &ObjectKey, options: &DeleteOptions) -> Result<()> {
        if options.version_id.as_deref().is_some_and(|v| v != "null") {
            return Ok(()); // no such version: nothing to delete
        }
        let key = key.clone();
        self.run(move |store| store.delete_sync(&key)).await
    }

    fitsbak_core::offers_every_capability!();

    fn known_capabilities(&self) -> Option<fitsbak_core::store::Capabilities> {
        // Every request's checksums are checked and kept as S3 keeps them; there
        // are no versions and no archive classes to restore from.
        Some(fitsbak_core::store::Capabilities {
            versioning: false,
            restore: false,
            ..fitsbak_core::store::Capabilities::aws()
        })
    }
}
