//! The contract every object store keeps.

use std::sync::Arc;

use bytes::Bytes;
use fitsbak_core::checksum::{expected_object_checksum, of_part, same_checksum};
use fitsbak_core::config::ChecksumAlgorithm;
use fitsbak_core::error::StoreErrorKind;
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::lifecycle::{
    AbortIncomplete, LifecycleRule, RuleFilter, RuleStatus, Tag, Transition,
};
use fitsbak_core::model::{StorageClass, Tags};
use fitsbak_core::store::{ObjectStore, PutOptions};
use fitsbak_s3::LocalStore;
use fitsbak_s3::moto::MotoServer;
use futures::TryStreamExt;

use crate::unique_bucket;

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn read_all(
    store: &dyn ObjectStore,
    k: &ObjectKey,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let got = store.get(k, range).await.unwrap();
    let chunks: Vec<Bytes> = got.body.try_collect().await.unwrap();
    chunks.concat()
}

fn bytes(n: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

async fn put_head_get_tags_and_delete(store: &dyn ObjectStore) {
    let k = key("backups/raw/2024/S1.tar");
    assert_eq!(store.head(&k).await.unwrap(), None);
    let body = bytes(70_000, 1);
    let options = PutOptions {
        tags: tags(&[("archive", "fast"), ("backup", "deep-archive")]),
        metadata: [("session-id".to_string(), "S1".to_string())].into(),
        content_type: Some("application/x-tar".into()),
        ..PutOptions::default()
    };
    let checksum = of_part(ChecksumAlgorithm::Crc32c, &body);
    let put = store
        .put(&k, body.clone(), Some(checksum), &options)
        .await
        .unwrap();
    assert_eq!(
        put.etag,
        hex::encode(<md5::Md5 as md5::Digest>::digest(&body))
    );

    let head = store.head(&k).await.unwrap().expect("the object is there");
    assert_eq!(head.size, 70_000);
    assert_eq!(head.etag, put.etag);
    assert_eq!(head.storage_class, StorageClass::Standard);
    assert_eq!(
        head.metadata.get("session-id").map(String::as_str),
        Some("S1")
    );
    assert_eq!(
        head.checksum.as_ref().expect("a checksum").value,
        checksum.to_base64()
    );
    assert!(head.is_readable());

    assert_eq!(read_all(store, &k, None).await, body);
    assert_eq!(read_all(store, &k, Some(100..612)).await, body[100..612]);
    let ranged = store.get(&k, Some(1000..2000)).await.unwrap();
    assert_eq!(ranged.range, 1000..2000);
    assert_eq!(ranged.meta.size, 70_000);

    assert_eq!(store.get_tags(&k).await.unwrap(), options.tags);
    let new_tags = tags(&[("archive", "delayed")]);
    store.put_tags(&k, &new_tags).await.unwrap();
    assert_eq!(store.get_tags(&k).await.unwrap(), new_tags);

    let listed = store.list("backups/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, k.as_str());
    assert_eq!(listed[0].size, 70_000);
    assert!(store.list("backups/raw/2023/").await.unwrap().is_empty());

    store.delete(&k).await.unwrap();
    assert_eq!(store.head(&k).await.unwrap(), None);
    store.delete(&k).await.unwrap(); // deleting what is gone is fine
    let err = store.get(&k, None).await.unwrap_err();
    assert_eq!(err.store_kind(), Some(StoreErrorKind::NotFound), "{err}");
}

async fn multipart_uploads_complete_list_and_abort(store: &dyn ObjectStore) {
    let k = key("backups/raw/2024/M.tar");
    let options = PutOptions {
        storage_class: StorageClass::Standard,
        tags: tags(&[("archive", "fast")]),
        ..PutOptions::default()
    };
    let upload = store
        .create_multipart(&k, &options, Some("CRC32C"))
        .await
        .unwrap();
    let parts_data = [bytes(1 << 20, 2), bytes(1 << 20, 3), bytes(12_345, 4)];
    let mut receipts = Vec::new();
    let mut checksums = Vec::new();
    // Out of order, as concurrent uploads finish.
    for n in [2u32, 1, 3] {
        let data = parts_data[n as usize - 1].clone();
        let c = of_part(ChecksumAlgorithm::Crc32c, &data);
        receipts.push(store.put_part(&k, &upload, n, data, Some(c)).await.unwrap());
    }
    receipts.sort_by_key(|r| r.part_number);
    for d in &parts_data {
        checksums.push(of_part(ChecksumAlgorithm::Crc32c, d));
    }
    let listed = store.list_parts(&k, &upload).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        listed.iter().map(|p| p.size).sum::<u64>(),
        (2 << 20) + 12_345
    );
    let in_progress = store.list_multipart_uploads("backups/").await.unwrap();
    assert!(
        in_progress
            .iter()
            .any(|u| u.upload_id == upload && u.key == k.as_str())
    );

    let done = store
        .complete_multipart(&k, &upload, &receipts)
        .await
        .unwrap();
    let md5s: Vec<_> = parts_data
        .iter()
        .map(|d| of_part(ChecksumAlgorithm::Md5, d))
        .collect();
    assert_eq!(done.etag, expected_object_checksum(&md5s, true));
    let head = store.head(&k).await.unwrap().unwrap();
    assert_eq!(head.size, (2 << 20) + 12_345);
    assert_eq!(head.etag, done.etag);
    let reported = head.checksum.expect("a composite checksum").value;
    assert!(
        same_checksum(&expected_object_checksum(&checksums, true), &reported),
        "{reported}"
    );
    assert_eq!(store.get_tags(&k).await.unwrap(), options.tags);
    assert_eq!(read_all(store, &k, None).await, parts_data.concat());
    assert!(
        store
            .list_multipart_uploads("backups/")
            .await
            .unwrap()
            .is_empty()
    );

    // An aborted upload is gone; aborting twice is fine.
    let upload = store.create_multipart(&k, &options, None).await.unwrap();
    store
        .put_part(&k, &upload, 1, bytes(10, 5), None)
        .await
        .unwrap();
    store.abort_multipart(&k, &upload).await.unwrap();
    store.abort_multipart(&k, &upload).await.unwrap();
    assert!(store.list_multipart_uploads("").await.unwrap().is_empty());
    let err = store.list_parts(&k, &upload).await.unwrap_err();
    assert_eq!(
        err.store_kind(),
        Some(StoreErrorKind::NoSuchUpload),
        "{err}"
    );
    // S3 says NoSuchUpload; moto 5.2.5 answers HTTP 500. Either way the part is
    // refused.
    assert!(
        store
            .put_part(&k, &upload, 2, bytes(10, 6), None)
            .await
            .is_err()
    );
}

async fn lifecycle_rules_round_trip(store: &dyn ObjectStore) {
    assert!(store.lifecycle().await.unwrap().is_empty());
    let rules = vec![
        LifecycleRule {
            id: "fitsbak-archive-fast".into(),
            status: RuleStatus::Enabled,
            filter: RuleFilter {
                tag: Some(Tag {
                    key: "archive".into(),
                    value: "fast".into(),
                }),
                ..RuleFilter::default()
            },
            transitions: vec![Transition {
                days: 7,
                storage_class: StorageClass::DeepArchive,
            }],
            ..LifecycleRule::default()
        },
        LifecycleRule {
            id: "fitsbak-abort-incomplete".into(),
            status: RuleStatus::Enabled,
            filter: RuleFilter {
                prefix: Some("backups/".into()),
                ..RuleFilter::default()
            },
            abort_incomplete_multipart_upload: Some(AbortIncomplete {
                days_after_initiation: 7,
            }),
            ..LifecycleRule::default()
        },
    ];
    store.put_lifecycle(&rules).await.unwrap();
    assert_eq!(store.lifecycle().await.unwrap(), rules);
}

async fn conditional_writes_refuse_to_replace(store: &dyn ObjectStore) {
    let k = key("backups/database/catalog.db");
    let once = PutOptions {
        if_none_match: true,
        ..PutOptions::default()
    };
    store.put(&k, bytes(10, 7), None, &once).await.unwrap();
    let err = store.put(&k, bytes(10, 8), None, &once).await.unwrap_err();
    assert_eq!(
        err.store_kind(),
        Some(StoreErrorKind::PreconditionFailed),
        "{err}"
    );
    assert_eq!(read_all(store, &k, None).await, bytes(10, 7));
}

async fn run_contract(store: Arc<dyn ObjectStore>) {
    put_head_get_tags_and_delete(store.as_ref()).await;
    multipart_uploads_complete_list_and_abort(store.as_ref()).await;
    lifecycle_rules_round_trip(store.as_ref()).await;
    conditional_writes_refuse_to_replace(store.as_ref()).await;
}

#[tokio::test]
async fn the_local_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    run_contract(Arc::new(LocalStore::new(dir.path().join("store")))).await;
}

#[tokio::test]
async fn s3_on_moto_keeps_the_contract() {
    let server = MotoServer::shared();
    let store = server.bucket(&unique_bucket("contract")).await;
    run_contract(Arc::new(store)).await;
}
