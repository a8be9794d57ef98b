//! Writing an archive as a stream: header, file bytes, padding, for each member of
//! the plan, then the end-of-archive blocks.
//!
//! Each file is read through a bound of exactly its planned size, and the count is
//! checked: a file that shrank, grew or was modified while read fails the archive
//! instead of producing a malformed one (`tar`'s `append_data` does not notice).
//!
//! MD5 is most of the CPU an upload spends, and one MD5 stream cannot use SIMD
//! (each 64-byte block depends on the one before). So members are taken
//! one per SIMD lane at a time (8 on AVX2, 16 on AVX-512): a first pass reads the batch's files side by side and
//! hashes them together, one file per SIMD lane (md5-many; about 6x the
//! throughput of one stream on AVX2), also taking each file's CRC32C, and checks
//! the MD5s against the catalog before any of the batch's bytes are written. The
//! second pass writes the files into the archive, taking their CRC32C again: a
//! file whose bytes differ between the two reads fails the archive, so the MD5
//! recorded is always the MD5 of the bytes archived. The second read of a batch
//! (at most one file per lane and [`BATCH_BYTES`] bytes) normally comes from the
//! page cache.

use std::fs::File;
use std::io::{ErrorKind, Read};

use fitsbak_core::archive::{ArchivePlan, ArchiveSink, PlannedMember};
use fitsbak_core::checksum::StreamCrc;
use md5::{Digest, Md5};

use crate::error::ArchiveError;
use crate::layout::{END_OF_ARCHIVE, member_header, padding};
use crate::multimd5::MultiMd5;

/// Size of each read from a source file.
const READ_SIZE: usize = 1 << 20;

/// Most bytes in one batch, so that its second read still finds them in the page
/// cache; a file larger than this is read once, hashed as it streams.
pub const BATCH_BYTES: u64 = 1 << 30;

/// The plan's members in batches of at most `lanes` files and [`BATCH_BYTES`]
/// bytes (a batch of one when a file alone exceeds it), in archive order.
fn batches(members: &[PlannedMember], lanes: usize) -> impl Iterator<Item = &[PlannedMember]> {
    let mut rest = members;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0u64;
        let len = rest
            .iter()
            .take(lanes)
            .take_while(|m| {
                bytes = bytes.saturating_add(m.source.size);
                bytes <= BATCH_BYTES
            })
            .count()
            .max(1);
        let (batch, tail) = rest.split_at(len);
        rest = tail;
        Some(batch)
    })
}

const ZEROS: [u8; 512] = [0; 512];

pub use fitsbak_core::time::mtime_seconds;

/// Writes the archive of `plan` to `out`; returns each member's MD5 in order.
pub fn write(plan: &ArchivePlan, out: &mut dyn ArchiveSink) -> Result<Vec<String>, ArchiveError> {
    let mut md5s = Vec::with_capacity(plan.members.len());
    let mut buf = vec![0u8; READ_SIZE];
    let mut lanes = LaneHasher::default();
    for batch in batches(&plan.members, MultiMd5::native_lanes()) {
        // One file alone gains nothing from lanes: hash it as it streams.
        let first = if batch.len() > 1 {
            Some(lanes.hash(batch)?)
        } else {
            None
        };
        for (i, member) in batch.iter().enumerate() {
            let header = member_header(&member.path, member.source.size, member.source.mtime);
            out.put(&header).map_err(ArchiveError::Sink)?;
            let md5 = match &first {
                Some(first) => {
                    let mut crc = StreamCrc::default();
                    copy_member(member, &mut buf, out, &mut |bytes| crc.update(bytes))?;
                    if crc.hex() != first[i].crc {
                        return Err(ArchiveError::ContentChanged {
                            path: member.source.catalog.path.clone(),
                        });
                    }
                    first[i].md5.clone()
                }
                None => {
                    let mut md5 = Md5::new();
                    copy_member(member, &mut buf, out, &mut |bytes| md5.update(bytes))?;
                    let md5 = hex::encode(md5.finalize());
                    check_catalog(member, &md5)?;
                    md5
                }
            };
            out.put(&ZEROS[..padding(member.source.size) as usize])
                .map_err(ArchiveError::Sink)?;
            md5s.push(md5);
        }
    }
    out.put(&END_OF_ARCHIVE).map_err(ArchiveError::Sink)?;
    Ok(md5s)
}

