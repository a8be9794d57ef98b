//! Asking a store what it can do: a dozen cheap requests on objects below
//! `{prefix}/.fitsbak-probe/`, removed afterwards (every version of them), once per
//! target. The answers are kept in the tracking database with the time of the
//! probe, used for 30 days, refreshed by `doctor`; `store_capabilities` in the
//! config pins answers for stores that mislead a probe.

use std::sync::Arc;

use bytes::Bytes;
use md5::Digest as _;

use crate::engine::Engine;
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::model::Tags;
use crate::store::{
    Capabilities, Checksum, ChecksumKind, DeleteOptions, EtagForm, ObjectStoreExt, Payload,
    PutOptions, RestoreRequest, RestoreTier,
};

/// How long a probe's answers are used before the store is asked again.
pub const PROBE_MAX_AGE_DAYS: i64 = 30;

const PROBE_BODY: &[u8] = b"fitsbak asks what this store can do\n";

/// An answer that only says the store does not know the request.
fn unsupported(e: &Error) -> bool {
    matches!(
        e.store_kind(),
        Some(StoreErrorKind::NotImplemented | StoreErrorKind::InvalidRequest)
    )
}

/// What one sub-probe saw: yes, no, or no with a note on the odd answer.
fn answer(what: &str, result: Result<bool>, notes: &mut Vec<String>) -> bool {
    match result {
        Ok(yes) => yes,
        Err(e) if unsupported(&e) => false,
        Err(e) => {
            notes.push(format!("{what}: {e}"));
            false
        }
    }
}

impl Engine {
    /// What the store can do: the config's pins over the answers of a probe made
    /// within [`PROBE_MAX_AGE_DAYS`] (kept in the tracking database), probing now
    /// when there is none. Stores that know themselves (the local directory, the
    /// memory store) are not probed.
    pub async fn capabilities(&self) -> Result<Arc<Capabilities>> {
        self.capabilities
            .get_or_try_init(|| async {
                let found = match self.store.known_capabilities() {
                    Some(known) => known,
                    None => self.probed_capabilities(false).await?,
                };
                let pinned = self
                    .config
                    .pin_capabilities(found)
                    .map_err(Error::unusable)?;
                Ok(Arc::new(pinned))
            })
            .await
            .cloned()
    }

    /// The probe's answers: those kept when fresh enough (unless `fresh`), else
    /// a new probe, kept.
    pub async fn probed_capabilities(&self, fresh: bool) -> Result<Capabilities> {
        let target = self.store.describe();
        let kept = match fresh {
            true => None,
            false => self.tracker.store_profile(&target).await?,
        };
        if let Some((kept, at)) = kept
            && (crate::time::now() - at).num_days() < PROBE_MAX_AGE_DAYS
        {
            return Ok(kept);
        }
        let found = self.probe().await?;
        self.tracker.record_store_profile(&target, &found).await?;
        Ok(found)
    }

    /// Probes the store now. Fails only when the store cannot be written at all
    /// (no access, no bucket): every other refusal is an answer.
    pub async fn probe(&self) -> Result<Capabilities> {
        let prefix = format!(
            "{}.fitsbak-probe/{:016x}/",
            crate::engine::lifecycle::common_prefix(&self.config),
            crate::random_u64()
        );
        let key = |name: &str| ObjectKey::new(format!("{prefix}{name}"));
        let mut caps = Capabilities::default();
        let result = self.probe_into(&mut caps, &key("put")?, &key).await;
        self.remove_probe(&prefix).await;
        result.map(|()| caps)
    }

