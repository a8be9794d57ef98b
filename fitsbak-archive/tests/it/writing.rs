//! Writing: determinism, exact sizes, and each error naming the file.

use std::os::unix::fs::PermissionsExt;

use fitsbak_archive::TarArchiver;
use fitsbak_core::archive::ArchiveBuilder;

use crate::support::*;

#[test]
fn the_same_session_gives_the_same_bytes_whatever_the_order_and_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let sources = write_files(dir.path(), &awkward_names());
    let first = build(sources.clone());

    let mut shuffled = sources.clone();
    shuffled.rotate_left(3);
    shuffled.swap(0, 2);
    // A different umask leaves different permission bits on the files.
    for s in &shuffled {
        std::fs::set_permissions(&s.catalog.path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let second = build(shuffled);
    assert_eq!(first.bytes, second.bytes);
    assert_eq!(first.manifest.members, second.manifest.members);
}

#[test]
fn offsets_in_the_manifest_point_at_each_file_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(dir.path(), &awkward_names()));
    for m in &built.manifest.members {
        let data = &built.bytes[m.data_offset as usize..(m.data_offset + m.size) as usize];
        assert_eq!(data, std::fs::read(&m.source_path).unwrap(), "{}", m.path);
        let header = tar::Header::from_byte_slice(&built.bytes[m.header_offset as usize..][..512]);
        assert!(
            header.as_ustar().is_some(),
            "a header starts at {}",
            m.header_offset
        );
    }
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let sources = write_files(dir.path(), &awkward_names());
    let plan = TarArchiver.plan(&session(), sources.clone()).unwrap();
    std::fs::remove_file(&sources[1].catalog.path).unwrap();
    let err = TarArchiver
        .write(&plan, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("file not found"), "{err}");
    assert!(err.contains("M42_Light_OIII_0001.fits"), "{err}");
}

/// Gives the first of `files` a wrong catalog MD5: the archive fails naming the
/// file and both hashes.
fn a_wrong_catalog_md5_is_named(files: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = write_files(dir.path(), files);
    let wrong = "0123456789abcdef0123456789abcdef".to_owned();
    let right = sources[0].catalog.md5sum.replace(wrong.clone()).unwrap();
    let plan = TarArchiver.plan(&session(), sources).unwrap();
    let err = TarArchiver
        .write(&plan, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("Caldwell 49 Rosette - Hα 300s.fits"), "{err}");
    assert!(err.contains(&wrong) && err.contains(&right), "{err}");
}

#[test]
fn an_md5_that_differs_from_the_catalog_names_the_file_and_both_hashes() {
    a_wrong_catalog_md5_is_named(&awkward_names());
}

#[test]
fn a_file_that_grew_or_shrank_since_planning_fails_instead_of_corrupting() {
    let dir = tempfile::tempdir().unwrap();
    let sources = write_files(dir.path(), &awkward_names());
    let plan = TarArchiver.plan(&session(), sources.clone()).unwrap();
    let victim = &sources[2].catalog.path;
    let original = std::fs::read(victim).unwrap();

    let mut longer = original.clone();
    longer.extend_from_slice(b"more");
    std::fs::write(victim, &longer).unwrap();
    let err = TarArchiver
        .write(&plan, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("changed while it was archived"), "{err}");
    assert!(err.contains("NGC 7000"), "{err}");

    std::fs::write(victim, &original[..10]).unwrap();
    let err = TarArchiver
        .write(&plan, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("planned {} bytes, found 10", original.len())),
        "{err}"
    );
}

#[test]
fn a_file_rewritten_with_the_same_size_but_a_new_mtime_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = write_files(dir.path(), &awkward_names());
    for s in &mut sources {
        s.catalog.md5sum = None;
    }
    let plan = TarArchiver.plan(&session(), sources.clone()).unwrap();
    let victim = &sources[1].catalog.path;
    let file = std::fs::File::options().write(true).open(victim).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400))
        .unwrap();
    let err = TarArchiver
        .write(&plan, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("was modified while it was archived"), "{err}");
}

#[test]
fn a_sink_that_refuses_bytes_stops_the_writer() {
    struct Full(usize);
    impl std::io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::other("upload cancelled"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = TarArchiver
        .plan(&session(), write_files(dir.path(), &awkward_names()))
        .unwrap();
    let err = TarArchiver
        .write(&plan, &mut Full(3000))
        .unwrap_err()
        .to_string();
    assert!(err.contains("upload cancelled"), "{err}");
}

/// Sizes around MD5's 64-byte blocks and the 1 MiB reads, more files than one
/// batch of SIMD lanes holds.
const AWKWARD_SIZES: [usize; 11] = [
    0,
    1,
    63,
    64,
    65,
    (1 << 20) - 1,
    1 << 20,
    (1 << 20) + 1,
    (5 << 19) + 7,
    3 << 20,
    4096,
];

#[test]
fn each_member_md5_is_the_md5_of_its_bytes_across_batches_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let sources: Vec<_> = AWKWARD_SIZES
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let path = dir.path().join(format!("light_{i:02}.fits"));
            let bytes = content(i, len);
            std::fs::write(&path, &bytes).unwrap();
            source_for(&path, Some(md5_hex(&bytes)))
        })
        .collect();
    let built = build(sources);
    assert_eq!(built.manifest.members.len(), AWKWARD_SIZES.len());
    for m in &built.manifest.members {
        let data = &built.bytes[m.data_offset as usize..(m.data_offset + m.size) as usize];
        assert_eq!(m.md5, md5_hex(data), "{}", m.path);
        assert_eq!(m.catalog_md5.as_deref(), Some(m.md5.as_str()), "{}", m.path);
    }
}

#[test]
fn a_lone_file_whose_md5_differs_from_the_catalog_is_named() {
    // One file is hashed as it streams, not in a batch of lanes.
    a_wrong_catalog_md5_is_named(&awkward_names()[..1]);
}

#[test]
fn a_file_rewritten_in_place_between_hashing_and_archiving_fails() {
    /// Collects the archive; on its first bytes (after the batch was hashed,
    /// before any file was archived) rewrites `victim`: same size, same mtime.
    struct Rewriter {
        victim: std::path::PathBuf,
        done: bool,
        bytes: Vec<u8>,
    }
    impl std::io::Write for Rewriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.done {
                self.done = true;
                let meta = std::fs::metadata(&self.victim)?;
                let mut bytes = std::fs::read(&self.victim)?;
                bytes[0] ^= 0xff;
                std::fs::write(&self.victim, &bytes)?;
                std::fs::File::options()
                    .write(true)
                    .open(&self.victim)?
                    .set_modified(meta.modified()?)?;
            }
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sources = write_files(dir.path(), &awkward_names());
    let plan = TarArchiver.plan(&session(), sources).unwrap();
    let victim = plan.members[1].source.catalog.path.clone();
    let mut sink = Rewriter {
        victim: victim.clone(),
        done: false,
        bytes: Vec::new(),
    };
    let err = TarArchiver.write(&plan, &mut sink).unwrap_err().to_string();
    assert!(
        err.contains("bytes differ between the read that hashed it and the read that archived it"),
        "{err}"
    );
    assert!(
        err.contains(&*victim.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
}
