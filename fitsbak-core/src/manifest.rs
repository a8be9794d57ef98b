//! The manifest: what one session archive holds, kept next to it in the bucket.
//!
//! With the manifest alone the tracking tables can be rebuilt from the bucket, every
//! member can be checked against its MD5, and a single file can be restored with a
//! ranged GET of `data_offset..data_offset + size` instead of the whole archive.
//! The schema is documented in `docs/manifest.md`; [`MANIFEST_VERSION`] changes when a
//! field changes meaning or goes away (adding an optional field does not change it).

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{MemberPath, SessionId};
use crate::store::ObjectChecksum;

/// The `format` field of every manifest.
pub const MANIFEST_FORMAT: &str = "fitsbak-manifest";

/// The schema version written by this build.
pub const MANIFEST_VERSION: u32 = 1;

/// The manifest of one session archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Schema version, [`MANIFEST_VERSION`] when written by this build.
    pub version: u32,
    /// The session.
    pub session_id: SessionId,
    /// The session's date.
    pub session_date: NaiveDate,
    /// Telescope, as catalogued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telescope: Option<String>,
    /// Camera, as catalogued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// `fitsbak {version}`.
    pub tool_version: String,
    /// When the archive was written.
    pub created_at: DateTime<Utc>,
    /// The archive as a whole.
    pub archive: ArchiveSummary,
    /// Every member, in archive order.
    pub members: Vec<ManifestMember>,
    /// Catalogued files that are not in the archive, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<ExcludedFile>,
}

/// The archive as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveSummary {
    /// Object key of the archive.
    pub key: String,
    /// Exact size in bytes.
    pub size: u64,
    /// CRC32C of the whole tar stream, hex; independent of how it was uploaded.
    pub crc32c: String,
    /// The object's ETag after upload (quotes removed), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The whole-object checksum the server reported, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ObjectChecksum>,
    /// Part size of the multipart upload, 0 for a single PUT.
    #[serde(default)]
    pub part_size: u64,
    /// Sum of the members' sizes.
    pub data_bytes: u64,
    /// `gzip` for a compressed tar (the cataloger's Python tool wrote such); the
    /// offsets are then in the uncompressed stream, and `size` and `crc32c` are
    /// those of the stored object. Absent: an uncompressed tar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestMember {
    /// Path inside the tar: `{session_id}/{file}`.
    pub path: MemberPath,
    /// The file's name as catalogued.
    pub file: String,
    /// The folder as catalogued (restores put files back below it, relatively).
    pub folder: String,
    /// Where the file was read from.
    pub source_path: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5 of the bytes archived, lower-case hex.
    pub md5: String,
    /// The catalog's MD5, when it had one (equal to `md5`, or the upload failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_md5: Option<String>,
    /// Offset of the member's first header block in the tar.
    pub header_offset: u64,
    /// Offset of the member's first data byte in the tar.
    pub data_offset: u64,
    /// Modification time, seconds since the epoch (as in the tar header).
    pub mtime: i64,
    /// Frame type (`LIGHT`, `DARK`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_type: Option<String>,
    /// Target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// `fits_files.id`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<i64>,
}

/// A catalogued file left out of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedFile {
    /// File name.
    pub file: String,
    /// Folder.
    pub folder: String,
    /// Why it was left out.
    pub reason: String,
}

impl Manifest {
    /// The byte ranges of an uncompressed archive of `object_size` bytes to read
    /// side by side: at most `max` ranges of at least `min_bytes` (but one per
    /// member), each starting at a member's first header block, in order
    /// and together covering the whole object. One range when the archive is
    /// compressed or the members' offsets are not in order from 0.
    pub fn lane_ranges(&self, object_size: u64, max: usize, min_bytes: u64) -> Vec<Range<u64>> {
        let in_order = self.members.first().is_none_or(|m| m.header_offset == 0)
            && self
                .members
                .windows(2)
                .all(|w| w[0].data_offset + w[0].size <= w[1].header_offset)
            && self
                .members
                .last()
                .is_none_or(|m| m.data_offset + m.size <= object_size);
        if self.archive.compression.is_some() || !in_order || max < 2 {
            return std::iter::once(0..object_size).collect();
        }
        let lanes = (object_size / min_bytes.max(1))
            .min(max as u64)
            .min(self.members.len() as u64)
            .max(1);
        let (share, n, lanes) = (
            object_size.div_ceil(lanes),
            self.members.len(),
            lanes as usize,
        );
        // Member k's lane begins at the first member past its share of the bytes,
        // leaving at least one member for each lane after it.
        let mut first = vec![0usize];
        for k in 1..lanes {
            let (lo, hi) = (first[k - 1] + 1, n - (lanes - k));
            let goal = share * k as u64;
            let at = (lo..=hi)
                .find(|&i| self.members[i].header_offset >= goal)
                .unwrap_or(hi);
            first.push(at);
        }
        let starts: Vec<u64> = first
            .iter()
            .map(|&i| self.members[i].header_offset)
            .collect();
        let ends = starts.iter().skip(1).copied().chain([object_size]);
        starts.iter().zip(ends).map(|(&s, e)| s..e).collect()
    }

