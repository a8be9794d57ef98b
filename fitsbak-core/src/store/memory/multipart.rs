//! Multipart uploads in memory: parts kept per upload, joined on completion into
//! an object with S3's MD5-of-MD5s ETag and composite CRC32C.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use md5::{Digest as _, Md5};

use super::{MemoryStore, Upload, base64, check, damaged, error, md5_hex};
use crate::error::{Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::store::{
    Checksum, ChecksumKind, MultipartId, MultipartStore, MultipartUploadInfo, ObjectChecksum,
    PartReceipt, Payload, PutOptions, PutResult,
};

fn no_upload(operation: &'static str, key: &str) -> crate::Error {
    error(
        StoreErrorKind::NoSuchUpload,
        operation,
        key,
        "NoSuchUpload: the upload does not exist",
    )
}

#[async_trait]
impl MultipartStore for MemoryStore {
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        checksum: Option<ChecksumKind>,
    ) -> Result<MultipartId> {
        self.guarded("CreateMultipartUpload", key.as_str(), None, |_| {
            let id = format!(
                "mem-upload-{}",
                self.next_id.fetch_add(1, Ordering::Relaxed)
            );
            self.lock().uploads.insert(
                id.clone(),
                Upload {
                    key: key.to_string(),
                    options: options.clone(),
                    checksum,
                    initiated: crate::time::now(),
                    parts: BTreeMap::new(),
                },
            );
            Ok(MultipartId(id))
        })
    }

    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        payload: Payload,
    ) -> Result<PartReceipt> {
        self.guarded("UploadPart", key.as_str(), Some(part_number), |corrupt| {
            check(&payload, "UploadPart", key.as_str())?;
            let mut state = self.lock();
            let up = state
                .uploads
                .get_mut(&upload.0)
                .filter(|u| u.key == key.as_str())
                .ok_or_else(|| no_upload("UploadPart", key.as_str()))?;
            let bytes = if corrupt {
                damaged(&payload.bytes)
            } else {
                payload.bytes
            };
            let receipt = PartReceipt {
                part_number,
                etag: md5_hex(&bytes),
                size: bytes.len() as u64,
                checksum: (up.checksum == Some(ChecksumKind::Crc32c))
                    .then(|| Checksum::Crc32c(crate::checksum::crc32c(&bytes)).to_base64()),
            };
            up.parts.insert(part_number, (bytes, receipt.clone()));
            Ok(receipt)
        })
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        let operation = "CompleteMultipartUpload";
        self.guarded(operation, key.as_str(), None, |_| {
            let up = {
                let mut state = self.lock();
                match state.uploads.get(&upload.0) {
                    Some(u) if u.key == key.as_str() => {}
                    _ => return Err(no_upload(operation, key.as_str())),
                }
                state.uploads.remove(&upload.0).expect("checked")
            };
            let mut body = Vec::new();
            let (mut md5s, mut crcs) = (Vec::new(), Vec::new());
            for (i, given) in parts.iter().enumerate() {
                let stored = up.parts.get(&given.part_number);
                let in_order = i == 0 || parts[i - 1].part_number < given.part_number;
                let Some((bytes, _)) = stored.filter(|(_, r)| r.etag == given.etag && in_order)
                else {
                    self.lock().uploads.insert(upload.0.clone(), up);
                    return Err(error(
                        StoreErrorKind::InvalidRequest,
                        operation,
                        key.as_str(),
                        "InvalidPart: a part is missing, out of order or has another ETag",
                    ));
                };
                body.extend_from_slice(bytes);
                md5s.extend_from_slice(&Md5::digest(bytes));
                crcs.extend_from_slice(&crate::checksum::crc32c(bytes).to_be_bytes());
            }
            let n = parts.len();
            let etag = format!("{}-{n}", md5_hex(&md5s));
            let checksum = (up.checksum == Some(ChecksumKind::Crc32c)).then(|| ObjectChecksum {
                kind: ChecksumKind::Crc32c,
                value: format!(
                    "{}-{n}",
                    base64(&crate::checksum::crc32c(&crcs).to_be_bytes())
                ),
            });
            Ok(self.commit(key.as_str(), body.into(), etag, checksum, &up.options))
        })
    }

    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        self.guarded("AbortMultipartUpload", key.as_str(), None, |_| {
            self.lock().uploads.remove(&upload.0);
            Ok(())
        })
    }

    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        self.guarded("ListParts", key.as_str(), None, |_| {
            let state = self.lock();
            let up = state
                .uploads
                .get(&upload.0)
                .filter(|u| u.key == key.as_str())
                .ok_or_else(|| no_upload("ListParts", key.as_str()))?;
            Ok(up.parts.values().map(|(_, r)| r.clone()).collect())
        })
    }

    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        self.guarded("ListMultipartUploads", prefix, None, |_| {
            let state = self.lock();
            let mut out: Vec<MultipartUploadInfo> = state
                .uploads
                .iter()
                .filter(|(_, u)| u.key.starts_with(prefix))
                .map(|(id, u)| MultipartUploadInfo {
                    key: u.key.clone(),
                    upload_id: MultipartId(id.clone()),
                    initiated: Some(u.initiated),
                })
                .collect();
            out.sort_by(|a, b| a.key.cmp(&b.key).then(a.initiated.cmp(&b.initiated)));
            Ok(out)
        })
    }
}
