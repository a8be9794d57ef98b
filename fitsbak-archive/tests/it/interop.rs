//! GNU tar and Python's tarfile read fitsbak's archives: exact names, exact bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use fitsbak_archive::layout::member_header;
use fitsbak_core::ids::MemberPath;

use crate::support::*;

/// Member path -> bytes, from the manifest's sources.
fn expected(built: &Built) -> BTreeMap<PathBuf, Vec<u8>> {
    built
        .manifest
        .members
        .iter()
        .map(|m| {
            (
                PathBuf::from(m.path.as_str()),
                std::fs::read(&m.source_path).unwrap(),
            )
        })
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn gnu_tar_lists_and_extracts_byte_identical_files_with_exact_names() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(&dir.path().join("src"), &awkward_names()));
    let archive = dir.path().join("a.tar");
    std::fs::write(&archive, &built.bytes).unwrap();

    let listing = run(Command::new("tar").arg("-tvf").arg(&archive));
    for m in &built.manifest.members {
        assert!(
            listing.contains(m.path.as_str()),
            "{} not in:\n{listing}",
            m.path
        );
    }
    assert_eq!(listing.lines().count(), built.manifest.members.len());
    assert!(
        listing.lines().all(|l| l.starts_with("-rw-r--r-- 0/0")),
        "{listing}"
    );

    let out = dir.path().join("gnu");
    std::fs::create_dir(&out).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&out));
    let got: BTreeMap<_, _> = tree(&out).into_iter().collect();
    assert_eq!(got, expected(&built));
}

#[test]
fn python_tarfile_extracts_byte_identical_files_with_exact_names() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(write_files(&dir.path().join("src"), &awkward_names()));
    let archive = dir.path().join("a.tar");
    std::fs::write(&archive, &built.bytes).unwrap();
    let out = dir.path().join("py");
    let script = "import sys, tarfile\n\
                  with tarfile.open(sys.argv[1]) as t:\n\
                  \x20   print(len(t.getmembers()))\n\
                  \x20   t.extractall(sys.argv[2], filter='data')\n";
    let printed = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&archive)
        .arg(&out));
    assert_eq!(printed.trim(), built.manifest.members.len().to_string());
    let got: BTreeMap<_, _> = tree(&out).into_iter().collect();
    assert_eq!(got, expected(&built));
}

#[test]
fn members_over_8_gib_are_listed_with_their_true_size() {
    // A sparse archive: the header of a 9 GiB member, a hole for its data, the
    // end-of-archive blocks. Readers seek over the hole.
    let size: u64 = 9 << 30;
    let path = MemberPath::new(format!("{SESSION}/huge.fits")).unwrap();
    let header = member_header(&path, size, 1_700_000_000);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("huge.tar");
    let file = std::fs::File::create(&archive).unwrap();
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file;
    f.write_all(&header).unwrap();
    f.seek(SeekFrom::Current(size as i64)).unwrap();
    f.write_all(&[0u8; 1024]).unwrap();
    drop(f);

    let listing = run(Command::new("tar").arg("-tvf").arg(&archive));
    assert!(listing.contains(&size.to_string()), "{listing}");
    assert!(listing.contains("huge.fits"), "{listing}");

    let script = "import sys, tarfile\n\
                  with tarfile.open(sys.argv[1]) as t:\n\
                  \x20   m = t.getmembers()\n\
                  \x20   print(len(m), m[0].name, m[0].size)\n";
    let printed = run(Command::new("python3").arg("-c").arg(script).arg(&archive));
    assert_eq!(printed.trim(), format!("1 {path} {size}"));

    let mut parsed = tar::Archive::new(std::io::Cursor::new(&header));
    let entry = parsed.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.size(), size);
    assert_eq!(entry.path_bytes().as_ref(), path.as_str().as_bytes());
}
