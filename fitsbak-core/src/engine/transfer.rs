//! Putting bytes into the store with every check: fitsbak's `WriteMultipart`.
//!
//! A writer produces exactly `total_size` bytes on a blocking thread into a
//! [`PartSink`]; below the multipart threshold they go in one PUT, above it in a
//! multipart upload of `max_concurrency` parts at a time (resumable when it belongs
//! to a session, see [`crate::engine::resume`]).
//!
//! What protects the bytes depends on what the store can do (see
//! [`crate::store::Capabilities`]): each request carries the checksum the store
//! checks (CRC32C, Content-MD5, or both); before Complete, ListParts must show
//! every part with the size and ETag or checksum sent; after the upload, HEAD
//! decides (never a field of the Complete reply, which some stores leave empty):
//! the size, and the strongest whole-object proof the store offers, a composite
//! or full-object CRC32C, an MD5-of-MD5s or single-PUT MD5 ETag; where it offers
//! none, the object is read back when `verify_after_upload` asks for it. The proof
//! used is returned with the upload. An object that fails is removed by its
//! version id, leaving nothing hidden behind a delete marker.
//!
//! Anything that fails before Complete aborts the upload, except an interruption or
//! a network outage of a resumable one: its parts are kept for the next run.

use crate::checksum::{composite_crc32c, crc32c_base64, md5_of_md5s, same_checksum};
use crate::config::ChecksumAlgorithm;
use crate::engine::Engine;
use crate::engine::stream::{PartSink, PartUploader, StreamSummary, part_size};
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::{ObjectKey, SessionId};
use crate::store::layer::is_transient;
use crate::store::{
    Capabilities, ChecksumKind, DeleteOptions, Encryption, EtagForm, MultipartId, ObjectMeta,
    ObjectStoreExt, PartChecks, PartReceipt, PutOptions, PutResult,
};
use crate::tracker::{InflightUpload, PartRecord};

/// S3's largest single PUT.
const MAX_SINGLE_PUT: u64 = 5 << 30;

/// What proved that the stored object is the bytes sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The store's composite CRC32C of the parts.
    CompositeCrc32c,
    /// The store's CRC32C of the whole object.
    FullObjectCrc32c,
    /// The multipart ETag, MD5 of the parts' MD5s.
    Md5OfMd5sEtag,
    /// The single PUT's ETag, the MD5 of its bytes.
    Md5Etag,
    /// The object read back, its CRC32C computed over every byte.
    ReadBack,
    /// Only the size: the store offers no checksum of the whole object and
    /// `verify_after_upload` is off.
    SizeOnly,
}

impl Proof {
    /// Words for the log and the tracking rows.
    pub fn describe(self) -> &'static str {
        match self {
            Proof::CompositeCrc32c => "the store's composite CRC32C of the parts",
            Proof::FullObjectCrc32c => "the store's CRC32C of the whole object",
            Proof::Md5OfMd5sEtag => "the multipart ETag (MD5 of the parts' MD5s)",
            Proof::Md5Etag => "the ETag (MD5 of the bytes)",
            Proof::ReadBack => "the object read back (CRC32C of every byte)",
            Proof::SizeOnly => "the size only (the store reports no checksum)",
        }
    }
}

