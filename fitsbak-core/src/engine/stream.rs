//! Streaming an archive into the object store with bounded memory.
//!
//! The tar bytes are produced on a blocking thread (`ArchiveBuilder::write`) into a
//! [`PartSink`], which cuts them into parts of the chosen size, checksums each part
//! (and the whole stream, combined from the parts' CRCs), and hands the parts over a channel with room for one. The
//! async side uploads up to `concurrency` parts at once and takes the next part only
//! when a slot is free, so at most about (concurrency + 2) parts are in memory
//! whatever the archive's size: `concurrency` in flight, one in the channel, one
//! being filled. Any failure drops the channel, which stops the writer at its next
//! write; the caller aborts the upload.

use std::io::Write;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::archive::ArchiveSink;
use crate::checksum::{StreamCrc, crc32c, of_part};
use crate::config::ChecksumAlgorithm;
use crate::error::{Error, Result};
use crate::ids::ObjectKey;
use crate::progress::Progress;
use crate::store::{Checksum, MultipartId, ObjectStore, ObjectStoreExt, PartReceipt, Payload};
use crate::tracker::{PartRecord, Tracker};

/// S3's limit on the number of parts.
pub const MAX_PARTS: u64 = 10_000;

/// The part size for an archive of `total` bytes: the configured size, raised to a
/// whole MiB so that the archive fits in 10,000 parts.
pub fn part_size(total: u64, configured: u64) -> u64 {
    let needed = total.div_ceil(MAX_PARTS);
    let mib = 1 << 20;
    if needed <= configured {
        configured.max(1)
    } else {
        needed.div_ceil(mib) * mib
    }
}

/// One part of the stream.
#[derive(Debug, Clone)]
pub struct Part {
    /// 1-based number.
    pub number: u32,
    /// Its bytes.
    pub bytes: Bytes,
    /// The client's checksum of its bytes.
    pub checksum: Checksum,
}

/// The receiving end of a [`PartSink`].
pub type PartReceiver = mpsc::Receiver<Part>;

/// What the stream was, once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    /// Bytes written.
    pub bytes: u64,
    /// CRC32C of all of them, hex.
    pub crc32c: String,
    /// Checksums of the parts, in order.
    pub part_checksums: Vec<Checksum>,
}

/// Part buffers given back once their upload is done, so that the next parts reuse
/// them: no fresh pages to fault in and zero for every part.
#[derive(Debug, Clone, Default)]
pub struct PartPool {
    free: Arc<std::sync::Mutex<Vec<BytesMut>>>,
}

impl PartPool {
    /// Most buffers kept: as many as can be in use at once.
    const KEEP: usize = 16;

    fn take(&self, size: usize) -> BytesMut {
        let reused = self
            .free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .filter(|b| b.capacity() >= size);
        match reused {
            Some(mut buf) => {
                buf.resize(size, 0);
                buf
            }
            None => BytesMut::zeroed(size),
        }
    }

    /// Gives a part's bytes back, when nothing else holds them any more.
    pub fn give(&self, bytes: Bytes) {
        if let Ok(buf) = bytes.try_into_mut()
            && let Ok(mut free) = self.free.lock()
            && free.len() < Self::KEEP
        {
            free.push(buf);
        }
    }
}

/// Where the archive builder writes, on a blocking thread: it cuts the stream into
/// parts, lends the part being filled so that file bytes are read straight into it,
/// and sends each full part over the channel.
pub struct PartSink {
    part_size: usize,
    algorithm: ChecksumAlgorithm,
    /// The part being filled: `part_size` bytes long, the first `filled` of them set.
    buf: BytesMut,
    filled: usize,
    pool: PartPool,
    tx: mpsc::Sender<Part>,
    crc: StreamCrc,
    bytes: u64,
    checksums: Vec<Checksum>,
    copy: Option<std::io::BufWriter<std::fs::File>>,
}

