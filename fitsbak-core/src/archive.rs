//! Session archives: planning their exact layout, writing them as a stream, and
//! reading them back (verification and safe extraction).
//!
//! `fitsbak-archive` implements these traits with deterministic uncompressed tar.
//! The plan comes first: from the member list alone it fixes every member's tar
//! path, header and data offsets and the archive's exact size, before a byte is
//! read, so the upload can choose its part size and progress bars show exact totals.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::error::Result;
use crate::ids::{MemberPath, SessionId};
use crate::manifest::{Manifest, ManifestMember};
use crate::model::CatalogFile;

/// A file to put in an archive: its catalog row and what a `stat` found.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSource {
    /// The catalog's row.
    pub catalog: CatalogFile,
    /// Size in bytes at planning time.
    pub size: u64,
    /// Modification time at planning time, seconds since the epoch.
    pub mtime: i64,
}

/// One member of a planned archive.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMember {
    /// Where the bytes come from.
    pub source: MemberSource,
    /// Path inside the tar.
    pub path: MemberPath,
    /// Offset of its first header block.
    pub header_offset: u64,
    /// Offset of its first data byte.
    pub data_offset: u64,
}

/// The exact layout of an archive, fixed before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivePlan {
    /// The session.
    pub session_id: SessionId,
    /// Members in archive order.
    pub members: Vec<PlannedMember>,
    /// Exact size of the tar stream in bytes.
    pub total_size: u64,
}

impl ArchivePlan {
    /// Sum of the members' sizes.
    pub fn data_bytes(&self) -> u64 {
        self.members.iter().map(|m| m.source.size).sum()
    }

    /// The manifest entries of the members, given their MD5s in archive order.
    pub fn manifest_members(&self, md5s: &[String]) -> Vec<ManifestMember> {
        self.members
            .iter()
            .zip(md5s)
            .map(|(m, md5)| {
                let c = &m.source.catalog;
                ManifestMember {
                    path: m.path.clone(),
                    file: c.file.clone(),
                    folder: c.folder.clone(),
                    source_path: c.path.to_string_lossy().into_owned(),
                    size: m.source.size,
                    md5: md5.clone(),
                    catalog_md5: c.md5sum.clone(),
                    header_offset: m.header_offset,
                    data_offset: m.data_offset,
                    mtime: m.source.mtime,
                    frame_type: c.frame_type.clone(),
                    object: c.object.clone(),
                    filter: c.filter.clone(),
                    catalog_id: Some(c.id),
                }
            })
            .collect()
    }
}

/// Where an archive's bytes go. Every `io::Write` is one. A sink with buffers of
/// its own (the upload's part sink) also lends them: the writer reads file bytes
/// straight into the part being filled instead of copying them there.
pub trait ArchiveSink {
    /// Takes all of `bytes`.
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()>;

    /// Room for at most `max` of the next bytes, to be read into directly; `None`
    /// when the sink has no buffer to lend.
    fn room(&mut self, _max: usize) -> Option<&mut [u8]> {
        None
    }

    /// The first `n` bytes of the room last lent hold the next bytes.
    fn filled(&mut self, _n: usize) -> std::io::Result<()> {
        Err(std::io::Error::other("this sink lends no room"))
    }
}

impl<W: Write + ?Sized> ArchiveSink for W {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes)
    }
}

/// Writes session archives.
pub trait ArchiveBuilder: Send + Sync {
    /// Lays out an archive of `sources`: stable member order and paths (distinct
    /// even for equal file names from different folders), offsets, exact size.
    fn plan(&self, session: &SessionId, sources: Vec<MemberSource>) -> Result<ArchivePlan>;

    /// Lays out an archive of files at the paths given, in the order given (a
    /// folder's tree: `M31.data/...`), for [`ArchiveBuilder::write`].
    fn plan_tree(
        &self,
        session: &SessionId,
        entries: Vec<(MemberPath, MemberSource)>,
    ) -> Result<ArchivePlan>;

    /// Writes the archive of `plan` to `out` (blocking), hashing every member as it
    /// streams. Fails, naming the file, when a file is missing, its size differs from
    /// the plan, or its MD5 differs from the catalog's. Returns each member's MD5
    /// (lower-case hex) in archive order. Exactly `plan.total_size` bytes are written
    /// when it succeeds.
    fn write(&self, plan: &ArchivePlan, out: &mut dyn ArchiveSink) -> Result<Vec<String>>;
}

/// A member whose bytes do not match the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberMismatch {
    /// The member.
    pub path: String,
    /// What the manifest says.
    pub expected: String,
    /// What the archive holds.
    pub actual: String,
}

/// The outcome of reading an archive against its manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Members that matched.
    pub matched: u64,
    /// Manifest members not in the archive.
    pub missing: Vec<String>,
    /// Archive members not in the manifest.
    pub extra: Vec<String>,
    /// Members whose size or MD5 differ.
    pub mismatched: Vec<MemberMismatch>,
    /// Bytes read.
    pub bytes_read: u64,
    /// CRC32C of the bytes read, in object order (lower-case hex).
    pub crc32c: String,
}

impl VerifyReport {
    /// True when every member matched and nothing is missing or extra.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.mismatched.is_empty()
    }

    /// One line per problem, naming the member.
    pub fn problems(&self) -> Vec<String> {
        let mut lines = Vec::new();
        lines.extend(self.missing.iter().map(|p| format!("missing member {p}")));
        lines.extend(self.extra.iter().map(|p| format!("unexpected member {p}")));
        lines.extend(self.mismatched.iter().map(|m| {
            format!(
                "member {} differs: expected {}, found {}",
                m.path, m.expected, m.actual
            )
        }));
        lines
    }
}

