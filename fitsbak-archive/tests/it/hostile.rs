//! Crafted hostile archives: every bad member is refused and named, and nothing is
//! written outside the target.

use std::path::Path;

use fitsbak_archive::TarArchiver;
use fitsbak_core::archive::{ArchiveReader, ExtractOptions, Lane};

use crate::support::*;

/// A raw entry: name bytes, type, link target, data (no validation at all).
fn entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    let bytes = name.as_bytes();
    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    h.set_entry_type(kind);
    if !link.is_empty() {
        h.set_link_name_literal(link).unwrap();
    }
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

#[test]
fn hostile_members_are_refused_and_nothing_lands_outside_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let built = build(write_files(&src, &[("LIGHT", "good.fits")]));
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = dir.path().join("target");

    let good = &built.manifest.members[0];
    let mut bytes = Vec::new();
    let s = SESSION;
    entry(
        &mut bytes,
        "../escape.fits",
        tar::EntryType::Regular,
        "",
        b"evil",
    );
    entry(
        &mut bytes,
        &format!("/{}/abs.fits", outside.display()),
        tar::EntryType::Regular,
        "",
        b"evil",
    );
    entry(
        &mut bytes,
        &format!("{s}/link"),
        tar::EntryType::Symlink,
        outside.to_str().unwrap(),
        b"",
    );
    entry(
        &mut bytes,
        &format!("{s}/link/through.fits"),
        tar::EntryType::Regular,
        "",
        b"evil",
    );
    entry(
        &mut bytes,
        &format!("{s}/hard"),
        tar::EntryType::Link,
        "/etc/passwd",
        b"",
    );
    entry(
        &mut bytes,
        &format!("{s}/dev"),
        tar::EntryType::Char,
        "",
        b"",
    );
    entry(
        &mut bytes,
        "OTHER_SESSION/x.fits",
        tar::EntryType::Regular,
        "",
        b"evil",
    );
    entry(
        &mut bytes,
        &format!("{s}/unlisted.fits"),
        tar::EntryType::Regular,
        "",
        b"evil",
    );
    let data = std::fs::read(&good.source_path).unwrap();
    entry(
        &mut bytes,
        good.path.as_str(),
        tar::EntryType::Regular,
        "",
        &data,
    );
    bytes.extend_from_slice(&[0; 1024]);

    let err = TarArchiver
        .extract(
            Lane::whole(&bytes[..]),
            &built.manifest,
            &target,
            &ExtractOptions::default(),
        )
        .unwrap_err()
        .to_string();
    for name in [
        "../escape.fits",
        "abs.fits",
        "link\"",
        "through.fits",
        "hard",
        "dev",
        "OTHER_SESSION",
        "unlisted.fits",
    ] {
        assert!(err.contains(name), "{name} not named in: {err}");
    }
    assert!(
        err.contains("symbolic link") && err.contains("hard link"),
        "{err}"
    );
    assert!(
        tree(&outside).is_empty(),
        "nothing outside: {:?}",
        tree(&outside)
    );
    assert!(!dir.path().join("escape.fits").exists());
    let inside: Vec<_> = tree(&target).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        inside,
        vec![std::path::PathBuf::from(good.path.as_str())],
        "only the good member"
    );
}

#[test]
fn a_symlink_planted_in_the_target_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(
        &dir.path().join("src"),
        &[("LIGHT", "good.fits")],
    ));
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&outside, target.join(SESSION)).unwrap();

    let err = TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &target,
            &ExtractOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("symlink") || err.contains("not a directory"),
        "{err}"
    );
    assert!(tree(&outside).is_empty());
}