    /// The bytes of one member in the archive: its header blocks, data and padding.
    pub fn member_range(member: &ManifestMember) -> Range<u64> {
        let end = member.data_offset + member.size;
        member.header_offset..end + (512 - end % 512) % 512
    }

    /// The session as the manifest describes it (when the catalog is gone).
    pub fn session(&self) -> crate::model::Session {
        crate::model::Session {
            id: self.session_id.clone(),
            date: self.session_date,
            telescope: self.telescope.clone(),
            camera: self.camera.clone(),
            notes: None,
            file_count: self.members.len() as u64,
        }
    }

    /// Parses a manifest, refusing other formats and newer schema versions.
    pub fn from_json(text: &[u8], origin: &str) -> crate::Result<Self> {
        let manifest: Manifest =
            serde_json::from_slice(text).map_err(|e| crate::Error::Manifest {
                what: origin.to_owned(),
                message: e.to_string(),
            })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(crate::Error::Manifest {
                what: origin.to_owned(),
                message: format!("format is {:?}, not {MANIFEST_FORMAT:?}", manifest.format),
            });
        }
        if manifest.version > MANIFEST_VERSION {
            return Err(crate::Error::Manifest {
                what: origin.to_owned(),
                message: format!(
                    "schema version {} is newer than this fitsbak understands ({MANIFEST_VERSION})",
                    manifest.version
                ),
            });
        }
        for member in &manifest.members {
            if !member.path.is_in_session(&manifest.session_id) {
                return Err(crate::Error::Manifest {
                    what: origin.to_owned(),
                    message: format!(
                        "member {} is outside the session's directory {}/",
                        member.path, manifest.session_id
                    ),
                });
            }
        }
        Ok(manifest)
    }

    /// Pretty JSON, as stored in the bucket.
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        text.push(b'\n');
        text
    }

    /// Members by path.
    pub fn by_path(&self) -> BTreeMap<&MemberPath, &ManifestMember> {
        self.members.iter().map(|m| (&m.path, m)).collect()
    }

    /// Sum of the members' sizes.
    pub fn data_bytes(&self) -> u64 {
        self.members.iter().map(|m| m.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        let session = SessionId::new("20240315_A7B3C2D1").unwrap();
        Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            session_id: session.clone(),
            session_date: NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
            telescope: Some("RedCat 51".into()),
            camera: None,
            tool_version: "fitsbak 0.1.0".into(),
            created_at: DateTime::from_timestamp(1_710_500_000, 0).unwrap(),
            archive: ArchiveSummary {
                key: "backups/raw/2024/20240315_A7B3C2D1.tar".into(),
                size: 10_240,
                crc32c: "00".repeat(4),
                etag: Some("abc".into()),
                checksum: None,
                part_size: 0,
                data_bytes: 5760,
                compression: None,
            },
            members: vec![ManifestMember {
                path: MemberPath::in_session(&session, "a.fits").unwrap(),
                file: "a.fits".into(),
                folder: "/data/2024/M42".into(),
                source_path: "/data/2024/M42/a.fits".into(),
                size: 5760,
                md5: "0".repeat(32),
                catalog_md5: Some("0".repeat(32)),
                header_offset: 0,
                data_offset: 512,
                mtime: 1_710_500_000,
                frame_type: Some("LIGHT".into()),
                object: Some("M42".into()),
                filter: None,
                catalog_id: Some(7),
            }],
            excluded: vec![],
        }
    }

    #[test]
    fn round_trips_through_json() {
        let m = sample();
        let back = Manifest::from_json(&m.to_json(), "test").unwrap();
        assert_eq!(back, m);
        assert_eq!(m.data_bytes(), 5760);
        assert_eq!(m.by_path().len(), 1);
    }

    #[test]
    fn refuses_foreign_formats_newer_versions_and_escaping_members() {
        let mut m = sample();
        m.format = "other".into();
        assert!(Manifest::from_json(&m.to_json(), "x").is_err());

        let mut m = sample();
        m.version = MANIFEST_VERSION + 1;
        let err = Manifest::from_json(&m.to_json(), "x").unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");

        let mut m = sample();
        m.members[0].path = MemberPath::new("OTHER/a.fits").unwrap();
        let err = Manifest::from_json(&m.to_json(), "x").unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");

        let text = String::from_utf8(sample().to_json())
            .unwrap()
            .replace("20240315_A7B3C2D1/a.fits", "../a.fits");
        assert!(Manifest::from_json(text.as_bytes(), "x").is_err());
    }
}
