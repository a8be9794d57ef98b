//! One session's upload: stream its archive, check what the store holds, write
//! its manifest, record it in one transaction, check it; or adopt an archive the
//! bucket already has.

use std::time::Instant;

use super::SessionOutcome;
use super::plan::{Planned, fingerprint_of, snapshot_of};
use crate::engine::Engine;
use crate::engine::manifests::{facts_of, manifest_differences, object_differences};
use crate::engine::transfer::{Resume, Sent};
use crate::error::{Error, Hint, Result};
use crate::ids::ObjectKey;
use crate::manifest::Manifest;
use crate::model::Session;
use crate::store::{ObjectMeta, ObjectStoreExt};
use crate::tracker::{ArchiveFacts, LogEntry, NewArchive, Operation, OperationStatus};

/// An archive just sent, and what the store holds after it.
#[derive(Clone, Copy)]
pub(crate) struct Uploaded<'a> {
    pub session: &'a Session,
    pub key: &'a ObjectKey,
    pub planned: &'a Planned,
    pub sent: &'a Sent<Vec<String>>,
    pub head: &'a ObjectMeta,
}

impl Engine {
    /// Uploads one planned session; a failure is logged.
    pub(super) async fn upload_session(
        &self,
        session: &Session,
        planned: Planned,
        options: &super::UploadOptions,
    ) -> Result<SessionOutcome> {
        let started = Instant::now();
        let retries_before = self.retries();
        let key = self
            .config
            .s3_paths
            .archive_key(session.year(), &session.id)?;
        let result = self
            .send_and_record(session, &key, &planned, options, started)
            .await;
        if let Err(e) = &result {
            let seconds = started.elapsed().as_secs_f64();
            let retries = self.retries() - retries_before;
            self.log_failure(session, Some(&key), e, seconds, retries)
                .await;
        }
        result.map_err(|e| e.for_session(&session.id))
    }

    async fn send_and_record(
        &self,
        session: &Session,
        key: &ObjectKey,
        planned: &Planned,
        options: &super::UploadOptions,
        started: Instant,
    ) -> Result<SessionOutcome> {
        let plan = planned.plan.clone();
        let copy = keep_copy(options, session)?;
        let resume = Resume {
            session: &session.id,
            snapshot: snapshot_of(&plan),
        };
        let archiver = self.archiver.clone();
        let writer_plan = plan.clone();
        let put_options = self.archive_options(session, &plan);
        let sent: Sent<Vec<String>> = self
            .send_stream(
                key,
                plan.total_size,
                &put_options,
                move |sink| archiver.write(&writer_plan, sink),
                copy,
                Some(resume),
            )
            .await?;
        let uploaded = Uploaded {
            session,
            key,
            planned,
            sent: &sent,
            head: &sent.head,
        };
        let manifest = self.archive_manifest(&uploaded);
        // The manifest goes first: if the run dies before the database commit, the
        // next run finds archive and manifest and adopts them.
        self.put_manifest(session, &manifest).await?;
        let seconds = started.elapsed().as_secs_f64();
        self.record_upload(&uploaded, &manifest, seconds).await?;
        let verified = self.check_after_upload(session).await?;
        Ok(SessionOutcome::Uploaded {
            bytes: plan.total_size,
            seconds,
            parts: sent.stream.parts() as u64,
            left_out: planned.excluded.len() as u64,
            verified,
            resumed_parts: sent.resumed_parts,
        })
    }

