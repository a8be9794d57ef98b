//! Reading archives back: re-hashing every member against the manifest, and
//! extracting without ever writing outside the target directory.
//!
//! A member is extracted only after it has been checked against the manifest (a
//! regular file, a clean relative path below `{session_id}/`, listed in the
//! manifest). Its bytes are copied, and hashed on the way, into a new file of a
//! staging directory fitsbak has just created inside the target under a random
//! name (`create_new`: nothing planted there is ever opened), then moved to the
//! destination when size and MD5 are the manifest's. The destination's parents are
//! created one by one, must be real directories (never symlinks) and must resolve
//! inside the target. Bytes that are not the manifest's are kept aside as
//! `{destination}.fitsbak-mismatch`, and the extraction fails naming them. A
//! refused member is skipped, named, and the extraction fails at the end. The
//! staging directory is removed on every exit.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use fitsbak_core::archive::{
    ExtractAction, ExtractOptions, ExtractedFile, Inventory, InventoryEntry, Layout,
    MemberMismatch, VerifyReport,
};
use fitsbak_core::ids::MemberPath;
use fitsbak_core::manifest::{Manifest, ManifestMember};
use md5::{Digest, Md5};

use crate::error::ArchiveError;

/// An `io::Write` that hashes what it is given and counts it.
#[derive(Default)]
pub struct HashSink {
    md5: Md5,
    bytes: u64,
}

impl HashSink {
    /// The MD5 (lower-case hex) and byte count so far.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.md5.finalize()), self.bytes)
    }
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.md5.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the bytes read through it.
struct Counting<'a> {
    inner: &'a mut dyn Read,
    bytes: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The MD5 and size of a file on disk.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut sink = HashSink::default();
    io::copy(&mut File::open(path)?, &mut sink)?;
    Ok(sink.finish())
}

/// The gzip magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `input` decompressed as `compression` says (`gzip`), or as it is.
fn decompressed<'a>(
    input: &'a mut dyn Read,
    compression: Option<&str>,
) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    match compression {
        None => Ok(Box::new(input)),
        Some("gzip") => Ok(Box::new(flate2::read::MultiGzDecoder::new(input))),
        Some(other) => Err(ArchiveError::Stream(io::Error::other(format!(
            "the manifest names a compression fitsbak cannot read: {other:?}"
        )))),
    }
}

/// Reads an archive of unknown origin: tar, or gzip'd tar when its first bytes
/// say so; every entry hashed, its offsets in the uncompressed stream.
pub fn inventory(input: &mut dyn Read) -> Result<Inventory, ArchiveError> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]).map_err(ArchiveError::Stream)? {
            0 => break,
            n => got += n,
        }
    }
    let compression = (got == 2 && head == GZIP_MAGIC).then(|| "gzip".to_owned());
    let mut whole = io::Cursor::new(&head[..got]).chain(input);
    let mut stream = decompressed(&mut whole, compression.as_deref())?;
    let mut entries = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut stream);
        for entry in archive.entries().map_err(ArchiveError::Stream)? {
            let mut entry = entry.map_err(ArchiveError::Stream)?;
            let path = entry_name(&entry);
            let header_offset = entry.raw_header_position();
            let data_offset = entry.raw_file_position();
            let regular = entry.header().entry_type().is_file();
            let mtime = entry.header().mtime().unwrap_or(0) as i64;
            let mut sink = HashSink::default();
            io::copy(&mut entry, &mut sink).map_err(ArchiveError::Stream)?;
            let (md5, size) = sink.finish();
            entries.push(InventoryEntry {
                path,
                regular,
                size,
                md5,
                header_offset,
                data_offset,
                mtime,
            });
        }
    }
    // To the end, so that a caller counting the stored bytes sees them all.
    io::copy(&mut stream, &mut io::sink()).map_err(ArchiveError::Stream)?;
    drop(stream);
    io::copy(&mut whole, &mut io::sink()).map_err(ArchiveError::Stream)?;
    Ok(Inventory {
        compression,
        entries,
    })
}

