//! What only a real S3 endpoint shows: missing buckets, refused credentials,
//! archived objects.

use bytes::Bytes;
use fitsbak_core::error::StoreErrorKind;
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::StorageClass;
use fitsbak_core::store::prelude::*;
use fitsbak_core::store::{PutOptions, RestoreRequest, RestoreState, RestoreTier};
use fitsbak_testkit::moto::MotoServer;
use fitsbak_testkit::unique_bucket;

#[tokio::test]
async fn a_missing_bucket_is_named() {
    let store = MotoServer::shared().store("fitsbak-no-such-bucket");
    let err = store.list("backups/").await.unwrap_err();
    assert_eq!(
        err.store_kind(),
        Some(StoreErrorKind::NoSuchBucket),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("fitsbak-no-such-bucket") && text.contains("NoSuchBucket"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_credentials_are_refused_clearly() {
    let server = MotoServer::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let store = server.store("any-bucket");
    let err = store.list("backups/").await.unwrap_err();
    assert_eq!(err.store_kind(), Some(StoreErrorKind::Credentials), "{err}");
    let text = err.to_string();
    assert!(text.contains("InvalidAccessKeyId"), "{text}");
    assert!(
        !text.contains(fitsbak_testkit::moto::SECRET_KEY),
        "no secret in: {text}"
    );
}

#[tokio::test]
async fn deep_archive_objects_need_a_restore_before_a_get() {
    let server = MotoServer::shared();
    let store = server.bucket(&unique_bucket("deep")).await;
    let k = ObjectKey::new("backups/raw/2024/D.tar").unwrap();
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
    assert!(!head.is_readable());
    let err = store.get(&k, None).await.unwrap_err();
    assert_eq!(
        err.store_kind(),
        Some(StoreErrorKind::NeedsRestore),
        "{err}"
    );

    let request = RestoreRequest {
        version_id: None,
        days: 3,
        tier: RestoreTier::Bulk,
    };
    store
        .try_cold_storage()
        .unwrap()
        .restore(&k, &request)
        .await
        .unwrap();
    let head = store.head(&k).await.unwrap().unwrap();
    assert!(
        matches!(
            head.restore,
            Some(RestoreState::Available { .. } | RestoreState::InProgress)
        ),
        "{:?}",
        head.restore
    );
}
