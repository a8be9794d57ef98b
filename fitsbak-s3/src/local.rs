//! The local directory target: the bucket's key layout on disk.
//!
//! `{root}/{key}` holds each object's bytes; fitsbak's bookkeeping (tags, metadata,
//! ETags, multipart uploads in progress, lifecycle rules) lives below
//! `{root}/.fitsbak-store/`. Every write goes to a temporary name, is synced, and is
//! renamed into place, so an object is either whole or absent. ETags and checksums
//! are computed as S3 computes them, so the same checks apply to both targets.
//! Objects are always readable: a restore is a no-op.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use fitsbak_core::checksum::expected_object_checksum;
use fitsbak_core::error::{Result, StoreError, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::lifecycle::LifecycleRule;
use fitsbak_core::model::{StorageClass, Tags};
use fitsbak_core::store::{
    Checksum, GetResult, MultipartId, MultipartUploadInfo, ObjectChecksum, ObjectMeta, ObjectStore,
    ObjectSummary, ObjectVersion, PartReceipt, PutOptions, PutResult, RestoreState, RestoreTier,
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

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Upload {
    key: String,
    initiated: DateTime<Utc>,
    algorithm: Option<String>,
    meta: Meta,
}

/// One stored part.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredPart {
    etag: String,
    size: u64,
    md5: String,
    crc32c: String,
}

/// A directory laid out like the bucket.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

static UPLOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

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

/// Writes `bytes` to `path` atomically: a temporary name, fsync, rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

fn crc32c_base64(bytes: &[u8]) -> String {
    fitsbak_core::checksum::of_part(fitsbak_core::config::ChecksumAlgorithm::Crc32c, bytes)
        .to_base64()
}

/// Checks the client's checksum of a body.
fn check_body(
    operation: &'static str,
    target: &Path,
    body: &[u8],
    checksum: Option<Checksum>,
) -> Result<()> {
    let Some(expected) = checksum else {
        return Ok(());
    };
    let actual = match expected {
        Checksum::Md5(_) => Checksum::Md5(Md5::digest(body).into()),
        Checksum::Crc32c(_) => {
            fitsbak_core::checksum::of_part(fitsbak_core::config::ChecksumAlgorithm::Crc32c, body)
        }
        Checksum::Crc64Nvme(_) => {
            Checksum::Crc64Nvme(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, body))
        }
    };
    if actual == expected {
        Ok(())
    } else {
        Err(StoreError::new(
            StoreErrorKind::Integrity,
            operation,
            format!("local:{}", target.display()),
            format!(
                "the body's {} does not match the one sent",
                expected.algorithm()
            ),
        )
        .into())
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        fitsbak_core::Error::from(StoreError::new(
            StoreErrorKind::Other,
            "local",
            "local",
            format!("task failed: {e}"),
        ))
    })?
}

impl LocalStore {
    /// A store rooted at `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
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

    fn meta_path(&self, key: &ObjectKey) -> PathBuf {
        self.root
            .join(INTERNAL_DIR)
            .join("meta")
            .join(format!("{}.json", key.as_str()))
    }

    fn upload_dir(&self, upload: &MultipartId) -> PathBuf {
        self.root.join(INTERNAL_DIR).join("uploads").join(&upload.0)
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

    fn meta_from(options: &PutOptions) -> Meta {
        Meta {
            etag: String::new(),
            storage_class: options.storage_class.clone(),
            tags: options.tags.clone(),
            metadata: options.metadata.clone(),
            content_type: options.content_type.clone(),
            checksum: None,
        }
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

    fn list_uploads(&self) -> Vec<(MultipartId, Upload)> {
        let dir = self.root.join(INTERNAL_DIR).join("uploads");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| {
                let e = e.ok()?;
                let upload: Upload =
                    serde_json::from_slice(&std::fs::read(e.path().join("upload.json")).ok()?)
                        .ok()?;
                Some((
                    MultipartId(e.file_name().to_string_lossy().into_owned()),
                    upload,
                ))
            })
            .collect()
    }

    fn read_upload(
        &self,
        operation: &'static str,
        key: &ObjectKey,
        upload: &MultipartId,
    ) -> Result<Upload> {
        let path = self.upload_dir(upload).join("upload.json");
        let found: Option<Upload> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match found {
            Some(u) if u.key == key.as_str() => Ok(u),
            _ => Err(StoreError::new(
                StoreErrorKind::NoSuchUpload,
                operation,
                format!("local:{}", self.root.join(key.as_str()).display()),
                format!("NoSuchUpload: no upload {upload} for this key"),
            )
            .into()),
        }
    }

    fn stored_parts(&self, upload: &MultipartId) -> Vec<(u32, StoredPart)> {
        let Ok(entries) = std::fs::read_dir(self.upload_dir(upload)) else {
            return Vec::new();
        };
        let mut parts: Vec<(u32, StoredPart)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().to_string_lossy().into_owned();
                let number = name
                    .strip_suffix(".json")?
                    .strip_prefix("part-")?
                    .parse()
                    .ok()?;
                let part = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
                Some((number, part))
            })
            .collect();
        parts.sort_by_key(|(n, _)| *n);
        parts
    }
}