impl PartSink {
    /// A sink cutting parts of `part_size` bytes, and its receiver.
    pub fn new(part_size: u64, algorithm: ChecksumAlgorithm) -> (Self, PartReceiver) {
        let (tx, rx) = mpsc::channel(1);
        let part_size = part_size as usize;
        let pool = PartPool::default();
        let sink = Self {
            part_size,
            algorithm,
            buf: BytesMut::new(),
            filled: 0,
            pool,
            tx,
            crc: StreamCrc::default(),
            bytes: 0,
            checksums: Vec::new(),
            copy: None,
        };
        (sink, rx)
    }

    /// Also writes every byte to `file` (`upload --no-cleanup`).
    pub fn with_copy(mut self, file: std::fs::File) -> Self {
        self.copy = Some(std::io::BufWriter::with_capacity(1 << 20, file));
        self
    }

    /// Where the uploader gives the part buffers back.
    pub fn pool(&self) -> PartPool {
        self.pool.clone()
    }

    /// A buffer for the next part, taken when the first byte of it comes (a stream
    /// of one part never holds a second buffer).
    fn ensure_buffer(&mut self) {
        if self.buf.len() != self.part_size {
            self.buf = self.pool.take(self.part_size);
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        let mut bytes = std::mem::take(&mut self.buf).freeze();
        bytes.truncate(self.filled);
        self.filled = 0;
        let checksum = of_part(self.algorithm, &bytes);
        let crc = match checksum {
            Checksum::Crc32c(crc) => crc,
            _ => crc32c(&bytes),
        };
        self.crc.append(crc, bytes.len() as u64);
        self.checksums.push(checksum);
        let part = Part {
            number: self.checksums.len() as u32,
            bytes,
            checksum,
        };
        self.tx
            .blocking_send(part)
            .map_err(|_| std::io::Error::other("the upload stopped"))
    }

    /// Records `n` new bytes at the end of the part, sending it when full.
    fn advance(&mut self, n: usize) -> std::io::Result<()> {
        if let Some(copy) = &mut self.copy {
            copy.write_all(&self.buf[self.filled..self.filled + n])?;
        }
        self.filled += n;
        self.bytes += n as u64;
        if self.filled == self.part_size {
            self.send()?;
        }
        Ok(())
    }

    /// Sends the last part (an empty stream still sends one empty part) and returns
    /// what was written.
    pub fn finish(mut self) -> std::io::Result<StreamSummary> {
        if self.filled > 0 || self.checksums.is_empty() {
            self.send()?;
        }
        if let Some(mut copy) = self.copy.take() {
            copy.flush()?;
            copy.get_ref().sync_all()?;
        }
        Ok(StreamSummary {
            bytes: self.bytes,
            crc32c: self.crc.hex(),
            part_checksums: self.checksums,
        })
    }
}

impl ArchiveSink for PartSink {
    fn put(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            self.ensure_buffer();
            let n = (self.part_size - self.filled).min(data.len());
            self.buf[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.advance(n)?;
            data = &data[n..];
        }
        Ok(())
    }

    fn room(&mut self, max: usize) -> Option<&mut [u8]> {
        self.ensure_buffer();
        let end = self.part_size.min(self.filled.saturating_add(max));
        (end > self.filled).then(|| &mut self.buf[self.filled..end])
    }

