//! Putting bytes into the store with every check: fitsbak's `WriteMultipart`.
//!
//! A writer produces exactly `total_size` bytes on a blocking thread into a
//! [`PartSink`]; below the multipart threshold they go in one PUT, above it in a
//! multipart upload of `max_concurrency` parts at a time (resumable when it belongs
//! to a session, see [`crate::engine::resume`]). After the upload the object's
//! checksum (or ETag) must be that of the bytes sent, or the object is deleted.
//! Anything that fails before Complete aborts the upload, except an interruption or
//! a network outage of a resumable one: its parts are kept for the next run.

use crate::checksum::{expected_object_checksum, same_checksum};
use crate::config::ChecksumAlgorithm;
use crate::engine::Engine;
use crate::engine::stream::{PartSink, PartUploader, StreamSummary, part_size};
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::{ObjectKey, SessionId};
use crate::store::layer::is_transient;
use crate::store::{
    Encryption, MultipartId, ObjectChecksum, ObjectStoreExt, PartReceipt, PutOptions, PutResult,
};
use crate::tracker::{InflightUpload, PartRecord};

/// What was sent, and what the store answered.
pub(crate) struct Sent<T> {
    pub put: PutResult,
    pub stream: StreamSummary,
    /// What the writer returned (an archive's member MD5s).
    pub output: T,
    pub part_size: u64,
    pub resumed_parts: u64,
}

/// The session an upload belongs to, and the member snapshot it can resume on.
pub(crate) struct Resume<'a> {
    pub session: &'a SessionId,
    pub snapshot: String,
}

/// The writer of a stream: fills the sink with exactly the planned bytes.
type Writer<T> = Box<dyn FnOnce(&mut PartSink) -> Result<T> + Send>;

async fn join_writer<T>(writer: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    writer
        .await
        .map_err(|e| Error::task("the archive writer", e))?
}

fn size_error(key: &ObjectKey, written: u64, planned: u64) -> Error {
    Error::SizeMismatch {
        what: key.to_string(),
        message: format!("{written} bytes were written, {planned} planned"),
    }
}

