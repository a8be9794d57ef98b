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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use fitsbak_core::archive::{
    ExtractAction, ExtractOptions, ExtractedFile, Inventory, InventoryEntry, Lane, Layout,
    MemberMismatch, VerifyReport,
};
use fitsbak_core::ids::MemberPath;
use fitsbak_core::manifest::{Manifest, ManifestMember};
use md5::{Digest, Md5};

use crate::error::ArchiveError;
use crate::lanes::{self, EntryStart, Visit, Want};
use crate::staged::{StagedFile, Writes};

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

/// The MD5 and size of a file on disk.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut sink = HashSink::default();
    io::copy(&mut File::open(path)?, &mut sink)?;
    Ok(sink.finish())
}

/// The gzip magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `input` decompressed as `compression` says (`gzip`), or as it is.
pub(crate) fn decompressed<'a>(
    input: impl Read + 'a,
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

/// Checks each entry of a lane read against the manifest.
struct Verifier<'m> {
    expected: BTreeMap<&'m MemberPath, &'m ManifestMember>,
    seen: BTreeSet<MemberPath>,
    report: VerifyReport,
    /// The member each lane is hashing, with its name and data offset.
    lanes: Vec<Option<(&'m ManifestMember, String, Option<u64>)>>,
}

impl Visit for Verifier<'_> {
    fn begin(&mut self, entry: &EntryStart) -> Want {
        let member = MemberPath::new(entry.name.clone())
            .ok()
            .and_then(|p| self.expected.get(&p).copied());
        let Some(member) = member.filter(|_| entry.kind.is_file()) else {
            self.report.extra.push(entry.name.clone());
            return Want::Skip;
        };
        if !self.seen.insert(member.path.clone()) {
            self.report
                .extra
                .push(format!("{} (a second copy)", entry.name));
            return Want::Skip;
        }
        self.lanes[entry.lane] = Some((member, entry.name.clone(), entry.data_offset));
        Want::Bytes
    }

    fn data(&mut self, _lane: usize, _bytes: &[u8]) {}

    fn end(&mut self, lane: usize, md5: String, size: u64) {
        let Some((member, name, data_offset)) = self.lanes[lane].take() else {
            return;
        };
        let differs = |expected: String, actual: String| MemberMismatch {
            path: name.clone(),
            expected,
            actual,
        };
        let mismatch = if size != member.size {
            Some(differs(
                format!("{} bytes", member.size),
                format!("{size} bytes"),
            ))
        } else if md5 != member.md5 {
            Some(differs(format!("MD5 {}", member.md5), format!("MD5 {md5}")))
        } else {
            data_offset
                .filter(|&at| at != member.data_offset)
                .map(|at| {
                    differs(
                        format!("data at byte {}", member.data_offset),
                        format!("data at byte {at}"),
                    )
                })
        };
        match mismatch {
            Some(m) => self.report.mismatched.push(m),
            None => self.report.matched += 1,
        }
    }
}

