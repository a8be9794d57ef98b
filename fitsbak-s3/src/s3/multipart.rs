//! Multipart uploads on S3.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types as s3t;
use fitsbak_core::error::{Result, StoreError, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::store::{
    ChecksumKind, MultipartId, MultipartStore, MultipartUploadInfo, PartReceipt, Payload,
    PutOptions, PutResult,
};

use super::errors::store_error;
use super::{S3Store, checksum_of, sdk_checksum, time, trim_etag};

#[async_trait]
impl MultipartStore for S3Store {
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        checksum: Option<ChecksumKind>,
    ) -> Result<MultipartId> {
        let mut request = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .storage_class(super::sdk_class(&options.storage_class))
            .set_metadata(Some(options.metadata.clone().into_iter().collect()))
            .set_content_type(options.content_type.clone())
            .set_checksum_algorithm(checksum.map(sdk_checksum))
            // Composite, said rather than left to the store's default: the check
            // after Complete expects the CRC32C of the parts' CRC32Cs (a
            // full-object one is accepted too).
            .set_checksum_type(checksum.map(|_| s3t::ChecksumType::Composite));
        if !options.tags.is_empty() {
            request = request.tagging(super::encode_tags(&options.tags));
        }
        let (sse, kms_key) = super::sdk_encryption(options);
        let out = request
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .send()
            .await
            .map_err(|e| store_error("CreateMultipartUpload", self.target(key.as_str()), e))?;
        out.upload_id()
            .map(|id| MultipartId(id.to_owned()))
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Other,
                    "CreateMultipartUpload",
                    self.target(key.as_str()),
                    "the store returned no upload id",
                )
                .into()
            })
    }

    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        payload: Payload,
    ) -> Result<PartReceipt> {
        let size = payload.len() as u64;
        let (algorithm, md5, crc32c, crc64) = super::checksum_headers(&payload);
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .part_number(part_number as i32)
            .content_length(size as i64)
            .body(ByteStream::from(payload.bytes))
            .set_checksum_algorithm(algorithm)
            .set_content_md5(md5)
            .set_checksum_crc32_c(crc32c)
            .set_checksum_crc64_nvme(crc64)
            .customize()
            .config_override(self.body_override(size as usize))
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| {
                store_error(
                    "UploadPart",
                    format!("{} (part {part_number})", self.target(key.as_str())),
                    e,
                )
            })?;
        Ok(PartReceipt {
            part_number,
            etag: trim_etag(out.e_tag()),
            size,
            checksum: out.checksum_crc32_c().map(str::to_owned),
        })
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        let completed = s3t::CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        s3t::CompletedPart::builder()
                            .part_number(p.part_number as i32)
                            .e_tag(format!("\"{}\"", p.etag))
                            .set_checksum_crc32_c(p.checksum.clone())
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .multipart_upload(completed)
            .send()
            .await
            .map_err(|e| store_error("CompleteMultipartUpload", self.target(key.as_str()), e))?;
        Ok(PutResult {
            etag: trim_etag(out.e_tag()),
            version_id: out.version_id().map(str::to_owned),
            checksum: checksum_of(ChecksumKind::Crc32c, out.checksum_crc32_c()),
        })
    }

    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = store_error("AbortMultipartUpload", self.target(key.as_str()), e);
                if err.kind == StoreErrorKind::NoSuchUpload {
                    Ok(()) // already gone
                } else {
                    Err(err.into())
                }
            }
        }
    }

    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let answer = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(&upload.0)
                .set_part_number_marker(marker.clone())
                .send()
                .await;
            let (page, next) = match answer {
                Ok(out) => {
                    let page = out
                        .parts()
                        .iter()
                        .map(|p| PartReceipt {
                            part_number: p.part_number().unwrap_or_default() as u32,
                            etag: trim_etag(p.e_tag()),
                            size: p.size().unwrap_or_default() as u64,
                            checksum: p.checksum_crc32_c().map(str::to_owned),
                        })
                        .collect();
                    let next = (out.is_truncated() == Some(true))
                        .then(|| out.next_part_number_marker().map(str::to_owned))
                        .flatten();
                    (page, next)
                }
                Err(e) => match super::raw_body(&e).and_then(parse_list_parts_fallback) {
                    Some(found) => found,
                    None => {
                        return Err(store_error("ListParts", self.target(key.as_str()), e).into());
                    }
                },
            };
            parts.extend(page);
            match next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        let mut uploads = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| store_error("ListMultipartUploads", self.target(prefix), e))?;
            for u in out.uploads() {
                uploads.push(MultipartUploadInfo {
                    key: u.key().unwrap_or_default().to_owned(),
                    upload_id: MultipartId(u.upload_id().unwrap_or_default().to_owned()),
                    initiated: time(u.initiated()),
                });
            }
            if out.is_truncated() != Some(true) {
                break;
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            id_marker = out.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(uploads)
    }
}

/// Reads a ListParts answer the SDK refused because its XML root is
/// `ListPartsResponse` (as moto 5.2.5 writes it) instead of `ListPartsResult`:
/// the parts, and the next marker when the listing is truncated.
fn parse_list_parts_fallback(xml: &str) -> Option<(Vec<PartReceipt>, Option<String>)> {
    if !xml.contains("<ListPartsResponse") {
        return None;
    }
    let parts = xml
        .split("<Part>")
        .skip(1)
        .map(|block| {
            let block = block.split("</Part>").next().unwrap_or(block);
            Some(PartReceipt {
                part_number: super::xml_field(block, "PartNumber")?.parse().ok()?,
                etag: super::xml_field(block, "ETag")?
                    .replace("&quot;", "")
                    .trim_matches('"')
                    .to_owned(),
                size: super::xml_field(block, "Size")?.parse().ok()?,
                checksum: super::xml_field(block, "ChecksumCRC32C"),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let truncated = super::xml_field(xml, "IsTruncated").is_some_and(|t| t == "true");
    let next = truncated
        .then(|| super::xml_field(xml, "NextPartNumberMarker"))
        .flatten();
    Some((parts, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_parts_answer_with_the_other_root_is_read() {
        let xml = r#"<?xml version="1.0"?><ListPartsResponse xmlns="x"><IsTruncated>true</IsTruncated>
            <NextPartNumberMarker>2</NextPartNumberMarker>
            <Part><PartNumber>1</PartNumber><ETag>"aa"</ETag><Size>5</Size></Part>
            <Part><PartNumber>2</PartNumber><ETag>&quot;bb&quot;</ETag><Size>7</Size><ChecksumCRC32C>x==</ChecksumCRC32C></Part>
            </ListPartsResponse>"#;
        let (parts, next) = parse_list_parts_fallback(xml).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].part_number, parts[0].etag.as_str(), parts[0].size),
            (1, "aa", 5)
        );
        assert_eq!(parts[1].etag, "bb");
        assert_eq!(parts[1].checksum.as_deref(), Some("x=="));
        assert_eq!(next.as_deref(), Some("2"));
        assert!(parse_list_parts_fallback("<ListPartsResult/>").is_none());
    }
}
