//! Crafted hostile archives: every bad member is refused and named, and nothing is
//! written outside the target.

use fitsbak_archive::TarArchiver;
use fitsbak_core::archive::{ArchiveReader, ExtractOptions};

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
            &mut &bytes[..],
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
            &mut &built.bytes[..],
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
