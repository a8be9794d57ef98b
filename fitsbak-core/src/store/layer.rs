//! Behaviour added to any object store by wrapping it: retries with the config's
//! backoff, and an upload bandwidth limit. The transports stay simple, and the same
//! wrappers serve S3, the local directory and the in-memory store alike.
//!
//! A [`Layer`] says what happens around one request; [`Layered`] is the one
//! wrapper that forwards every method of every store trait through its layer, so a
//! new behaviour is one small `Layer`, not another copy of the forwarding.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    BucketAdmin, BucketFacts, ChecksumKind, ColdStorage, DeleteOptions, GetOptions, GetResult,
    Location, MultipartId, MultipartStore, MultipartUploadInfo, ObjectMeta, ObjectStore,
    ObjectStoreExt, ObjectSummary, ObjectVersion, PartReceipt, Payload, PutOptions, PutResult,
    RestoreRequest,
};
use crate::config::RetrySettings;
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::model::Tags;
use crate::rules::LifecycleRule;

/// One request, as a layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The S3 operation: `PutObject`, `UploadPart`, `HeadObject`, ...
    pub operation: &'static str,
    /// Bytes the request sends (a PUT's or a part's body; 0 for the others).
    pub upload_bytes: u64,
}

impl Call {
    /// A request that sends no body.
    pub fn new(operation: &'static str) -> Self {
        Self {
            operation,
            upload_bytes: 0,
        }
    }

    /// A request that sends `bytes`.
    pub fn sending(operation: &'static str, bytes: usize) -> Self {
        Self {
            operation,
            upload_bytes: bytes as u64,
        }
    }
}

/// What happens around each request of a wrapped store.
pub trait Layer: Send + Sync + std::fmt::Debug + 'static {
    /// Runs `attempt` (as often as the layer decides) and returns what it gave.
    fn around<T, F, Fut>(&self, call: Call, attempt: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send;
}

/// A store whose every request goes through `layer`.
#[derive(Debug)]
pub struct Layered<L> {
    inner: Arc<dyn ObjectStore>,
    layer: L,
}

impl<L: Layer> Layered<L> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, layer: L) -> Self {
        Self { inner, layer }
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }
}

#[async_trait]
impl<L: Layer> ObjectStore for Layered<L> {
    fn location(&self) -> &Location {
        self.inner.location()
    }
    async fn put_opts(
        &self,
        key: &ObjectKey,
        payload: Payload,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let call = Call::sending("PutObject", payload.len());
        self.layer
            .around(call, || self.inner.put_opts(key, payload.clone(), options))
            .await
    }
    async fn get_opts(&self, key: &ObjectKey, options: &GetOptions) -> Result<GetResult> {
        self.layer
            .around(Call::new("GetObject"), || self.inner.get_opts(key, options))
            .await
    }
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        self.layer
            .around(Call::new("HeadObject"), || self.inner.head(key))
            .await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        self.layer
            .around(Call::new("ListObjectsV2"), || self.inner.list(prefix))
            .await
    }
    async fn delete_opts(&self, key: &ObjectKey, options: &DeleteOptions) -> Result<()> {
        self.layer
            .around(Call::new("DeleteObject"), || {
                self.inner.delete_opts(key, options)
            })
            .await
    }
    fn multipart(&self) -> Option<&dyn MultipartStore> {
        self.inner.multipart().map(|_| self as &dyn MultipartStore)
    }
    fn cold_storage(&self) -> Option<&dyn ColdStorage> {
        self.inner.cold_storage().map(|_| self as &dyn ColdStorage)
    }
    fn admin(&self) -> Option<&dyn BucketAdmin> {
        self.inner.admin().map(|_| self as &dyn BucketAdmin)
    }
    fn known_capabilities(&self) -> Option<super::Capabilities> {
        self.inner.known_capabilities()
    }
    fn transport_notes(&self) -> Vec<String> {
        self.inner.transport_notes()
    }
}

#[async_trait]
impl<L: Layer> MultipartStore for Layered<L> {
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        checksum: Option<ChecksumKind>,
    ) -> Result<MultipartId> {
        let inner = self.inner.try_multipart()?;
        let call = Call::new("CreateMultipartUpload");
        self.layer
            .around(call, || inner.create_multipart(key, options, checksum))
            .await
    }
    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        payload: Payload,
    ) -> Result<PartReceipt> {
        let inner = self.inner.try_multipart()?;
        let call = Call::sending("UploadPart", payload.len());
        self.layer
            .around(call, || {
                inner.put_part(key, upload, part_number, payload.clone())
            })
            .await
    }
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        let inner = self.inner.try_multipart()?;
        let call = Call::new("CompleteMultipartUpload");
        self.layer
            .around(call, || inner.complete_multipart(key, upload, parts))
            .await
    }
    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        let inner = self.inner.try_multipart()?;
        let call = Call::new("AbortMultipartUpload");
        self.layer
            .around(call, || inner.abort_multipart(key, upload))
            .await
    }
    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        let inner = self.inner.try_multipart()?;
        self.layer
            .around(Call::new("ListParts"), || inner.list_parts(key, upload))
            .await
    }
    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        let inner = self.inner.try_multipart()?;
        let call = Call::new("ListMultipartUploads");
        self.layer
            .around(call, || inner.list_multipart_uploads(prefix))
            .await
    }
}

