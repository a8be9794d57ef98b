//! Reading an archive in lanes: several byte ranges of one object (or single
//! members' ranges), each a tar stream of its own, read side by side so that their
//! members are hashed together, one member per SIMD lane of the multi-stream MD5
//! (md5-many; one MD5 stream cannot use SIMD, and MD5 is most of the CPU a read
//! spends). Each lane's chunks also go through a CRC32C as they arrive, and the
//! lanes' CRCs are combined in order into the CRC32C of everything read.
//!
//! A member's bytes are not copied: the tar reader (the `tar` crate) reads the
//! headers, and seeks over each member's data, which the lanes take straight from
//! the chunks they arrived in (a GET body's buffers), hash in place and hand to
//! the [`Visit`]or: the verifier only hashes them, the extractor also writes them
//! to a staged file. Only where a chunk ends inside a 64-byte MD5 block are those
//! few bytes joined with the next chunk's in a block of their own. A gzip'd archive
//! is decompressed per lane into buffers instead.

use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use fitsbak_core::archive::{Chunks, Lane};
use fitsbak_core::checksum::StreamCrc;

use crate::error::ArchiveError;
use crate::multimd5::MultiMd5;

/// Most bytes a lane hands over in one round.
const ROUND_MAX: usize = 256 << 10;

/// A lane with fewer bytes at hand than this does not shorten the others' round:
/// it hands over what it has, and takes its next chunk in the next round.
const ROUND_MIN: usize = 16 << 10;

/// An MD5 block.
const BLOCK: usize = 64;

/// One tar entry as a lane met it.
pub(crate) struct EntryStart {
    /// The lane it is in.
    pub lane: usize,
    /// Its path, as in the archive.
    pub name: String,
    /// Its type.
    pub kind: tar::EntryType,
    /// Offset of its first data byte in the object, when the lane knows where it
    /// starts (an uncompressed archive).
    pub data_offset: Option<u64>,
}

/// What a visitor wants of an entry's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Skip them (not read into memory, not hashed).
    Skip,
    /// Hash them and hand them to [`Visit::data`].
    Bytes,
}

/// What is done with each entry of a lane read.
pub(crate) trait Visit {
    /// An entry starts.
    fn begin(&mut self, entry: &EntryStart) -> Want;
    /// The next bytes of the entry `lane` is in (only when [`Want::Bytes`]).
    fn data(&mut self, lane: usize, bytes: &[u8]);
    /// The entry of `lane` ended: its MD5 (lower-case hex) and size.
    fn end(&mut self, lane: usize, md5: String, size: u64);
}

/// What a lane read saw of its bytes.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Bytes read, all lanes (the compressed bytes, for a compressed archive).
    pub bytes: u64,
    /// CRC32C of the bytes read, lanes combined in order (empty when not asked for).
    pub crc32c: String,
    /// Whether each lane began where the one before ended (the lanes cover one
    /// stretch of the object without a gap or overlap).
    pub contiguous: bool,
}

/// A lane's bytes as they arrive, each chunk counted (and CRC'd) once.
struct Source<'a> {
    chunks: Chunks<'a>,
    /// What is left of the current chunk.
    front: Bytes,
    crc: Option<StreamCrc>,
    bytes: u64,
    ended: bool,
}

impl<'a> Source<'a> {
    fn new(chunks: Chunks<'a>, crc: bool) -> Self {
        Self {
            chunks,
            front: Bytes::new(),
            crc: crc.then(StreamCrc::default),
            bytes: 0,
            ended: false,
        }
    }

    /// Makes `front` hold bytes, unless the lane has ended (then `false`).
    fn fill(&mut self) -> io::Result<bool> {
        while self.front.is_empty() {
            if self.ended {
                return Ok(false);
            }
            match self.chunks.next() {
                Some(chunk) => {
                    let chunk = chunk?;
                    if let Some(crc) = &mut self.crc {
                        crc.update(&chunk);
                    }
                    self.bytes += chunk.len() as u64;
                    self.front = chunk;
                }
                None => self.ended = true,
            }
        }
        Ok(true)
    }

