//! Restores from GLACIER and DEEP_ARCHIVE, and object versions, on S3.

use async_trait::async_trait;
use aws_sdk_s3::types as s3t;
use fitsbak_core::error::{Result, StoreError, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::StorageClass;
use fitsbak_core::store::{ColdStorage, ObjectVersion, RestoreRequest};

use super::errors::store_error;
use super::{S3Store, time, trim_etag};

#[async_trait]
impl ColdStorage for S3Store {
    async fn restore(&self, key: &ObjectKey, request: &RestoreRequest) -> Result<()> {
        let target = self.target(key.as_str());
        let job = s3t::GlacierJobParameters::builder()
            .tier(s3t::Tier::from(request.tier.as_str()))
            .build()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "RestoreObject",
                    target.clone(),
                    e.to_string(),
                )
            })?;
        let restore = s3t::RestoreRequest::builder()
            .days(request.days as i32)
            .glacier_job_parameters(job)
            .build();
        self.client
            .restore_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_version_id(request.version_id.clone())
            .restore_request(restore)
            .send()
            .await
            .map_err(|e| store_error("RestoreObject", target, e))?;
        Ok(())
    }

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| store_error("ListObjectVersions", self.target(prefix), e))?;
            for v in page.versions() {
                versions.push(ObjectVersion {
                    key: v.key().unwrap_or_default().to_owned(),
                    version_id: v.version_id().map(str::to_owned),
                    is_latest: v.is_latest().unwrap_or(false),
                    size: v.size().unwrap_or_default().max(0) as u64,
                    etag: v.e_tag().map(|e| trim_etag(Some(e))),
                    last_modified: time(v.last_modified()),
                    storage_class: v
                        .storage_class()
                        .map_or(StorageClass::Standard, |c| StorageClass::parse(c.as_str())),
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(versions)
    }
}