    /// In one transaction: the archive row, its members and a log row.
    async fn record_upload(
        &self,
        up: &Uploaded<'_>,
        manifest: &Manifest,
        seconds: f64,
    ) -> Result<()> {
        let Uploaded {
            session,
            key,
            planned,
            sent,
            head,
        } = *up;
        let plan = &planned.plan;
        let notes = (!planned.excluded.is_empty()).then(|| {
            format!(
                "{} catalogued file(s) left out (missing files allowed): {}",
                planned.excluded.len(),
                planned
                    .excluded
                    .iter()
                    .map(|e| format!("{}/{}", e.folder, e.file))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        let facts = ArchiveFacts {
            archive_crc32c: Some(sent.stream.crc32c.clone()),
            object_checksum: manifest.archive.checksum.clone(),
            part_size: sent.part_size,
            catalog_fingerprint: Some(planned.fingerprint.to_string()),
            excluded: planned.excluded.clone(),
            proof: format!("upload: checked by {}", sent.proof.describe()),
            ..ArchiveFacts::default()
        };
        let mut archive =
            self.new_archive(session, key, head, plan.data_bytes(), notes.clone(), facts);
        archive.etag = sent.put.etag.clone();
        archive.version_id = sent.put.version_id.clone().or(head.version_id.clone());
        archive.archive_size_bytes = plan.total_size;
        archive.uploaded_at = crate::time::now();
        let log = LogEntry {
            session_id: Some(session.id.clone()),
            bucket: Some(self.store.bucket()),
            key: Some(key.to_string()),
            duration_seconds: Some(seconds),
            bytes_transferred: Some(plan.total_size),
            notes,
            ..LogEntry::new(Operation::Upload, OperationStatus::Success)
        };
        self.tracker
            .record_archive(&archive, &manifest.members, &log)
            .await?;
        Ok(())
    }

    /// The archive row of `session` as `head` shows it.
    pub(crate) fn new_archive(
        &self,
        session: &Session,
        key: &ObjectKey,
        head: &ObjectMeta,
        data_bytes: u64,
        notes: Option<String>,
        facts: ArchiveFacts,
    ) -> NewArchive {
        let rule = &self.config.backup_rules.raw_lights;
        NewArchive {
            session_id: session.id.clone(),
            session_date: session.date,
            bucket: self.store.bucket(),
            key: key.to_string(),
            region: self.store.region(),
            etag: head.etag.clone(),
            version_id: head.version_id.clone(),
            original_size_bytes: data_bytes,
            archive_size_bytes: head.size,
            // The config's words, as the cataloger writes them (`fast`, `deep`).
            archive_policy: rule.archive_policy.trim().to_owned(),
            backup_policy: rule.backup_policy.trim().to_owned(),
            storage_class: head.storage_class.clone(),
            expected_storage_class: rule.expected_storage_class(),
            uploaded_at: head.last_modified.unwrap_or_else(crate::time::now),
            camera_name: session.camera.clone(),
            telescope_name: session.telescope.clone(),
            notes,
            facts,
        }
    }

    /// The quick check after an upload, when the config asks for it.
    async fn check_after_upload(&self, session: &Session) -> Result<Option<bool>> {
        if !self.config.archive_settings.verify_after_upload {
            return Ok(None);
        }
        let record = self
            .tracker
            .archive(&session.id)
            .await?
            .ok_or_else(|| Error::NoArchive {
                session: session.id.clone(),
                hint: None,
            })?;
        let check = self.quick_check(&record, None).await?;
        self.record_check(&record, &check).await?;
        Ok(Some(check.passed()))
    }

    /// Records an archive that is in the bucket without a row, when its manifest
    /// matches the catalog.
    pub(super) async fn adopt(&self, session: &Session, key: &ObjectKey) -> Result<SessionOutcome> {
        let result = self.adopt_checked(session, key).await;
        if let Err(e) = &result {
            self.log_failure(session, Some(key), e, 0.0, 0).await;
        }
        result.map_err(|e| e.for_session(&session.id))
    }

    async fn adopt_checked(&self, session: &Session, key: &ObjectKey) -> Result<SessionOutcome> {
        let manifest_key = self
            .config
            .s3_paths
            .manifest_key(session.year(), &session.id)?;
        let left_alone = |message: String| Error::Unusable {
            message,
            hint: Some(Hint::UploadAgain),
        };
        let Some(manifest) = self.read_manifest(&manifest_key).await? else {
            return Err(left_alone(format!(
                "{key} is in the bucket without a manifest ({manifest_key}); left alone"
            )));
        };
        let files = self
            .catalog
            .files(Some(std::slice::from_ref(&session.id)))
            .await?;
        let differences = manifest_differences(&manifest, &files);
        if !differences.is_empty() {
            return Err(left_alone(format!(
                "{key} is in the bucket but its manifest does not match the catalog ({}); left alone",
                differences.join("; ")
            )));
        }
        let head = self
            .store
            .head(key)
            .await?
            .ok_or_else(|| Error::unusable(format!("{key} disappeared")))?;
        let differences = object_differences(&manifest, &head);
        if !differences.is_empty() {
            return Err(left_alone(format!(
                "{key} is not the archive its manifest describes ({}); left alone",
                differences.join("; ")
            )));
        }
        let notes = Some("adopted: found in the bucket with a matching manifest".into());
        let proof = format!(
            "adopted: size, ETag and checksum of the object agree with its manifest, and its {} \
             member MD5s with the catalog",
            manifest.members.len()
        );
        let facts = facts_of(&manifest, fingerprint_of(&files), proof);
        let archive = self.new_archive(session, key, &head, manifest.data_bytes(), notes, facts);
        let log = LogEntry {
            session_id: Some(session.id.clone()),
            bucket: Some(self.store.bucket()),
            key: Some(key.to_string()),
            notes: Some("adopted from the bucket".into()),
            ..LogEntry::new(Operation::Upload, OperationStatus::Success)
        };
        self.tracker
            .record_archive(&archive, &manifest.members, &log)
            .await?;
        Ok(SessionOutcome::Adopted { bytes: head.size })
    }

    /// A failed row in the log for `session` (the run goes on without it).
    pub(super) async fn log_failure(
        &self,
        session: &Session,
        key: Option<&ObjectKey>,
        err: &Error,
        seconds: f64,
        retries: u64,
    ) {
        let entry = LogEntry {
            session_id: Some(session.id.clone()),
            bucket: key.map(|_| self.store.bucket()),
            key: key.map(ToString::to_string),
            duration_seconds: Some(seconds),
            error_message: Some(err.to_string()),
            error_code: Some(err.code().to_owned()),
            retry_count: retries as u32,
            ..LogEntry::new(Operation::Upload, OperationStatus::Failed)
        };
        if let Err(e) = self.tracker.log(&entry).await {
            tracing::warn!(
                "could not write the failure of session {} to the log: {e}",
                session.id
            );
        }
    }
}

/// The file a copy of the archive goes to (`upload --no-cleanup`).
fn keep_copy(options: &super::UploadOptions, session: &Session) -> Result<Option<std::fs::File>> {
    let Some(dir) = &options.keep_copy else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.clone(), e))?;
    let path = dir.join(format!("{}.tar", session.id));
    Ok(Some(
        std::fs::File::create(&path).map_err(|e| Error::io(path, e))?,
    ))
}