fn entry_name(entry: &tar::Entry<'_, impl Read>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

/// Reads a whole tar stream and compares every member with the manifest.
pub fn verify(input: &mut dyn Read, manifest: &Manifest) -> Result<VerifyReport, ArchiveError> {
    let mut counting = Counting {
        inner: input,
        bytes: 0,
    };
    let expected = manifest.by_path();
    let mut seen = BTreeSet::new();
    let mut report = VerifyReport::default();
    let compression = manifest.archive.compression.as_deref();
    {
        let mut stream = decompressed(&mut counting, compression)?;
        let mut archive = tar::Archive::new(&mut stream);
        for entry in archive.entries().map_err(ArchiveError::Stream)? {
            let mut entry = entry.map_err(ArchiveError::Stream)?;
            let name = entry_name(&entry);
            let data_offset = entry.raw_file_position();
            let regular = entry.header().entry_type().is_file();
            let mut sink = HashSink::default();
            io::copy(&mut entry, &mut sink).map_err(ArchiveError::Stream)?;
            let (md5, size) = sink.finish();
            let member = MemberPath::new(name.clone())
                .ok()
                .and_then(|p| expected.get(&p).copied());
            let Some(member) = member.filter(|_| regular) else {
                report.extra.push(name);
                continue;
            };
            if !seen.insert(member.path.clone()) {
                report.extra.push(format!("{name} (a second copy)"));
                continue;
            }
            if size != member.size {
                report.mismatched.push(MemberMismatch {
                    path: name,
                    expected: format!("{} bytes", member.size),
                    actual: format!("{size} bytes"),
                });
            } else if md5 != member.md5 {
                report.mismatched.push(MemberMismatch {
                    path: name,
                    expected: format!("MD5 {}", member.md5),
                    actual: format!("MD5 {md5}"),
                });
            } else if data_offset != member.data_offset && compression.is_none() {
                report.mismatched.push(MemberMismatch {
                    path: name,
                    expected: format!("data at byte {}", member.data_offset),
                    actual: format!("data at byte {data_offset}"),
                });
            } else {
                report.matched += 1;
            }
        }
    }
    // Read to the end so that the byte count covers the whole object.
    io::copy(&mut counting, &mut io::sink()).map_err(ArchiveError::Stream)?;
    report.bytes_read = counting.bytes;
    report.missing = manifest
        .members
        .iter()
        .filter(|m| !seen.contains(&m.path))
        .map(|m| m.path.to_string())
        .collect();
    Ok(report)
}

/// The folder of a member made relative: root, prefix and `.` parts dropped, `\`
/// taken as a separator; `..` is refused.
fn relative_folder(folder: &str) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for part in folder.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(format!("folder {folder:?} climbs with `..`")),
            p if p.ends_with(':') && out.as_os_str().is_empty() => {
                out.push(p.trim_end_matches(':')) // a Windows drive: `C:` becomes `C`
            }
            p if p.chars().any(char::is_control) => {
                return Err(format!("folder {folder:?} has a control character"));
            }
            p => out.push(p),
        }
    }
    Ok(out)
}

/// Where `member` goes below `target` in `layout`.
pub fn destination(
    target: &Path,
    member: &ManifestMember,
    layout: Layout,
) -> Result<PathBuf, String> {
    let path = match layout {
        Layout::Archive => target.join(member.path.as_str()),
        Layout::Flat => target.join(member.path.file_name()),
        Layout::OriginalFolders => {
            let file = &member.file;
            if file.is_empty() || file.contains(['/', '\\']) || file == ".." || file == "." {
                return Err(format!("file name {file:?} is not a single name"));
            }
            target.join(relative_folder(&member.folder)?).join(file)
        }
    };
    // Every part below the target must be a plain name.
    let below = path
        .strip_prefix(target)
        .map_err(|_| "outside the target".to_owned())?;
    if !below
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!("{} is not a plain path", below.display()));
    }
    Ok(path)
}