/// Where extracted files go below the target directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// As stored: `{session_id}/{file}`.
    #[default]
    Archive,
    /// Below each file's original folder, made relative (a leading `/` or drive is
    /// dropped): `/data/2024/M42/a.fits` goes to `{target}/data/2024/M42/a.fits`.
    OriginalFolders,
    /// Every file directly in the target directory.
    Flat,
}

/// How to extract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Replace existing files whose content differs.
    pub overwrite: bool,
    /// Where files go.
    pub layout: Layout,
    /// Only these members (all when `None`).
    pub only: Option<BTreeSet<MemberPath>>,
}

/// What happened to one member during extraction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ExtractAction {
    /// Written and checked.
    Written,
    /// Already there with the right MD5.
    AlreadyPresent,
}

/// One extracted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtractedFile {
    /// The member.
    pub path: MemberPath,
    /// Where it is now.
    pub destination: PathBuf,
    /// Bytes.
    pub size: u64,
    /// What was done.
    pub action: ExtractAction,
}

/// One entry of an archive as it was read, knowing nothing in advance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryEntry {
    /// The entry's path as stored.
    pub path: String,
    /// Whether it is a regular file (links and directories are not).
    pub regular: bool,
    /// Bytes of data.
    pub size: u64,
    /// MD5 of its data, lower-case hex.
    pub md5: String,
    /// Offset of its first header block in the (uncompressed) tar stream.
    pub header_offset: u64,
    /// Offset of its first data byte in the (uncompressed) tar stream.
    pub data_offset: u64,
    /// Modification time in the header.
    pub mtime: i64,
}

/// What an archive holds, read from its bytes alone (for archives fitsbak did not
/// write: the cataloger's Python tool's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// `gzip` when the stream was compressed.
    pub compression: Option<String>,
    /// Every entry, in archive order.
    pub entries: Vec<InventoryEntry>,
}

/// Reads session archives.
pub trait ArchiveReader: Send + Sync {
    /// Reads a whole archive knowing nothing of it: a tar or a gzip'd tar (told by
    /// its first bytes), every entry hashed.
    fn inventory(&self, input: &mut dyn Read) -> Result<Inventory>;

    /// Reads a whole archive in `lanes` (in order, together covering the object:
    /// see [`Manifest::lane_ranges`]) side by side and re-hashes every member
    /// against `manifest`, taking the CRC32C of all the bytes on the way.
    fn verify(&self, lanes: Vec<Lane<'_>>, manifest: &Manifest) -> Result<VerifyReport>;

    /// Extracts the members found in `lanes` (the whole archive, as for
    /// [`ArchiveReader::verify`], or single members' ranges, see
    /// [`Manifest::member_range`]) below `target`, refusing any member that could
    /// land outside it, checking each file's MD5 against the manifest; each file
    /// is on disk (fsync'd) before it is reported.
    fn extract(
        &self,
        lanes: Vec<Lane<'_>>,
        manifest: &Manifest,
        target: &Path,
        options: &ExtractOptions,
    ) -> Result<Vec<ExtractedFile>>;

    /// How many lanes are worth reading side by side (one per SIMD lane of the
    /// multi-stream MD5).
    fn lanes(&self) -> usize {
        1
    }

    /// The members of `manifest` (those of `options.only`, when set) already at their
    /// destination below `target` with the right MD5: a download can skip them.
    fn present(
        &self,
        manifest: &Manifest,
        target: &Path,
        options: &ExtractOptions,
    ) -> Result<BTreeSet<MemberPath>>;
}

/// A lane's bytes in order, as they arrive: each chunk is taken by the archive
/// reader as it is (hashed and written from where it lies), not copied into a
/// buffer of its own.
pub type Chunks<'a> = Box<dyn Iterator<Item = std::io::Result<Bytes>> + Send + 'a>;

/// One stream of an archive read side by side with others: the object's bytes
/// from `start` (a member's first header block) to the end of its range.
pub struct Lane<'a> {
    /// Offset of the first byte in the object.
    pub start: u64,
    /// The bytes.
    pub chunks: Chunks<'a>,
}

/// Bytes read at a time from a [`Lane::from_reader`] reader.
const READER_CHUNK: usize = 256 << 10;

impl<'a> Lane<'a> {
    /// The lane of `chunks`, from byte `start` of the object.
    pub fn new(
        start: u64,
        chunks: impl Iterator<Item = std::io::Result<Bytes>> + Send + 'a,
    ) -> Self {
        Self {
            start,
            chunks: Box::new(chunks),
        }
    }

    /// The lane of what `reader` gives, read in chunks of 256 KiB.
    pub fn from_reader(start: u64, mut reader: impl Read + Send + 'a) -> Self {
        let chunks = std::iter::from_fn(move || {
            let mut chunk = BytesMut::zeroed(READER_CHUNK);
            loop {
                return match reader.read(&mut chunk) {
                    Ok(0) => None,
                    Ok(n) => {
                        chunk.truncate(n);
                        Some(Ok(chunk.freeze()))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Some(Err(e)),
                };
            }
        });
        Self::new(start, chunks)
    }

    /// The whole archive as one lane.
    pub fn whole(reader: impl Read + Send + 'a) -> Vec<Self> {
        vec![Self::from_reader(0, reader)]
    }
}
