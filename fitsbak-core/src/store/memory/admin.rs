//! Restores, versions, tags, lifecycle rules and facts of the memory store.

use async_trait::async_trait;

use super::{MemoryStore, error};
use crate::error::{Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::model::Tags;
use crate::rules::LifecycleRule;
use crate::store::{
    BucketAdmin, BucketFacts, ColdStorage, ObjectVersion, RestoreRequest, RestoreState, Versioning,
};

#[async_trait]
impl ColdStorage for MemoryStore {
    async fn restore(&self, key: &ObjectKey, request: &RestoreRequest) -> Result<()> {
        self.guarded("RestoreObject", key.as_str(), None, |_| {
            let mut state = self.lock();
            let versions = state.objects.get_mut(key.as_str());
            let stored = versions.and_then(|all| match &request.version_id {
                Some(v) => all.iter_mut().find(|s| s.version_id.as_ref() == Some(v)),
                None => all.last_mut(),
            });
            let Some(stored) = stored.filter(|s| !s.deleted) else {
                return Err(error(
                    StoreErrorKind::NotFound,
                    "RestoreObject",
                    key.as_str(),
                    "NoSuchKey",
                ));
            };
            if !stored.storage_class.needs_restore() {
                return Err(error(
                    StoreErrorKind::InvalidRequest,
                    "RestoreObject",
                    key.as_str(),
                    "InvalidObjectState: the object is not archived",
                ));
            }
            // Restores complete at once here, as they do in moto.
            stored.restore = Some(RestoreState::Available {
                expires: Some(crate::time::now() + chrono::Duration::days(request.days.into())),
            });
            Ok(())
        })
    }

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        self.guarded("ListObjectVersions", prefix, None, |_| {
            let state = self.lock();
            let mut out = Vec::new();
            for (key, versions) in state.objects.range(prefix.to_owned()..) {
                if !key.starts_with(prefix) {
                    break;
                }
                let latest = versions.len() - 1;
                for (i, s) in versions.iter().enumerate().filter(|(_, s)| !s.deleted) {
                    out.push(ObjectVersion {
                        key: key.clone(),
                        version_id: s.version_id.clone(),
                        is_latest: i == latest,
                        size: s.bytes.len() as u64,
                        etag: Some(s.etag.clone()),
                        last_modified: Some(s.last_modified),
                        storage_class: s.storage_class.clone(),
                    });
                }
            }
            Ok(out)
        })
    }
}

#[async_trait]
impl BucketAdmin for MemoryStore {
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags> {
        self.guarded("GetObjectTagging", key.as_str(), None, |_| {
            self.with_current("GetObjectTagging", key, |s| s.tags.clone())
        })
    }

    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()> {
        self.guarded("PutObjectTagging", key.as_str(), None, |_| {
            self.with_current("PutObjectTagging", key, |s| s.tags = tags.clone())
        })
    }

    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>> {
        self.guarded("GetBucketLifecycleConfiguration", "", None, |_| {
            Ok(self.lock().lifecycle.clone())
        })
    }

    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        self.guarded("PutBucketLifecycleConfiguration", "", None, |_| {
            self.lock().lifecycle = rules.to_vec();
            Ok(())
        })
    }

    async fn facts(&self) -> Result<BucketFacts> {
        self.guarded("GetBucketVersioning", "", None, |_| {
            Ok(BucketFacts {
                versioning: Some(if self.versioned {
                    Versioning::Enabled
                } else {
                    Versioning::Off
                }),
                ..BucketFacts::default()
            })
        })
    }
}