/// Reads a whole archive in `lanes` and compares every member with the manifest.
pub fn verify(lanes: Vec<Lane<'_>>, manifest: &Manifest) -> Result<VerifyReport, ArchiveError> {
    let mut verifier = Verifier {
        expected: manifest.by_path(),
        seen: BTreeSet::new(),
        report: VerifyReport::default(),
        lanes: vec![None; lanes.len()],
    };
    let totals = lanes::read(
        lanes,
        manifest.archive.compression.as_deref(),
        true,
        &mut verifier,
    )?;
    if !totals.contiguous {
        return Err(ArchiveError::Stream(io::Error::other(
            "the lanes read do not cover the archive in order",
        )));
    }
    let mut report = verifier.report;
    report.bytes_read = totals.bytes;
    report.crc32c = totals.crc32c;
    report.missing = manifest
        .members
        .iter()
        .filter(|m| !verifier.seen.contains(&m.path))
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
    writes: Writes,
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
                Ok(()) => {
                    let writes = Writes::new(&dir);
                    return Ok(Self {
                        dir,
                        files: 0,
                        writes,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(write_err(&dir)(e)),
            }
        }
        Err(write_err(target)(last.unwrap_or_else(|| {
            io::Error::other("no fresh staging directory could be made")
        })))
    }

    /// A new file in the staging directory for `size` bytes (created, never
    /// opened if it exists).
    fn create(&mut self, size: u64) -> Result<(PathBuf, StagedFile), ArchiveError> {
        self.files += 1;
        let path = self.dir.join(format!("{}.part", self.files));
        match StagedFile::create(&path, size, &mut self.writes) {
            Ok(file) => Ok((path, file)),
            Err(source) => Err(ArchiveError::Write { path, source }),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // `remove_dir_all` never follows a symbolic link it finds inside.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Reserves a staged file's blocks before its bytes come: a disk too small for it
/// fails at once, naming the file's destination, and the file's blocks are allocated together
/// (fewer extents, and less work per page written). The size stays as written.
/// Where the filesystem cannot reserve, the bytes are written as they come.
fn reserve(file: &File, path: &Path, size: u64) -> Result<(), ArchiveError> {
    #[cfg(target_os = "linux")]
    if size > 0 {
        use rustix::io::Errno;
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, size) {
            Err(e) if e == Errno::NOSPC || e == Errno::DQUOT => {
                return Err(ArchiveError::Write {
                    path: path.to_owned(),
                    source: io::Error::from(e),
                });
            }
            _ => {}
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, path, size);
    Ok(())
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
fn refusal(entry: &EntryStart, manifest: &Manifest) -> Result<MemberPath, String> {
    let (kind, name) = (entry.kind, entry.name.as_str());
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

/// A member being written to its staged file by one lane.
struct Writing<'m> {
    member: &'m ManifestMember,
    dest: PathBuf,
    path: PathBuf,
    file: StagedFile,
    failed: Option<io::Error>,
}

/// Puts each entry of a lane read that the manifest lists (and the options ask
/// for) at its destination, through the staging directory.
struct Extractor<'m> {
    manifest: &'m Manifest,
    expected: BTreeMap<&'m MemberPath, &'m ManifestMember>,
    target: &'m Path,
    options: &'m ExtractOptions,
    stage: Staging,
    refused: Vec<String>,
    failure: Option<ArchiveError>,
    done: Vec<ExtractedFile>,
    seen: BTreeSet<MemberPath>,
    lanes: Vec<Option<Writing<'m>>>,
    /// Directories a file was moved into: synced at the end, so the names last.
    dirs: BTreeSet<PathBuf>,
}

impl<'m> Extractor<'m> {
    /// Where an entry goes, or why it does not, or `None` when it is not asked for.
    fn place(&mut self, entry: &EntryStart) -> Option<(&'m ManifestMember, PathBuf)> {
        let found = refusal(entry, self.manifest).and_then(|path| {
            self.expected
                .get(&path)
                .copied()
                .ok_or_else(|| "is not in the manifest".to_owned())
        });
        let member = match found {
            Ok(member) => member,
            Err(reason) => {
                self.refused.push(format!("{:?} {reason}", entry.name));
                return None;
            }
        };
        if self
            .options
            .only
            .as_ref()
            .is_some_and(|only| !only.contains(&member.path))
        {
            return None;
        }
        self.seen.insert(member.path.clone());
        match destination(self.target, member, self.options.layout) {
            Ok(dest) => Some((member, dest)),
            Err(reason) => {
                self.refused.push(format!("{:?}: {reason}", entry.name));
                None
            }
        }
    }

    fn finished(&mut self, member: &ManifestMember, dest: PathBuf, action: ExtractAction) {
        self.done.push(ExtractedFile {
            path: member.path.clone(),
            destination: dest,
            size: member.size,
            action,
        });
    }

    fn fail(&mut self, error: ArchiveError) {
        match error {
            ArchiveError::Refused(mut more) => self.refused.append(&mut more),
            e => {
                self.failure.get_or_insert(e);
            }
        }
    }

    /// A staged file complete: on disk for good, then moved to its destination
    /// when its bytes are the manifest's.
    fn settle(&mut self, writing: Writing<'m>, md5: String, size: u64) -> Result<(), ArchiveError> {
        let Writing {
            member,
            dest,
            path,
            file,
            failed,
        } = writing;
        let write_err = |source| ArchiveError::Write {
            path: path.clone(),
            source,
        };
        if let Some(source) = failed {
            return Err(write_err(source));
        }
        let mtime =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(member.mtime.max(0) as u64);
        file.finish(mtime, &mut self.stage.writes)
            .map_err(write_err)?;
        finish_file(Staged { path, md5, size }, &dest, self.target, member)?;
        if let Some(parent) = dest.parent() {
            self.dirs.insert(parent.to_owned());
        }
        self.finished(member, dest, ExtractAction::Written);
        Ok(())
    }
}

impl Visit for Extractor<'_> {
    fn begin(&mut self, entry: &EntryStart) -> Want {
        let Some((member, dest)) = self.place(entry) else {
            return Want::Skip;
        };
        match existing(&dest, member, self.options.overwrite) {
            Ok(true) => {
                self.finished(member, dest, ExtractAction::AlreadyPresent);
                return Want::Skip;
            }
            Ok(false) => {}
            Err(e) => {
                self.fail(e);
                return Want::Skip;
            }
        }
        match self.stage.create(member.size) {
            Ok((path, file)) => {
                if let Err(e) = reserve(file.file(), &dest, member.size) {
                    self.fail(e);
                    return Want::Skip;
                }
                self.lanes[entry.lane] = Some(Writing {
                    member,
                    dest,
                    path,
                    file,
                    failed: None,
                });
                Want::Bytes
            }
            Err(e) => {
                self.fail(e);
                Want::Skip
            }
        }
    }

    fn data(&mut self, lane: usize, bytes: &[u8]) {
        if let Some(w) = self.lanes[lane].as_mut().filter(|w| w.failed.is_none())
            && let Err(e) = w.file.write_all(bytes)
        {
            w.failed = Some(e);
        }
    }

    fn end(&mut self, lane: usize, md5: String, size: u64) {
        if let Some(writing) = self.lanes[lane].take()
            && let Err(e) = self.settle(writing, md5, size)
        {
            self.fail(e);
        }
    }
}

/// Extracts the members found in `lanes` below `target`.
pub fn extract(
    lanes: Vec<Lane<'_>>,
    manifest: &Manifest,
    target: &Path,
    options: &ExtractOptions,
) -> Result<Vec<ExtractedFile>, ArchiveError> {
    let mut extractor = Extractor {
        manifest,
        expected: manifest.by_path(),
        target,
        options,
        stage: Staging::new(target)?,
        refused: Vec::new(),
        failure: None,
        done: Vec::new(),
        seen: BTreeSet::new(),
        lanes: Vec::new(),
        dirs: BTreeSet::new(),
    };
    extractor.lanes.resize_with(lanes.len(), || None);
    let read = lanes::read(
        lanes,
        manifest.archive.compression.as_deref(),
        false,
        &mut extractor,
    );
    let Extractor {
        stage,
        refused,
        failure,
        mut done,
        seen,
        dirs,
        ..
    } = extractor;
    drop(stage);
    read?;
    for dir in &dirs {
        if let Err(source) = File::open(dir).and_then(|d| d.sync_all()) {
            return Err(ArchiveError::Write {
                path: dir.clone(),
                source,
            });
        }
    }
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
    let order: BTreeMap<&MemberPath, usize> = manifest
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.path, i))
        .collect();
    done.sort_by_key(|f| order.get(&f.path).copied());
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
