//! Manifests in one place: made at upload from what was sent, written next to
//! their archive, read back (with a bound on their size), rebuilt from the
//! tracking rows when the bucket's copy is gone, and compared with the catalog.

use std::collections::{HashMap, HashSet};

use crate::engine::Engine;
use crate::engine::upload::Uploaded;
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::manifest::{
    ArchiveSummary, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, ManifestMember,
};
use crate::model::{CatalogFile, Fingerprint, Session};
use crate::store::{ObjectMeta, ObjectStoreExt, PutOptions, PutResult};
use crate::tags::ObjectKind;
use crate::tracker::{ArchiveFacts, ArchiveRecord};

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

/// Why the object in the bucket is not the one its manifest describes (empty when
/// it is): its size, its ETag, and its whole-object checksum where both say one.
pub fn object_differences(manifest: &Manifest, head: &ObjectMeta) -> Vec<String> {
    let key = &manifest.archive.key;
    let mut problems = Vec::new();
    if head.size != manifest.archive.size {
        problems.push(format!(
            "{key} holds {} bytes, its manifest says {}",
            head.size, manifest.archive.size
        ));
    }
    if let Some(etag) = &manifest.archive.etag
        && *etag != head.etag
    {
        problems.push(format!(
            "{key} has ETag {}, its manifest says {etag}",
            head.etag
        ));
    }
    if let (Some(recorded), Some(reported)) = (&manifest.archive.checksum, &head.checksum)
        && recorded.kind == reported.kind
        && !crate::checksum::same_checksum(&recorded.value, &reported.value)
    {
        problems.push(format!(
            "{key} has checksum {reported}, its manifest says {recorded}"
        ));
    }
    problems
}

/// What a manifest says of its archive, as facts for its tracking row.
pub fn facts_of(manifest: &Manifest, fingerprint: Fingerprint, proof: String) -> ArchiveFacts {
    ArchiveFacts {
        archive_crc32c: Some(manifest.archive.crc32c.clone()).filter(|c| !c.is_empty()),
        object_checksum: manifest.archive.checksum.clone(),
        part_size: manifest.archive.part_size,
        catalog_fingerprint: Some(fingerprint.to_string()),
        excluded: manifest.excluded.clone(),
        proof,
        compression: manifest.archive.compression.clone(),
        members_unknown: false,
    }
}

