//! What the engine's unit tests share: catalog and tracker rows, files on disk.

use chrono::NaiveDate;

use crate::ids::SessionId;
use crate::model::{FolderFiles, Session, SessionPaths, StorageClass};
use crate::tracker::ArchiveRecord;

pub fn session(id: &str, date: (i32, u32, u32), files: u64) -> Session {
    Session {
        id: SessionId::new(id).unwrap(),
        date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
        telescope: None,
        camera: None,
        notes: None,
        file_count: files,
    }
}

pub fn archive(id: &str, class: StorageClass, files: u64, bytes: u64) -> ArchiveRecord {
    ArchiveRecord {
        id: 1,
        session_id: SessionId::new(id).unwrap(),
        session_date: None,
        session_year: None,
        bucket: "b".into(),
        key: format!("backups/raw/2024/{id}.tar"),
        region: "us-east-1".into(),
        etag: None,
        version_id: None,
        file_count: files,
        original_size_bytes: bytes,
        archive_size_bytes: bytes + 1024,
        archive_policy: None,
        backup_policy: None,
        current_storage_class: Some(class),
        expected_storage_class: None,
        uploaded_at: None,
        last_verified_at: None,
        verified: true,
        verification_method: None,
        restore_status: None,
        restore_requested_at: None,
        restore_expires_at: None,
        restore_tier: None,
        camera_name: None,
        telescope_name: None,
        notes: None,
        facts: None,
    }
}

/// A catalog row of `session`: `folder/file` with catalog MD5 `md5`.
pub fn catalog_file(
    session: &str,
    folder: &str,
    file: &str,
    md5: &str,
) -> crate::model::CatalogFile {
    crate::model::CatalogFile {
        id: 0,
        session_id: SessionId::new(session).unwrap(),
        file: file.into(),
        folder: folder.into(),
        path: std::path::Path::new(folder).join(file),
        frame_type: None,
        md5sum: Some(md5.into()),
        object: None,
        filter: None,
        bad: false,
        file_not_found: false,
    }
}

/// An archive member: `folder/file` archived with MD5 `md5`.
pub fn member(folder: &str, file: &str, md5: &str) -> crate::manifest::ManifestMember {
    crate::manifest::ManifestMember {
        path: crate::ids::MemberPath::new(format!("S1/{file}")).unwrap(),
        file: file.into(),
        folder: folder.into(),
        source_path: format!("{folder}/{file}"),
        size: 1,
        md5: md5.into(),
        catalog_md5: Some(md5.into()),
        header_offset: 0,
        data_offset: 512,
        mtime: 0,
        frame_type: None,
        object: None,
        filter: None,
        catalog_id: None,
    }
}

/// Files `names` in `dir`; a name with a size is written with that many bytes,
/// one without is left missing.
pub fn paths(
    dir: &std::path::Path,
    session: &str,
    names: &[(&str, Option<usize>)],
) -> SessionPaths {
    SessionPaths {
        session: SessionId::new(session).unwrap(),
        folders: vec![FolderFiles::with(
            dir.to_owned(),
            names.iter().map(|(name, bytes)| {
                if let Some(n) = bytes {
                    std::fs::write(dir.join(name), vec![0u8; *n]).unwrap();
                }
                *name
            }),
        )],
    }
}

/// A database layer without snapshots, for engines that take none.
pub struct NoSnapshots;

impl crate::snapshot::CatalogSnapshots for NoSnapshots {
    fn take(
        &self,
        _: &std::path::Path,
        _: &std::path::Path,
    ) -> crate::Result<crate::snapshot::SnapshotInfo> {
        unreachable!("these tests take no snapshot")
    }
    fn check(&self, _: &std::path::Path) -> crate::Result<()> {
        unreachable!("these tests check no snapshot")
    }
}