    async fn probe_into(
        &self,
        caps: &mut Capabilities,
        put_key: &ObjectKey,
        key: &dyn Fn(&str) -> std::result::Result<ObjectKey, crate::ids::NameError>,
    ) -> Result<()> {
        let body = Bytes::from_static(PROBE_BODY);
        let crc = crate::checksum::crc32c(&body);
        let md5: [u8; 16] = md5::Md5::digest(&body).into();
        let mut tags = Tags::new();
        tags.insert("fitsbak-probe".into(), "1".into());
        let options = PutOptions {
            tags: tags.clone(),
            ..PutOptions::default()
        };
        // The first PUT must go through: it is the one request every target needs.
        let payload = Payload::new(body.clone(), Some(Checksum::Crc32c(crc)));
        self.store.put_opts(put_key, payload, &options).await?;
        let head = self.store.head(put_key).await?;
        let head = head.ok_or_else(|| {
            Error::unusable(format!("{put_key} was written but HEAD does not find it"))
        })?;
        caps.reports_crc32c_put = head.checksum.as_ref().is_some_and(|c| {
            c.kind == ChecksumKind::Crc32c && c.value == Checksum::Crc32c(crc).to_base64()
        });
        caps.put_etag_is_md5 = head.etag == hex::encode(md5);
        caps.checksum_mode_header = self.store.transport_notes().is_empty();
        self.probe_tags(caps, put_key, &tags).await;
        self.probe_request_checks(caps, &body, key).await?;
        let conditional = self
            .store
            .put_opts(
                put_key,
                Payload::new(body.clone(), None),
                &PutOptions {
                    if_none_match: true,
                    ..PutOptions::default()
                },
            )
            .await;
        caps.conditional_writes = matches!(
            &conditional,
            Err(e) if e.store_kind() == Some(StoreErrorKind::PreconditionFailed)
        );
        self.probe_multipart(caps, &key("multipart")?, &tags).await;
        self.probe_bucket(caps, put_key).await;
        Ok(())
    }

    /// Tags: on PUT, and Get/PutObjectTagging.
    async fn probe_tags(&self, caps: &mut Capabilities, key: &ObjectKey, tags: &Tags) {
        let Some(admin) = self.store.admin() else {
            return;
        };
        let got = admin.get_tags(key).await;
        caps.tags_on_put = matches!(&got, Ok(t) if t == tags);
        caps.tagging = match got {
            Ok(_) if caps.tags_on_put => true,
            Ok(_) => {
                let put = admin.put_tags(key, tags).await;
                let again = admin.get_tags(key).await;
                put.is_ok() && matches!(again, Ok(t) if t == *tags)
            }
            Err(e) => answer("GetObjectTagging", Err(e), &mut caps.notes),
        };
    }

    /// Whether a wrong CRC32C, and a wrong Content-MD5, are refused.
    async fn probe_request_checks(
        &self,
        caps: &mut Capabilities,
        body: &Bytes,
        key: &dyn Fn(&str) -> std::result::Result<ObjectKey, crate::ids::NameError>,
    ) -> Result<()> {
        let refused = |r: &Result<crate::store::PutResult>| {
            matches!(r, Err(e) if matches!(
                e.store_kind(),
                Some(StoreErrorKind::Integrity | StoreErrorKind::InvalidRequest)
            ))
        };
        let wrong_crc = Payload::new(body.clone(), Some(Checksum::Crc32c(0x0bad_c0de)));
        let put = self
            .store
            .put_opts(&key("wrong-crc32c")?, wrong_crc, &PutOptions::default())
            .await;
        caps.checks_crc32c = refused(&put);
        let wrong_md5 = Payload::new(body.clone(), Some(Checksum::Md5([7; 16])));
        let put = self
            .store
            .put_opts(&key("wrong-md5")?, wrong_md5, &PutOptions::default())
            .await;
        caps.checks_content_md5 = refused(&put);
        Ok(())
    }

