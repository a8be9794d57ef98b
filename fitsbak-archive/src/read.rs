//! Reading archives back: re-hashing every member against the manifest, and
//! extracting without ever writing outside the target directory.
//!
//! Extraction goes through `tar`'s `unpack_in` only, into a staging directory inside
//! the target, after the member has been checked against the manifest (a regular
//! file, a clean relative path below `{session_id}/`, listed in the manifest). The
//! staged file is re-hashed, then moved to its destination, whose parents are
//! created one by one and must be real directories (never symlinks). A refused
//! member is skipped, named, and the extraction fails at the end.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use fitsbak_core::archive::{
    ExtractAction, ExtractOptions, ExtractedFile, Layout, MemberMismatch, VerifyReport,
};
use fitsbak_core::ids::MemberPath;
use fitsbak_core::manifest::{Manifest, ManifestMember};
use md5::{Digest, Md5};

use crate::error::ArchiveError;

/// Name of the staging directory inside the target.
pub const STAGING_DIR: &str = ".fitsbak-partial";

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
    {
        let mut archive = tar::Archive::new(&mut counting);
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
            } else if data_offset != member.data_offset {
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

/// Checks a staged file against the manifest and moves it to `dest`.
fn finish_file(
    staged: &Path,
    dest: &Path,
    target: &Path,
    member: &ManifestMember,
) -> Result<(), ArchiveError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ArchiveError::Write { path, source }
    };
    let (md5, size) = hash_file(staged).map_err(write_err(staged))?;
    let corrupt = if size != member.size {
        Some(("size", member.size.to_string(), size.to_string()))
    } else if md5 != member.md5 {
        Some(("MD5", member.md5.clone(), md5))
    } else {
        None
    };
    if let Some((what, expected, actual)) = corrupt {
        let _ = fs::remove_file(staged);
        return Err(ArchiveError::Corrupt {
            member: member.path.to_string(),
            what,
            expected,
            actual,
        });
    }
    if let Some(parent) = dest.parent() {
        ensure_dirs(target, parent)?;
    }
    fs::rename(staged, dest).map_err(write_err(dest))
}

/// A fresh staging directory inside `target`.
fn staging(target: &Path) -> Result<PathBuf, ArchiveError> {
    fs::create_dir_all(target).map_err(|source| ArchiveError::Write {
        path: target.to_owned(),
        source,
    })?;
    let dir = target.join(STAGING_DIR);
    if fs::symlink_metadata(&dir).is_ok() {
        fs::remove_dir_all(&dir).map_err(|source| ArchiveError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    fs::create_dir(&dir).map_err(|source| ArchiveError::Write {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
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
fn unpack_member<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
    stage: &Path,
    dest: &Path,
    target: &Path,
    member: &ManifestMember,
    options: &ExtractOptions,
) -> Result<ExtractAction, ArchiveError> {
    if existing(dest, member, options.overwrite)? {
        return Ok(ExtractAction::AlreadyPresent);
    }
    entry.set_preserve_permissions(false);
    entry.set_preserve_mtime(true);
    entry.set_unpack_xattrs(false);
    match entry.unpack_in(stage) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ArchiveError::Refused(vec![format!(
                "{name:?} would land outside the target"
            )]));
        }
        Err(source) => {
            return Err(ArchiveError::Write {
                path: stage.join(member.path.as_str()),
                source,
            });
        }
    }
    finish_file(&stage.join(member.path.as_str()), dest, target, member)?;
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
    let stage = staging(target)?;
    let expected = manifest.by_path();
    let mut refused = Vec::new();
    let mut failure: Option<ArchiveError> = None;
    let mut done = Vec::new();
    let mut seen = BTreeSet::new();
    let mut archive = tar::Archive::new(input);
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
        let outcome = unpack_member(&mut entry, &name, &stage, &dest, target, member, options);
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
    let _ = fs::remove_dir_all(&stage);
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
    if existing(&dest, member, options.overwrite)? {
        return Ok(done(ExtractAction::AlreadyPresent));
    }
    fs::create_dir_all(target).map_err(|source| ArchiveError::Write {
        path: target.to_owned(),
        source,
    })?;
    let stage = target.join(STAGING_DIR);
    ensure_dirs(target, &stage)?;
    let staged = stage.join(format!("{}.part", member.path.file_name()));
    let write_err = |source| ArchiveError::Write {
        path: staged.clone(),
        source,
    };
    let mut file = File::create(&staged).map_err(write_err)?;
    // One byte past the size tells a body that is too long.
    let copied =
        io::copy(&mut data.take(member.size + 1), &mut file).map_err(ArchiveError::Stream)?;
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(member.mtime.max(0) as u64);
    file.set_modified(mtime).map_err(write_err)?;
    drop(file);
    if copied != member.size {
        let _ = fs::remove_file(&staged);
        return Err(ArchiveError::Corrupt {
            member: member.path.to_string(),
            what: "size",
            expected: member.size.to_string(),
            actual: if copied > member.size {
                format!("more than {}", member.size)
            } else {
                copied.to_string()
            },
        });
    }
    finish_file(&staged, &dest, target, member)?;
    let _ = fs::remove_dir(&stage);
    Ok(done(ExtractAction::Written))
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