    fn filled(&mut self, n: usize) -> std::io::Result<()> {
        if self.filled + n > self.part_size {
            return Err(std::io::Error::other("more bytes filled than lent"));
        }
        self.advance(n)
    }
}

/// Where to upload the parts, and what to tell along the way.
pub struct PartUploader {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The object.
    pub key: ObjectKey,
    /// The multipart upload.
    pub upload: MultipartId,
    /// Parts in flight at most.
    pub concurrency: usize,
    /// Records each completed part, for resume (`None`: the upload is not resumable).
    pub tracker: Option<Arc<dyn Tracker>>,
    /// Told about every byte sent.
    pub progress: Arc<dyn Progress>,
    /// Stop between parts, or abort.
    pub cancel: crate::engine::Cancel,
    /// Where each part's buffer goes back once it is uploaded.
    pub pool: Option<PartPool>,
}

impl PartUploader {
    /// Uploads every part received, `concurrency` at a time; returns the receipts
    /// in part order. Parts already on the server (`done`, from an interrupted run)
    /// are not sent again, but their regenerated bytes must still have the checksum
    /// recorded then. Stops at the first failure.
    pub async fn run(
        &self,
        mut parts: PartReceiver,
        done: Vec<PartRecord>,
    ) -> Result<Vec<PartReceipt>> {
        let mut receipts: Vec<PartReceipt> = Vec::with_capacity(done.len());
        let recorded: std::collections::HashMap<u32, String> = done
            .into_iter()
            .map(|p| {
                receipts.push(p.receipt.clone());
                (p.receipt.part_number, p.client_checksum)
            })
            .collect();
        let mut running: JoinSet<Result<(PartReceipt, Checksum)>> = JoinSet::new();
        loop {
            while running.len() >= self.concurrency.max(1) {
                self.collect(&mut running, &mut receipts).await?;
            }
            let part = tokio::select! {
                biased;
                () = self.cancel.stop.cancelled() => {
                    // Finish the parts in flight, so that they are recorded.
                    while !running.is_empty() {
                        self.collect(&mut running, &mut receipts).await?;
                    }
                    return Err(Error::Interrupted);
                }
                part = parts.recv() => part,
            };
            let Some(part) = part else {
                break;
            };
            if let Some(expected) = recorded.get(&part.number) {
                if *expected != part.checksum.to_string() {
                    return Err(Error::Integrity {
                        what: self.key.to_string(),
                        message: format!(
                            "part {} does not have the bytes uploaded before ({} now, {expected} then)",
                            part.number, part.checksum
                        ),
                    });
                }
                self.progress.advance(part.bytes.len() as u64);
                if let Some(pool) = &self.pool {
                    pool.give(part.bytes);
                }
                continue;
            }
            let store = self.store.clone();
            let (key, upload) = (self.key.clone(), self.upload.clone());
            let pool = self.pool.clone();
            running.spawn(async move {
                let kept = part.bytes.clone();
                let payload = Payload::new(part.bytes, Some(part.checksum));
                let receipt = store
                    .try_multipart()?
                    .put_part(&key, &upload, part.number, payload)
                    .await?;
                if let Some(pool) = pool {
                    pool.give(kept);
                }
                Ok((receipt, part.checksum))
            });
        }
        while !running.is_empty() {
            self.collect(&mut running, &mut receipts).await?;
        }
        receipts.sort_by_key(|r| r.part_number);
        Ok(receipts)
    }