/// Creates the directories from `target` down to `dir`, refusing any that exists as
/// something other than a real directory (a symlink could lead outside the target).
fn ensure_dirs(target: &Path, dir: &Path) -> Result<(), ArchiveError> {
    let below = dir.strip_prefix(target).unwrap_or(Path::new(""));
    let mut current = target.to_owned();
    for part in below.components() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => {
                return Err(ArchiveError::Write {
                    path: current,
                    source: io::Error::other("exists and is not a directory (or is a symlink)"),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&current).map_err(|source| ArchiveError::Write {
                    path: current.clone(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(ArchiveError::Write {
                    path: current,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// What to do about an existing destination: `Ok(true)` when it already holds the
/// member's bytes, `Ok(false)` when it is free (or may be replaced).
fn existing(dest: &Path, member: &ManifestMember, overwrite: bool) -> Result<bool, ArchiveError> {
    let meta = match fs::symlink_metadata(dest) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(ArchiveError::Write {
                path: dest.to_owned(),
                source,
            });
        }
    };
    if !meta.file_type().is_file() {
        return Err(ArchiveError::Write {
            path: dest.to_owned(),
            source: io::Error::other("exists and is not a regular file"),
        });
    }
    if meta.len() == member.size {
        let (md5, _) = hash_file(dest).map_err(|source| ArchiveError::Write {
            path: dest.to_owned(),
            source,
        })?;
        if md5 == member.md5 {
            return Ok(true);
        }
    }
    if overwrite {
        Ok(false)
    } else {
        Err(ArchiveError::Exists {
            path: dest.to_owned(),
        })
    }
}

/// Prefix of the staging directory's name inside the target. The rest of the name
/// is random and the directory is created new (never reused), so neither a
/// catalogued folder nor a planted entry can be it.
pub const STAGING_PREFIX: &str = ".fitsbak-staging-";

/// Suffix of a restored file whose bytes are not the expected ones: kept beside
/// its destination for a person to look at, never at the destination.
pub const MISMATCH_SUFFIX: &str = ".fitsbak-mismatch";

/// A staging directory just made inside the target; it goes, with everything in
/// it, when dropped (on every exit, error or not).
struct Staging {
    dir: PathBuf,
    files: u64,
}

impl Staging {
    fn new(target: &Path) -> Result<Self, ArchiveError> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ArchiveError::Write { path, source }
        };
        fs::create_dir_all(target).map_err(write_err(target))?;
        let mut last = None;
        for _ in 0..8 {
            let dir = target.join(format!(
                "{STAGING_PREFIX}{:016x}",
                fitsbak_core::random_u64()
            ));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(Self { dir, files: 0 }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(write_err(&dir)(e)),
            }
        }
        Err(write_err(target)(last.unwrap_or_else(|| {
            io::Error::other("no fresh staging directory could be made")
        })))
    }

    /// Copies `member`'s bytes from `data` into a new file of the staging
    /// directory (created, never opened if it exists), hashing them on the way;
    /// one byte past the size is read to tell a body that is too long.
    fn stage(
        &mut self,
        data: &mut dyn Read,
        member: &ManifestMember,
    ) -> Result<Staged, ArchiveError> {
        self.files += 1;
        let path = self.dir.join(format!("{}.part", self.files));
        let write_err = |source| ArchiveError::Write {
            path: path.clone(),
            source,
        };
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(write_err)?;
        let mut sink = Hashing {
            inner: file,
            sink: HashSink::default(),
            failed: None,
        };
        if let Err(e) = io::copy(&mut data.take(member.size + 1), &mut sink) {
            // A failed write is the target's (full, read-only), not the archive's.
            return Err(match sink.failed.take() {
                Some(source) => ArchiveError::Write { path, source },
                None => ArchiveError::Stream(e),
            });
        }
        let mtime =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(member.mtime.max(0) as u64);
        sink.inner.set_modified(mtime).map_err(write_err)?;
        let (md5, size) = sink.sink.finish();
        Ok(Staged { path, md5, size })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // `remove_dir_all` never follows a symbolic link it finds inside.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Writes to a file and hashes what it writes; a write error is kept, so that it
/// can be told from a read error after `io::copy`.
struct Hashing {
    inner: File,
    sink: HashSink,
    failed: Option<io::Error>,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.inner.write(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e), // retried
            Err(e) => {
                let kind = e.kind();
                self.failed = Some(e);
                return Err(io::Error::new(kind, "writing the staged file"));
            }
        };
        self.sink.md5.update(&buf[..n]);
        self.sink.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A member's bytes in the staging directory, with their MD5 and size.
struct Staged {
    path: PathBuf,
    md5: String,
    size: u64,
}

/// Moves a staged member to `dest` when its bytes are the manifest's; otherwise
/// keeps them aside at `{dest}.fitsbak-mismatch` and fails naming it.
fn finish_file(
    staged: Staged,
    dest: &Path,
    target: &Path,
    member: &ManifestMember,
) -> Result<(), ArchiveError> {
    let corrupt = if staged.size != member.size {
        let actual = if staged.size > member.size {
            format!("more than {}", member.size)
        } else {
            staged.size.to_string()
        };
        Some(("size", member.size.to_string(), actual))
    } else if staged.md5 != member.md5 {
        Some(("MD5", member.md5.clone(), staged.md5.clone()))
    } else {
        None
    };
    let parent = dest.parent().unwrap_or(target);
    ensure_dirs(target, parent)?;
    inside(target, parent)?;
    let Some((what, expected, actual)) = corrupt else {
        return fs::rename(&staged.path, dest).map_err(|source| ArchiveError::Write {
            path: dest.to_owned(),
            source,
        });
    };
    let mut aside = dest.as_os_str().to_owned();
    aside.push(MISMATCH_SUFFIX);
    let aside = PathBuf::from(aside);
    let kept = match fs::symlink_metadata(&aside) {
        // Never replace something that is not a file fitsbak put aside before.
        Ok(meta) if !meta.file_type().is_file() => None,
        _ => fs::rename(&staged.path, &aside).ok().map(|()| aside),
    };
    Err(ArchiveError::Corrupt {
        member: member.path.to_string(),
        what,
        expected,
        actual,
        kept,
    })
}

/// Fails unless `dir`, resolved, is `target` or below it.
fn inside(target: &Path, dir: &Path) -> Result<(), ArchiveError> {
    let resolve = |p: &Path| {
        fs::canonicalize(p).map_err(|source| ArchiveError::Write {
            path: p.to_owned(),
            source,
        })
    };
    let (root, resolved) = (resolve(target)?, resolve(dir)?);
    if resolved.starts_with(&root) {
        Ok(())
    } else {
        Err(ArchiveError::Write {
            path: dir.to_owned(),
            source: io::Error::other(format!(
                "resolves to {}, outside {}",
                resolved.display(),
                root.display()
            )),
        })
    }
}

/// Why an entry cannot be extracted, if it cannot.
fn refusal(
    entry: &tar::Entry<'_, impl Read>,
    name: &str,
    manifest: &Manifest,
) -> Result<MemberPath, String> {
    let kind = entry.header().entry_type();
    if kind.is_symlink() {
        return Err("is a symbolic link".into());
    }
    if kind.is_hard_link() {
        return Err("is a hard link".into());
    }
    if !kind.is_file() {
        return Err(format!("is not a regular file ({kind:?})"));
    }
    if name.starts_with('/') {
        return Err("has an absolute path".into());
    }
    let path = MemberPath::new(name.to_owned()).map_err(|e| e.reason.to_owned())?;
    if !path.is_in_session(&manifest.session_id) {
        return Err(format!("is outside {}/", manifest.session_id));
    }
    Ok(path)
}

/// Puts one member at `dest` (through the staging directory), unless a file with
/// the right MD5 is there already.
fn unpack_member(
    data: &mut dyn Read,
    stage: &mut Staging,
    dest: &Path,
    target: &Path,
    member: &ManifestMember,
    options: &ExtractOptions,
) -> Result<ExtractAction, ArchiveError> {
    if existing(dest, member, options.overwrite)? {
        return Ok(ExtractAction::AlreadyPresent);
    }
    let staged = stage.stage(data, member)?;
    finish_file(staged, dest, target, member)?;
    Ok(ExtractAction::Written)
}

/// The members asked for that the archive did not hold.
fn missing_members(
    manifest: &Manifest,
    options: &ExtractOptions,
    seen: &BTreeSet<MemberPath>,
) -> Vec<String> {
    manifest
        .members
        .iter()
        .filter(|m| {
            options
                .only
                .as_ref()
                .is_none_or(|only| only.contains(&m.path))
        })
        .filter(|m| !seen.contains(&m.path))
        .map(|m| format!("{} is in the manifest but not in the archive", m.path))
        .collect()
}

/// Extracts a whole tar stream below `target`.
pub fn extract(
    input: &mut dyn Read,
    manifest: &Manifest,
    target: &Path,
    options: &ExtractOptions,
) -> Result<Vec<ExtractedFile>, ArchiveError> {
    let mut stage = Staging::new(target)?;
    let expected = manifest.by_path();
    let mut refused = Vec::new();
    let mut failure: Option<ArchiveError> = None;
    let mut done = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stream = decompressed(input, manifest.archive.compression.as_deref())?;
    let mut archive = tar::Archive::new(&mut stream);
    for entry in archive.entries().map_err(ArchiveError::Stream)? {
        let mut entry = entry.map_err(ArchiveError::Stream)?;
        let name = entry_name(&entry);
        let member = match refusal(&entry, &name, manifest).and_then(|path| {
            expected
                .get(&path)
                .copied()
                .ok_or_else(|| "is not in the manifest".to_owned())
        }) {
            Ok(member) => member,
            Err(reason) => {
                refused.push(format!("{name:?} {reason}"));
                continue;
            }
        };
        if options
            .only
            .as_ref()
            .is_some_and(|only| !only.contains(&member.path))
        {
            continue;
        }
        seen.insert(member.path.clone());
        let dest = match destination(target, member, options.layout) {
            Ok(dest) => dest,
            Err(reason) => {
                refused.push(format!("{name:?}: {reason}"));
                continue;
            }
        };
        let outcome = unpack_member(&mut entry, &mut stage, &dest, target, member, options);
        match outcome {
            Ok(action) => done.push(ExtractedFile {
                path: member.path.clone(),
                destination: dest,
                size: member.size,
                action,
            }),
            Err(ArchiveError::Refused(mut more)) => refused.append(&mut more),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    drop(stage);
    if !refused.is_empty() {
        return Err(ArchiveError::Refused(refused));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let missing = missing_members(manifest, options, &seen);
    if !missing.is_empty() {
        return Err(ArchiveError::Refused(missing));
    }
    Ok(done)
}

/// The members already at their destination with the right MD5.
pub fn present(
    manifest: &Manifest,
    target: &Path,
    options: &ExtractOptions,
) -> Result<BTreeSet<MemberPath>, ArchiveError> {
    let mut found = BTreeSet::new();
    for member in &manifest.members {
        if options
            .only
            .as_ref()
            .is_some_and(|only| !only.contains(&member.path))
        {
            continue;
        }
        let Ok(dest) = destination(target, member, options.layout) else {
            continue;
        };
        // A different file there is not "present"; the extraction decides about it.
        if matches!(existing(&dest, member, true), Ok(true)) {
            found.insert(member.path.clone());
        }
    }
    Ok(found)
}

/// Extracts one member from `data`, a reader over exactly its bytes.
pub fn extract_member(
    data: &mut dyn Read,
    member: &ManifestMember,
    target: &Path,
    options: &ExtractOptions,
) -> Result<ExtractedFile, ArchiveError> {
    let dest = destination(target, member, options.layout)
        .map_err(|reason| ArchiveError::Refused(vec![format!("{}: {reason}", member.path)]))?;
    let done = |action| ExtractedFile {
        path: member.path.clone(),
        destination: dest.clone(),
        size: member.size,
        action,
    };
    let action = unpack_member(
        data,
        &mut Staging::new(target)?,
        &dest,
        target,
        member,
        options,
    )?;
    Ok(done(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_become_relative_and_never_climb() {
        assert_eq!(
            relative_folder("/data/2024/M42").unwrap(),
            PathBuf::from("data/2024/M42")
        );
        assert_eq!(
            relative_folder("C:\\Astro\\M42").unwrap(),
            PathBuf::from("C/Astro/M42")
        );
        assert_eq!(
            relative_folder("frames/./x").unwrap(),
            PathBuf::from("frames/x")
        );
        assert!(relative_folder("/data/../etc").is_err());
        assert!(relative_folder("..").is_err());
    }
}
