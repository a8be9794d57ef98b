//! Files to archive and the archives made of them.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use fitsbak_archive::TarArchiver;
use fitsbak_archive::write::mtime_seconds;
use fitsbak_core::archive::{
    ArchiveBuilder, ArchivePlan, ArchiveReader, ExtractOptions, ExtractedFile, Lane, MemberSource,
};
use fitsbak_core::ids::SessionId;
use fitsbak_core::manifest::{
    ArchiveSummary, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, ManifestMember,
};
use fitsbak_core::model::CatalogFile;
use md5::{Digest, Md5};

pub const SESSION: &str = "20240315_A7B3C2D1";

pub fn session() -> SessionId {
    SessionId::new(SESSION).unwrap()
}

/// Names real libraries have: spaces, non-ASCII, over 100 bytes, the same name in
/// two folders.
pub fn awkward_names() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LIGHT/Ha", "Caldwell 49 Rosette - Hα 300s.fits"),
        ("LIGHT/OIII", "M42_Light_OIII_0001.fits"),
        (
            "LIGHT/SII",
            "NGC 7000 North America - SII 600s - gain 100 offset 50 - -10.0C - bin1x1 - mosaic panel 2 of 4 - frame 0001.fits",
        ),
        ("FLAT/Ha", "Flat_0001.fits"),
        ("FLAT/OIII", "Flat_0001.fits"),
        ("DARK", "Dark 300s ünïcödé ☄.fits"),
        ("BIAS", "empty.fits"),
    ]
}

/// A file with content derived from `seed`.
pub fn content(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 7) % 251) as u8)
        .collect()
}

/// The MD5 of `bytes` in hex, by the reference implementation.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Writes the files below `root` and returns their member sources (with the true
/// MD5 in the catalog).
pub fn write_files(root: &Path, files: &[(&str, &str)]) -> Vec<MemberSource> {
    files
        .iter()
        .enumerate()
        .map(|(i, (folder, name))| {
            let dir = root.join(folder);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            let bytes = if name.starts_with("empty") {
                vec![]
            } else {
                content(i, 700 + i * 1000)
            };
            std::fs::write(&path, &bytes).unwrap();
            source_for(&path, Some(md5_hex(&bytes)))
        })
        .collect()
}

/// The member source of a file on disk.
pub fn source_for(path: &Path, md5: Option<String>) -> MemberSource {
    let meta = std::fs::metadata(path).unwrap();
    MemberSource {
        catalog: CatalogFile {
            id: 1,
            session_id: session(),
            file: path.file_name().unwrap().to_string_lossy().into_owned(),
            folder: path.parent().unwrap().to_string_lossy().into_owned(),
            path: path.to_owned(),
            frame_type: Some("LIGHT".into()),
            md5sum: md5,
            object: None,
            filter: None,
            bad: false,
            file_not_found: false,
        },
        size: meta.len(),
        mtime: mtime_seconds(&meta),
    }
}

pub struct Built {
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

/// Plans and writes the archive of `sources` into memory.
pub fn build(sources: Vec<MemberSource>) -> Built {
    let plan = TarArchiver.plan(&session(), sources).unwrap();
    let mut bytes = Vec::new();
    let md5s = TarArchiver.write(&plan, &mut bytes).unwrap();
    assert_eq!(
        bytes.len() as u64,
        plan.total_size,
        "planned size is written size"
    );
    let manifest = manifest(&plan, &md5s);
    Built { bytes, manifest }
}

pub fn manifest(plan: &ArchivePlan, md5s: &[String]) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.into(),
        version: MANIFEST_VERSION,
        session_id: session(),
        session_date: NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
        telescope: None,
        camera: None,
        tool_version: fitsbak_core::tool_version(),
        created_at: fitsbak_core::time::now(),
        archive: ArchiveSummary {
            key: format!("backups/raw/2024/{SESSION}.tar"),
            size: plan.total_size,
            crc32c: String::new(),
            etag: None,
            checksum: None,
            part_size: 0,
            data_bytes: plan.data_bytes(),
            compression: None,
        },
        members: plan.manifest_members(md5s),
        excluded: vec![],
    }
}

/// Every regular file below `dir`, relative path and bytes, sorted.
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else {
            let bytes = if meta.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                b"<link>".to_vec()
            };
            out.push((p.strip_prefix(dir).unwrap().to_owned(), bytes));
        }
    }
    out.sort();
    out
}

/// The lane of one member's range of `bytes` (its header blocks to its padding), as
/// a ranged GET would give it.
pub fn member_lane<'a>(bytes: &'a [u8], member: &ManifestMember) -> Vec<Lane<'a>> {
    let range = Manifest::member_range(member);
    vec![Lane::from_reader(
        range.start,
        &bytes[range.start as usize..range.end as usize],
    )]
}

/// Extracts `member` alone from its range of `bytes`.
pub fn extract_one(
    bytes: &[u8],
    manifest: &Manifest,
    member: &ManifestMember,
    target: &Path,
    options: &ExtractOptions,
) -> fitsbak_core::Result<ExtractedFile> {
    let options = ExtractOptions {
        only: Some(std::iter::once(member.path.clone()).collect()),
        ..options.clone()
    };
    let mut files = TarArchiver.extract(member_lane(bytes, member), manifest, target, &options)?;
    assert_eq!(files.len(), 1, "one file asked for, one extracted");
    Ok(files.remove(0))
}
