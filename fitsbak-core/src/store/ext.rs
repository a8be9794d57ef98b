//! Conveniences over any [`ObjectStore`]: the short forms of its `*_opts`
//! methods, reading an object whole with a bound, and "this store must offer X".

use std::ops::Range;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::{
    BucketAdmin, Checksum, ColdStorage, DeleteOptions, GetOptions, GetResult, MultipartStore,
    ObjectStore, Payload, PutOptions, PutResult,
};
use crate::error::{Result, StoreError, StoreErrorKind};
use crate::ids::ObjectKey;

/// Shorthands every store has; implemented for every [`ObjectStore`].
#[async_trait]
pub trait ObjectStoreExt: ObjectStore {
    /// `s3://bucket (region)` or `local:/path`, for messages.
    fn describe(&self) -> String {
        self.location().description.clone()
    }

    /// The bucket name recorded with archives.
    fn bucket(&self) -> String {
        self.location().bucket.clone()
    }

    /// The region recorded with archives.
    fn region(&self) -> String {
        self.location().region.clone()
    }

    /// Writes `body` in one request, checked against `checksum` by the server.
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        checksum: Option<Checksum>,
        options: &PutOptions,
    ) -> Result<PutResult> {
        self.put_opts(key, Payload::new(body, checksum), options)
            .await
    }

    /// The object's bytes, or those of `range`.
    async fn get(&self, key: &ObjectKey, range: Option<Range<u64>>) -> Result<GetResult> {
        self.get_opts(
            key,
            &GetOptions {
                range,
                version_id: None,
            },
        )
        .await
    }

    /// One version of an object, whole.
    async fn get_version(&self, key: &ObjectKey, version_id: &str) -> Result<GetResult> {
        self.get_opts(
            key,
            &GetOptions {
                range: None,
                version_id: Some(version_id.to_owned()),
            },
        )
        .await
    }

    /// Deletes the current object (no error when there is none).
    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.delete_opts(key, &DeleteOptions::default()).await
    }

    /// The whole object, refused with [`StoreErrorKind::TooLarge`] when it holds
    /// more than `limit` bytes (checked before and while reading, so a lying size
    /// cannot make it read more).
    async fn read_to_end(&self, key: &ObjectKey, limit: u64) -> Result<Bytes> {
        let got = self.get(key, None).await?;
        let too_large = |size: u64| {
            StoreError::new(
                StoreErrorKind::TooLarge,
                "GetObject",
                key.as_str(),
                format!("the object holds {size} bytes, more than the {limit} allowed"),
            )
        };
        if got.meta.size > limit {
            return Err(too_large(got.meta.size).into());
        }
        let mut out = BytesMut::with_capacity(got.meta.size as usize);
        let mut body = got.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(too_large((out.len() + chunk.len()) as u64).into());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// Every version of the objects below `prefix`; on a store that cannot list
    /// versions, each object once, as its only version.
    async fn versions(&self, prefix: &str) -> Result<Vec<super::ObjectVersion>> {
        if let Some(cold) = self.cold_storage() {
            match cold.list_versions(prefix).await {
                Err(e) if e.store_kind() == Some(StoreErrorKind::NotImplemented) => {}
                other => return other,
            }
        }
        Ok(self
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| super::ObjectVersion {
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

    /// Multipart uploads, or an error saying the store has none.
    fn try_multipart(&self) -> Result<&dyn MultipartStore> {
        self.multipart()
            .ok_or_else(|| self.not_offered("CreateMultipartUpload", "multipart uploads"))
    }

    /// Restores and versions, or an error saying the store has none.
    fn try_cold_storage(&self) -> Result<&dyn ColdStorage> {
        self.cold_storage()
            .ok_or_else(|| self.not_offered("RestoreObject", "restores or versions"))
    }

    /// Tags and lifecycle rules, or an error saying the store has none.
    fn try_admin(&self) -> Result<&dyn BucketAdmin> {
        self.admin()
            .ok_or_else(|| self.not_offered("GetObjectTagging", "tags or lifecycle rules"))
    }

    /// The error of a request the store does not offer.
    fn not_offered(&self, operation: &'static str, what: &str) -> crate::Error {
        StoreError::new(
            StoreErrorKind::NotImplemented,
            operation,
            self.describe(),
            format!("this store has no {what}"),
        )
        .into()
    }
}

impl<T: ObjectStore + ?Sized> ObjectStoreExt for T {}