fn walk(dir: &Path, root: &Path, prefix: &str, out: &mut Vec<ObjectSummary>, store: &LocalStore) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let key = relative.to_string_lossy().replace('\\', "/");
        if key == INTERNAL_DIR
            || path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".tmp-"))
        {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if prefix.starts_with(&format!("{key}/"))
                || key.starts_with(prefix)
                || prefix.is_empty()
            {
                walk(&path, root, prefix, out, store);
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            let Ok(object_key) = ObjectKey::new(key.clone()) else {
                continue;
            };
            if let Ok(Some(meta)) = store.object_meta(&object_key) {
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

#[async_trait]
impl ObjectStore for LocalStore {
    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }

    fn bucket(&self) -> String {
        self.root.display().to_string()
    }

    fn region(&self) -> String {
        "local".into()
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        checksum: Option<Checksum>,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let path = self.object_path("PutObject", key)?;
        let store = self.clone();
        let key = key.clone();
        let options = options.clone();
        blocking(move || {
            check_body("PutObject", &path, &body, checksum)?;
            if options.if_none_match && path.exists() {
                return Err(StoreError::new(
                    StoreErrorKind::PreconditionFailed,
                    "PutObject",
                    format!("local:{}", path.display()),
                    "PreconditionFailed: the object exists",
                )
                .into());
            }
            let mut meta = Self::meta_from(&options);
            meta.etag = hex::encode(Md5::digest(&body));
            meta.checksum = Some(ObjectChecksum {
                algorithm: "CRC32C".into(),
                value: crc32c_base64(&body),
            });
            write_atomic(&path, &body).map_err(|e| io_error("PutObject", &path, e))?;
            store
                .write_meta(&key, &meta)
                .map_err(|e| io_error("PutObject", &path, e))?;
            Ok(PutResult {
                etag: meta.etag,
                version_id: None,
                checksum: meta.checksum,
            })
        })
        .await
    }

    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        algorithm: Option<&'static str>,
    ) -> Result<MultipartId> {
        let path = self.object_path("CreateMultipartUpload", key)?;
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let id = MultipartId(format!(
            "{nanos:016x}{:04x}{:06x}",
            std::process::id() & 0xffff,
            UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let upload = Upload {
            key: key.to_string(),
            initiated: Utc::now(),
            algorithm: algorithm.map(str::to_owned),
            meta: Self::meta_from(options),
        };
        write_atomic(
            &self.upload_dir(&id).join("upload.json"),
            &serde_json::to_vec(&upload).expect("serialises"),
        )
        .map_err(|e| io_error("CreateMultipartUpload", &path, e))?;
        Ok(id)
    }

    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
        checksum: Option<Checksum>,
    ) -> Result<PartReceipt> {
        let path = self.object_path("UploadPart", key)?;
        self.read_upload("UploadPart", key, upload)?;
        let dir = self.upload_dir(upload);
        blocking(move || {
            check_body("UploadPart", &path, &body, checksum)?;
            let md5 = hex::encode(Md5::digest(&body));
            let part = StoredPart {
                etag: md5.clone(),
                size: body.len() as u64,
                md5,
                crc32c: crc32c_base64(&body),
            };
            let err = |e| io_error("UploadPart", &path, e);
            write_atomic(&dir.join(format!("part-{part_number:05}.bin")), &body).map_err(err)?;
            write_atomic(
                &dir.join(format!("part-{part_number:05}.json")),
                &serde_json::to_vec(&part).expect("serialises"),
            )
            .map_err(err)?;
            Ok(PartReceipt {
                part_number,
                etag: part.etag,
                size: part.size,
                checksum: Some(part.crc32c),
            })
        })
        .await
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        let path = self.object_path("CompleteMultipartUpload", key)?;
        let record = self.read_upload("CompleteMultipartUpload", key, upload)?;
        let stored: BTreeMap<u32, StoredPart> = self.stored_parts(upload).into_iter().collect();
        let dir = self.upload_dir(upload);
        let store = self.clone();
        let key = key.clone();
        let parts = parts.to_vec();
        blocking(move || {
            let invalid = |message: String| -> fitsbak_core::Error {
                StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "CompleteMultipartUpload",
                    format!("local:{}", path.display()),
                    message,
                )
                .into()
            };
            if parts.is_empty()
                || parts
                    .windows(2)
                    .any(|w| w[0].part_number >= w[1].part_number)
            {
                return Err(invalid(
                    "InvalidPartOrder: parts must be given in ascending order".into(),
                ));
            }
            let mut md5s = Vec::new();
            let mut crcs = Vec::new();
            for p in &parts {
                match stored.get(&p.part_number) {
                    Some(s) if s.etag == p.etag => {
                        md5s.push(Checksum::Md5(
                            hex::decode(&s.md5)
                                .ok()
                                .and_then(|d| d.try_into().ok())
                                .unwrap_or([0; 16]),
                        ));
                        crcs.push(s.crc32c.clone());
                    }
                    _ => {
                        return Err(invalid(format!(
                            "InvalidPart: part {} is not stored with ETag {}",
                            p.part_number, p.etag
                        )));
                    }
                }
            }
            let err = |e| io_error("CompleteMultipartUpload", &path, e);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            let tmp = path.with_file_name(format!(
                ".{}.tmp-{}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let mut out = std::fs::File::create(&tmp).map_err(err)?;
            for p in &parts {
                let mut part =
                    std::fs::File::open(dir.join(format!("part-{:05}.bin", p.part_number)))
                        .map_err(err)?;
                std::io::copy(&mut part, &mut out).map_err(err)?;
            }
            out.sync_all().map_err(err)?;
            drop(out);
            std::fs::rename(&tmp, &path).map_err(err)?;
            let mut meta = record.meta.clone();
            meta.etag = expected_object_checksum(&md5s, true);
            meta.checksum = record
                .algorithm
                .as_deref()
                .filter(|a| *a == "CRC32C")
                .map(|_| {
                    let raw: Vec<Checksum> = crcs
                        .iter()
                        .map(|c| {
                            use base64::Engine as _;
                            let bytes = base64::engine::general_purpose::STANDARD
                                .decode(c)
                                .unwrap_or_default();
                            Checksum::Crc32c(u32::from_be_bytes(bytes.try_into().unwrap_or([0; 4])))
                        })
                        .collect();
                    ObjectChecksum {
                        algorithm: "CRC32C".into(),
                        value: expected_object_checksum(&raw, true),
                    }
                });
            store.write_meta(&key, &meta).map_err(err)?;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(PutResult {
                etag: meta.etag,
                version_id: None,
                checksum: meta.checksum,
            })
        })
        .await
    }

    async fn abort_multipart(&self, _key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        let dir = self.upload_dir(upload);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("AbortMultipartUpload", &dir, e).into()),
        }
    }

    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        self.read_upload("ListParts", key, upload)?;
        Ok(self
            .stored_parts(upload)
            .into_iter()
            .map(|(n, p)| PartReceipt {
                part_number: n,
                etag: p.etag,
                size: p.size,
                checksum: Some(p.crc32c),
            })
            .collect())
    }

    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        let mut uploads: Vec<MultipartUploadInfo> = self
            .list_uploads()
            .into_iter()
            .filter(|(_, u)| u.key.starts_with(prefix))
            .map(|(id, u)| MultipartUploadInfo {
                key: u.key,
                upload_id: id,
                initiated: Some(u.initiated),
            })
            .collect();
        uploads.sort_by(|a, b| (&a.key, &a.upload_id.0).cmp(&(&b.key, &b.upload_id.0)));
        Ok(uploads)
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        self.object_meta(key)
    }

    async fn get(&self, key: &ObjectKey, range: Option<Range<u64>>) -> Result<GetResult> {
        let path = self.object_path("GetObject", key)?;
        let meta = self.object_meta(key)?.ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::NotFound,
                "GetObject",
                format!("local:{}", path.display()),
                "NoSuchKey: no such object",
            )
        })?;
        let range = range.unwrap_or(0..meta.size);
        let range = range.start.min(meta.size)..range.end.min(meta.size);
        let mut file = std::fs::File::open(&path).map_err(|e| io_error("GetObject", &path, e))?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| io_error("GetObject", &path, e))?;
        let state = (file, range.end - range.start, path);
        let body = futures::stream::unfold(Some(state), |state| async move {
            let (mut file, left, path) = state?;
            if left == 0 {
                return None;
            }
            let chunk = left.min(1 << 20) as usize;
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; chunk];
                let result = file.read_exact(&mut buf).map(|()| buf);
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
                    Err(StoreError::new(
                        StoreErrorKind::Other,
                        "GetObject",
                        "local",
                        e.to_string(),
                    )
                    .into()),
                    None,
                )),
            }
        })
        .boxed();
        Ok(GetResult { meta, range, body })
    }

    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags> {
        match self.object_meta(key)? {
            Some(_) => Ok(self.read_meta(key).tags),
            None => Err(StoreError::new(
                StoreErrorKind::NotFound,
                "GetObjectTagging",
                key.to_string(),
                "NoSuchKey",
            )
            .into()),
        }
    }

    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()> {
        if self.object_meta(key)?.is_none() {
            return Err(StoreError::new(
                StoreErrorKind::NotFound,
                "PutObjectTagging",
                key.to_string(),
                "NoSuchKey",
            )
            .into());
        }
        let mut meta = self.read_meta(key);
        meta.tags = tags.clone();
        self.write_meta(key, &meta)
            .map_err(|e| io_error("PutObjectTagging", &self.meta_path(key), e).into())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        let store = self.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut out = Vec::new();
            walk(&store.root, &store.root, &prefix, &mut out, &store);
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        let path = self.object_path("DeleteObject", key)?;
        for p in [path.clone(), self.meta_path(key)] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("DeleteObject", &p, e).into()),
            }
        }
        Ok(())
    }

    async fn get_version(&self, key: &ObjectKey, version_id: &str) -> Result<GetResult> {
        if version_id == "null" {
            return self.get(key, None).await;
        }
        Err(StoreError::new(
            StoreErrorKind::NotFound,
            "GetObject",
            key.to_string(),
            format!(
                "NoSuchVersion: the local target keeps one version of each object, not {version_id}"
            ),
        )
        .into())
    }

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        Ok(self
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| ObjectVersion {
                key: o.key,
                version_id: None,
                is_latest: true,
                size: o.size,
                etag: o.etag,
                last_modified: o.last_modified,
                storage_class: o.storage_class,
            })
            .collect())
    }

    async fn restore(
        &self,
        key: &ObjectKey,
        _version_id: Option<String>,
        _days: u32,
        _tier: RestoreTier,
    ) -> Result<()> {
        match self.object_meta(key)? {
            Some(_) => Ok(()),
            None => Err(StoreError::new(
                StoreErrorKind::NotFound,
                "RestoreObject",
                key.to_string(),
                "NoSuchKey",
            )
            .into()),
        }
    }

    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>> {
        let path = self.root.join(INTERNAL_DIR).join("lifecycle.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Other,
                    "GetBucketLifecycleConfiguration",
                    path.display().to_string(),
                    e.to_string(),
                )
                .into()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_error("GetBucketLifecycleConfiguration", &path, e).into()),
        }
    }

    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        let path = self.root.join(INTERNAL_DIR).join("lifecycle.json");
        write_atomic(
            &path,
            &serde_json::to_vec_pretty(rules).expect("rules serialise"),
        )
        .map_err(|e| io_error("PutBucketLifecycleConfiguration", &path, e).into())
    }
}
