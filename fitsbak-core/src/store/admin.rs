//! Bucket administration: object tags, lifecycle rules, and what a bucket says
//! about itself.

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;
use crate::ids::ObjectKey;
use crate::model::Tags;
use crate::rules::LifecycleRule;

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Versioning {
    /// Never turned on.
    Off,
    /// Every write keeps the previous bytes as a noncurrent version.
    Enabled,
    /// Turned on once, then suspended: old versions stay, new writes replace.
    Suspended,
}

impl Versioning {
    /// Reads S3's `Status` (`Enabled`, `Suspended`; nothing when never on).
    pub fn from_status(status: Option<&str>) -> Self {
        match status.map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("enabled") => Versioning::Enabled,
            Some(s) if s.eq_ignore_ascii_case("suspended") => Versioning::Suspended,
            _ => Versioning::Off,
        }
    }
}

impl fmt::Display for Versioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Versioning::Off => "off",
            Versioning::Enabled => "enabled",
            Versioning::Suspended => "suspended",
        })
    }
}

/// What a bucket says about itself, for `doctor`. `None` where the store does not
/// know or does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BucketFacts {
    /// The bucket's region.
    pub region: Option<String>,
    /// Its versioning state.
    pub versioning: Option<Versioning>,
    /// Whether every public access is blocked.
    pub public_access_blocked: Option<bool>,
    /// The default encryption (`AES256`, `aws:kms`).
    pub default_encryption: Option<String>,
}

impl BucketFacts {
    /// True when the bucket keeps every version.
    pub fn versioned(&self) -> bool {
        self.versioning == Some(Versioning::Enabled)
    }
}

/// Tags, lifecycle rules and bucket facts.
#[async_trait]
pub trait BucketAdmin: Send + Sync {
    /// The object's tags.
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags>;

    /// Replaces the object's tags.
    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()>;

    /// The bucket's lifecycle rules (empty when it has none).
    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>>;

    /// Replaces the bucket's lifecycle rules.
    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()>;

    /// What the bucket says about itself.
    async fn facts(&self) -> Result<BucketFacts>;
}