/// The fingerprint of the catalog rows a manifest was made from (the files it
/// holds with the catalog's MD5s, and those it left out).
pub fn manifest_fingerprint(manifest: &Manifest) -> Fingerprint {
    let members = manifest
        .members
        .iter()
        .map(|m| (m.folder.as_str(), m.file.as_str(), m.catalog_md5.as_deref()));
    let excluded = manifest
        .excluded
        .iter()
        .map(|e| (e.folder.as_str(), e.file.as_str(), None));
    Fingerprint::of(members.chain(excluded))
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
                compression: None,
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
        self.put_manifest_at(&key, manifest).await
    }

    /// Writes a manifest at `key`.
    async fn put_manifest_at(&self, key: &ObjectKey, manifest: &Manifest) -> Result<PutResult> {
        let body = bytes::Bytes::from(manifest.to_json());
        let payload = self.payload_for(body).await?;
        let options = PutOptions {
            tags: self.config.tags_for(ObjectKind::Manifest),
            content_type: Some("application/json".into()),
            encryption: self.encryption(),
            ..PutOptions::default()
        };
        self.store.put_opts(key, payload, &options).await
    }

    /// Reads and parses a manifest; `None` when there is none. One larger than
    /// [`MAX_MANIFEST_BYTES`] is refused without being read.
    pub async fn read_manifest(&self, key: &ObjectKey) -> Result<Option<Manifest>> {
        // One GET: its answer's size is checked before the body is read.
        let bytes = match self.store.read_to_end(key, MAX_MANIFEST_BYTES).await {
            Ok(bytes) => bytes,
            Err(e) if e.store_kind() == Some(StoreErrorKind::NotFound) => return Ok(None),
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

    /// The manifest a recorded archive is checked and restored against: the one
    /// made from the tracking rows (what the client computed when it sent the
    /// bytes), or, for a row without members (written by another tool), the
    /// bucket's. The second value says which.
    pub async fn trusted_manifest(&self, record: &ArchiveRecord) -> Result<(Manifest, Source)> {
        let members = self.tracker.members(&record.session_id).await?;
        if !members.is_empty() {
            return Ok((manifest_from_rows(record, members), Source::Rows));
        }
        let bucket = match record_year(record) {
            Some(year) => {
                let key = self
                    .config
                    .s3_paths
                    .manifest_key(year, &record.session_id)?;
                self.read_manifest(&key).await?
            }
            None => None,
        };
        match bucket {
            Some(m) => Ok((m, Source::Bucket)),
            None => Err(Error::Manifest {
                what: record.key.clone(),
                message: "no manifest in the bucket and no members in the tracking tables".into(),
            }),
        }
    }

    /// How the bucket's manifest of `record` compares with the tracking rows:
    /// every difference, or that it is missing (empty when it agrees).
    pub async fn manifest_problems(
        &self,
        record: &ArchiveRecord,
        members: &[ManifestMember],
    ) -> Result<Vec<String>> {
        let Some(year) = record_year(record) else {
            return Ok(vec![
                "no year is recorded, so the manifest cannot be found".into(),
            ]);
        };
        let key = self
            .config
            .s3_paths
            .manifest_key(year, &record.session_id)?;
        let manifest = match self.read_manifest(&key).await {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(vec![format!("its manifest {key} is missing")]),
            Err(e) => return Ok(vec![format!("its manifest cannot be read: {e}")]),
        };
        Ok(disagreements(record, members, &manifest))
    }

    /// Writes the manifest of `record` again, from the tracking rows.
    pub async fn repair_manifest(&self, record: &ArchiveRecord) -> Result<()> {
        let members = self.tracker.members(&record.session_id).await?;
        let year = record_year(record);
        let (Some(year), false) = (year, members.is_empty()) else {
            return Err(Error::Manifest {
                what: record.key.clone(),
                message: "cannot be written again: the tracking rows hold no members".into(),
            });
        };
        let key = self
            .config
            .s3_paths
            .manifest_key(year, &record.session_id)?;
        self.put_manifest_at(&key, &manifest_from_rows(record, members))
            .await?;
        Ok(())
    }
}

/// Where a manifest came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Made from the tracking rows: what the client recorded at upload.
    Rows,
    /// Read from the bucket (rows written by another tool have no members).
    Bucket,
}

/// The manifest of a recorded archive as the tracking rows have it.
pub fn manifest_from_rows(record: &ArchiveRecord, members: Vec<ManifestMember>) -> Manifest {
    let facts = record.facts.clone().unwrap_or_default();
    Manifest {
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
        created_at: record.uploaded_at.unwrap_or_else(crate::time::now),
        archive: ArchiveSummary {
            key: record.key.clone(),
            size: record.archive_size_bytes,
            crc32c: facts.archive_crc32c.unwrap_or_default(),
            etag: record.etag.clone(),
            checksum: facts.object_checksum,
            part_size: facts.part_size,
            data_bytes: record.original_size_bytes,
            compression: facts.compression.clone(),
        },
        members,
        excluded: facts.excluded,
    }
}

/// Where the bucket's manifest disagrees with the tracking rows.
fn disagreements(record: &ArchiveRecord, members: &[ManifestMember], m: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    if m.members.len() as u64 != record.file_count {
        problems.push(format!(
            "the manifest lists {} members, {} were recorded",
            m.members.len(),
            record.file_count
        ));
    }
    if m.archive.size != record.archive_size_bytes {
        problems.push(format!(
            "the manifest says the archive has {} bytes, {} were recorded",
            m.archive.size, record.archive_size_bytes
        ));
    }
    if let (Some(etag), Some(recorded)) = (&m.archive.etag, &record.etag)
        && etag != recorded
    {
        problems.push(format!(
            "the manifest says ETag {etag}, {recorded} was recorded"
        ));
    }
    let crc = record
        .facts
        .as_ref()
        .and_then(|f| f.archive_crc32c.as_deref());
    if let Some(crc) = crc
        && m.archive.crc32c != crc
    {
        problems.push(format!(
            "the manifest says the archive's CRC32C is {}, {crc} was recorded",
            m.archive.crc32c
        ));
    }
    if !members.is_empty() && members != m.members {
        let differing = members
            .iter()
            .zip(&m.members)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.path.to_string())
            .take(5)
            .collect::<Vec<_>>();
        problems.push(format!(
            "the manifest's members differ from the tracking rows{}",
            if differing.is_empty() {
                String::new()
            } else {
                format!(" ({})", differing.join(", "))
            }
        ));
    }
    problems
}