    /// A one-part multipart upload with CRC32C and tags: its checksum, ETag and
    /// tags as HEAD and GetObjectTagging see them.
    async fn probe_multipart(&self, caps: &mut Capabilities, key: &ObjectKey, tags: &Tags) {
        let Some(multipart) = self.store.multipart() else {
            return;
        };
        let body = Bytes::from_static(PROBE_BODY);
        let crc = crate::checksum::crc32c(&body);
        let md5: [u8; 16] = md5::Md5::digest(&body).into();
        let options = PutOptions {
            tags: tags.clone(),
            ..PutOptions::default()
        };
        let sent = async {
            let upload = multipart
                .create_multipart(key, &options, Some(ChecksumKind::Crc32c))
                .await?;
            let payload = Payload::new(body.clone(), Some(Checksum::Crc32c(crc)));
            let part = multipart.put_part(key, &upload, 1, payload).await;
            let part = match part {
                Ok(part) => part,
                Err(e) => {
                    let _ = multipart.abort_multipart(key, &upload).await;
                    return Err(e);
                }
            };
            multipart.complete_multipart(key, &upload, &[part]).await?;
            Ok(())
        }
        .await;
        caps.multipart = answer("multipart upload", sent.map(|()| true), &mut caps.notes);
        if !caps.multipart {
            return;
        }
        let Ok(Some(head)) = self.store.head(key).await else {
            return;
        };
        let composite = crate::checksum::composite_crc32c(&[crc]);
        let full = Checksum::Crc32c(crc).to_base64();
        caps.reports_crc32c_multipart = head.checksum.as_ref().is_some_and(|c| {
            c.kind == ChecksumKind::Crc32c
                && (crate::checksum::same_checksum(&composite, &c.value) || c.value == full)
        });
        caps.multipart_etag = if head.etag == crate::checksum::md5_of_md5s(&[md5]) {
            EtagForm::Md5OfMd5s
        } else if head.etag == hex::encode(md5) {
            EtagForm::WholeMd5
        } else {
            EtagForm::Other
        };
        if let Some(admin) = self.store.admin() {
            caps.tags_on_multipart = matches!(admin.get_tags(key).await, Ok(t) if t == *tags);
        }
        caps.list_multipart_uploads = answer(
            "ListMultipartUploads",
            multipart
                .list_multipart_uploads(key.as_str())
                .await
                .map(|_| true),
            &mut caps.notes,
        );
    }

    /// Lifecycle rules, versioning, restores.
    async fn probe_bucket(&self, caps: &mut Capabilities, key: &ObjectKey) {
        if let Some(admin) = self.store.admin() {
            caps.lifecycle = answer(
                "GetBucketLifecycleConfiguration",
                admin.lifecycle().await.map(|_| true),
                &mut caps.notes,
            );
            caps.versioning = answer(
                "GetBucketVersioning",
                admin.facts().await.map(|f| f.versioning.is_some()),
                &mut caps.notes,
            );
        }
        if let Some(cold) = self.store.cold_storage() {
            let request = RestoreRequest {
                version_id: None,
                days: 1,
                tier: RestoreTier::Standard,
            };
            // A STANDARD object cannot be restored: "invalid object state" says the
            // store knows the request.
            caps.restore = match cold.restore(key, &request).await {
                Ok(()) => true,
                Err(e) => {
                    matches!(
                        e.store_kind(),
                        Some(StoreErrorKind::NeedsRestore | StoreErrorKind::RestoreInProgress)
                    ) || e.to_string().contains("InvalidObjectState")
                }
            };
        }
    }

    /// Removes every object and version below the probe's prefix (best effort).
    async fn remove_probe(&self, prefix: &str) {
        if let Some(multipart) = self.store.multipart()
            && let Ok(uploads) = multipart.list_multipart_uploads(prefix).await
        {
            for u in uploads {
                if let Ok(key) = ObjectKey::new(u.key) {
                    let _ = multipart.abort_multipart(&key, &u.upload_id).await;
                }
            }
        }
        let versions = self.store.versions(prefix).await.unwrap_or_default();
        for (key, version_id) in versions.into_iter().map(|v| (v.key, v.version_id)) {
            if let Ok(key) = ObjectKey::new(key) {
                let options = DeleteOptions {
                    version_id: version_id.filter(|v| v != "null"),
                };
                let _ = self.store.delete_opts(&key, &options).await;
            }
        }
    }
}
