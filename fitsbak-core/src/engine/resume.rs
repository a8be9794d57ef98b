//! Finding the interrupted upload a session can go on with.
//!
//! Every multipart upload of a session is recorded as it goes (upload id, part
//! size, the member snapshot, every part with its checksum). The next run goes on
//! with it when the files still match the snapshot and the store still has the
//! upload; the parts the store holds are not sent again, but their regenerated
//! bytes must have the checksum recorded then. Any other upload of the session,
//! and any upload of its key the tracking tables do not know, is aborted.

use crate::engine::Engine;
use crate::error::{Result, StoreErrorKind};
use crate::ids::{ObjectKey, SessionId};
use crate::store::{MultipartId, ObjectStoreExt, PartReceipt};
use crate::tracker::{InflightUpload, PartRecord};

/// An upload in flight and the parts it has, ready to go on.
pub type Resumable = (MultipartId, Vec<PartRecord>);

/// The recorded parts the store still holds with the same ETag.
fn parts_still_there(upload: InflightUpload, server: &[PartReceipt]) -> Vec<PartRecord> {
    upload
        .parts
        .into_iter()
        .filter(|p| {
            server
                .iter()
                .any(|s| s.part_number == p.receipt.part_number && s.etag == p.receipt.etag)
        })
        .collect()
}

impl Engine {
    /// The interrupted upload of `session` to resume, with the parts it already
    /// has, when the files still match its snapshot and the store still has it.
    /// Any other interrupted upload of the session is aborted.
    pub(crate) async fn resumable(
        &self,
        session: &SessionId,
        key: &ObjectKey,
        snapshot: &str,
        archive_size: u64,
        part_size: u64,
        algorithm: &Option<String>,
    ) -> Result<Option<Resumable>> {
        let mut found = None;
        for upload in self.tracker.inflight().await? {
            if upload.session_id != *session {
                continue;
            }
            let same = upload.key == key.as_str()
                && upload.snapshot == snapshot
                && upload.archive_size == archive_size
                && upload.part_size == part_size
                && upload.checksum_algorithm == *algorithm;
            if !same || found.is_some() {
                self.progress.note(&format!(
                    "session {session}: its files changed since the interrupted upload; starting over"
                ));
                self.abort(&ObjectKey::new(upload.key.clone())?, &upload.upload_id)
                    .await;
                continue;
            }
            found = self.still_held(session, key, upload).await?;
        }
        let keep = found.as_ref().map(|(id, _)| id.clone());
        self.abort_orphans(key, keep.as_ref()).await?;
        Ok(found)
    }

    /// The upload with the parts the store still holds, or `None` when the store no
    /// longer has it.
    async fn still_held(
        &self,
        session: &SessionId,
        key: &ObjectKey,
        upload: InflightUpload,
    ) -> Result<Option<Resumable>> {
        let listed = self
            .store
            .try_multipart()?
            .list_parts(key, &upload.upload_id)
            .await;
        let server = match listed {
            Ok(parts) => parts,
            // A store that cannot list parts (s3rver): the parts recorded are taken
            // as held; Complete refuses any that is not, and the next run starts over.
            Err(e) if e.store_kind() == Some(StoreErrorKind::NotImplemented) => {
                upload.parts.iter().map(|p| p.receipt.clone()).collect()
            }
            Err(e) if e.store_kind() == Some(StoreErrorKind::NoSuchUpload) => {
                self.progress.note(&format!(
                    "session {session}: the interrupted upload is gone from the store; starting over"
                ));
                self.tracker.end_upload(&upload.upload_id).await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let id = upload.upload_id.clone();
        let done = parts_still_there(upload, &server);
        self.progress.note(&format!(
            "session {session}: resuming the interrupted upload, {} part(s) already in the store",
            done.len()
        ));
        Ok(Some((id, done)))
    }

    /// Aborts the uploads of `key` the tracking tables do not know (the run died
    /// between CreateMultipartUpload and recording it): they can never be resumed.
    async fn abort_orphans(&self, key: &ObjectKey, keep: Option<&MultipartId>) -> Result<()> {
        let listed = self
            .store
            .try_multipart()?
            .list_multipart_uploads(key.as_str())
            .await;
        let orphans = match listed {
            Ok(orphans) => orphans,
            // A store that cannot list them: the lifecycle rule's
            // AbortIncompleteMultipartUpload (or the store's own expiry) cleans up.
            Err(e) if e.store_kind() == Some(StoreErrorKind::NotImplemented) => {
                tracing::info!("{key}: no clean-up of unrecorded multipart uploads: {e}");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for orphan in orphans {
            if orphan.key == key.as_str() && Some(&orphan.upload_id) != keep {
                self.abort(key, &orphan.upload_id).await;
            }
        }
        Ok(())
    }
}