    /// Up to `max` of the next bytes, as they lie (empty at the end).
    fn take(&mut self, max: usize) -> io::Result<Bytes> {
        if !self.fill()? {
            return Ok(Bytes::new());
        }
        Ok(self.front.split_to(max.min(self.front.len())))
    }

    /// Passes over `n` bytes; how many there were.
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut done = 0;
        while done < n && self.fill()? {
            let k = (n - done).min(self.front.len() as u64) as usize;
            self.front.advance(k);
            done += k as u64;
        }
        Ok(done)
    }

    /// Passes over everything left, so that the CRC and the count cover the lane.
    fn drain(&mut self) -> io::Result<()> {
        while self.fill()? {
            self.front.clear();
        }
        Ok(())
    }
}

/// Copies: what the tar reader reads of the headers, and what gzip inflates.
impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.front.len());
        buf[..n].copy_from_slice(&self.front[..n]);
        self.front.advance(n);
        Ok(n)
    }
}

/// A lane's tar stream: the bytes as they are, or inflated.
enum Decoded<'a> {
    Plain(Source<'a>),
    Gzip(flate2::read::MultiGzDecoder<Source<'a>>),
}

/// A lane's tar stream, shared by its tar reader (headers) and the lane (data).
struct Shared<'a> {
    stream: Decoded<'a>,
    /// Where the tar reader stands: the bytes it read and the seeks it made.
    told: u64,
    /// Bytes taken from the stream, by the tar reader or by the lane.
    at: u64,
}

impl<'a> Shared<'a> {
    /// Up to `max` of the next bytes of the tar stream.
    fn take(&mut self, max: usize) -> io::Result<Bytes> {
        let bytes = match &mut self.stream {
            Decoded::Plain(source) => source.take(max)?,
            Decoded::Gzip(inflate) => {
                let mut buf = BytesMut::zeroed(max.min(ROUND_MAX));
                let n = read_full(inflate, &mut buf)?;
                buf.truncate(n);
                buf.freeze()
            }
        };
        self.at += bytes.len() as u64;
        Ok(bytes)
    }

    /// The raw bytes under the tar stream.
    fn source(&mut self) -> &mut Source<'a> {
        match &mut self.stream {
            Decoded::Plain(source) => source,
            Decoded::Gzip(inflate) => inflate.get_mut(),
        }
    }
}

/// The tar reader's side of a lane: it reads headers, and seeks forward over the
/// data the lane took (or over an entry nobody wants).
struct TarSide<'a>(Rc<RefCell<Shared<'a>>>);

impl Read for TarSide<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut shared = self.0.borrow_mut();
        if shared.told != shared.at {
            return Err(io::Error::other(
                "the tar reader read where the lane had taken the bytes",
            ));
        }
        let n = match &mut shared.stream {
            Decoded::Plain(source) => source.read(buf)?,
            Decoded::Gzip(inflate) => inflate.read(buf)?,
        };
        shared.told += n as u64;
        shared.at += n as u64;
        Ok(n)
    }
}

/// Only forward, from where the tar reader stands (all it asks).
impl Seek for TarSide<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let mut shared = self.0.borrow_mut();
        let target = match pos {
            SeekFrom::Current(d) if d >= 0 => shared.told + d as u64,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a lane is read forward only",
                ));
            }
        };
        if target < shared.at {
            return Err(io::Error::other(
                "the tar reader sought back into bytes the lane had taken",
            ));
        }
        let want = target - shared.at;
        let skipped = match &mut shared.stream {
            Decoded::Plain(source) => source.skip(want)?,
            Decoded::Gzip(inflate) => io::copy(&mut inflate.by_ref().take(want), &mut io::sink())?,
        };
        shared.at += skipped;
        if skipped < want {
            return Err(inside_member());
        }
        shared.told = target;
        Ok(target)
    }
}

