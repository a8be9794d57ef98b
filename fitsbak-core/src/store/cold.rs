//! Cold storage: readable copies of objects in GLACIER or DEEP_ARCHIVE, and the
//! versions a bucket keeps.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::ObjectKey;
use crate::model::StorageClass;

/// Retrieval tier of a restore request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreTier {
    /// Minutes (GLACIER only).
    Expedited,
    /// Hours (Deep Archive: within 12 h).
    Standard,
    /// The cheapest (Deep Archive: within 48 h).
    Bulk,
}

impl RestoreTier {
    /// The name S3 uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            RestoreTier::Expedited => "Expedited",
            RestoreTier::Standard => "Standard",
            RestoreTier::Bulk => "Bulk",
        }
    }

    /// Parses a tier name, any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "expedited" => Some(RestoreTier::Expedited),
            "standard" => Some(RestoreTier::Standard),
            "bulk" => Some(RestoreTier::Bulk),
            _ => None,
        }
    }
}

impl fmt::Display for RestoreTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a restore from GLACIER or DEEP_ARCHIVE (`x-amz-restore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RestoreState {
    /// Requested, not yet readable.
    InProgress,
    /// A readable copy exists until `expires`.
    Available {
        /// When the restored copy goes away.
        expires: Option<DateTime<Utc>>,
    },
}

/// A request for a readable copy of an archived object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// Of this version (`None`: the current one).
    pub version_id: Option<String>,
    /// For how many days the copy stays.
    pub days: u32,
    /// How fast (and how dear).
    pub tier: RestoreTier,
}

/// One version of an object, as a version listing gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectVersion {
    /// The key.
    pub key: String,
    /// The version id (`None` where the store keeps no versions; S3 says `null`
    /// for objects written before versioning was turned on).
    pub version_id: Option<String>,
    /// Whether this is the current version.
    pub is_latest: bool,
    /// Size in bytes.
    pub size: u64,
    /// ETag, quotes removed.
    pub etag: Option<String>,
    /// When this version was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// Storage class.
    pub storage_class: StorageClass,
}

/// Restores and versions.
#[async_trait]
pub trait ColdStorage: Send + Sync {
    /// Asks for a readable copy of an archived object.
    async fn restore(&self, key: &ObjectKey, request: &RestoreRequest) -> Result<()>;

    /// Every version of the objects below `prefix`, every page of them (deletion
    /// markers left out). A store without versioning lists each object once.
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>>;
}