/// Links planted at every component of a destination, in both layouts and for a
/// single member: each is refused or replaced, never written through, and the
/// file outside keeps its bytes.
#[test]
fn planted_links_at_every_path_component_are_never_written_through() {
    use fitsbak_core::archive::Layout;
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(
        &dir.path().join("src"),
        &[("LIGHT/Ha", "a.fits")],
    ));
    let member = &built.manifest.members[0];
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, b"keep me").unwrap();

    for layout in [Layout::Archive, Layout::OriginalFolders] {
        let options = ExtractOptions {
            layout,
            ..ExtractOptions::default()
        };
        let dest = fitsbak_archive::read::destination(Path::new("/T"), member, layout).unwrap();
        let parts: Vec<_> = dest.strip_prefix("/T").unwrap().components().collect();
        for depth in 1..=parts.len() {
            let target = dir.path().join(format!("t-{layout:?}-{depth}"));
            let mut planted = target.clone();
            for part in &parts[..depth] {
                planted.push(part);
            }
            std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
            // A directory component links to a directory outside, the file itself
            // to a file outside.
            let link_to = if depth == parts.len() {
                &victim
            } else {
                &outside
            };
            std::os::unix::fs::symlink(link_to, &planted).unwrap();
            let whole = TarArchiver.extract(
                Lane::whole(&built.bytes[..]),
                &built.manifest,
                &target,
                &options,
            );
            let single = extract_one(&built.bytes, &built.manifest, member, &target, &options);
            assert!(
                whole.is_err() && single.is_err(),
                "{layout:?} depth {depth}: a planted link is refused"
            );
            assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
            assert_eq!(
                std::fs::read_dir(&outside).unwrap().count(),
                1,
                "{layout:?} depth {depth}: nothing written outside"
            );
            assert!(
                std::fs::symlink_metadata(&planted)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
    }
}

/// The staging directory of old versions, planted with a link where a part file
/// would have gone: a restore never opens it.
#[test]
fn a_planted_staging_link_is_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(&dir.path().join("src"), &[("LIGHT", "a.fits")]));
    let member = &built.manifest.members[0];
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    let target = dir.path().join("t");
    let old_staging = target.join(".fitsbak-partial");
    std::fs::create_dir_all(&old_staging).unwrap();
    std::os::unix::fs::symlink(&victim, old_staging.join("a.fits.part")).unwrap();
    let f = extract_one(
        &built.bytes,
        &built.manifest,
        member,
        &target,
        &ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    let meta = std::fs::symlink_metadata(&f.destination).unwrap();
    assert!(meta.file_type().is_file(), "the restored file is a file");
    assert_eq!(
        std::fs::read(&f.destination).unwrap(),
        std::fs::read(&member.source_path).unwrap()
    );
}

/// A catalogued folder may be named like a staging directory (the name older
/// versions used): its files are restored like any other.
#[test]
fn a_folder_named_like_the_staging_directory_is_restored() {
    use fitsbak_core::archive::Layout;
    let dir = tempfile::tempdir().unwrap();
    let mut built = build(write_files(
        &dir.path().join("src"),
        &[("x", "a.fits"), ("LIGHT", "b.fits")],
    ));
    // Relative folders are restored below the target as they are.
    built.manifest.members[0].folder = ".fitsbak-partial".into();
    built.manifest.members[1].folder = "LIGHT".into();
    let target = dir.path().join("t");
    let options = ExtractOptions {
        layout: Layout::OriginalFolders,
        ..ExtractOptions::default()
    };
    let files = TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &target,
            &options,
        )
        .unwrap();
    assert_eq!(files.len(), 2);
    let a = target.join(".fitsbak-partial").join("a.fits");
    assert_eq!(files[0].destination, a);
    for (f, m) in files.iter().zip(&built.manifest.members) {
        assert_eq!(
            std::fs::read(&f.destination).unwrap(),
            std::fs::read(&m.source_path).unwrap(),
            "{}",
            f.destination.display()
        );
    }
    // And one file at a time.
    let other = dir.path().join("o");
    let m = &built.manifest.members[0];
    let f = extract_one(&built.bytes, &built.manifest, m, &other, &options).unwrap();
    assert!(f.destination.is_file());
}

/// Bytes that are not a tar: one clean error, no raw bytes in it, no staging left.
#[test]
fn an_object_that_is_not_a_tar_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(&dir.path().join("src"), &[("LIGHT", "a.fits")]));
    let mut junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    junk[..7].copy_from_slice(b"\x00\x01\x1b[2J\xff");
    let target = dir.path().join("t");
    let err = TarArchiver
        .extract(
            Lane::whole(&junk[..]),
            &built.manifest,
            &target,
            &ExtractOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.chars().all(|c| !c.is_control() && c != '\u{fffd}'),
        "{err:?}"
    );
    assert!(
        err.contains("reading the archive") || err.contains("not in the archive"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "no staging left"
    );
}
