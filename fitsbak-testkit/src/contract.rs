//! The contract every object store keeps, as functions over `&dyn ObjectStore`
//! (after object_store's `integration.rs`). The local directory, S3 on moto, the
//! in-memory store and each wrapper layer run the same suite, so the engine can
//! rely on one behaviour whatever the target.
//!
//! Each function starts from an empty store (or bucket) and uses its own keys.

use bytes::Bytes;
use fitsbak_core::checksum::{expected_object_checksum, of_part, same_checksum};
use fitsbak_core::config::ChecksumAlgorithm;
use fitsbak_core::error::StoreErrorKind;
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::{StorageClass, Tags};
use fitsbak_core::rules::{
    AbortIncomplete, LifecycleRule, RuleFilter, RuleStatus, Tag, Transition,
};
use fitsbak_core::store::{
    ChecksumKind, DeleteOptions, GetOptions, ObjectStore, ObjectStoreExt, Payload, PutOptions,
    RestoreRequest, RestoreTier, Versioning,
};
use futures::TryStreamExt;

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `n` bytes of a pattern that differs with `seed`.
pub fn bytes(n: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

/// The bytes a GET of `range` returns.
pub async fn read_all(
    store: &dyn ObjectStore,
    k: &ObjectKey,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let got = store.get(k, range).await.unwrap();
    let chunks: Vec<Bytes> = got.body.try_collect().await.unwrap();
    chunks.concat()
}

/// Runs every part of the contract.
pub async fn run_all(store: &dyn ObjectStore) {
    put_head_get_tags_and_delete(store).await;
    ranges_are_cut_at_the_end_and_may_be_empty(store).await;
    multipart_uploads_complete_list_and_abort(store).await;
    lifecycle_rules_round_trip(store).await;
    conditional_writes_refuse_to_replace(store).await;
    bad_checksums_are_refused(store).await;
    archived_objects_are_read_after_a_restore(store).await;
    versions_are_listed_and_read(store).await;
}

/// PUT, HEAD, GET, tags, listing, DELETE.
pub async fn put_head_get_tags_and_delete(store: &dyn ObjectStore) {
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
    let reported = head.checksum.as_ref().expect("a checksum");
    assert_eq!(reported.kind, ChecksumKind::Crc32c);
    assert_eq!(reported.value, checksum.to_base64());
    assert!(head.is_readable());

    assert_eq!(read_all(store, &k, None).await, body);
    let admin = store.try_admin().unwrap();
    assert_eq!(admin.get_tags(&k).await.unwrap(), options.tags);
    let new_tags = tags(&[("archive", "delayed")]);
    admin.put_tags(&k, &new_tags).await.unwrap();
    assert_eq!(admin.get_tags(&k).await.unwrap(), new_tags);

    let listed = store.list("backups/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, k.as_str());
    assert_eq!(listed[0].size, 70_000);
    assert_eq!(listed[0].etag.as_deref(), Some(put.etag.as_str()));
    assert!(store.list("backups/raw/2023/").await.unwrap().is_empty());

    store.delete(&k).await.unwrap();
    assert_eq!(store.head(&k).await.unwrap(), None);
    store.delete(&k).await.unwrap(); // deleting what is gone is fine
    let err = store.get(&k, None).await.unwrap_err();
    assert_eq!(err.store_kind(), Some(StoreErrorKind::NotFound), "{err}");
    let err = admin.get_tags(&k).await.unwrap_err();
    assert_eq!(err.store_kind(), Some(StoreErrorKind::NotFound), "{err}");
}

/// Ranged GETs: inside, empty, past the end.
pub async fn ranges_are_cut_at_the_end_and_may_be_empty(store: &dyn ObjectStore) {
    let k = key("backups/ranges/r.bin");
    let body = bytes(5000, 9);
    store
        .put(&k, body.clone(), None, &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(read_all(store, &k, Some(100..612)).await, body[100..612]);
    let ranged = store.get(&k, Some(1000..2000)).await.unwrap();
    assert_eq!(ranged.range, 1000..2000);
    assert_eq!(ranged.meta.size, 5000, "the size is the whole object's");

    let empty = store.get(&k, Some(300..300)).await.unwrap();
    assert_eq!(empty.range, 300..300);
    let chunks: Vec<Bytes> = empty.body.try_collect().await.unwrap();
    assert!(chunks.concat().is_empty(), "an empty range reads nothing");

    let tail = store.get(&k, Some(4990..9000)).await.unwrap();
    assert_eq!(tail.range, 4990..5000, "a range past the end is cut");
    let chunks: Vec<Bytes> = tail.body.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), body[4990..]);

    let err = store.get(&k, Some(6000..7000)).await.unwrap_err();
    assert_eq!(
        err.store_kind(),
        Some(StoreErrorKind::InvalidRequest),
        "a range that starts past the end is refused: {err}"
    );
    let missing = key("backups/ranges/none.bin");
    let err = store.get(&missing, Some(0..10)).await.unwrap_err();
    assert_eq!(err.store_kind(), Some(StoreErrorKind::NotFound), "{err}");
    store.delete(&k).await.unwrap();
}

/// Create, parts out of order, list parts and uploads, complete; abort.
pub async fn multipart_uploads_complete_list_and_abort(store: &dyn ObjectStore) {
    let multipart = store.try_multipart().unwrap();
    let k = key("backups/raw/2024/M.tar");
    let options = PutOptions {
        storage_class: StorageClass::Standard,
        tags: tags(&[("archive", "fast")]),
        ..PutOptions::default()
    };
    let upload = multipart
        .create_multipart(&k, &options, Some(ChecksumKind::Crc32c))
        .await
        .unwrap();
    let parts_data = [bytes(1 << 20, 2), bytes(1 << 20, 3), bytes(12_345, 4)];
    let mut receipts = Vec::new();
    // Out of order, as concurrent uploads finish.
    for n in [2u32, 1, 3] {
        let data = parts_data[n as usize - 1].clone();
        let c = of_part(ChecksumAlgorithm::Crc32c, &data);
        receipts.push(
            multipart
                .put_part(&k, &upload, n, Payload::new(data, Some(c)))
                .await
                .unwrap(),
        );
    }
    receipts.sort_by_key(|r| r.part_number);
    let checksums: Vec<_> = parts_data
        .iter()
        .map(|d| of_part(ChecksumAlgorithm::Crc32c, d))
        .collect();
    let listed = multipart.list_parts(&k, &upload).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        listed.iter().map(|p| p.size).sum::<u64>(),
        (2 << 20) + 12_345
    );
    let in_progress = multipart.list_multipart_uploads("backups/").await.unwrap();
    assert!(
        in_progress
            .iter()
            .any(|u| u.upload_id == upload && u.key == k.as_str())
    );

    let done = multipart
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
    assert_eq!(
        store.try_admin().unwrap().get_tags(&k).await.unwrap(),
        options.tags
    );
    assert_eq!(read_all(store, &k, None).await, parts_data.concat());
    assert!(
        multipart
            .list_multipart_uploads("backups/")
            .await
            .unwrap()
            .is_empty()
    );

    // An aborted upload is gone; aborting twice is fine.
    let upload = multipart
        .create_multipart(&k, &options, None)
        .await
        .unwrap();
    multipart
        .put_part(&k, &upload, 1, Payload::new(bytes(10, 5), None))
        .await
        .unwrap();
    multipart.abort_multipart(&k, &upload).await.unwrap();
    multipart.abort_multipart(&k, &upload).await.unwrap();
    assert!(
        multipart
            .list_multipart_uploads("")
            .await
            .unwrap()
            .is_empty()
    );
    let err = multipart.list_parts(&k, &upload).await.unwrap_err();
    assert_eq!(
        err.store_kind(),
        Some(StoreErrorKind::NoSuchUpload),
        "{err}"
    );
    // S3 says NoSuchUpload; moto 5.2.5 answers HTTP 500. Either way the part is
    // refused.
    assert!(
        multipart
            .put_part(&k, &upload, 2, Payload::new(bytes(10, 6), None))
            .await
            .is_err()
    );
    store.delete(&k).await.unwrap();
}

