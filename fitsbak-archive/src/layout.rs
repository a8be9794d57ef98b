//! The archive's layout: member order and paths, header bytes, offsets, exact size.
//!
//! Everything that decides a byte of the archive is here, and both the plan and the
//! writer use it, so the planned size is the written size by construction (and a
//! property test checks it anyway).
//!
//! - Members are ordered by file name, then folder: the same session always gives the
//!   same order, whatever the catalog's row order.
//! - A member is `{session_id}/{file}`. Files with the same name from different folders
//!   each get `~` and 8 hex digits of the MD5 of their folder before the extension
//!   (`Flat_0001~3fa4c2d1.fits`), so every member has a distinct, stable path.
//! - Headers are POSIX ustar with normalised fields: mode 0644, uid/gid 0, no user or
//!   group names, mtime from the file. A PAX extended header carries the path when it
//!   is over 100 bytes or not ASCII, and the size when it is 8 GiB or more.
//! - The archive ends with two zero blocks.

use std::collections::{BTreeMap, HashSet};

use fitsbak_core::archive::{ArchivePlan, MemberSource, PlannedMember};
use fitsbak_core::ids::{MemberPath, SessionId};
use md5::{Digest, Md5};

use crate::error::ArchiveError;

/// The tar block size.
pub const BLOCK: u64 = 512;

/// The end-of-archive marker: two zero blocks.
pub const END_OF_ARCHIVE: [u8; 1024] = [0; 1024];

/// Largest size the ustar size field holds in octal (8 GiB - 1).
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

/// Bytes of padding after `size` bytes of data.
pub fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// The header blocks of one member: an optional PAX extended header, then the
/// ustar header.
pub fn member_header(path: &MemberPath, size: u64, mtime: i64) -> Vec<u8> {
    let name = path.as_str().as_bytes();
    let mut records: Vec<(&str, Vec<u8>)> = Vec::new();
    if name.len() > 100 || !name.is_ascii() {
        records.push(("path", name.to_vec()));
    }
    if size > USTAR_MAX_SIZE {
        records.push(("size", size.to_string().into_bytes()));
    }
    let mut out = Vec::with_capacity(BLOCK as usize * 2);
    if !records.is_empty() {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, v.as_slice())))
            .expect("writing to memory cannot fail");
        out = std::mem::take(builder.get_mut());
        // Dropping the builder appends its end-of-archive blocks to the emptied
        // buffer, which is dropped with it.
    }
    let mut header = tar::Header::new_ustar();
    {
        let ustar = header.as_ustar_mut().expect("a ustar header");
        // The name field: the path itself, or (when a PAX record carries it) its
        // ASCII-safe start, cut at a character boundary.
        let shown = if records.iter().any(|(k, _)| *k == "path") {
            &name[..name.iter().take(100).take_while(|b| b.is_ascii()).count()]
        } else {
            name
        };
        ustar.name[..shown.len()].copy_from_slice(shown);
    }
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime.max(0) as u64);
    header.set_size(size);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out
}

/// A file name must be one clean path segment to become a member.
fn check_file_name(source: &MemberSource) -> Result<(), ArchiveError> {
    let c = &source.catalog;
    let bad = |reason: &str| ArchiveError::BadName {
        file: c.file.clone(),
        folder: c.folder.clone(),
        reason: reason.to_owned(),
    };
    if c.file.is_empty() {
        return Err(bad("empty file name"));
    }
    if c.file.contains('/') || c.file.contains('\\') {
        return Err(bad("a file name cannot contain a path separator"));
    }
    if c.file == "." || c.file == ".." {
        return Err(bad("`.` and `..` are not file names"));
    }
    if c.file.chars().any(char::is_control) {
        return Err(bad("control character in the file name"));
    }
    Ok(())
}

