//! Reading back: verification against the manifest, extraction in each layout,
//! resuming, and single members from byte ranges.

use std::collections::BTreeSet;

use fitsbak_archive::TarArchiver;
use fitsbak_core::archive::{ArchiveReader, ExtractAction, ExtractOptions, Lane, Layout};

use crate::support::*;

#[test]
fn a_good_archive_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(dir.path(), &awkward_names()));
    let report = TarArchiver
        .verify(Lane::whole(&built.bytes[..]), &built.manifest)
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.matched, built.manifest.members.len() as u64);
    assert_eq!(report.bytes_read, built.bytes.len() as u64);
}

#[test]
fn changed_missing_and_extra_members_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(dir.path(), &awkward_names()));
    let mut bytes = built.bytes.clone();
    let victim = &built.manifest.members[1];
    bytes[victim.data_offset as usize + 5] ^= 0xff;
    let report = TarArchiver
        .verify(Lane::whole(&bytes[..]), &built.manifest)
        .unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(report.mismatched[0].path, victim.path.as_str());
    assert!(
        report.problems()[0].contains("MD5"),
        "{:?}",
        report.problems()
    );

    let mut manifest = built.manifest.clone();
    let dropped = manifest.members.remove(0);
    let mut ghost = manifest.members[0].clone();
    ghost.path = fitsbak_core::ids::MemberPath::new(format!("{SESSION}/ghost.fits")).unwrap();
    manifest.members.push(ghost);
    let report = TarArchiver
        .verify(Lane::whole(&built.bytes[..]), &manifest)
        .unwrap();
    assert_eq!(report.extra, vec![dropped.path.to_string()]);
    assert_eq!(report.missing, vec![format!("{SESSION}/ghost.fits")]);
}

#[test]
fn extraction_puts_files_back_in_each_layout() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let built = build(write_files(&src, &awkward_names()));

    let target = dir.path().join("as-archived");
    let files = TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &target,
            &ExtractOptions::default(),
        )
        .unwrap();
    assert_eq!(files.len(), built.manifest.members.len());
    for m in &built.manifest.members {
        let dest = target.join(m.path.as_str());
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            std::fs::read(&m.source_path).unwrap()
        );
        let mtime = fitsbak_archive::write::mtime_seconds(&std::fs::metadata(&dest).unwrap());
        assert_eq!(mtime, m.mtime, "the original mtime is kept");
    }
    assert_eq!(
        std::fs::read_dir(&target)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(fitsbak_archive::read::STAGING_PREFIX))
            .count(),
        0,
        "no staging directory is left"
    );

    let original = dir.path().join("original");
    let options = ExtractOptions {
        layout: Layout::OriginalFolders,
        ..ExtractOptions::default()
    };
    TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &original,
            &options,
        )
        .unwrap();
    for m in &built.manifest.members {
        let relative = m.source_path.trim_start_matches('/');
        assert_eq!(
            std::fs::read(original.join(relative)).unwrap(),
            std::fs::read(&m.source_path).unwrap(),
            "{relative}"
        );
    }

    let flat = dir.path().join("flat");
    let options = ExtractOptions {
        layout: Layout::Flat,
        ..ExtractOptions::default()
    };
    TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &flat,
            &options,
        )
        .unwrap();
    assert_eq!(
        tree(&flat).len(),
        built.manifest.members.len(),
        "duplicates do not collide"
    );
}

#[test]
fn a_second_extraction_skips_good_files_and_never_overwrites_different_ones() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(&dir.path().join("src"), &awkward_names()));
    let target = dir.path().join("t");
    let options = ExtractOptions::default();
    TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &target,
            &options,
        )
        .unwrap();
    let again = TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &target,
            &options,
        )
        .unwrap();
    assert!(
        again
            .iter()
            .all(|f| f.action == ExtractAction::AlreadyPresent)
    );

    let victim = target.join(built.manifest.members[2].path.as_str());
    std::fs::write(&victim, b"edited by hand").unwrap();
    let err = TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &target,
            &options,
        )
        .unwrap_err();
    // The library says what can be done as a typed hint; the CLI names the flag.
    assert_eq!(err.hint(), Some(fitsbak_core::Hint::Overwrite), "{err}");
    let err = err.to_string();
    assert!(err.contains("exists and differs"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"edited by hand");

    let options = ExtractOptions {
        overwrite: true,
        ..ExtractOptions::default()
    };
    TarArchiver
        .extract(
            Lane::whole(&built.bytes[..]),
            &built.manifest,
            &target,
            &options,
        )
        .unwrap();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        std::fs::read(&built.manifest.members[2].source_path).unwrap()
    );
}