#[async_trait]
impl<L: Layer> ColdStorage for Layered<L> {
    async fn restore(&self, key: &ObjectKey, request: &RestoreRequest) -> Result<()> {
        let inner = self.inner.try_cold_storage()?;
        self.layer
            .around(Call::new("RestoreObject"), || inner.restore(key, request))
            .await
    }
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        let inner = self.inner.try_cold_storage()?;
        let call = Call::new("ListObjectVersions");
        self.layer
            .around(call, || inner.list_versions(prefix))
            .await
    }
}

#[async_trait]
impl<L: Layer> BucketAdmin for Layered<L> {
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags> {
        let inner = self.inner.try_admin()?;
        self.layer
            .around(Call::new("GetObjectTagging"), || inner.get_tags(key))
            .await
    }
    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()> {
        let inner = self.inner.try_admin()?;
        self.layer
            .around(Call::new("PutObjectTagging"), || inner.put_tags(key, tags))
            .await
    }
    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>> {
        let inner = self.inner.try_admin()?;
        let call = Call::new("GetBucketLifecycleConfiguration");
        self.layer.around(call, || inner.lifecycle()).await
    }
    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        let inner = self.inner.try_admin()?;
        let call = Call::new("PutBucketLifecycleConfiguration");
        self.layer.around(call, || inner.put_lifecycle(rules)).await
    }
    async fn facts(&self) -> Result<BucketFacts> {
        let inner = self.inner.try_admin()?;
        self.layer
            .around(Call::new("GetBucket*"), || inner.facts())
            .await
    }
}

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
pub struct Retry {
    settings: RetrySettings,
    retries: Arc<AtomicU64>,
}

impl Retry {
    /// Retries by `settings`, counting every retry in `retries`.
    pub fn new(settings: RetrySettings, retries: Arc<AtomicU64>) -> Self {
        Self { settings, retries }
    }

