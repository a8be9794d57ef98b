//! Reading an archive in lanes: several byte ranges of one object (or single
//! members' ranges), each a tar stream of its own, read side by side so that their
//! members are hashed together, one member per SIMD lane of the multi-stream MD5
//! (md5-many; one MD5 stream cannot use SIMD, and MD5 is most of the CPU a read
//! spends). Each lane's bytes also go through a CRC32C, and the lanes' CRCs are
//! combined in order into the CRC32C of everything read.
//!
//! What happens to a member's bytes is the [`Visit`]or's: the verifier only hashes
//! them, the extractor also writes them to a staged file. Memory is one read
//! buffer per lane.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use fitsbak_core::archive::Lane;
use fitsbak_core::checksum::StreamCrc;

use crate::error::ArchiveError;
use crate::multimd5::MultiMd5;

/// Bytes read from each lane per round.
const CHUNK: usize = 128 << 10;

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
    /// CRC32C of the bytes read, lanes combined in order.
    pub crc32c: String,
    /// Whether each lane began where the one before ended (the lanes cover one
    /// stretch of the object without a gap or overlap).
    pub contiguous: bool,
}

/// Counts and CRCs what is read through it; the tally is shared with the lane,
/// which reads it after the tar reader (which owns this) is done.
struct Tallied<'a> {
    inner: Box<dyn Read + Send + 'a>,
    tally: Rc<RefCell<(StreamCrc, u64)>>,
}

impl Read for Tallied<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut tally = self.tally.borrow_mut();
        tally.0.update(&buf[..n]);
        tally.1 += n as u64;
        Ok(n)
    }
}

/// One lane's tar reader and where it stands.
struct Stream<'r, R: Read> {
    entries: tar::Entries<'r, R>,
    current: Option<tar::Entry<'r, R>>,
    left: u64,
    size: u64,
    finished: bool,
}

/// Reads `lanes` side by side, handing their entries to `visit`. `compression`
/// (`gzip`) is undone per lane; then offsets are unknown.
pub(crate) fn read<'a>(
    lanes: Vec<Lane<'a>>,
    compression: Option<&str>,
    visit: &mut dyn Visit,
) -> Result<Totals, ArchiveError> {
    let mut starts = Vec::with_capacity(lanes.len());
    let mut tallies = Vec::with_capacity(lanes.len());
    let mut archives = Vec::with_capacity(lanes.len());
    for lane in lanes {
        let tally = Rc::new(RefCell::new((StreamCrc::default(), 0u64)));
        let raw = Tallied {
            inner: lane.reader,
            tally: tally.clone(),
        };
        let stream = crate::read::decompressed(raw, compression)?;
        starts.push(compression.is_none().then_some(lane.start));
        tallies.push(tally);
        archives.push(tar::Archive::new(stream));
    }
    {
        let mut streams = archives
            .iter_mut()
            .map(|a| {
                Ok(Stream {
                    entries: a.entries().map_err(ArchiveError::Stream)?,
                    current: None,
                    left: 0,
                    size: 0,
                    finished: false,
                })
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        side_by_side(&mut streams, &starts, visit)?;
    }
    // Each lane to its end, so that the CRC and the count cover all its bytes.
    for archive in archives {
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(ArchiveError::Stream)?;
    }
    let mut totals = Totals {
        contiguous: true,
        ..Totals::default()
    };
    let mut crc = StreamCrc::default();
    let mut next = starts.first().copied().flatten();
    for (start, tally) in starts.iter().zip(&tallies) {
        let (lane_crc, bytes) = &*tally.borrow();
        if start.is_some() && *start != next {
            totals.contiguous = false;
        }
        next = start.map(|s| s + bytes);
        crc.append(lane_crc.value(), *bytes);
        totals.bytes += bytes;
    }
    totals.crc32c = crc.hex();
    Ok(totals)
}

/// The rounds: each lane with an entry to read gives its next chunk, the chunks
/// are hashed together, handed over, and entries that ended are finished.
fn side_by_side<R: Read>(
    streams: &mut [Stream<'_, R>],
    starts: &[Option<u64>],
    visit: &mut dyn Visit,
) -> Result<(), ArchiveError> {
    let mut md5 = MultiMd5::new(streams.len());
    let mut buffers = vec![vec![0u8; CHUNK]; streams.len()];
    let mut filled = vec![0usize; streams.len()];
    loop {
        for (lane, stream) in streams.iter_mut().enumerate() {
            filled[lane] = 0;
            if stream.current.is_none() && !stream.finished {
                next_entry(lane, stream, starts[lane], visit)?;
            }
            let Some(entry) = stream.current.as_mut() else {
                continue;
            };
            let want = CHUNK.min(stream.left as usize);
            let n = read_full(entry, &mut buffers[lane][..want]).map_err(ArchiveError::Stream)?;
            if n < want {
                return Err(ArchiveError::Stream(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the archive ends inside a member",
                )));
            }
            filled[lane] = n;
        }
        if streams.iter().all(|s| s.current.is_none()) {
            return Ok(());
        }
        let pieces: Vec<&[u8]> = buffers.iter().zip(&filled).map(|(b, &n)| &b[..n]).collect();
        md5.update(&pieces);
        for (lane, stream) in streams.iter_mut().enumerate() {
            if stream.current.is_none() {
                continue;
            }
            if filled[lane] > 0 {
                visit.data(lane, pieces[lane]);
            }
            stream.left -= filled[lane] as u64;
            if stream.left == 0 {
                stream.current = None;
                visit.end(lane, md5.finish(lane), stream.size);
            }
        }
    }
}

/// Moves `stream` to its next entry whose bytes the visitor wants, or to its end.
fn next_entry<R: Read>(
    lane: usize,
    stream: &mut Stream<'_, R>,
    start: Option<u64>,
    visit: &mut dyn Visit,
) -> Result<(), ArchiveError> {
    for entry in stream.entries.by_ref() {
        let entry = entry.map_err(ArchiveError::Stream)?;
        let size = entry.size();
        let start = EntryStart {
            lane,
            name: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            kind: entry.header().entry_type(),
            data_offset: start.map(|s| s + entry.raw_file_position()),
        };
        if visit.begin(&start) == Want::Bytes {
            stream.current = Some(entry);
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