#[test]
fn only_the_chosen_members_are_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(&dir.path().join("src"), &awkward_names()));
    let target = dir.path().join("t");
    let chosen = built.manifest.members[3].path.clone();
    let options = ExtractOptions {
        only: Some(BTreeSet::from([chosen.clone()])),
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
    assert_eq!(files.len(), 1);
    assert_eq!(tree(&target).len(), 1);
    assert!(target.join(chosen.as_str()).is_file());
}

#[test]
fn a_member_is_restored_from_its_byte_range_alone() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(&dir.path().join("src"), &awkward_names()));
    let target = dir.path().join("t");
    let options = ExtractOptions::default();
    for m in &built.manifest.members {
        let f = extract_one(&built.bytes, &built.manifest, m, &target, &options).unwrap();
        assert_eq!(f.action, ExtractAction::Written);
        assert_eq!(
            std::fs::read(&f.destination).unwrap(),
            std::fs::read(&m.source_path).unwrap()
        );
    }
    // The wrong bytes never reach the destination: they are kept aside, named.
    let m = &built.manifest.members[1];
    let mut wrong = built.bytes.clone();
    wrong[m.data_offset as usize + 3] ^= 0x55;
    let other = dir.path().join("other");
    let err = extract_one(&wrong, &built.manifest, m, &other, &options)
        .unwrap_err()
        .to_string();
    let aside = format!("{}{}", m.path, fitsbak_archive::read::MISMATCH_SUFFIX);
    assert!(
        err.contains("MD5") && err.contains(m.path.as_str()) && err.contains(&aside),
        "{err}"
    );
    let names: Vec<String> = tree(&other)
        .into_iter()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        std::slice::from_ref(&aside),
        "only the mismatch is left, no staging"
    );
    let data = m.data_offset as usize..(m.data_offset + m.size) as usize;
    assert_eq!(
        tree(&other)[0].1,
        &wrong[data],
        "the bytes read are kept as read"
    );
    // A range cut short: an error, nothing at the destination, no staging left.
    let cut = m.data_offset as usize + 10;
    let short = vec![Lane::from_reader(
        m.header_offset,
        &built.bytes[m.header_offset as usize..cut],
    )];
    let third = dir.path().join("third");
    let err = TarArchiver
        .extract(short, &built.manifest, &third, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ends inside a member"), "{err}");
    assert!(tree(&third).is_empty(), "{:?}", tree(&third));
}

#[test]
fn lanes_read_side_by_side_verify_and_extract_like_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<(String, String)> = (0..11)
        .map(|i| ("LIGHT".to_owned(), format!("f{i:02}.fits")))
        .collect();
    let refs: Vec<(&str, &str)> = names
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let built = build(write_files(&dir.path().join("src"), &refs));
    let size = built.bytes.len() as u64;
    let one = TarArchiver
        .verify(Lane::whole(&built.bytes[..]), &built.manifest)
        .unwrap();
    let lanes = |max: usize| -> Vec<Lane<'_>> {
        built
            .manifest
            .lane_ranges(size, max, 1)
            .into_iter()
            .map(|r| Lane::from_reader(r.start, &built.bytes[r.start as usize..r.end as usize]))
            .collect()
    };
    assert_eq!(lanes(8).len(), 8, "eleven members fill eight lanes");
    let many = TarArchiver.verify(lanes(8), &built.manifest).unwrap();
    assert!(many.is_clean(), "{many:?}");
    assert_eq!(many, one, "the same report, CRC32C of the whole included");
    assert_eq!(
        many.crc32c,
        fitsbak_core::checksum::crc32c_hex(&built.bytes)
    );
    // A changed byte in any lane is found, and named.
    for victim in [0, 5, 10] {
        let m = &built.manifest.members[victim];
        let mut bad = built.bytes.clone();
        bad[(m.data_offset + m.size / 2) as usize] ^= 1;
        let lanes: Vec<Lane<'_>> = built
            .manifest
            .lane_ranges(size, 8, 1)
            .into_iter()
            .map(|r| {
                Lane::from_reader(
                    r.start,
                    std::io::Cursor::new(bad[r.start as usize..r.end as usize].to_vec()),
                )
            })
            .collect();
        let report = TarArchiver.verify(lanes, &built.manifest).unwrap();
        assert_eq!(report.mismatched.len(), 1, "{report:?}");
        assert_eq!(report.mismatched[0].path, m.path.as_str());
        assert_ne!(report.crc32c, one.crc32c);
    }
    // Extracted in lanes: every file, in manifest order, byte-identical.
    let target = dir.path().join("t");
    let files = TarArchiver
        .extract(
            lanes(8),
            &built.manifest,
            &target,
            &ExtractOptions::default(),
        )
        .unwrap();
    let order: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
    let expected: Vec<_> = built
        .manifest
        .members
        .iter()
        .map(|m| m.path.clone())
        .collect();
    assert_eq!(order, expected);
    for (f, m) in files.iter().zip(&built.manifest.members) {
        assert_eq!(
            std::fs::read(&f.destination).unwrap(),
            std::fs::read(&m.source_path).unwrap()
        );
    }
}

