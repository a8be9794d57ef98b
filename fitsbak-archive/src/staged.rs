//! A restored file's bytes on their way to disk.
//!
//! A file of a megabyte or more on ext4 or XFS is written around the page cache
//! (`O_DIRECT`) from an aligned buffer of its own: a restore of hundreds of
//! gigabytes neither pushes everything else out of memory nor pays for each page
//! twice (once to fill it, once to write it back when the file is synced). The
//! last partial block goes through the page cache, and so does every file
//! elsewhere: tmpfs refuses direct writes, and on a network filesystem each one
//! waits for the server. A direct write the kernel refuses sends the rest of the
//! file through the page cache. The bytes on disk are the same either way;
//! [`StagedFile::finish`] syncs them before the file is reported restored.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

/// Direct writes are whole blocks of this size, from and to offsets aligned to it
/// (every disk's logical block size divides it).
const ALIGN: usize = 4096;
/// The bytes a direct write takes at once, a multiple of [`ALIGN`].
const SPAN: usize = 1 << 20;

/// A file being written, directly where it is large enough and the filesystem
/// allows it.
pub(crate) struct StagedFile {
    file: File,
    /// `Some` while the file is written directly: the bytes not yet written.
    direct: Option<Held>,
}

/// Bytes held for a direct write: `buf[start..start + len]`, with `start` aligned.
struct Held {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Held {
    /// Holds bytes in `buf`, a spare one or, when there is none, a new one:
    /// allocated zeroed, so that its pages come straight from the kernel (already
    /// zero) instead of being set to zero one by one first.
    fn new(buf: Option<Vec<u8>>) -> Self {
        let buf = buf.unwrap_or_else(|| vec![0; SPAN + ALIGN]);
        let start = buf.as_ptr().align_offset(ALIGN);
        Self { buf, start, len: 0 }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// How the files of one directory are written: directly or not, and the buffers
/// for direct writes, kept from one file to the next.
pub(crate) struct Writes {
    direct: bool,
    spare: Vec<Vec<u8>>,
}

impl Writes {
    /// The writes for files in `dir`: direct where its filesystem is ext4 or XFS.
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            direct: direct_filesystem(dir),
            spare: Vec::new(),
        }
    }
}

impl StagedFile {
    /// Creates the file at `path` (never opening one that exists) for `size` bytes.
    pub(crate) fn create(path: &Path, size: u64, writes: &mut Writes) -> io::Result<Self> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        if writes.direct
            && size >= SPAN as u64
            && let Some(file) = open_direct(&options, path)?
        {
            return Ok(Self {
                file,
                direct: Some(Held::new(writes.spare.pop())),
            });
        }
        Ok(Self {
            file: options.open(path)?,
            direct: None,
        })
    }

    /// The open file (for reserving its blocks).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Whether the bytes are going around the page cache.
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    pub(crate) fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let Some(held) = self.direct.as_mut() else {
                return self.file.write_all(bytes);
            };
            let n = (SPAN - held.len).min(bytes.len());
            let at = held.start + held.len;
            held.buf[at..at + n].copy_from_slice(&bytes[..n]);
            held.len += n;
            bytes = &bytes[n..];
            if held.len == SPAN {
                self.write_held(SPAN)?;
            }
        }
        Ok(())
    }

    /// Writes the first `whole` bytes held (a multiple of [`ALIGN`]) and keeps the
    /// rest at the start of the buffer. A filesystem that refuses the direct write
    /// gets the bytes through the page cache, and the rest of the file too.
    fn write_held(&mut self, whole: usize) -> io::Result<()> {
        let Some(mut held) = self.direct.take() else {
            return Ok(());
        };
        let mut done = 0;
        while done < whole {
            match self
                .file
                .write(&held.buf[held.start + done..held.start + whole])
            {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) if n % ALIGN == 0 => done += n,
                Ok(n) => {
                    // A short write off the block boundary: the rest cannot go directly.
                    done += n;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if refused(&e) => break,
                Err(e) => return Err(e),
            }
        }
        if done < whole {
            return self.leave_direct(&held.bytes()[done..]);
        }
        held.buf
            .copy_within(held.start + whole..held.start + held.len, held.start);
        held.len -= whole;
        self.direct = Some(held);
        Ok(())
    }

    /// Writes `bytes` through the page cache, as the rest of the file will be.
    fn leave_direct(&mut self, bytes: &[u8]) -> io::Result<()> {
        clear_direct(&self.file)?;
        self.file.write_all(bytes)
    }

    /// Writes what is held, gives the file `mtime` and syncs it; the buffer goes
    /// back to `writes`.
    pub(crate) fn finish(mut self, mtime: SystemTime, writes: &mut Writes) -> io::Result<()> {
        if let Some(len) = self.direct.as_ref().map(|h| h.len) {
            self.write_held(len / ALIGN * ALIGN)?;
        }
        // The tail, shorter than a block, goes through the page cache.
        if let Some(held) = self.direct.take() {
            self.leave_direct(held.bytes())?;
            writes.spare.push(held.buf);
        }
        self.file.set_modified(mtime)?;
        self.file.sync_all()
    }
}

/// Whether a direct open or write was refused by the filesystem (not a failure
/// of the disk): the bytes can go through the page cache instead.
fn refused(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::InvalidInput
}

