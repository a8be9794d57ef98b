//! Behaviour added to any object store by wrapping it: retries with the config's
//! backoff, and an upload bandwidth limit. The transports stay simple, and the same
//! wrappers serve S3 and the local directory alike.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use crate::config::RetrySettings;
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::lifecycle::LifecycleRule;
use crate::model::Tags;
use crate::store::{
    BucketFacts, Checksum, GetResult, MultipartId, MultipartUploadInfo, ObjectMeta, ObjectStore,
    ObjectSummary, ObjectVersion, PartReceipt, PutOptions, PutResult, RestoreTier,
};

/// True for failures worth another attempt: throttling, 5xx, network trouble.
pub fn is_transient(err: &Error) -> bool {
    matches!(
        err.store_kind(),
        Some(StoreErrorKind::Throttled | StoreErrorKind::Network)
    )
}

/// Retries transient failures of every request, waiting as `retry_settings` says
/// (initial backoff, multiplied each time, capped), at most `max_retries` times.
#[derive(Debug)]
pub struct RetryingStore {
    inner: Arc<dyn ObjectStore>,
    settings: RetrySettings,
    retries: Arc<AtomicU64>,
}

impl RetryingStore {
    /// Wraps `inner`; every retry is counted in `retries`.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        settings: RetrySettings,
        retries: Arc<AtomicU64>,
    ) -> Self {
        Self {
            inner,
            settings,
            retries,
        }
    }

    /// Retries made so far, over all requests.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    async fn retry<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Err(e) if is_transient(&e) && retry < self.settings.max_retries => {
                    retry += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = self.settings.backoff(retry);
                    tracing::info!(
                        "{what} failed ({e}); retry {retry} of {} in {:.1}s",
                        self.settings.max_retries,
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl ObjectStore for RetryingStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn bucket(&self) -> String {
        self.inner.bucket()
    }
    fn region(&self) -> String {
        self.inner.region()
    }
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        checksum: Option<Checksum>,
        options: &PutOptions,
    ) -> Result<PutResult> {
        self.retry("PutObject", || {
            self.inner.put(key, body.clone(), checksum, options)
        })
        .await
    }
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        algorithm: Option<&'static str>,
    ) -> Result<MultipartId> {
        self.retry("CreateMultipartUpload", || {
            self.inner.create_multipart(key, options, algorithm)
        })
        .await
    }
    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
        checksum: Option<Checksum>,
    ) -> Result<PartReceipt> {
        self.retry("UploadPart", || {
            self.inner
                .put_part(key, upload, part_number, body.clone(), checksum)
        })
        .await
    }
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        self.retry("CompleteMultipartUpload", || {
            self.inner.complete_multipart(key, upload, parts)
        })
        .await
    }
    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        self.retry("AbortMultipartUpload", || {
            self.inner.abort_multipart(key, upload)
        })
        .await
    }
    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        self.retry("ListParts", || self.inner.list_parts(key, upload))
            .await
    }
    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        self.retry("ListMultipartUploads", || {
            self.inner.list_multipart_uploads(prefix)
        })
        .await
    }
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        self.retry("HeadObject", || self.inner.head(key)).await
    }
    async fn get(&self, key: &ObjectKey, range: Option<Range<u64>>) -> Result<GetResult> {
        self.retry("GetObject", || self.inner.get(key, range.clone()))
            .await
    }
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags> {
        self.retry("GetObjectTagging", || self.inner.get_tags(key))
            .await
    }
    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()> {
        self.retry("PutObjectTagging", || self.inner.put_tags(key, tags))
            .await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        self.retry("ListObjectsV2", || self.inner.list(prefix))
            .await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.retry("DeleteObject", || self.inner.delete(key)).await
    }
    async fn get_version(&self, key: &ObjectKey, version_id: &str) -> Result<GetResult> {
        self.retry("GetObject", || self.inner.get_version(key, version_id))
            .await
    }
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        self.retry("ListObjectVersions", || self.inner.list_versions(prefix))
            .await
    }
    async fn restore(
        &self,
        key: &ObjectKey,
        version_id: Option<String>,
        days: u32,
        tier: RestoreTier,
    ) -> Result<()> {
        self.retry("RestoreObject", || {
            self.inner.restore(key, version_id.clone(), days, tier)
        })
        .await
    }
    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>> {
        self.retry("GetBucketLifecycleConfiguration", || self.inner.lifecycle())
            .await
    }
    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        self.retry("PutBucketLifecycleConfiguration", || {
            self.inner.put_lifecycle(rules)
        })
        .await
    }
    async fn bucket_facts(&self) -> Result<BucketFacts> {
        self.retry("GetBucket*", || self.inner.bucket_facts()).await
    }
}

/// Limits the average upload rate: every PUT and part waits for its share of the
/// bandwidth before it is sent (reads and listings are not limited).
#[derive(Debug)]
pub struct ThrottledStore {
    inner: Arc<dyn ObjectStore>,
    bytes_per_second: f64,
    next_free: tokio::sync::Mutex<Option<Instant>>,
}

