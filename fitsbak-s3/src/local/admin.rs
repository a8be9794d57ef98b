//! Tags, lifecycle rules, restores and versions in the local directory. Objects
//! there are always readable (a restore is a no-op) and have one version.

use async_trait::async_trait;
use fitsbak_core::error::{Result, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::Tags;
use fitsbak_core::rules::LifecycleRule;
use fitsbak_core::store::{
    BucketAdmin, BucketFacts, ColdStorage, ObjectVersion, RestoreRequest, Versioning,
};

use super::{LocalStore, error, io_error, write_atomic};

const LIFECYCLE_FILE: &str = "lifecycle.json";

#[async_trait]
impl BucketAdmin for LocalStore {
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags> {
        let key = key.clone();
        self.run(move |store| {
            store.existing("GetObjectTagging", &key)?;
            Ok(store.read_meta(&key).tags)
        })
        .await
    }

    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()> {
        let (key, tags) = (key.clone(), tags.clone());
        self.run(move |store| {
            store.existing("PutObjectTagging", &key)?;
            let mut meta = store.read_meta(&key);
            meta.tags = tags;
            store
                .write_meta(&key, &meta)
                .map_err(|e| io_error("PutObjectTagging", &store.meta_path(&key), e).into())
        })
        .await
    }

    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>> {
        self.run(|store| {
            let operation = "GetBucketLifecycleConfiguration";
            let path = store.internal(LIFECYCLE_FILE);
            match std::fs::read(&path) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                    error(StoreErrorKind::Other, operation, &path, e.to_string()).into()
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(io_error(operation, &path, e).into()),
            }
        })
        .await
    }

    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        let rules = rules.to_vec();
        self.run(move |store| {
            let path = store.internal(LIFECYCLE_FILE);
            write_atomic(
                &path,
                &serde_json::to_vec_pretty(&rules).expect("rules serialise"),
            )
            .map_err(|e| io_error("PutBucketLifecycleConfiguration", &path, e).into())
        })
        .await
    }

    async fn facts(&self) -> Result<BucketFacts> {
        Ok(BucketFacts {
            versioning: Some(Versioning::Off),
            ..BucketFacts::default()
        })
    }
}

#[async_trait]
impl ColdStorage for LocalStore {
    async fn restore(&self, key: &ObjectKey, _request: &RestoreRequest) -> Result<()> {
        let key = key.clone();
        self.run(move |store| store.existing("RestoreObject", &key).map(drop))
            .await
    }

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        let prefix = prefix.to_owned();
        self.run(move |store| {
            Ok(store
                .list_sync(&prefix)
                .into_iter()
                .map(|o| ObjectVersion {
                    key: o.key,
                    version_id: None,
                    is_latest: true,
                    size: o.size,
                    etag: o.etag,
                    last_modified: o.last_modified,
                    storage_class: o.storage_class,
                })
                .collect())
        })
        .await
    }
}