/// Lifecycle rules go in and come back as they were.
pub async fn lifecycle_rules_round_trip(store: &dyn ObjectStore) {
    let admin = store.try_admin().unwrap();
    assert!(admin.lifecycle().await.unwrap().is_empty());
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
    admin.put_lifecycle(&rules).await.unwrap();
    assert_eq!(admin.lifecycle().await.unwrap(), rules);
    admin.put_lifecycle(&[]).await.unwrap();
    assert!(admin.lifecycle().await.unwrap().is_empty());
}

/// `If-None-Match: *` refuses to replace an object.
pub async fn conditional_writes_refuse_to_replace(store: &dyn ObjectStore) {
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
    store.delete(&k).await.unwrap();
}

/// A body whose Content-MD5 does not match is refused, or at least not vouched
/// for: the ETag is the MD5 of the bytes stored, so the check after an upload finds
/// the mismatch; the same for a part.
/// (S3 and Ceph refuse a wrong Content-MD5; moto 5.2.5 checks neither header.)
pub async fn bad_checksums_are_refused(store: &dyn ObjectStore) {
    let k = key("backups/bad/b.bin");
    let body = bytes(100, 1);
    let wrong_md5 = of_part(ChecksumAlgorithm::Md5, b"other bytes");
    match store
        .put(&k, body.clone(), Some(wrong_md5), &PutOptions::default())
        .await
    {
        Err(err) => {
            assert_eq!(err.store_kind(), Some(StoreErrorKind::Integrity), "{err}");
            assert_eq!(store.head(&k).await.unwrap(), None, "nothing was stored");
        }
        Ok(put) => assert_ne!(
            put.etag,
            wrong_md5.to_hex(),
            "the claimed MD5 is not vouched for"
        ),
    }
    store.delete(&k).await.unwrap();

    let multipart = store.try_multipart().unwrap();
    let upload = multipart
        .create_multipart(&k, &PutOptions::default(), None)
        .await
        .unwrap();
    match multipart
        .put_part(&k, &upload, 1, Payload::new(bytes(100, 2), Some(wrong_md5)))
        .await
    {
        Err(err) => {
            assert_eq!(err.store_kind(), Some(StoreErrorKind::Integrity), "{err}");
            assert!(multipart.list_parts(&k, &upload).await.unwrap().is_empty());
        }
        Ok(receipt) => assert_ne!(receipt.etag, wrong_md5.to_hex()),
    }
    multipart.abort_multipart(&k, &upload).await.unwrap();
}