impl ThrottledStore {
    /// Wraps `inner`, limited to `megabits_per_second`.
    pub fn new(inner: Arc<dyn ObjectStore>, megabits_per_second: f64) -> Self {
        Self {
            inner,
            bytes_per_second: megabits_per_second * 1e6 / 8.0,
            next_free: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits until `bytes` may be sent.
    async fn take(&self, bytes: usize) {
        let start = {
            let mut next = self.next_free.lock().await;
            let now = Instant::now();
            let start = next.map_or(now, |t| t.max(now));
            *next = Some(start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second));
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }
}

#[async_trait]
impl ObjectStore for ThrottledStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn bucket(&self) -> String {
        self.inner.bucket()
    }
    fn region(&self) -> String {
        self.inner.region()
    }
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        checksum: Option<Checksum>,
        options: &PutOptions,
    ) -> Result<PutResult> {
        self.take(body.len()).await;
        self.inner.put(key, body, checksum, options).await
    }
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        algorithm: Option<&'static str>,
    ) -> Result<MultipartId> {
        self.inner.create_multipart(key, options, algorithm).await
    }
    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
        checksum: Option<Checksum>,
    ) -> Result<PartReceipt> {
        self.take(body.len()).await;
        self.inner
            .put_part(key, upload, part_number, body, checksum)
            .await
    }
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        self.inner.complete_multipart(key, upload, parts).await
    }
    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        self.inner.abort_multipart(key, upload).await
    }
    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        self.inner.list_parts(key, upload).await
    }
    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        self.inner.list_multipart_uploads(prefix).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        self.inner.head(key).await
    }
    async fn get(&self, key: &ObjectKey, range: Option<Range<u64>>) -> Result<GetResult> {
        self.inner.get(key, range).await
    }
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags> {
        self.inner.get_tags(key).await
    }
    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()> {
        self.inner.put_tags(key, tags).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.inner.delete(key).await
    }
    async fn get_version(&self, key: &ObjectKey, version_id: &str) -> Result<GetResult> {
        self.inner.get_version(key, version_id).await
    }
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        self.inner.list_versions(prefix).await
    }
    async fn restore(
        &self,
        key: &ObjectKey,
        version_id: Option<String>,
        days: u32,
        tier: RestoreTier,
    ) -> Result<()> {
        self.inner.restore(key, version_id, days, tier).await
    }
    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>> {
        self.inner.lifecycle().await
    }
    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        self.inner.put_lifecycle(rules).await
    }
    async fn bucket_facts(&self) -> Result<BucketFacts> {
        self.inner.bucket_facts().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::store::MockObjectStore;

    fn quick() -> RetrySettings {
        RetrySettings {
            max_retries: 3,
            initial_backoff_seconds: 0.01,
            max_backoff_seconds: 0.02,
            backoff_multiplier: 2.0,
            request_timeout_seconds: 1.0,
        }
    }

    fn failure(kind: StoreErrorKind) -> Error {
        StoreError::new(kind, "UploadPart", "s3://b/k", "boom").into()
    }

    #[tokio::test]
    async fn transient_failures_are_retried_then_given_up() {
        let mut mock = MockObjectStore::new();
        let mut calls = 0;
        mock.expect_put_part()
            .times(3)
            .returning(move |_, _, n, _, _| {
                calls += 1;
                if calls < 3 {
                    Err(failure(StoreErrorKind::Throttled))
                } else {
                    Ok(PartReceipt {
                        part_number: n,
                        etag: "e".into(),
                        size: 1,
                        checksum: None,
                    })
                }
            });
        let store = RetryingStore::new(Arc::new(mock), quick(), Default::default());
        let key = ObjectKey::new("k").unwrap();
        let id = MultipartId("u".into());
        let receipt = store
            .put_part(&key, &id, 7, Bytes::from_static(b"x"), None)
            .await
            .unwrap();
        assert_eq!(receipt.part_number, 7);
        assert_eq!(store.retries(), 2);

        let mut mock = MockObjectStore::new();
        mock.expect_head()
            .times(4)
            .returning(|_| Err(failure(StoreErrorKind::Network)));
        let store = RetryingStore::new(Arc::new(mock), quick(), Default::default());
        let err = store.head(&key).await.unwrap_err();
        assert_eq!(err.store_kind(), Some(StoreErrorKind::Network));
        assert_eq!(store.retries(), 3, "max_retries after the first attempt");
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let mut mock = MockObjectStore::new();
        mock.expect_head()
            .times(1)
            .returning(|_| Err(failure(StoreErrorKind::NoSuchBucket)));
        let store = RetryingStore::new(Arc::new(mock), quick(), Default::default());
        let err = store.head(&ObjectKey::new("k").unwrap()).await.unwrap_err();
        assert_eq!(err.store_kind(), Some(StoreErrorKind::NoSuchBucket));
        assert_eq!(store.retries(), 0);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = RetrySettings::default();
        assert_eq!(s.backoff(1), Duration::from_secs(2));
        assert_eq!(s.backoff(2), Duration::from_secs(4));
        assert_eq!(s.backoff(3), Duration::from_secs(8));
        assert_eq!(s.backoff(10), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn the_bandwidth_limit_spaces_uploads_out() {
        let mut mock = MockObjectStore::new();
        mock.expect_put().returning(|_, _, _, _| {
            Ok(PutResult {
                etag: "e".into(),
                version_id: None,
                checksum: None,
            })
        });
        // 8 Mbit/s is 1 MB/s: three 500 kB bodies take a second after the first.
        let store = ThrottledStore::new(Arc::new(mock), 8.0);
        let key = ObjectKey::new("k").unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            store
                .put(
                    &key,
                    Bytes::from(vec![0u8; 500_000]),
                    None,
                    &PutOptions::default(),
                )
                .await
                .unwrap();
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert!((0.99..1.01).contains(&elapsed), "{elapsed}");
    }
}