impl Engine {
    /// Streams what `write` writes (exactly `total_size` bytes) to `key`: one PUT
    /// below the multipart threshold, else a multipart upload, resumable when
    /// `resume` names the session it belongs to. Checks the stored object's
    /// checksum (or ETag) against the bytes sent; a mismatch deletes the object.
    pub(crate) async fn send_stream<T: Send + 'static>(
        &self,
        key: &ObjectKey,
        total_size: u64,
        options: &PutOptions,
        write: impl FnOnce(&mut PartSink) -> Result<T> + Send + 'static,
        copy: Option<std::fs::File>,
        resume: Option<Resume<'_>>,
    ) -> Result<Sent<T>> {
        let settings = &self.config.upload_settings;
        let multipart = total_size >= settings.threshold_bytes();
        let part_size = if multipart {
            part_size(total_size, settings.chunk_bytes())
        } else {
            total_size
        };
        let (mut sink, parts) = PartSink::new(part_size, settings.checksum_algorithm);
        if let Some(file) = copy {
            sink = sink.with_copy(file);
        }
        let pool = sink.pool();
        let write: Writer<T> = Box::new(write);
        let writer = tokio::task::spawn_blocking(move || -> Result<(T, StreamSummary)> {
            let output = write(&mut sink)?;
            let summary = sink
                .finish()
                .map_err(|e| Error::task("writing the stream", e))?;
            Ok((output, summary))
        });
        let sent = if multipart {
            let stream = Stream {
                parts,
                writer,
                pool,
            };
            self.send_multipart(key, total_size, part_size, options, stream, resume)
                .await?
        } else {
            self.send_single(key, total_size, options, parts, writer, resume)
                .await?
        };
        self.check_integrity(key, &sent, multipart).await?;
        Ok(sent)
    }

    /// One PUT of the whole stream.
    async fn send_single<T: Send + 'static>(
        &self,
        key: &ObjectKey,
        total_size: u64,
        options: &PutOptions,
        mut parts: crate::engine::stream::PartReceiver,
        writer: tokio::task::JoinHandle<Result<(T, StreamSummary)>>,
        resume: Option<Resume<'_>>,
    ) -> Result<Sent<T>> {
        // An interrupted multipart upload of the session cannot be resumed as one PUT.
        if let Some(resume) = &resume {
            self.abort_uploads_of_session(resume.session).await?;
        }
        let part = parts.recv().await;
        let (output, stream) = join_writer(writer).await?;
        if stream.bytes != total_size {
            return Err(size_error(key, stream.bytes, total_size));
        }
        let part = part.ok_or_else(|| Error::task("the writer", "it sent nothing"))?;
        let put = self
            .store
            .put(key, part.bytes, Some(part.checksum), options)
            .await?;
        self.progress.advance(total_size);
        Ok(Sent {
            put,
            stream,
            output,
            part_size: 0,
            resumed_parts: 0,
        })
    }

    /// A multipart upload of the stream, new or resumed.
    async fn send_multipart<T: Send + 'static>(
        &self,
        key: &ObjectKey,
        total_size: u64,
        part_size: u64,
        options: &PutOptions,
        stream: Stream<T>,
        resume: Option<Resume<'_>>,
    ) -> Result<Sent<T>> {
        let started = self
            .start_upload(key, total_size, part_size, options, resume.as_ref())
            .await;
        let (upload, done) = match started {
            Ok(started) => started,
            Err(e) => {
                drop(stream.parts);
                let _ = join_writer(stream.writer).await;
                return Err(e);
            }
        };
        let resumed_parts = done.len() as u64;
        let uploader = PartUploader {
            store: self.store.clone(),
            key: key.clone(),
            upload: upload.clone(),
            concurrency: self.config.upload_settings.max_concurrency,
            tracker: resume.is_some().then(|| self.tracker.clone()),
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
            pool: Some(stream.pool),
        };
        let uploaded = uploader.run(stream.parts, done).await;
        let written = join_writer(stream.writer).await;
        // An upload failure makes the writer fail too ("the upload stopped"): the
        // upload's error is the one to report.
        let (receipts, (output, summary)) = match (uploaded, written) {
            (Ok(receipts), Ok(written)) => (receipts, written),
            (Err(e), _) | (Ok(_), Err(e)) => {
                if !(resume.is_some() && self.keeps_parts(&e)) {
                    self.abort(key, &upload).await;
                }
                return Err(e);
            }
        };
        if summary.bytes != total_size {
            self.abort(key, &upload).await;
            return Err(size_error(key, summary.bytes, total_size));
        }
        let put = self.complete(key, &upload, &receipts, total_size).await?;
        Ok(Sent {
            put,
            stream: summary,
            output,
            part_size,
            resumed_parts,
        })
    }

    /// Whether a failed upload keeps its parts for the next run: stopped between
    /// parts (not aborted), or cut off from the store after every retry.
    fn keeps_parts(&self, err: &Error) -> bool {
        (matches!(err, Error::Interrupted) && !self.cancel.abort.is_cancelled())
            || is_transient(err)
    }

    /// The upload to send parts to, with the parts it already has: the session's
    /// interrupted one when it can go on, else a new one (recorded when resumable).
    async fn start_upload(
        &self,
        key: &ObjectKey,
        total_size: u64,
        part_size: u64,
        options: &PutOptions,
        resume: Option<&Resume<'_>>,
    ) -> Result<(MultipartId, Vec<PartRecord>)> {
        let algorithm = self.config.upload_settings.checksum_algorithm;
        let algorithm_name = (algorithm == ChecksumAlgorithm::Crc32c).then(|| "CRC32C".to_owned());
        if let Some(resume) = resume {
            let found = self
                .resumable(
                    resume.session,
                    key,
                    &resume.snapshot,
                    total_size,
                    part_size,
                    &algorithm_name,
                )
                .await?;
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let upload = self
            .store
            .try_multipart()?
            .create_multipart(key, options, algorithm.kind())
            .await?;
        if let Some(resume) = resume {
            let inflight = InflightUpload {
                session_id: resume.session.clone(),
                bucket: self.store.bucket(),
                key: key.to_string(),
                upload_id: upload.clone(),
                part_size,
                archive_size: total_size,
                checksum_algorithm: algorithm_name,
                snapshot: resume.snapshot.clone(),
                started_at: crate::time::now(),
                parts: Vec::new(),
            };
            if let Err(e) = self.tracker.begin_upload(&inflight).await {
                self.abort(key, &upload).await;
                return Err(e);
            }
        }
        Ok((upload, Vec::new()))
    }

    /// Completes an upload. A retried Complete whose first attempt went through
    /// finds the upload gone: the object is there, and the integrity check decides.
    async fn complete(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        receipts: &[PartReceipt],
        total_size: u64,
    ) -> Result<PutResult> {
        let completed = self
            .store
            .try_multipart()?
            .complete_multipart(key, upload, receipts)
            .await;
        let put = match completed {
            Ok(put) => put,
            Err(e) if e.store_kind() == Some(StoreErrorKind::NoSuchUpload) => {
                match self.store.head(key).await? {
                    Some(meta) if meta.size == total_size => PutResult {
                        etag: meta.etag,
                        version_id: meta.version_id,
                        checksum: meta.checksum,
                    },
                    _ => {
                        self.abort(key, upload).await;
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                self.abort(key, upload).await;
                return Err(e);
            }
        };
        self.tracker.end_upload(upload).await?;
        Ok(put)
    }

    /// Aborts a multipart upload and forgets it (best effort: an abort that fails
    /// leaves an upload the lifecycle rule cleans up).
    pub(crate) async fn abort(&self, key: &ObjectKey, upload: &MultipartId) {
        let aborted = match self.store.try_multipart() {
            Ok(multipart) => multipart.abort_multipart(key, upload).await,
            Err(e) => Err(e),
        };
        if let Err(e) = aborted {
            tracing::warn!("could not abort the multipart upload of {key}: {e}");
        }
        if let Err(e) = self.tracker.end_upload(upload).await {
            tracing::warn!("could not forget the multipart upload of {key}: {e}");
        }
    }

    /// Aborts every interrupted upload of `session`.
    pub(crate) async fn abort_uploads_of_session(&self, session: &SessionId) -> Result<()> {
        for upload in self.tracker.inflight().await? {
            if upload.session_id == *session {
                self.abort(&ObjectKey::new(upload.key.clone())?, &upload.upload_id)
                    .await;
            }
        }
        Ok(())
    }

    /// The stored object's checksum (CRC32C) or ETag (MD5) must be what the bytes
    /// sent give; otherwise the object is deleted and the upload fails.
    async fn check_integrity<T>(
        &self,
        key: &ObjectKey,
        sent: &Sent<T>,
        multipart: bool,
    ) -> Result<()> {
        let expected = expected_object_checksum(&sent.stream.part_checksums, multipart);
        let (what, actual) = match self.config.upload_settings.checksum_algorithm {
            ChecksumAlgorithm::Md5 => {
                if matches!(self.encryption(), Some(Encryption::Kms { .. })) {
                    // SSE-KMS ETags are not MD5s; each request's Content-MD5 was
                    // checked by the server.
                    return Ok(());
                }
                ("ETag", Some(sent.put.etag.clone()))
            }
            ChecksumAlgorithm::Crc32c => {
                let reported = match &sent.put.checksum {
                    Some(c) => Some(c.clone()),
                    None => self.store.head(key).await?.and_then(|m| m.checksum),
                };
                ("CRC32C checksum", reported.map(|c: ObjectChecksum| c.value))
            }
        };
        let message = match actual {
            Some(actual) if same_checksum(&expected, &actual) => return Ok(()),
            Some(actual) => format!(
                "the stored object's {what} {actual} does not match the bytes sent \
                 ({expected}); the object was deleted"
            ),
            None => format!(
                "the store reported no {what} for the object, so the upload cannot be \
                 checked; the object was deleted (set upload_settings.checksum_algorithm to \
                 \"md5\" for stores without CRC32C checksums)"
            ),
        };
        let _ = self.store.delete(key).await;
        Err(Error::Integrity {
            what: key.to_string(),
            message,
        })
    }

    /// Streams the file at `path` to `key` (a catalog snapshot, for one): one PUT
    /// below the multipart threshold, else a multipart upload with bounded memory.
    /// The file must not change size while it is read; the stored object's checksum
    /// is checked against the bytes sent. Returns the store's answer and the MD5
    /// (hex) of the bytes sent.
    pub async fn put_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
        options: &PutOptions,
    ) -> Result<(PutResult, String)> {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path.to_path_buf(), e))?
            .len();
        let source = path.to_path_buf();
        let sent = self
            .send_stream(
                key,
                size,
                options,
                move |sink| copy_file(&source, size, sink),
                None,
                None,
            )
            .await?;
        Ok((sent.put, sent.output))
    }

    /// Writes `body` to `key` (one PUT below the multipart threshold), checking the
    /// stored object's checksum against the bytes sent.
    pub async fn put_bytes(
        &self,
        key: &ObjectKey,
        body: bytes::Bytes,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let size = body.len() as u64;
        let write = move |sink: &mut PartSink| {
            crate::archive::ArchiveSink::put(sink, &body).map_err(|e| Error::task("writing", e))
        };
        let sent = self
            .send_stream(key, size, options, write, None, None)
            .await?;
        Ok(sent.put)
    }
}

/// The parts of a stream on their way, and its writer.
struct Stream<T> {
    parts: crate::engine::stream::PartReceiver,
    writer: tokio::task::JoinHandle<Result<(T, StreamSummary)>>,
    pool: crate::engine::stream::PartPool,
}

/// Copies exactly `size` bytes of the file at `source` into `sink`, hashing them;
/// returns their MD5 (hex). A file that changes size while it is read fails.
fn copy_file(source: &std::path::Path, size: u64, sink: &mut PartSink) -> Result<String> {
    use crate::archive::ArchiveSink as _;
    use md5::Digest as _;
    use std::io::Read as _;
    let io = |e| Error::io(source.to_path_buf(), e);
    let mut file = std::fs::File::open(source).map_err(io)?;
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        copied += n as u64;
        if copied > size {
            break;
        }
        md5.update(&buf[..n]);
        sink.put(&buf[..n]).map_err(io)?;
    }
    if copied != size {
        return Err(Error::SizeMismatch {
            what: source.display().to_string(),
            message: format!("changed while it was read ({size} bytes planned, {copied} read)"),
        });
    }
    Ok(hex::encode(md5.finalize()))
}