/// Opens `path` for direct writes, or `None` when its filesystem refuses them (the
/// file is then not created).
#[cfg(target_os = "linux")]
fn open_direct(options: &OpenOptions, path: &Path) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut direct = options.clone();
    // Linux's flag values fit an `i32`, the type the standard library asks for.
    direct.custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32);
    match direct.open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if refused(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `dir` is on ext4 or XFS (an error asking says no).
#[cfg(target_os = "linux")]
fn direct_filesystem(dir: &Path) -> bool {
    const EXT4: u64 = 0xEF53;
    const XFS: u64 = 0x5846_5342;
    // `f_type`'s type differs between architectures; every value fits a `u64`.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(dir).is_ok_and(|fs| matches!(fs.f_type as u64, EXT4 | XFS))
}

#[cfg(not(target_os = "linux"))]
fn direct_filesystem(_dir: &Path) -> bool {
    false
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_options: &OpenOptions, _path: &Path) -> io::Result<Option<File>> {
    Ok(None)
}

/// Turns `O_DIRECT` off for `file`'s later writes.
#[cfg(target_os = "linux")]
fn clear_direct(file: &File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    Ok(rustix::fs::fcntl_setfl(
        file,
        flags - rustix::fs::OFlags::DIRECT,
    )?)
}

#[cfg(not(target_os = "linux"))]
fn clear_direct(_file: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4093) as u8).collect()
    }

    /// Writes `len` bytes in pieces of the `shape`'s sizes (cycling) and reads them back.
    fn round_trip(dir: &Path, len: usize, shape: &[usize], writes: &mut Writes) -> bool {
        let path = dir.join(format!("f{len}-{}", shape[0]));
        let data = pattern(len);
        let mut file = StagedFile::create(&path, len as u64, writes).unwrap();
        let direct = file.is_direct();
        let mut at = 0;
        for &piece in shape.iter().cycle() {
            if at == len {
                break;
            }
            let n = piece.min(len - at);
            file.write_all(&data[at..at + n]).unwrap();
            at += n;
        }
        let mtime = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        file.finish(mtime, writes).unwrap();
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), len, "size of {len} bytes in {shape:?}");
        assert!(back == data, "bytes of {len} bytes in {shape:?}");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.modified().unwrap(), mtime);
        direct
    }

    #[test]
    fn any_size_in_any_pieces_lands_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut writes = Writes::new(dir.path());
        let sizes = [
            0,
            1,
            4095,
            4096,
            SPAN - 1,
            SPAN,
            SPAN + 1,
            SPAN + ALIGN,
            2 * SPAN + ALIGN - 1,
            3 * SPAN + 12_345,
        ];
        let shapes: [&[usize]; 4] = [&[7], &[1, 63, 4096, 65_537, 5], &[SPAN], &[3 * SPAN]];
        let mut direct = 0;
        for len in sizes {
            for shape in shapes {
                direct += usize::from(round_trip(dir.path(), len, shape, &mut writes));
            }
        }
        assert!(
            writes.spare.len() <= 1,
            "one buffer serves one file after another"
        );
        // The files of a span or more go directly where the filesystem allows it.
        if writes.direct && direct_allowed(dir.path()) {
            assert_eq!(direct, 5 * shapes.len());
        } else {
            assert_eq!(direct, 0);
        }
    }

    /// Whether the filesystem at `dir` takes direct writes, asked of the kernel.
    fn direct_allowed(dir: &Path) -> bool {
        let path = dir.join("probe");
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let Some(mut file) = open_direct(&options, &path).unwrap() else {
            return false;
        };
        let held = Held::new(None);
        let ok = file
            .write(&held.buf[held.start..held.start + ALIGN])
            .is_ok();
        std::fs::remove_file(&path).unwrap();
        ok
    }

    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("misaligned");
        let mut writes = Writes::new(dir.path());
        let mut file = StagedFile::create(&path, 2 * SPAN as u64, &mut writes).unwrap();
        if !file.is_direct() {
            assert!(!(writes.direct && direct_allowed(dir.path())));
            eprintln!(
                "{}: no direct writes here; nothing to refuse",
                dir.path().display()
            );
            return;
        }
        // One byte off the alignment: the kernel refuses the write with EINVAL.
        if let Some(held) = file.direct.as_mut() {
            held.start = held.start.checked_sub(1).unwrap_or(1);
        }
        let data = pattern(2 * SPAN + 99);
        file.write_all(&data).unwrap();
        assert!(!file.is_direct(), "the refusal ends direct writes");
        file.finish(SystemTime::UNIX_EPOCH, &mut writes).unwrap();
        assert!(std::fs::read(&path).unwrap() == data);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn files_on_tmpfs_go_through_the_page_cache() {
        // tmpfs (Linux's /dev/shm) is neither ext4 nor XFS.
        let dir = tempfile::tempdir_in("/dev/shm").expect("a directory in /dev/shm");
        let mut writes = Writes::new(dir.path());
        assert!(!writes.direct);
        assert!(!round_trip(
            dir.path(),
            2 * SPAN + 1,
            &[65_536],
            &mut writes
        ));
        assert!(writes.spare.is_empty());
    }
}