fn inside_member() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the archive ends inside a member",
    )
}

/// One lane's tar entries and the entry it is in.
struct Stream<'r, 'a> {
    entries: tar::Entries<'r, TarSide<'a>>,
    shared: Rc<RefCell<Shared<'a>>>,
    /// The object's offset of the lane's first byte, when offsets are known.
    start: Option<u64>,
    /// In an entry whose bytes are wanted.
    active: bool,
    /// Its bytes not yet handed over (those at hand included), and its size.
    left: u64,
    size: u64,
    /// Its bytes taken and not yet handed over.
    at_hand: Bytes,
    finished: bool,
}

impl Stream<'_, '_> {
    /// Bytes at hand for the next round: 64-byte blocks unless the entry ends in
    /// them. Fewer than 64 where the entry goes on are joined with the next chunk's
    /// first bytes.
    fn ready(&mut self) -> io::Result<()> {
        if self.at_hand.is_empty() && self.left > 0 {
            let max = self.left.min(ROUND_MAX as u64) as usize;
            self.at_hand = self.shared.borrow_mut().take(max)?;
        }
        if self.at_hand.len() < BLOCK && !self.ends() {
            let mut joined = BytesMut::with_capacity(BLOCK);
            joined.extend_from_slice(&self.at_hand);
            while joined.len() < BLOCK && (joined.len() as u64) < self.left {
                let more = (BLOCK - joined.len()).min((self.left - joined.len() as u64) as usize);
                let piece = self.shared.borrow_mut().take(more)?;
                if piece.is_empty() {
                    break;
                }
                joined.extend_from_slice(&piece);
            }
            self.at_hand = joined.freeze();
        }
        if self.at_hand.len() < BLOCK && !self.ends() {
            return Err(inside_member());
        }
        Ok(())
    }

    /// Whether the bytes at hand end the entry.
    fn ends(&self) -> bool {
        self.at_hand.len() as u64 == self.left
    }
}

