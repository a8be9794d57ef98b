//! The domain: imaging sessions and their files as the catalog lists them, storage
//! classes and object tags.
//!
//! These are plain values; nothing here talks to a database or a bucket.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ids::SessionId;

/// One imaging session (one night, one rig) as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    /// The cataloger's id, validated.
    pub id: SessionId,
    /// The night's date (`imaging_sessions.date`).
    pub date: NaiveDate,
    /// Telescope name, when catalogued.
    pub telescope: Option<String>,
    /// Camera name, when catalogued.
    pub camera: Option<String>,
    /// The session's notes column.
    pub notes: Option<String>,
    /// How many `fits_files` rows belong to the session.
    pub file_count: u64,
}

impl Session {
    /// The year that files the session's objects in the bucket (`backups/raw/{year}/...`).
    pub fn year(&self) -> i32 {
        self.date.year()
    }
}

/// A catalog row that cannot be used as a session, and why. Reported, never dropped
/// silently: the run goes on with the other sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedSession {
    /// The id exactly as the database holds it.
    pub raw_id: String,
    /// The date exactly as the database holds it.
    pub raw_date: Option<String>,
    /// What is wrong with it, naming the column.
    pub reason: String,
}

/// Everything the catalog lists: the usable sessions and the rejected rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionScan {
    /// Sessions with a valid id and date, ordered by date then id.
    pub sessions: Vec<Session>,
    /// Rows that could not be used.
    pub rejected: Vec<RejectedSession>,
}

/// One FITS file as the catalog lists it (`fits_files`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogFile {
    /// `fits_files.id`.
    pub id: i64,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// `fits_files.file`: the file's name.
    pub file: String,
    /// `fits_files.folder`: the directory, as catalogued.
    pub folder: String,
    /// Where the file is on disk: `folder/file`, a relative folder resolved against the
    /// catalog database's directory.
    pub path: PathBuf,
    /// `LIGHT`, `DARK`, `FLAT`, `BIAS`, ...
    pub frame_type: Option<String>,
    /// The catalog's MD5 of the file's bytes (lower-case hex), when it has one.
    pub md5sum: Option<String>,
    /// Target name.
    pub object: Option<String>,
    /// Filter name.
    pub filter: Option<String>,
    /// The cataloger flagged the frame as bad (it is still raw data and is backed up).
    pub bad: bool,
    /// The cataloger could not find the file on its last scan.
    pub file_not_found: bool,
}

/// Where one session's files are on disk, folder by folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPaths {
    /// The session.
    pub session: SessionId,
    /// Its folders, each with the names of its files.
    pub folders: Vec<FolderFiles>,
}

/// Files of one folder. The names are kept end to end in one string: a catalog of
/// half a million files is then a few thousand allocations, not half a million.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFiles {
    /// The folder, resolved.
    pub dir: PathBuf,
    names: String,
    ends: Vec<usize>,
}

impl FolderFiles {
    /// A folder with no files yet.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            names: String::new(),
            ends: Vec::new(),
        }
    }

    /// A folder with these files.
    pub fn with<'a>(dir: PathBuf, names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut folder = Self::new(dir);
        for name in names {
            folder.push(name);
        }
        folder
    }

    /// Adds a file name.
    pub fn push(&mut self, name: &str) {
        self.names.push_str(name);
        self.ends.push(self.names.len());
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No files.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The file names, in the order added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.names[start..end])
    }
}

impl SessionPaths {
    /// How many files.
    pub fn file_count(&self) -> usize {
        self.folders.iter().map(FolderFiles::len).sum()
    }
}

/// An S3 storage class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageClass {
    /// `STANDARD`.
    #[default]
    Standard,
    /// `STANDARD_IA`.
    StandardIa,
    /// `ONEZONE_IA`.
    OnezoneIa,
    /// `INTELLIGENT_TIERING`.
    IntelligentTiering,
    /// `GLACIER_IR`.
    GlacierIr,
    /// `GLACIER` (Glacier Flexible Retrieval).
    Glacier,
    /// `DEEP_ARCHIVE`.
    DeepArchive,
    /// `REDUCED_REDUNDANCY`.
    ReducedRedundancy,
    /// Anything else a server reports.
    Other(String),
}

/// Deep Archive bills at least 180 days of storage.
pub const DEEP_ARCHIVE_MINIMUM_DAYS: u32 = 180;

impl StorageClass {
    /// The days of storage AWS bills at least in this class, however soon the
    /// object is deleted or overwritten.
    pub fn minimum_days(&self) -> Option<u32> {
        match self {
            Self::DeepArchive => Some(DEEP_ARCHIVE_MINIMUM_DAYS),
            Self::Glacier | Self::GlacierIr => Some(90),
            Self::StandardIa | Self::OnezoneIa => Some(30),
            _ => None,
        }
    }

