//! Writing an archive as a stream: header, file bytes (hashed as they pass),
//! padding, for each member of the plan, then the end-of-archive blocks.
//!
//! Each file is read through a bound of exactly its planned size, and the count is
//! checked: a file that shrank, grew or was modified while read fails the archive
//! instead of producing a malformed one (`tar`'s `append_data` would not notice).

use std::fs::File;
use std::io::{ErrorKind, Read};

use fitsbak_core::archive::{ArchivePlan, ArchiveSink, PlannedMember};
use md5::{Digest, Md5};

use crate::error::ArchiveError;
use crate::layout::{END_OF_ARCHIVE, member_header, padding};

/// Size of each read from a source file.
const READ_SIZE: usize = 1 << 20;

const ZEROS: [u8; 512] = [0; 512];

pub use fitsbak_core::time::mtime_seconds;

/// Writes the archive of `plan` to `out`; returns each member's MD5 in order.
pub fn write(plan: &ArchivePlan, out: &mut dyn ArchiveSink) -> Result<Vec<String>, ArchiveError> {
    let mut md5s = Vec::with_capacity(plan.members.len());
    let mut buf = vec![0u8; READ_SIZE];
    for member in &plan.members {
        let header = member_header(&member.path, member.source.size, member.source.mtime);
        out.put(&header).map_err(ArchiveError::Sink)?;
        let md5 = copy_member(member, &mut buf, out)?;
        out.put(&ZEROS[..padding(member.source.size) as usize])
            .map_err(ArchiveError::Sink)?;
        if let Some(catalog) = &member.source.catalog.md5sum
            && *catalog != md5
        {
            return Err(ArchiveError::Md5Mismatch {
                path: member.source.catalog.path.clone(),
                catalog: catalog.clone(),
                actual: md5,
            });
        }
        md5s.push(md5);
    }
    out.put(&END_OF_ARCHIVE).map_err(ArchiveError::Sink)?;
    Ok(md5s)
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

/// Copies exactly the planned bytes of one file to `out`, returning their MD5.
fn copy_member(
    member: &PlannedMember,
    buf: &mut [u8],
    out: &mut dyn ArchiveSink,
) -> Result<String, ArchiveError> {
    let path = &member.source.catalog.path;
    let planned = member.source.size;
    let read_err = |source: std::io::Error| ArchiveError::Read {
        path: path.clone(),
        source,
    };
    let mut file = File::open(path).map_err(|source| match source.kind() {
        ErrorKind::NotFound => ArchiveError::Missing { path: path.clone() },
        _ => read_err(source),
    })?;
    let mut md5 = Md5::new();
    let mut done = 0u64;
    while done < planned {
        let want = READ_SIZE.min((planned - done) as usize);
        // Read into the sink's own buffer when it lends one (no copy), else ours.
        let (n, lent) = match out.room(want) {
            Some(room) => {
                let n = read_some(&mut file, room).map_err(read_err)?;
                md5.update(&room[..n]);
                (n, true)
            }
            None => {
                let n = read_some(&mut file, &mut buf[..want]).map_err(read_err)?;
                md5.update(&buf[..n]);
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
    let meta = file.metadata().map_err(read_err)?;
    let grew = loop {
        match file.read(&mut buf[..1]) {
            Ok(n) => break n > 0,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        }
    };
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
    Ok(hex::encode(md5.finalize()))
}
