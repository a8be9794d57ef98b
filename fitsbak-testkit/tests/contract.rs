//! One contract suite, every store configuration: the in-memory store (with and
//! without versions), the local directory, S3 on moto_server (with and without
//! versioning), and the retry and bandwidth layers over them.

use std::sync::Arc;

use fitsbak_core::config::RetrySettings;
use fitsbak_core::store::ObjectStore;
use fitsbak_core::store::layer::{retrying, throttled};
use fitsbak_s3::LocalStore;
use fitsbak_testkit::moto::MotoServer;
use fitsbak_testkit::{MemoryStore, contract, unique_bucket};

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    contract::run_all(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_versioned_memory_store_keeps_the_contract() {
    contract::run_all(&MemoryStore::versioned()).await;
}

#[tokio::test]
async fn the_local_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract::run_all(&LocalStore::new(dir.path().join("store"))).await;
}

#[tokio::test]
async fn s3_on_moto_keeps_the_contract() {
    let store = MotoServer::shared()
        .bucket(&unique_bucket("contract"))
        .await;
    contract::run_all(&store).await;
}

#[tokio::test]
async fn every_store_but_moto_checks_a_claimed_crc32c() {
    assert!(contract::checks_a_claimed_crc32c(&MemoryStore::new()).await);
    let dir = tempfile::tempdir().unwrap();
    assert!(contract::checks_a_claimed_crc32c(&LocalStore::new(dir.path().join("s"))).await);
    // A known gap of moto 5.2.5, pinned so that a change is noticed: it reports
    // the CRC32C a PUT claims, whatever the bytes.
    let moto = MotoServer::shared().bucket(&unique_bucket("claimed")).await;
    assert!(!contract::checks_a_claimed_crc32c(&moto).await);
}

#[tokio::test]
async fn a_versioned_s3_bucket_keeps_the_contract() {
    let server = MotoServer::shared();
    let store = server.bucket(&unique_bucket("contract-versioned")).await;
    server.enable_versioning(&store).await;
    contract::run_all(&store).await;
}

#[tokio::test]
async fn the_retry_layer_keeps_the_contract() {
    let inner: Arc<dyn ObjectStore> = Arc::new(MemoryStore::versioned());
    let store = retrying(inner, RetrySettings::default(), Default::default());
    contract::run_all(&store).await;
}

#[tokio::test]
async fn the_bandwidth_layer_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(dir.path().join("store")));
    let store = throttled(inner, 10_000.0);
    contract::run_all(&store).await;
}
