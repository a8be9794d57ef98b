//! The size property: for any shape of session, the planned size is the written
//! size, the archive reads back member for member, and each member's MD5 is the
//! reference MD5 of its bytes.

use std::io::Read;

use fitsbak_archive::TarArchiver;
use fitsbak_core::archive::ArchiveBuilder;
use proptest::prelude::*;

use crate::support::*;

fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_ -]{1,20}\\.fits",
        "[αβγ☄ü a-z]{1,30}\\.fits",
        "[a-z]{90,140}\\.fits",
        Just("Flat_0001.fits".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn planned_size_equals_bytes_written(
        files in prop::collection::vec((file_name(), 0usize..3, 0usize..3000), 0..12)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut sources = Vec::new();
        let mut used = std::collections::HashSet::new();
        for (i, (name, folder, len)) in files.iter().enumerate() {
            let folder = dir.path().join(format!("f{folder}"));
            if !used.insert(folder.join(name)) {
                continue; // one file per path
            }
            std::fs::create_dir_all(&folder).unwrap();
            let path = folder.join(name);
            std::fs::write(&path, content(i, *len)).unwrap();
            sources.push(source_for(&path, None));
        }
        let plan = TarArchiver.plan(&session(), sources).unwrap();
        let mut bytes = Vec::new();
        let md5s = TarArchiver.write(&plan, &mut bytes).unwrap();
        prop_assert_eq!(bytes.len() as u64, plan.total_size);
        prop_assert_eq!(md5s.len(), plan.members.len());

        let mut archive = tar::Archive::new(&bytes[..]);
        let mut count = 0;
        for ((entry, member), md5) in archive.entries().unwrap().zip(&plan.members).zip(&md5s) {
            let mut entry = entry.unwrap();
            let name = entry.path_bytes().into_owned();
            prop_assert_eq!(name.as_slice(), member.path.as_str().as_bytes());
            prop_assert_eq!(entry.raw_file_position(), member.data_offset);
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            prop_assert_eq!(md5, &md5_hex(&data));
            prop_assert_eq!(data, std::fs::read(&member.source.catalog.path).unwrap());
            count += 1;
        }
        prop_assert_eq!(count, plan.members.len());
    }
}