/// Reads `lanes` side by side, handing their entries to `visit`. `compression`
/// (`gzip`) is undone per lane; then offsets are unknown. With `crc`, the CRC32C
/// of all the bytes is taken (a verify compares it with the object's; an
/// extraction checks each file's MD5, and has no use for it).
pub(crate) fn read<'a>(
    lanes: Vec<Lane<'a>>,
    compression: Option<&str>,
    crc: bool,
    visit: &mut dyn Visit,
) -> Result<Totals, ArchiveError> {
    let mut starts = Vec::with_capacity(lanes.len());
    let mut shared = Vec::with_capacity(lanes.len());
    let mut archives = Vec::with_capacity(lanes.len());
    for lane in lanes {
        let source = Source::new(lane.chunks, crc);
        let stream = match compression {
            None => Decoded::Plain(source),
            Some("gzip") => Decoded::Gzip(flate2::read::MultiGzDecoder::new(source)),
            Some(other) => {
                return Err(ArchiveError::Stream(io::Error::other(format!(
                    "the manifest names a compression fitsbak cannot read: {other:?}"
                ))));
            }
        };
        let lane_shared = Rc::new(RefCell::new(Shared {
            stream,
            told: 0,
            at: 0,
        }));
        starts.push(compression.is_none().then_some(lane.start));
        archives.push(tar::Archive::new(TarSide(lane_shared.clone())));
        shared.push(lane_shared);
    }
    {
        let mut streams = archives
            .iter_mut()
            .zip(&shared)
            .zip(&starts)
            .map(|((archive, shared), &start)| {
                Ok(Stream {
                    entries: archive.entries_with_seek().map_err(ArchiveError::Stream)?,
                    shared: shared.clone(),
                    start,
                    active: false,
                    left: 0,
                    size: 0,
                    at_hand: Bytes::new(),
                    finished: false,
                })
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        side_by_side(&mut streams, visit).map_err(ArchiveError::Stream)?;
    }
    drop(archives);
    let mut totals = Totals {
        contiguous: true,
        ..Totals::default()
    };
    let mut all = StreamCrc::default();
    let mut next = starts.first().copied().flatten();
    for (start, lane) in starts.iter().zip(shared) {
        let mut lane = lane.borrow_mut();
        // Each lane to its end, so that the CRC and the count cover all its bytes.
        if let Decoded::Gzip(inflate) = &mut lane.stream {
            io::copy(inflate, &mut io::sink()).map_err(ArchiveError::Stream)?;
        }
        let source = lane.source();
        source.drain().map_err(ArchiveError::Stream)?;
        if start.is_some() && *start != next {
            totals.contiguous = false;
        }
        next = start.map(|s| s + source.bytes);
        if let Some(crc) = &source.crc {
            all.append(crc.value(), source.bytes);
        }
        totals.bytes += source.bytes;
    }
    if crc {
        totals.crc32c = all.hex();
    }
    Ok(totals)
}

/// The rounds: each lane in an entry has bytes at hand; they are cut to one
/// length (so that the MD5 lanes run in lockstep), hashed together, handed over,
/// and entries that ended are finished.
fn side_by_side(streams: &mut [Stream<'_, '_>], visit: &mut dyn Visit) -> io::Result<()> {
    let mut md5 = MultiMd5::new(streams.len());
    let mut pieces = vec![Bytes::new(); streams.len()];
    loop {
        for (lane, stream) in streams.iter_mut().enumerate() {
            if !stream.active && !stream.finished {
                next_entry(lane, stream, visit)?;
            }
            if stream.active {
                stream.ready()?;
            }
        }
        if streams.iter().all(|s| !s.active) {
            return Ok(());
        }
        // The round's length: the shortest of the lanes with enough at hand.
        let round = streams
            .iter()
            .filter(|s| s.active && s.at_hand.len() >= ROUND_MIN)
            .map(|s| s.at_hand.len())
            .min()
            .unwrap_or(ROUND_MAX);
        for (stream, piece) in streams.iter_mut().zip(pieces.iter_mut()) {
            *piece = if !stream.active {
                Bytes::new()
            } else if stream.ends() && stream.at_hand.len() <= round {
                std::mem::take(&mut stream.at_hand)
            } else {
                let n = stream.at_hand.len().min(round) & !(BLOCK - 1);
                stream.at_hand.split_to(n)
            };
        }
        let slices: Vec<&[u8]> = pieces.iter().map(|p| &p[..]).collect();
        md5.update(&slices);
        for (lane, (stream, piece)) in streams.iter_mut().zip(&pieces).enumerate() {
            if !stream.active {
                continue;
            }
            if !piece.is_empty() {
                visit.data(lane, piece);
            }
            stream.left -= piece.len() as u64;
            if stream.left == 0 {
                stream.active = false;
                visit.end(lane, md5.finish(lane), stream.size);
            }
        }
    }
}

/// Moves `stream` to its next entry whose bytes the visitor wants, or to its end.
fn next_entry(lane: usize, stream: &mut Stream<'_, '_>, visit: &mut dyn Visit) -> io::Result<()> {
    for entry in stream.entries.by_ref() {
        let entry = entry?;
        let size = entry.size();
        let start = EntryStart {
            lane,
            name: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            kind: entry.header().entry_type(),
            data_offset: stream.start.map(|s| s + entry.raw_file_position()),
        };
        if visit.begin(&start) == Want::Bytes {
            stream.active = true;
            stream.left = size;
            stream.size = size;
            return Ok(());
        }
    }
    stream.finished = true;
    Ok(())
}

/// Fills `buf` unless the stream ends first; returns the bytes read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