/// Whether the store checks `x-amz-checksum-crc32c` against the bytes, of a single
/// PUT and of a part: it refuses a wrong one, or reports another checksum than the
/// one claimed. moto 5.2.5 does neither: it stores the bytes and reports the
/// claimed value, which is why a CRC32C from such a store proves nothing about the
/// bytes and the engine must not rely on it alone.
pub async fn checks_a_claimed_crc32c(store: &dyn ObjectStore) -> bool {
    let k = key("backups/bad/claimed.bin");
    let wrong = of_part(ChecksumAlgorithm::Crc32c, b"other bytes");
    let checked = match store
        .put(&k, bytes(100, 3), Some(wrong), &PutOptions::default())
        .await
    {
        Err(err) => {
            assert_eq!(err.store_kind(), Some(StoreErrorKind::Integrity), "{err}");
            true
        }
        Ok(_) => {
            let head = store.head(&k).await.unwrap().unwrap();
            head.checksum.map(|c| c.value) != Some(wrong.to_base64())
        }
    };
    store.delete(&k).await.unwrap();
    let multipart = store.try_multipart().unwrap();
    let upload = multipart
        .create_multipart(&k, &PutOptions::default(), Some(ChecksumKind::Crc32c))
        .await
        .unwrap();
    let part_checked = match multipart
        .put_part(&k, &upload, 1, Payload::new(bytes(100, 4), Some(wrong)))
        .await
    {
        Err(err) => {
            assert_eq!(err.store_kind(), Some(StoreErrorKind::Integrity), "{err}");
            true
        }
        Ok(receipt) => receipt.checksum != Some(wrong.to_base64()),
    };
    multipart.abort_multipart(&k, &upload).await.unwrap();
    assert_eq!(checked, part_checked, "parts are checked like single PUTs");
    checked
}

