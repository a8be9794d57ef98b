//! Multipart uploads in the local directory: each upload is a directory of part
//! files below `.fitsbak-store/uploads/`, joined into the object on completion.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use fitsbak_core::checksum::expected_object_checksum;
use fitsbak_core::error::{Result, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::store::{
    Checksum, ChecksumKind, MultipartId, MultipartStore, MultipartUploadInfo, ObjectChecksum,
    PartReceipt, Payload, PutOptions, PutResult,
};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{
    LocalStore, Meta, TEMP_COUNTER, check_body, crc32c_base64, error, io_error, write_atomic,
    write_atomic_with,
};

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

impl StoredPart {
    fn receipt(&self, part_number: u32) -> PartReceipt {
        PartReceipt {
            part_number,
            etag: self.etag.clone(),
            size: self.size,
            checksum: Some(self.crc32c.clone()),
        }
    }
}

impl LocalStore {
    fn upload_dir(&self, upload: &MultipartId) -> PathBuf {
        self.internal("uploads").join(&upload.0)
    }

    fn list_uploads(&self) -> Vec<(MultipartId, Upload)> {
        let Ok(entries) = std::fs::read_dir(self.internal("uploads")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| {
                let e = e.ok()?;
                let bytes = std::fs::read(e.path().join("upload.json")).ok()?;
                let upload: Upload = serde_json::from_slice(&bytes).ok()?;
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
            _ => Err(error(
                StoreErrorKind::NoSuchUpload,
                operation,
                &self.root.join(key.as_str()),
                format!("NoSuchUpload: no upload {upload} for this key"),
            )
            .into()),
        }
    }

    fn stored_parts(&self, upload: &MultipartId) -> BTreeMap<u32, StoredPart> {
        let Ok(entries) = std::fs::read_dir(self.upload_dir(upload)) else {
            return BTreeMap::new();
        };
        entries
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
            .collect()
    }

    fn create_sync(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        checksum: Option<ChecksumKind>,
    ) -> Result<MultipartId> {
        let path = self.object_path("CreateMultipartUpload", key)?;
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let id = MultipartId(format!(
            "{nanos:016x}{:04x}{:06x}",
            std::process::id() & 0xffff,
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let upload = Upload {
            key: key.to_string(),
            initiated: Utc::now(),
            algorithm: checksum.map(|c| c.as_str().to_owned()),
            meta: Meta::from_options(options),
        };
        write_atomic(
            &self.upload_dir(&id).join("upload.json"),
            &serde_json::to_vec(&upload).expect("serialises"),
        )
        .map_err(|e| io_error("CreateMultipartUpload", &path, e))?;
        Ok(id)
    }

    fn put_part_sync(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        payload: Payload,
    ) -> Result<PartReceipt> {
        let path = self.object_path("UploadPart", key)?;
        self.read_upload("UploadPart", key, upload)?;
        check_body("UploadPart", &path, &payload)?;
        let md5 = hex::encode(Md5::digest(&payload.bytes));
        let part = StoredPart {
            etag: md5.clone(),
            size: payload.len() as u64,
            md5,
            crc32c: crc32c_base64(&payload.bytes),
        };
        let dir = self.upload_dir(upload);
        let err = |e| io_error("UploadPart", &path, e);
        write_atomic(
            &dir.join(format!("part-{part_number:05}.bin")),
            &payload.bytes,
        )
        .map_err(err)?;
        write_atomic(
            &dir.join(format!("part-{part_number:05}.json")),
            &serde_json::to_vec(&part).expect("serialises"),
        )
        .map_err(err)?;
        Ok(part.receipt(part_number))
    }

    fn complete_sync(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        let operation = "CompleteMultipartUpload";
        let path = self.object_path(operation, key)?;
        let record = self.read_upload(operation, key, upload)?;
        let stored = self.stored_parts(upload);
        let invalid =
            |message: String| error(StoreErrorKind::InvalidRequest, operation, &path, message);
        if parts.is_empty()
            || parts
                .windows(2)
                .any(|w| w[0].part_number >= w[1].part_number)
        {
            return Err(
                invalid("InvalidPartOrder: parts must be given in ascending order".into()).into(),
            );
        }
        let mut md5s = Vec::new();
        let mut crcs = Vec::new();
        for p in parts {
            let Some(s) = stored.get(&p.part_number).filter(|s| s.etag == p.etag) else {
                return Err(invalid(format!(
                    "InvalidPart: part {} is not stored with ETag {}",
                    p.part_number, p.etag
                ))
                .into());
            };
            let md5: [u8; 16] = hex::decode(&s.md5)
                .ok()
                .and_then(|d| d.try_into().ok())
                .unwrap_or([0; 16]);
            md5s.push(Checksum::Md5(md5));
            let crc = base64::engine::general_purpose::STANDARD
                .decode(&s.crc32c)
                .unwrap_or_default();
            crcs.push(Checksum::Crc32c(u32::from_be_bytes(
                crc.try_into().unwrap_or([0; 4]),
            )));
        }
        let dir = self.upload_dir(upload);
        let err = |e| io_error(operation, &path, e);
        write_atomic_with(&path, |out| {
            for p in parts {
                let mut part =
                    std::fs::File::open(dir.join(format!("part-{:05}.bin", p.part_number)))?;
                std::io::copy(&mut part, out)?;
            }
            Ok(())
        })
        .map_err(err)?;
        let mut meta = record.meta;
        meta.etag = expected_object_checksum(&md5s, true);
        meta.checksum =
            (record.algorithm.as_deref() == Some(ChecksumKind::Crc32c.as_str())).then(|| {
                ObjectChecksum {
                    kind: ChecksumKind::Crc32c,
                    value: expected_object_checksum(&crcs, true),
                }
            });
        self.write_meta(key, &meta).map_err(err)?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(PutResult {
            etag: meta.etag,
            version_id: None,
            checksum: meta.checksum,
        })
    }

    fn abort_sync(&self, upload: &MultipartId) -> Result<()> {
        let dir = self.upload_dir(upload);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("AbortMultipartUpload", &dir, e).into()),
        }
    }
}

#[async_trait]
impl MultipartStore for LocalStore {
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        checksum: Option<ChecksumKind>,
    ) -> Result<MultipartId> {
        let (key, options) = (key.clone(), options.clone());
        self.run(move |store| store.create_sync(&key, &options, checksum))
            .await
    }

    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        payload: Payload,
    ) -> Result<PartReceipt> {
        let (key, upload) = (key.clone(), upload.clone());
        self.run(move |store| store.put_part_sync(&key, &upload, part_number, payload))
            .await
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        let (key, upload, parts) = (key.clone(), upload.clone(), parts.to_vec());
        self.run(move |store| store.complete_sync(&key, &upload, &parts))
            .await
    }

    async fn abort_multipart(&self, _key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        let upload = upload.clone();
        self.run(move |store| store.abort_sync(&upload)).await
    }

    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        let (key, upload) = (key.clone(), upload.clone());
        self.run(move |store| {
            store.read_upload("ListParts", &key, &upload)?;
            Ok(store
                .stored_parts(&upload)
                .iter()
                .map(|(n, p)| p.receipt(*n))
                .collect())
        })
        .await
    }

    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        let prefix = prefix.to_owned();
        self.run(move |store| {
            let mut uploads: Vec<MultipartUploadInfo> = store
                .list_uploads()
                .into_iter()
                .filter(|(_, u)| u.key.starts_with(&prefix))
                .map(|(id, u)| MultipartUploadInfo {
                    key: u.key,
                    upload_id: id,
                    initiated: Some(u.initiated),
                })
                .collect();
            uploads.sort_by(|a, b| (&a.key, &a.upload_id.0).cmp(&(&b.key, &b.upload_id.0)));
            Ok(uploads)
        })
        .await
    }
}