    /// The name S3 uses.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Standard => "STANDARD",
            Self::StandardIa => "STANDARD_IA",
            Self::OnezoneIa => "ONEZONE_IA",
            Self::IntelligentTiering => "INTELLIGENT_TIERING",
            Self::GlacierIr => "GLACIER_IR",
            Self::Glacier => "GLACIER",
            Self::DeepArchive => "DEEP_ARCHIVE",
            Self::ReducedRedundancy => "REDUCED_REDUNDANCY",
            Self::Other(name) => name,
        }
    }

    /// Parses a storage class name; also takes the console's and the original
    /// config's spellings (`GLACIER_FLEXIBLE`, `GLACIER_FLEXIBLE_RETRIEVAL`), any case.
    pub fn parse(name: &str) -> Self {
        match name.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "" | "STANDARD" => Self::Standard,
            "STANDARD_IA" => Self::StandardIa,
            "ONEZONE_IA" => Self::OnezoneIa,
            "INTELLIGENT_TIERING" => Self::IntelligentTiering,
            "GLACIER_IR" | "GLACIER_INSTANT_RETRIEVAL" => Self::GlacierIr,
            "GLACIER" | "GLACIER_FLEXIBLE" | "GLACIER_FLEXIBLE_RETRIEVAL" => Self::Glacier,
            "DEEP_ARCHIVE" => Self::DeepArchive,
            "REDUCED_REDUNDANCY" => Self::ReducedRedundancy,
            _ => Self::Other(name.to_owned()),
        }
    }

    /// True for the classes whose objects must be restored before a GET.
    pub fn needs_restore(&self) -> bool {
        matches!(self, Self::Glacier | Self::DeepArchive)
    }

    /// True for the names S3 knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }

    /// The key of this class in `cost_tracking.storage_cost_per_gb_per_month`.
    pub fn price_key(&self) -> &str {
        match self {
            Self::Glacier => "GLACIER_FLEXIBLE",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageClass {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl Serialize for StorageClass {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StorageClass {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// Object tags, ordered by key so that they compare and print the same everywhere.
pub type Tags = BTreeMap<String, String>;

/// What a session's catalog rows say, in a few bytes: the count of its files and
/// an order-free hash of each one's folder, name and MD5. Equal fingerprints mean
/// the catalog lists the same files with the same MD5s as when the archive was
/// made; a different one means files were added, removed, or re-hashed since.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    count: u64,
    sum: u64,
}

impl Fingerprint {
    /// Adds one catalogued file.
    pub fn add(&mut self, folder: &str, file: &str, md5: Option<&str>) {
        // FNV-1a, 64 bits: stable across builds and platforms, fast enough for a
        // million rows; the parts are separated so that ("ab", "c") != ("a", "bc").
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [folder, "\0", file, "\0", md5.unwrap_or("")] {
            for byte in part.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        self.count += 1;
        self.sum = self.sum.wrapping_add(hash);
    }

    /// The fingerprint of `files` (folder, name, MD5).
    pub fn of<'a>(files: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>) -> Self {
        let mut fingerprint = Self::default();
        for (folder, file, md5) in files {
            fingerprint.add(folder, file, md5);
        }
        fingerprint
    }

    /// Files counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Reads the text [`Fingerprint::to_string`] writes.
    pub fn parse(text: &str) -> Option<Self> {
        let (count, sum) = text.split_once(':')?;
        Some(Self {
            count: count.parse().ok()?,
            sum: u64::from_str_radix(sum, 16).ok()?,
        })
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:016x}", self.count, self.sum)
    }
}

/// Human size in binary units (`1.50 GiB`), as every report prints it.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// Human duration (`3h 05m`, `12m 30s`, `45s`).
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    let total = seconds.round() as u64;
    let (d, h, m, s) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_order_and_see_every_change() {
        let a = Fingerprint::of([("/d", "a.fits", Some("11")), ("/d", "b.fits", Some("22"))]);
        let b = Fingerprint::of([("/d", "b.fits", Some("22")), ("/d", "a.fits", Some("11"))]);
        assert_eq!(a, b);
        assert_eq!(Fingerprint::parse(&a.to_string()), Some(a));
        let changed = Fingerprint::of([("/d", "a.fits", Some("11")), ("/d", "b.fits", Some("23"))]);
        assert_ne!(a, changed);
        let moved = Fingerprint::of([("/d", "a.fits", Some("11")), ("/e", "b.fits", Some("22"))]);
        assert_ne!(a, moved);
        assert_ne!(
            Fingerprint::of([("ab", "c", None)]),
            Fingerprint::of([("a", "bc", None)])
        );
        assert_eq!(a.count(), 2);
    }

    #[test]
    fn folder_names_come_back_as_added_even_empty_or_non_ascii() {
        let names = ["a.fits", "", "Caldwell 49 - Hα.fits", "b"];
        let folder = FolderFiles::with(PathBuf::from("/data"), names);
        assert_eq!(folder.len(), 4);
        assert!(!folder.is_empty());
        assert_eq!(folder.names().collect::<Vec<_>>(), names);
        let empty = FolderFiles::new(PathBuf::from("/data"));
        assert!(empty.is_empty() && empty.names().next().is_none());
        let session = SessionPaths {
            session: SessionId::new("S1").unwrap(),
            folders: vec![folder, empty],
        };
        assert_eq!(session.file_count(), 4);
    }

    #[test]
    fn storage_class_names_parse_from_every_spelling() {
        assert_eq!(
            StorageClass::parse("deep_archive"),
            StorageClass::DeepArchive
        );
        assert_eq!(
            StorageClass::parse("GLACIER_FLEXIBLE_RETRIEVAL"),
            StorageClass::Glacier
        );
        assert_eq!(
            StorageClass::parse("GLACIER_FLEXIBLE"),
            StorageClass::Glacier
        );
        assert_eq!(StorageClass::parse(""), StorageClass::Standard);
        assert_eq!(
            StorageClass::parse("TAPE"),
            StorageClass::Other("TAPE".into())
        );
        assert!(!StorageClass::parse("TAPE").is_known());
        assert!(StorageClass::DeepArchive.needs_restore());
        assert!(!StorageClass::GlacierIr.needs_restore());
        assert_eq!(StorageClass::Glacier.price_key(), "GLACIER_FLEXIBLE");
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.00 GiB");
        assert_eq!(human_duration(45.0), "45s");
        assert_eq!(human_duration(750.0), "12m 30s");
        assert_eq!(human_duration(3.0 * 3600.0 + 300.0), "3h 05m");
        assert_eq!(human_duration(90_000.0), "1d 01h 00m");
        assert_eq!(human_duration(f64::NAN), "-");
    }
}