    /// Retries made so far, over all requests.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

impl Layer for Retry {
    async fn around<T, F, Fut>(&self, call: Call, mut attempt: F) -> Result<T>
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Err(e) if is_transient(&e) && retry < self.settings.max_retries => {
                    retry += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = self.settings.backoff(retry);
                    tracing::info!(
                        "{} failed ({e}); retry {retry} of {} in {:.1}s",
                        call.operation,
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

/// Limits the upload rate: every PUT and part waits for its share of the bandwidth
/// before it is sent. A body of `n` bytes goes `n / rate` after the one sent before
/// it, or after it was asked for when the line was idle, so what has been sent never
/// runs ahead of the rate, not even at the start of a run (reads and listings are not
/// limited).
#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: f64,
    last_sent: tokio::sync::Mutex<Option<Instant>>,
}

impl Throttle {
    /// At most `megabits_per_second`.
    pub fn new(megabits_per_second: f64) -> Self {
        Self {
            bytes_per_second: megabits_per_second * 1e6 / 8.0,
            last_sent: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits until `bytes` may be sent.
    async fn take(&self, bytes: u64) {
        let share = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
        let send_at = {
            let mut last = self.last_sent.lock().await;
            let now = Instant::now();
            let at = last.map_or(now, |t| t.max(now)) + share;
            *last = Some(at);
            at
        };
        tokio::time::sleep_until(send_at.into()).await;
    }
}

impl Layer for Throttle {
    async fn around<T, F, Fut>(&self, call: Call, mut attempt: F) -> Result<T>
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        if call.upload_bytes > 0 {
            self.take(call.upload_bytes).await;
        }
        attempt().await
    }
}

/// A store that retries transient failures (see [`Retry`]).
pub type RetryingStore = Layered<Retry>;

/// A store limited to an average upload rate (see [`Throttle`]).
pub type ThrottledStore = Layered<Throttle>;

/// `inner` with retries by `settings`, counted in `retries`.
pub fn retrying(
    inner: Arc<dyn ObjectStore>,
    settings: RetrySettings,
    retries: Arc<AtomicU64>,
) -> RetryingStore {
    Layered::new(inner, Retry::new(settings, retries))
}

/// `inner` limited to `megabits_per_second` of uploads.
pub fn throttled(inner: Arc<dyn ObjectStore>, megabits_per_second: f64) -> ThrottledStore {
    Layered::new(inner, Throttle::new(megabits_per_second))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use bytes::Bytes;

    use super::*;
    use crate::store::memory::{Fault, MemoryStore};

    fn quick() -> RetrySettings {
        RetrySettings {
            max_retries: 3,
            initial_backoff_seconds: 0.01,
            max_backoff_seconds: 0.02,
            backoff_multiplier: 2.0,
            request_timeout_seconds: 1.0,
        }
    }

    /// A memory store whose requests of `operation` fail with `kind` the first
    /// `failures` times.
    fn failing(operation: &'static str, kind: StoreErrorKind, failures: u32) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::new());
        let seen = AtomicU32::new(0);
        store.set_faults(move |call| {
            (call.operation == operation && seen.fetch_add(1, Ordering::Relaxed) < failures)
                .then(|| Fault::fail(kind, "boom"))
        });
        store
    }

    #[tokio::test]
    async fn transient_failures_are_retried_then_given_up() {
        let memory = failing("UploadPart", StoreErrorKind::Throttled, 2);
        let store = retrying(memory.clone(), quick(), Default::default());
        let key = ObjectKey::new("k").unwrap();
        let upload = store
            .create_multipart(&key, &PutOptions::default(), None)
            .await
            .unwrap();
        let receipt = store
            .put_part(
                &key,
                &upload,
                7,
                Payload::new(Bytes::from_static(b"x"), None),
            )
            .await
            .unwrap();
        assert_eq!(receipt.part_number, 7);
        assert_eq!(store.layer().retries(), 2);

        let memory = failing("HeadObject", StoreErrorKind::Network, 100);
        let store = retrying(memory, quick(), Default::default());
        let err = store.head(&key).await.unwrap_err();
        assert_eq!(err.store_kind(), Some(StoreErrorKind::Network));
        assert_eq!(
            store.layer().retries(),
            3,
            "max_retries after the first attempt"
        );
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let memory = failing("HeadObject", StoreErrorKind::NoSuchBucket, 100);
        let store = retrying(memory, quick(), Default::default());
        let err = store.head(&ObjectKey::new("k").unwrap()).await.unwrap_err();
        assert_eq!(err.store_kind(), Some(StoreErrorKind::NoSuchBucket));
        assert_eq!(store.layer().retries(), 0);
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
        // 8 Mbit/s is 1 MB/s: each 500 kB body waits half a second for its share.
        let store = throttled(Arc::new(MemoryStore::new()), 8.0);
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
        assert!((1.49..1.51).contains(&elapsed), "{elapsed}");
    }

    /// A progress bar's rate is what has been sent over the time since the start: with
    /// four parts in flight at once, that never runs ahead of the limit, not even over
    /// the first parts (a first part sent at once showed 1.4 x the cap early on).
    #[tokio::test(start_paused = true)]
    async fn what_has_been_sent_never_runs_ahead_of_the_limit() {
        const PART: u64 = 1_000_000;
        let store = Arc::new(throttled(Arc::new(MemoryStore::new()), 8.0));
        let key = ObjectKey::new("k").unwrap();
        let upload = store
            .create_multipart(&key, &PutOptions::default(), None)
            .await
            .unwrap();
        let start = tokio::time::Instant::now();
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let lanes: Vec<_> = (0..4u32)
            .map(|lane| {
                let (store, key, upload, sent) =
                    (store.clone(), key.clone(), upload.clone(), sent.clone());
                tokio::spawn(async move {
                    for n in 0..3 {
                        let body = Bytes::from(vec![0u8; PART as usize]);
                        store
                            .put_part(&key, &upload, 1 + lane * 3 + n, Payload::new(body, None))
                            .await
                            .unwrap();
                        sent.lock().unwrap().push(start.elapsed().as_secs_f64());
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await.unwrap();
        }
        let mut sent = sent.lock().unwrap().clone();
        sent.sort_by(f64::total_cmp);
        assert_eq!(sent.len(), 12);
        for (k, at) in sent.iter().enumerate() {
            let bytes = (k as u64 + 1) * PART;
            assert!(
                bytes as f64 <= 1e6 * at + 1.0,
                "{bytes} bytes sent {at} s after the start"
            );
        }
        assert!(
            (11.99..12.01).contains(sent.last().unwrap()),
            "and the limit is used in full: {sent:?}"
        );
    }

    #[tokio::test]
    async fn a_layer_keeps_what_the_store_offers() {
        let store = retrying(Arc::new(MemoryStore::new()), quick(), Default::default());
        assert!(store.multipart().is_some());
        assert!(store.cold_storage().is_some());
        assert!(store.admin().is_some());
    }
}