/// Inserts `~{hex}` before the extension of `file`.
fn disambiguated(file: &str, folder: &str, digits: usize) -> String {
    let hash = hex::encode(Md5::digest(folder.as_bytes()));
    let tag = &hash[..digits];
    match file.rfind('.') {
        Some(dot) if dot > 0 => format!("{}~{tag}{}", &file[..dot], &file[dot..]),
        _ => format!("{file}~{tag}"),
    }
}

/// Lays out the archive of `sources`.
pub fn plan(
    session: &SessionId,
    mut sources: Vec<MemberSource>,
) -> Result<ArchivePlan, ArchiveError> {
    for s in &sources {
        check_file_name(s)?;
    }
    sources.sort_by(|a, b| {
        (&a.catalog.file, &a.catalog.folder).cmp(&(&b.catalog.file, &b.catalog.folder))
    });
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &sources {
        *uses.entry(s.catalog.file.as_str()).or_default() += 1;
    }
    let names: Vec<String> = {
        let mut taken: HashSet<String> = sources
            .iter()
            .filter(|s| uses[s.catalog.file.as_str()] == 1)
            .map(|s| s.catalog.file.clone())
            .collect();
        sources
            .iter()
            .map(|s| {
                let c = &s.catalog;
                if uses[c.file.as_str()] == 1 {
                    return c.file.clone();
                }
                // Longer hashes only if a shorter one collides with another name.
                let mut digits = 8;
                loop {
                    let name = disambiguated(&c.file, &c.folder, digits);
                    if digits >= 32 || taken.insert(name.clone()) {
                        return name;
                    }
                    digits *= 2;
                }
            })
            .collect()
    };
    let placed = sources
        .into_iter()
        .zip(names)
        .map(|(source, name)| {
            let path =
                MemberPath::in_session(session, &name).map_err(|e| ArchiveError::BadName {
                    file: source.catalog.file.clone(),
                    folder: source.catalog.folder.clone(),
                    reason: e.reason.to_owned(),
                })?;
            Ok((path, source))
        })
        .collect::<Result<Vec<_>, ArchiveError>>()?;
    Ok(lay_out(session, placed))
}

/// The archive of files at the paths given, in the order given: a folder's tree
/// (`M31.data/...`), laid out like a session archive.
pub fn plan_tree(session: &SessionId, entries: Vec<(MemberPath, MemberSource)>) -> ArchivePlan {
    lay_out(session, entries)
}

