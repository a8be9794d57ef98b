//! Manifests in one place: made at upload from what was sent, written next to
//! their archive, read back (with a bound on their size), rebuilt from the
//! tracking rows when the bucket's copy is gone, and compared with the catalog.

use std::collections::{HashMap, HashSet};

use crate::engine::Engine;
use crate::engine::upload::Uploaded;
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::manifest::{ArchiveSummary, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest};
use crate::model::{CatalogFile, Session};
use crate::store::{ObjectStoreExt, PutOptions, PutResult};
use crate::tags::ObjectKind;
use crate::tracker::ArchiveRecord;

/// The largest manifest read: about 300,000 members. A larger object under the
/// manifests prefix is refused rather than read into memory.
pub const MAX_MANIFEST_BYTES: u64 = 128 << 20;

/// The year of a recorded archive (for its manifest's key).
pub fn record_year(record: &ArchiveRecord) -> Option<i32> {
    record.session_year.or_else(|| {
        record
            .session_date
            .as_deref()
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse().ok())
    })
}

/// Why a manifest does not describe the catalog's files of its session (empty when
/// it does): the same files, folders and MD5s.
pub fn manifest_differences(manifest: &Manifest, files: &[CatalogFile]) -> Vec<String> {
    let in_manifest: HashMap<(&str, &str), &str> = manifest
        .members
        .iter()
        .map(|m| ((m.file.as_str(), m.folder.as_str()), m.md5.as_str()))
        .collect();
    let excluded: HashSet<(&str, &str)> = manifest
        .excluded
        .iter()
        .map(|e| (e.file.as_str(), e.folder.as_str()))
        .collect();
    let mut problems = Vec::new();
    let mut seen = 0;
    for f in files {
        let key = (f.file.as_str(), f.folder.as_str());
        match in_manifest.get(&key) {
            Some(md5) => {
                seen += 1;
                if let Some(catalog) = &f.md5sum
                    && catalog != md5
                {
                    problems.push(format!(
                        "{}: MD5 {md5} in the manifest, {catalog} in the catalog",
                        f.path.display()
                    ));
                }
            }
            None if excluded.contains(&key) => {}
            None => problems.push(format!("{} is not in the manifest", f.path.display())),
        }
    }
    if seen < manifest.members.len() {
        problems.push(format!(
            "{} member(s) of the manifest are not in the catalog",
            manifest.members.len() - seen
        ));
    }
    problems
}

impl Engine {
    /// The manifest of an archive just sent: its members with the MD5s the writer
    /// computed, and the checksums of the bytes sent.
    pub(crate) fn archive_manifest(&self, up: &Uploaded<'_>) -> Manifest {
        let Uploaded {
            session,
            key,
            planned,
            sent,
            head,
        } = *up;
        let plan = &planned.plan;
        Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            session_id: session.id.clone(),
            session_date: session.date,
            telescope: session.telescope.clone(),
            camera: session.camera.clone(),
            tool_version: crate::tool_version(),
            created_at: crate::time::now(),
            archive: ArchiveSummary {
                key: key.to_string(),
                size: plan.total_size,
                crc32c: sent.stream.crc32c.clone(),
                etag: Some(sent.put.etag.clone()),
                checksum: sent.put.checksum.clone().or(head.checksum.clone()),
                part_size: sent.part_size,
                data_bytes: plan.data_bytes(),
            },
            members: plan.manifest_members(&sent.output),
            excluded: planned.excluded.clone(),
        }
    }

    /// Writes a manifest next to its archive.
    pub async fn put_manifest(&self, session: &Session, manifest: &Manifest) -> Result<PutResult> {
        let key = self
            .config
            .s3_paths
            .manifest_key(session.year(), &session.id)?;
        let body = bytes::Bytes::from(manifest.to_json());
        let checksum =
            crate::checksum::of_part(self.config.upload_settings.checksum_algorithm, &body);
        let options = PutOptions {
            tags: self.config.tags_for(ObjectKind::Manifest),
            content_type: Some("application/json".into()),
            encryption: self.encryption(),
            ..PutOptions::default()
        };
        self.store.put(&key, body, Some(checksum), &options).await
    }

    /// Reads and parses a manifest; `None` when there is none. One larger than
    /// [`MAX_MANIFEST_BYTES`] is refused without being read.
    pub async fn read_manifest(&self, key: &ObjectKey) -> Result<Option<Manifest>> {
        if self.store.head(key).await?.is_none() {
            return Ok(None);
        }
        let bytes = match self.store.read_to_end(key, MAX_MANIFEST_BYTES).await {
            Ok(bytes) => bytes,
            Err(e) if e.store_kind() == Some(StoreErrorKind::TooLarge) => {
                return Err(Error::Manifest {
                    what: key.to_string(),
                    message: format!(
                        "larger than the {} MiB a manifest may have: not read",
                        MAX_MANIFEST_BYTES >> 20
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        Manifest::from_json(&bytes, key.as_str()).map(Some)
    }

    /// The manifest of a recorded archive: the one in the bucket, else one made from
    /// the tracking rows (so that the bytes can still be checked).
    pub async fn manifest_of(&self, record: &ArchiveRecord) -> Result<Manifest> {
        if let Some(year) = record_year(record) {
            let key = self
                .config
                .s3_paths
                .manifest_key(year, &record.session_id)?;
            if let Some(m) = self.read_manifest(&key).await? {
                return Ok(m);
            }
        }
        let members = self.tracker.members(&record.session_id).await?;
        if members.is_empty() {
            return Err(Error::Manifest {
                what: record.key.clone(),
                message: "no manifest in the bucket and no members in the tracking tables".into(),
            });
        }
        Ok(Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            session_id: record.session_id.clone(),
            session_date: record
                .session_date
                .as_deref()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .unwrap_or_default(),
            telescope: record.telescope_name.clone(),
            camera: record.camera_name.clone(),
            tool_version: crate::tool_version(),
            created_at: crate::time::now(),
            archive: ArchiveSummary {
                key: record.key.clone(),
                size: record.archive_size_bytes,
                crc32c: String::new(),
                etag: record.etag.clone(),
                checksum: None,
                part_size: 0,
                data_bytes: record.original_size_bytes,
            },
            members,
            excluded: Vec::new(),
        })
    }
}