/// An object written to DEEP_ARCHIVE is readable at once (the local target), or
/// refuses a GET with `NeedsRestore` until a restore makes it readable.
pub async fn archived_objects_are_read_after_a_restore(store: &dyn ObjectStore) {
    let k = key("backups/raw/2024/D.tar");
    let options = PutOptions {
        storage_class: StorageClass::DeepArchive,
        ..PutOptions::default()
    };
    store
        .put(&k, Bytes::from_static(b"archived"), None, &options)
        .await
        .unwrap();
    let head = store.head(&k).await.unwrap().unwrap();
    assert_eq!(head.storage_class, StorageClass::DeepArchive);
    let cold = store.try_cold_storage().unwrap();
    if !head.is_readable() {
        let err = store.get(&k, None).await.unwrap_err();
        assert_eq!(
            err.store_kind(),
            Some(StoreErrorKind::NeedsRestore),
            "{err}"
        );
    }
    let request = RestoreRequest {
        version_id: None,
        days: 2,
        tier: RestoreTier::Bulk,
    };
    cold.restore(&k, &request).await.unwrap();
    let head = store.head(&k).await.unwrap().unwrap();
    assert!(head.is_readable(), "{head:?}");
    assert_eq!(read_all(store, &k, None).await, b"archived");
    let err = cold
        .restore(&key("backups/raw/2024/none.tar"), &request)
        .await
        .unwrap_err();
    assert_eq!(err.store_kind(), Some(StoreErrorKind::NotFound), "{err}");
    store.delete(&k).await.unwrap();
}

/// Versions: a versioned store lists and reads every version and deletes one by
/// id; a store without versions lists each object once.
pub async fn versions_are_listed_and_read(store: &dyn ObjectStore) {
    let k = key("backups/versions/v.db");
    let first = store
        .put(&k, bytes(64, 1), None, &PutOptions::default())
        .await
        .unwrap();
    let second = store
        .put(&k, bytes(64, 2), None, &PutOptions::default())
        .await
        .unwrap();
    let versioned = match store.admin() {
        Some(admin) => admin.facts().await.unwrap().versioning == Some(Versioning::Enabled),
        None => false,
    };
    let cold = store.try_cold_storage().unwrap();
    let versions = cold.list_versions("backups/versions/").await.unwrap();
    if !versioned {
        assert_eq!(versions.len(), 1, "{versions:?}");
        assert!(versions[0].is_latest);
        assert_eq!(read_all(store, &k, None).await, bytes(64, 2));
        store.delete(&k).await.unwrap();
        assert!(
            cold.list_versions("backups/versions/")
                .await
                .unwrap()
                .is_empty()
        );
        return;
    }
    assert_eq!(versions.len(), 2, "{versions:?}");
    let old = first.version_id.clone().expect("a version id");
    assert!(
        versions
            .iter()
            .any(|v| v.version_id.as_ref() == Some(&old) && !v.is_latest)
    );
    assert!(
        versions
            .iter()
            .any(|v| v.version_id == second.version_id && v.is_latest)
    );
    let got = store
        .get_opts(
            &k,
            &GetOptions {
                range: None,
                version_id: Some(old.clone()),
            },
        )
        .await
        .unwrap();
    let chunks: Vec<Bytes> = got.body.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), bytes(64, 1));
    // Deleting the current object hides it; deleting each version removes them.
    store.delete(&k).await.unwrap();
    assert_eq!(store.head(&k).await.unwrap(), None);
    for v in cold.list_versions("backups/versions/").await.unwrap() {
        store
            .delete_opts(
                &k,
                &DeleteOptions {
                    version_id: v.version_id,
                },
            )
            .await
            .unwrap();
    }
    assert!(
        cold.list_versions("backups/versions/")
            .await
            .unwrap()
            .is_empty()
    );
}