/// What was sent, and what the store holds after it.
pub(crate) struct Sent<T> {
    /// The stored object as HEAD saw it, in the shape of a PUT's answer.
    pub put: PutResult,
    /// The stored object's HEAD.
    pub head: ObjectMeta,
    /// What proved it.
    pub proof: Proof,
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
        let caps = self.capabilities().await?;
        let checks = caps.part_checks(settings.checksum_algorithm == ChecksumAlgorithm::Md5);
        let threshold = settings.threshold_bytes().min(MAX_SINGLE_PUT);
        let multipart = caps.multipart && total_size >= threshold;
        if !multipart && total_size > MAX_SINGLE_PUT {
            return Err(Error::unusable(format!(
                "{key}: {total_size} bytes cannot go in one PUT (5 GiB at most), and {} \
                 offers no multipart uploads",
                self.store.describe()
            )));
        }
        let part_size = if multipart {
            part_size(total_size, settings.chunk_bytes())
        } else {
            total_size
        };
        let (mut sink, parts) = PartSink::new(part_size, checks);
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
                checks,
            };
            self.send_multipart(key, total_size, part_size, options, stream, resume)
                .await?
        } else {
            self.send_single(key, total_size, options, parts, writer, resume, checks)
                .await?
        };
        let sent = self.check_integrity(key, sent, multipart, &caps).await?;
        self.land_tags(key, options, multipart, &caps).await?;
        Ok(sent)
    }

    /// Puts the tags again where the store has tagging but drops the tags sent
    /// with the upload (Ceph 16 with CreateMultipartUpload).
    async fn land_tags(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        multipart: bool,
        caps: &Capabilities,
    ) -> Result<()> {
        let landed = if multipart {
            caps.tags_on_multipart
        } else {
            caps.tags_on_put
        };
        if options.tags.is_empty() || !caps.tagging || landed {
            return Ok(());
        }
        self.store.try_admin()?.put_tags(key, &options.tags).await
    }

    /// One PUT of the whole stream.
    #[allow(clippy::too_many_arguments)]
    async fn send_single<T: Send + 'static>(
        &self,
        key: &ObjectKey,
        total_size: u64,
        options: &PutOptions,
        mut parts: crate::engine::stream::PartReceiver,
        writer: tokio::task::JoinHandle<Result<(T, StreamSummary)>>,
        resume: Option<Resume<'_>>,
        checks: PartChecks,
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
            .put_opts(key, part.payload(checks), options)
            .await?;
        self.progress.advance(total_size);
        self.transferred
            .sent
            .fetch_add(total_size, std::sync::atomic::Ordering::Relaxed);
        Ok(Sent {
            head: ObjectMeta::from_put(key, total_size, &put),
            put,
            proof: Proof::SizeOnly,
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
            .start_upload(
                key,
                total_size,
                part_size,
                options,
                resume.as_ref(),
                stream.checks,
            )
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
            transferred: self.transferred.clone(),
            cancel: self.cancel.clone(),
            pool: Some(stream.pool),
            checks: stream.checks,
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
        if let Err(e) = self.check_parts(key, &upload, &receipts, &summary).await {
            self.abort(key, &upload).await;
            return Err(e);
        }
        let put = self.complete(key, &upload, &receipts, total_size).await?;
        Ok(Sent {
            head: ObjectMeta::from_put(key, total_size, &put),
            put,
            proof: Proof::SizeOnly,
            stream: summary,
            output,
            part_size,
            resumed_parts,
        })
    }

    /// Whether a failed upload keeps its parts for the next run: stopped between
    /// parts (not aborted), cut off from the store after every retry, or its
    /// credentials expired (an SSO session lasts 8 hours; a long upload resumes
    /// after the next login).
    fn keeps_parts(&self, err: &Error) -> bool {
        (matches!(err, Error::Interrupted) && !self.cancel.abort.is_cancelled())
            || is_transient(err)
            || matches!(
                err.store_kind(),
                Some(StoreErrorKind::Credentials | StoreErrorKind::ClockSkew)
            )
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
        checks: PartChecks,
    ) -> Result<(MultipartId, Vec<PartRecord>)> {
        let algorithm_name = checks.name();
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
            .create_multipart(key, options, checks.crc32c.then_some(ChecksumKind::Crc32c))
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

    /// Aborts a multipart upload and forgets it. One whose abort fails stays
    /// recorded, so that a later run aborts it (or doctor names it); its parts are
    /// billed until then.
    pub(crate) async fn abort(&self, key: &ObjectKey, upload: &MultipartId) {
        let aborted = match self.store.try_multipart() {
            Ok(multipart) => multipart.abort_multipart(key, upload).await,
            Err(e) => Err(e),
        };
        if let Err(e) = aborted {
            tracing::warn!(
                "could not abort the multipart upload of {key} ({e}); it stays recorded for the next run"
            );
            return;
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

    /// Before Complete: ListParts must show every part with the size sent, and
    /// the MD5 (ETag) or CRC32C sent where the store keeps them. A store that
    /// cannot list parts is taken at its UploadPart answers.
    async fn check_parts(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        receipts: &[PartReceipt],
        summary: &StreamSummary,
    ) -> Result<()> {
        let listed = match self.store.try_multipart()?.list_parts(key, upload).await {
            Ok(listed) => listed,
            Err(e) if e.store_kind() == Some(StoreErrorKind::NotImplemented) => return Ok(()),
            Err(e) => return Err(e),
        };
        let by_number: std::collections::HashMap<u32, &PartReceipt> =
            listed.iter().map(|p| (p.part_number, p)).collect();
        let kms = matches!(self.encryption(), Some(Encryption::Kms { .. }));
        let mut problems = Vec::new();
        for sent in receipts {
            let n = sent.part_number;
            let Some(found) = by_number.get(&n) else {
                problems.push(format!("part {n} is not listed"));
                continue;
            };
            if found.size != sent.size {
                problems.push(format!(
                    "part {n} holds {} bytes, {} sent",
                    found.size, sent.size
                ));
            }
            let index = n as usize - 1;
            if let (Some(md5), false) = (summary.part_md5.get(index), kms)
                && found.etag != hex::encode(md5)
                && found.etag.len() == 32
            {
                problems.push(format!(
                    "part {n}'s ETag {} is not the MD5 sent",
                    found.etag
                ));
            }
            if let (Some(crc), Some(listed)) = (summary.part_crc32c.get(index), &found.checksum)
                && *listed != crc32c_base64(*crc)
            {
                problems.push(format!("part {n}'s CRC32C {listed} is not the one sent"));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::Integrity {
            what: key.to_string(),
            message: format!(
                "the store's parts are not the ones sent ({}); the upload was aborted",
                problems.join("; ")
            ),
        })
    }

    /// After the upload, HEAD decides: the size, then the strongest whole-object
    /// proof the store offers (see the module's doc). An object that fails is
    /// removed by its version id and the upload fails.
    async fn check_integrity<T>(
        &self,
        key: &ObjectKey,
        mut sent: Sent<T>,
        multipart: bool,
        caps: &Capabilities,
    ) -> Result<Sent<T>> {
        let head = self
            .store
            .head(key)
            .await?
            .ok_or_else(|| Error::Integrity {
                what: key.to_string(),
                message: "is not in the store after its upload".into(),
            })?;
        let verdict = self.proof_of(key, &sent, &head, multipart, caps).await;
        match verdict {
            Ok(proof) => {
                sent.put = PutResult {
                    etag: head.etag.clone(),
                    version_id: head.version_id.clone().or(sent.put.version_id.take()),
                    checksum: head.checksum.clone(),
                };
                sent.head = head;
                sent.proof = proof;
                if proof == Proof::SizeOnly {
                    tracing::warn!(
                        "{key}: {} reports no checksum of the whole object; only its size was checked (archive_settings.verify_after_upload reads it back)",
                        self.store.describe()
                    );
                }
                Ok(sent)
            }
            Err(message) => {
                let options = DeleteOptions {
                    version_id: head.version_id.clone().filter(|v| v != "null"),
                };
                let removed = match self.store.delete_opts(key, &options).await {
                    Ok(()) => "the object was removed",
                    Err(_) => "the object could not be removed",
                };
                Err(Error::Integrity {
                    what: key.to_string(),
                    message: format!("{message}; {removed}"),
                })
            }
        }
    }

    /// The proof that `head` is the bytes sent, or what is wrong with it.
    async fn proof_of<T>(
        &self,
        key: &ObjectKey,
        sent: &Sent<T>,
        head: &ObjectMeta,
        multipart: bool,
        caps: &Capabilities,
    ) -> std::result::Result<Proof, String> {
        let stream = &sent.stream;
        if head.size != stream.bytes {
            return Err(format!(
                "the stored object holds {} bytes, not the {} sent",
                head.size, stream.bytes
            ));
        }
        let whole = crc32c_base64(u32::from_str_radix(&stream.crc32c, 16).unwrap_or_default());
        if let Some(reported) = head
            .checksum
            .as_ref()
            .filter(|c| c.kind == ChecksumKind::Crc32c)
        {
            let composite = composite_crc32c(&stream.part_crc32c);
            return if multipart && same_checksum(&composite, &reported.value) {
                Ok(Proof::CompositeCrc32c)
            } else if reported.value == whole {
                Ok(Proof::FullObjectCrc32c)
            } else {
                Err(format!(
                    "the stored object's CRC32C {} is not that of the bytes sent ({})",
                    reported.value,
                    if multipart { composite } else { whole }
                ))
            };
        }
        let kms = matches!(self.encryption(), Some(Encryption::Kms { .. }));
        if !stream.part_md5.is_empty() && !kms {
            let (expected, proof, trusted) = if multipart {
                let etag = md5_of_md5s(&stream.part_md5);
                (
                    etag,
                    Proof::Md5OfMd5sEtag,
                    caps.multipart_etag == EtagForm::Md5OfMd5s,
                )
            } else {
                (
                    hex::encode(stream.part_md5[0]),
                    Proof::Md5Etag,
                    caps.put_etag_is_md5,
                )
            };
            if head.etag == expected {
                return Ok(proof);
            }
            if trusted {
                return Err(format!(
                    "the stored object's ETag {} is not that of the bytes sent ({expected})",
                    head.etag
                ));
            }
        }
        if !self.config.archive_settings.verify_after_upload {
            return Ok(Proof::SizeOnly);
        }
        match self.read_back_crc32c(key).await {
            Ok(crc) if crc == stream.crc32c => Ok(Proof::ReadBack),
            Ok(crc) => Err(format!(
                "the object read back has CRC32C {crc}, not the {} sent",
                stream.crc32c
            )),
            Err(e) => Err(format!("the object could not be read back: {e}")),
        }
    }

    /// The CRC32C (hex) of every byte of the object, read back.
    async fn read_back_crc32c(&self, key: &ObjectKey) -> Result<String> {
        use futures::StreamExt as _;
        let mut got = self.store.get(key, None).await?;
        let mut crc = crate::checksum::StreamCrc::default();
        while let Some(chunk) = got.body.next().await {
            crc.update(&chunk?);
        }
        Ok(crc.hex())
    }

    /// `body` as one request, with the checksums the store checks.
    pub(crate) async fn payload_for(&self, body: bytes::Bytes) -> Result<crate::store::Payload> {
        use md5::Digest as _;
        let caps = self.capabilities().await?;
        let checks = caps
            .part_checks(self.config.upload_settings.checksum_algorithm == ChecksumAlgorithm::Md5);
        let part = crate::engine::stream::Part {
            number: 1,
            crc32c: crate::checksum::crc32c(&body),
            md5: checks.md5.then(|| md5::Md5::digest(&body).into()),
            bytes: body,
        };
        Ok(part.payload(checks))
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
    checks: PartChecks,
}

/// Copies exactly `size` bytes of the file at `source` into `sink`, hashing them;
/// returns their MD5 (hex). A file that changes size while it is read fails.
pub(crate) fn copy_file(
    source: &std::path::Path,
    size: u64,
    sink: &mut PartSink,
) -> Result<String> {
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