/// `bytes` in chunks whose sizes cycle through `sizes`, as a GET body gives them.
fn chunked<'b>(
    bytes: &'b [u8],
    sizes: &'static [usize],
) -> impl Iterator<Item = std::io::Result<bytes::Bytes>> + Send + 'b {
    let mut at = 0;
    sizes.iter().cycle().map_while(move |&n| {
        (at < bytes.len()).then(|| {
            let piece = &bytes[at..(at + n).min(bytes.len())];
            at += piece.len();
            Ok(bytes::Bytes::copy_from_slice(piece))
        })
    })
}

/// The lanes of `bytes` (eight at most), each in chunks of `shape`.
fn lanes_in_chunks<'b>(
    manifest: &fitsbak_core::manifest::Manifest,
    bytes: &'b [u8],
    shape: &'static [usize],
) -> Vec<Lane<'b>> {
    manifest
        .lane_ranges(bytes.len() as u64, 8, 1)
        .into_iter()
        .map(|r| {
            Lane::new(
                r.start,
                chunked(&bytes[r.start as usize..r.end as usize], shape),
            )
        })
        .collect()
}

#[test]
fn chunks_of_any_size_read_like_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    // Sizes about an MD5 block, a lane's round, a chunk and a restored file's
    // direct-write buffer (1 MiB); long and odd names.
    let sizes = [
        0, 1, 63, 64, 65, 16_383, 16_384, 70_001, 262_143, 262_144, 300_000, 555_555, 1_052_673,
        2_621_441,
    ];
    let mut names = awkward_names();
    names.truncate(sizes.len());
    let extra: Vec<String> = (names.len()..sizes.len())
        .map(|i| format!("f{i:02}.fits"))
        .collect();
    names.extend(extra.iter().map(|n| ("LIGHT/L", n.as_str())));
    let root = dir.path().join("src");
    let sources = names
        .iter()
        .zip(sizes)
        .enumerate()
        .map(|(i, ((folder, name), len))| {
            let path = root.join(folder).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let bytes = content(i, len);
            std::fs::write(&path, &bytes).unwrap();
            source_for(&path, Some(md5_hex(&bytes)))
        })
        .collect();
    let built = build(sources);
    let one = TarArchiver
        .verify(Lane::whole(&built.bytes[..]), &built.manifest)
        .unwrap();
    assert!(one.is_clean(), "{one:?}");
    let shapes: [&'static [usize]; 4] = [
        &[7],
        &[1, 63, 64, 65, 4096, 17, 100_001, 5],
        &[16_385, 300, 262_144],
        &[1 << 20],
    ];
    for (s, shape) in shapes.into_iter().enumerate() {
        let lanes = |bytes| lanes_in_chunks(&built.manifest, bytes, shape);
        let report = TarArchiver
            .verify(lanes(&built.bytes), &built.manifest)
            .unwrap();
        assert_eq!(report, one, "chunk shape {shape:?}");
        let target = dir.path().join(format!("t{s}"));
        let files = TarArchiver
            .extract(
                lanes(&built.bytes),
                &built.manifest,
                &target,
                &ExtractOptions::default(),
            )
            .unwrap();
        assert_eq!(files.len(), sizes.len(), "chunk shape {shape:?}");
        for (f, m) in files.iter().zip(&built.manifest.members) {
            assert_eq!(
                std::fs::read(&f.destination).unwrap(),
                std::fs::read(&m.source_path).unwrap(),
                "{} with chunk shape {shape:?}",
                m.path
            );
        }
        // One changed byte in the largest member is found, with the chunks cut anywhere.
        let m = built
            .manifest
            .members
            .iter()
            .max_by_key(|m| m.size)
            .unwrap();
        let mut bad = built.bytes.clone();
        bad[(m.data_offset + m.size - 1) as usize] ^= 1;
        let report = TarArchiver.verify(lanes(&bad), &built.manifest).unwrap();
        assert_eq!(
            report.mismatched.len(),
            1,
            "chunk shape {shape:?}: {report:?}"
        );
        assert_eq!(report.mismatched[0].path, m.path.as_str());
    }
}