    async fn collect(
        &self,
        running: &mut JoinSet<Result<(PartReceipt, Checksum)>>,
        receipts: &mut Vec<PartReceipt>,
    ) -> Result<()> {
        let joined = tokio::select! {
            biased;
            () = self.cancel.abort.cancelled() => {
                running.abort_all();
                return Err(Error::Interrupted);
            }
            joined = running.join_next() => joined,
        };
        let Some(joined) = joined else {
            return Ok(());
        };
        let (receipt, checksum) = joined.map_err(|e| Error::task("a part upload", e))??;
        if let Some(tracker) = &self.tracker {
            tracker
                .record_part(
                    &self.upload,
                    &PartRecord {
                        receipt: receipt.clone(),
                        client_checksum: checksum.to_string(),
                    },
                )
                .await?;
        }
        self.progress.advance(receipt.size);
        receipts.push(receipt);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_keeps_archives_under_ten_thousand_parts() {
        let mib = 1 << 20;
        assert_eq!(part_size(100 * mib, 25 * mib), 25 * mib);
        assert_eq!(
            part_size(6000, 1000),
            1000,
            "small configured sizes are kept"
        );
        let huge = 400 * 1024 * mib; // 400 GiB at 25 MiB parts would need 16,384 parts
        let size = part_size(huge, 25 * mib);
        assert_eq!(size % mib, 0);
        assert!(huge.div_ceil(size) <= MAX_PARTS);
        assert!(size > 25 * mib);
    }

    #[test]
    fn the_sink_cuts_parts_and_checksums_them() {
        let (mut sink, mut rx) = PartSink::new(4, ChecksumAlgorithm::Crc32c);
        let reader = std::thread::spawn(move || {
            let mut parts = Vec::new();
            while let Some(p) = rx.blocking_recv() {
                parts.push(p);
            }
            parts
        });
        sink.put(b"0123456789").unwrap();
        let summary = sink.finish().unwrap();
        let parts = reader.join().unwrap();
        let bodies: Vec<&[u8]> = parts.iter().map(|p| p.bytes.as_ref()).collect();
        assert_eq!(bodies, vec![&b"0123"[..], b"4567", b"89"]);
        assert_eq!(
            parts.iter().map(|p| p.number).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(summary.bytes, 10);
        assert_eq!(summary.crc32c, crate::checksum::crc32c_hex(b"0123456789"));
        assert_eq!(
            summary.part_checksums,
            parts.iter().map(|p| p.checksum).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_stream_crc_is_the_same_in_md5_mode() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in [ChecksumAlgorithm::Md5, ChecksumAlgorithm::Crc32c] {
            let (mut sink, mut rx) = PartSink::new(3000, algorithm);
            let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
            sink.put(&data).unwrap();
            let summary = sink.finish().unwrap();
            drain.join().unwrap();
            assert_eq!(summary.part_checksums.len(), 4);
            assert_eq!(summary.crc32c, crate::checksum::crc32c_hex(&data));
        }
    }

    #[test]
    fn bytes_read_into_lent_room_make_the_same_parts_as_put() {
        let (mut sink, mut rx) = PartSink::new(4, ChecksumAlgorithm::Crc32c);
        let reader = std::thread::spawn(move || {
            let mut parts = Vec::new();
            while let Some(p) = rx.blocking_recv() {
                parts.push(p.bytes);
            }
            parts
        });
        let room = sink.room(3).unwrap();
        assert_eq!(room.len(), 3);
        room.copy_from_slice(b"abc");
        sink.filled(3).unwrap();
        assert_eq!(
            sink.room(10).unwrap().len(),
            1,
            "only the rest of the part is lent"
        );
        sink.put(b"defg").unwrap();
        let room = sink.room(8).unwrap();
        assert_eq!(room.len(), 1);
        room[0] = b'h';
        sink.filled(1).unwrap();
        let room = sink.room(8).unwrap();
        assert_eq!(room.len(), 4, "a new part");
        room[0] = b'i';
        sink.filled(1).unwrap();
        assert!(sink.filled(5).is_err(), "more than lent");
        let summary = sink.finish().unwrap();
        let parts = reader.join().unwrap();
        assert_eq!(parts, vec![&b"abcd"[..], b"efgh", b"i"]);
        assert_eq!(summary.bytes, 9);
        assert_eq!(summary.crc32c, crate::checksum::crc32c_hex(b"abcdefghi"));
    }

    #[test]
    fn part_buffers_are_reused_once_nothing_holds_them() {
        let pool = PartPool::default();
        let first = pool.take(64);
        let address = first.as_ptr();
        let frozen = first.freeze();
        let held = frozen.clone();
        pool.give(frozen);
        assert_ne!(
            pool.take(64).as_ptr(),
            address,
            "a buffer still held is not reused"
        );
        pool.give(held);
        let again = pool.take(64);
        assert_eq!(again.as_ptr(), address);
        assert_eq!(again.len(), 64);
    }

    #[test]
    fn a_closed_receiver_stops_the_writer() {
        let (mut sink, rx) = PartSink::new(2, ChecksumAlgorithm::Crc32c);
        drop(rx);
        let err = sink.put(b"abcdef").unwrap_err();
        assert!(err.to_string().contains("upload stopped"));
    }
}