/// Fails when the catalog knows the file's MD5 and it is not `md5`.
fn check_catalog(member: &PlannedMember, md5: &str) -> Result<(), ArchiveError> {
    match &member.source.catalog.md5sum {
        Some(catalog) if catalog != md5 => Err(ArchiveError::Md5Mismatch {
            path: member.source.catalog.path.clone(),
            catalog: catalog.clone(),
            actual: md5.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// What the first pass learnt of one file.
struct FirstPass {
    md5: String,
    crc: String,
}

/// The first pass: up to one file per SIMD lane read side by side, a read
/// buffer each.
#[derive(Default)]
struct LaneHasher {
    buffers: Vec<Vec<u8>>,
}

/// One file of a batch being hashed.
struct Lane<'a> {
    member: &'a PlannedMember,
    file: File,
    done: u64,
    crc: StreamCrc,
}

impl LaneHasher {
    /// Hashes the files of `batch` side by side, with the same size, mtime and
    /// catalog checks as the archiving read.
    fn hash(&mut self, batch: &[PlannedMember]) -> Result<Vec<FirstPass>, ArchiveError> {
        self.buffers
            .resize_with(batch.len(), || vec![0u8; READ_SIZE]);
        let mut lanes = batch
            .iter()
            .map(|member| {
                Ok(Lane {
                    member,
                    file: open(member)?,
                    done: 0,
                    crc: StreamCrc::default(),
                })
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        let mut md5 = MultiMd5::new(lanes.len());
        loop {
            // A file already read to its end takes an empty piece.
            let mut pieces = Vec::with_capacity(lanes.len());
            for (lane, buffer) in lanes.iter_mut().zip(self.buffers.iter_mut()) {
                let want = READ_SIZE.min((lane.member.source.size - lane.done) as usize);
                let n = read_exactly(&mut lane.file, &mut buffer[..want])
                    .map_err(|e| read_err(lane.member, e))?;
                if n < want {
                    return Err(ArchiveError::SizeChanged {
                        path: lane.member.source.catalog.path.clone(),
                        planned: lane.member.source.size,
                        actual: lane.done + n as u64,
                    });
                }
                lane.crc.update(&buffer[..n]);
                lane.done += n as u64;
                pieces.push(&buffer[..n]);
            }
            if pieces.iter().all(|piece| piece.is_empty()) {
                break;
            }
            md5.update(&pieces);
        }
        lanes
            .into_iter()
            .enumerate()
            .map(|(i, mut lane)| {
                check_end(lane.member, &mut lane.file, &mut self.buffers[0])?;
                let md5 = md5.finish(i);
                check_catalog(lane.member, &md5)?;
                Ok(FirstPass {
                    md5,
                    crc: lane.crc.hex(),
                })
            })
            .collect()
    }
}

fn read_err(member: &PlannedMember, source: std::io::Error) -> ArchiveError {
    ArchiveError::Read {
        path: member.source.catalog.path.clone(),
        source,
    }
}

fn open(member: &PlannedMember) -> Result<File, ArchiveError> {
    let path = &member.source.catalog.path;
    File::open(path).map_err(|source| match source.kind() {
        ErrorKind::NotFound => ArchiveError::Missing { path: path.clone() },
        _ => read_err(member, source),
    })
}

/// Fills `buf` unless the file ends first; returns the bytes read.
fn read_exactly(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match read_some(file, &mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// One read, retried when interrupted; 0 at the end of the file.
fn read_some(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Copies exactly the planned bytes of one file to `out`, each piece also to `seen`.
fn copy_member(
    member: &PlannedMember,
    buf: &mut [u8],
    out: &mut dyn ArchiveSink,
    seen: &mut dyn FnMut(&[u8]),
) -> Result<(), ArchiveError> {
    let path = &member.source.catalog.path;
    let planned = member.source.size;
    let mut file = open(member)?;
    let mut done = 0u64;
    while done < planned {
        let want = READ_SIZE.min((planned - done) as usize);
        // Read into the sink's own buffer when it lends one (no copy), else ours.
        let (n, lent) = match out.room(want) {
            Some(room) => {
                let n = read_some(&mut file, room).map_err(|e| read_err(member, e))?;
                seen(&room[..n]);
                (n, true)
            }
            None => {
                let n = read_some(&mut file, &mut buf[..want]).map_err(|e| read_err(member, e))?;
                seen(&buf[..n]);
                (n, false)
            }
        };
        if n == 0 {
            return Err(ArchiveError::SizeChanged {
                path: path.clone(),
                planned,
                actual: done,
            });
        }
        if lent {
            out.filled(n).map_err(ArchiveError::Sink)?;
        } else {
            out.put(&buf[..n]).map_err(ArchiveError::Sink)?;
        }
        done += n as u64;
    }
    check_end(member, &mut file, buf)
}

/// After the planned bytes: the file must end there, with its planned size and
/// modification time.
fn check_end(member: &PlannedMember, file: &mut File, buf: &mut [u8]) -> Result<(), ArchiveError> {
    let path = &member.source.catalog.path;
    let planned = member.source.size;
    let meta = file.metadata().map_err(|e| read_err(member, e))?;
    let grew = read_some(file, &mut buf[..1]).map_err(|e| read_err(member, e))? > 0;
    if grew || meta.len() != planned {
        return Err(ArchiveError::SizeChanged {
            path: path.clone(),
            planned,
            actual: meta.len().max(planned + u64::from(grew)),
        });
    }
    if mtime_seconds(&meta) != member.source.mtime {
        return Err(ArchiveError::Modified { path: path.clone() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use fitsbak_core::ids::SessionId;

    use super::*;
    use crate::layout::{plan, tests::source};

    /// Planned members of these sizes, in this order.
    fn members(sizes: &[u64]) -> Vec<PlannedMember> {
        let sources = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| source(&format!("f{i:03}.fits"), "/data", size))
            .collect();
        plan(&SessionId::new("S1").unwrap(), sources)
            .unwrap()
            .members
    }

    fn shape(sizes: &[u64]) -> Vec<usize> {
        batches(&members(sizes), 8).map(<[_]>::len).collect()
    }

    #[test]
    fn batches_hold_at_most_one_file_per_lane_and_a_gibibyte_in_archive_order() {
        const MIB: u64 = 1 << 20;
        assert_eq!(shape(&[16 * MIB; 20]), [8, 8, 4]);
        assert_eq!(shape(&[120 * MIB; 10]), [8, 2]);
        assert_eq!(shape(&[300 * MIB; 7]), [3, 3, 1]);
        assert_eq!(shape(&[2 << 30, MIB, MIB, 2 << 30]), [1, 2, 1]);
        assert_eq!(shape(&[0; 9]), [8, 1]);
        assert!(shape(&[]).is_empty());
        let all = members(&[5, 6, 7]);
        let flat: Vec<u64> = batches(&all, 16).flatten().map(|m| m.source.size).collect();
        assert_eq!(flat, [5, 6, 7]);
    }
}