/// Offsets and size of an archive of `placed` members, in order.
fn lay_out(session: &SessionId, placed: Vec<(MemberPath, MemberSource)>) -> ArchivePlan {
    let mut members = Vec::with_capacity(placed.len());
    let mut offset = 0u64;
    for (path, source) in placed {
        let header_len = member_header(&path, source.size, source.mtime).len() as u64;
        let data_offset = offset + header_len;
        offset = data_offset + source.size + padding(source.size);
        members.push(PlannedMember {
            source,
            path,
            header_offset: data_offset - header_len,
            data_offset,
        });
    }
    ArchivePlan {
        session_id: session.clone(),
        members,
        total_size: offset + END_OF_ARCHIVE.len() as u64,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use fitsbak_core::model::CatalogFile;
    use std::path::PathBuf;

    /// A file to plan: its name, folder and size; nothing is read.
    pub(crate) fn source(file: &str, folder: &str, size: u64) -> MemberSource {
        MemberSource {
            catalog: CatalogFile {
                id: 1,
                session_id: SessionId::new("S1").unwrap(),
                file: file.into(),
                folder: folder.into(),
                path: PathBuf::from(folder).join(file),
                frame_type: None,
                md5sum: None,
                object: None,
                filter: None,
                bad: false,
                file_not_found: false,
            },
            size,
            mtime: 1_700_000_000,
        }
    }

    #[test]
    fn short_ascii_names_need_no_pax_header() {
        let p = MemberPath::new("S1/a.fits").unwrap();
        let h = member_header(&p, 10, 5);
        assert_eq!(h.len(), 512);
        let header = tar::Header::from_byte_slice(&h);
        assert_eq!(header.path_bytes().as_ref(), b"S1/a.fits");
        assert_eq!(header.size().unwrap(), 10);
        assert_eq!(header.mode().unwrap(), 0o644);
        assert_eq!(header.mtime().unwrap(), 5);
        assert_eq!(header.entry_type(), tar::EntryType::Regular);
    }

    #[test]
    fn long_or_non_ascii_names_and_huge_sizes_get_pax_records() {
        let long = MemberPath::new(format!("S1/{}.fits", "x".repeat(120))).unwrap();
        let h = member_header(&long, 1, 0);
        assert_eq!(
            h.len(),
            512 * 3,
            "pax header, its records, the ustar header"
        );
        let text = String::from_utf8_lossy(&h[512..1024]);
        assert!(text.contains(&format!(" path={long}\n")), "{text}");

        let greek = MemberPath::new("S1/Hα.fits").unwrap();
        let h = member_header(&greek, 1, 0);
        assert_eq!(h.len(), 512 * 3);
        assert!(String::from_utf8_lossy(&h).contains("path=S1/Hα.fits"));

        let big = member_header(&MemberPath::new("S1/big.fits").unwrap(), 9 << 30, 0);
        let records = String::from_utf8_lossy(&big[512..1024]);
        assert!(
            records.contains(&format!("size={}\n", 9u64 << 30)),
            "{records}"
        );
        let header = tar::Header::from_byte_slice(&big[1024..]);
        assert_eq!(
            header.size().unwrap(),
            9 << 30,
            "the binary size field agrees"
        );
    }

    #[test]
    fn plans_are_ordered_offsets_add_up_and_duplicates_are_distinct() {
        let session = SessionId::new("S1").unwrap();
        let sources = vec![
            source("b.fits", "/d/2", 700),
            source("Flat_0001.fits", "/d/FLAT/OIII", 512),
            source("a.fits", "/d/1", 0),
            source("Flat_0001.fits", "/d/FLAT/Ha", 1),
        ];
        let mut reversed = sources.clone();
        reversed.reverse();
        let p = plan(&session, sources).unwrap();
        assert_eq!(
            p,
            plan(&session, reversed).unwrap(),
            "input order does not matter"
        );
        let names: Vec<&str> = p.members.iter().map(|m| m.path.as_str()).collect();
        for name in &names[..2] {
            assert!(
                name.starts_with("S1/Flat_0001~") && name.ends_with(".fits"),
                "{name}"
            );
            assert_eq!(name.len(), "S1/Flat_0001~12345678.fits".len());
        }
        assert_ne!(names[0], names[1]);
        assert_eq!(&names[2..], ["S1/a.fits", "S1/b.fits"]);
        let mut expected = 0;
        for m in &p.members {
            assert_eq!(m.header_offset, expected);
            assert_eq!(m.data_offset, expected + 512);
            expected = m.data_offset + m.source.size + padding(m.source.size);
        }
        assert_eq!(p.total_size, expected + 1024);
        assert_eq!(p.data_bytes(), 1213);
    }

    #[test]
    fn bad_file_names_are_refused_naming_the_file() {
        let session = SessionId::new("S1").unwrap();
        for bad in ["", "..", "a/b.fits", "a\\b", "bell\u{7}.fits"] {
            let err = plan(&session, vec![source(bad, "/d", 1)]).unwrap_err();
            assert!(err.to_string().contains("in /d"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_name_like_a_disambiguated_one_does_not_collide() {
        let session = SessionId::new("S1").unwrap();
        let taken = disambiguated("f.fits", "/one", 8);
        let p = plan(
            &session,
            vec![
                source("f.fits", "/one", 1),
                source("f.fits", "/two", 1),
                source(&taken, "/three", 1),
            ],
        )
        .unwrap();
        let names: HashSet<&str> = p.members.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn padding_rounds_to_blocks() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }
}
