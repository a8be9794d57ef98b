//! Bucket lifecycle rules, in the JSON shape that
//! `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://...`
//! accepts and `get-bucket-lifecycle-configuration` prints.
//!
//! The transports convert these to and from their wire types; the engine derives
//! them from the config's `backup_rules`.

use serde::{Deserialize, Serialize};

use crate::model::StorageClass;

/// A bucket's whole lifecycle configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleConfiguration {
    /// The rules.
    pub rules: Vec<LifecycleRule>,
}

/// One lifecycle rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleRule {
    /// The rule's id; fitsbak recognises its own rules by it.
    #[serde(rename = "ID")]
    pub id: String,
    /// `Enabled` or `Disabled`.
    pub status: RuleStatus,
    /// Which objects the rule applies to.
    pub filter: RuleFilter,
    /// Storage class transitions of current versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    /// Expiry of current versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    /// Storage class transitions of noncurrent versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noncurrent_version_transitions: Vec<NoncurrentTransition>,
    /// Expiry of noncurrent versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentExpiration>,
    /// Clean-up of incomplete multipart uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload: Option<AbortIncomplete>,
}

/// Whether a rule is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleStatus {
    /// Applied.
    #[default]
    Enabled,
    /// Kept but not applied.
    Disabled,
}

/// Which objects a rule applies to. S3 takes exactly one of the three forms; an
/// empty filter applies to every object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleFilter {
    /// Objects below a prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Objects carrying one tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// Objects matching every condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<RuleAnd>,
}

impl RuleFilter {
    /// True when an object with `key` and `tags` is matched by this filter.
    pub fn matches(&self, key: &str, tags: &crate::model::Tags) -> bool {
        let has = |t: &Tag| tags.get(&t.key) == Some(&t.value);
        if let Some(prefix) = &self.prefix
            && !key.starts_with(prefix.as_str())
        {
            return false;
        }
        if let Some(tag) = &self.tag
            && !has(tag)
        {
            return false;
        }
        if let Some(and) = &self.and {
            if let Some(prefix) = &and.prefix
                && !key.starts_with(prefix.as_str())
            {
                return false;
            }
            if !and.tags.iter().all(has) {
                return false;
            }
        }
        true
    }
}

/// The `And` form of a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleAnd {
    /// A prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Tags that must all be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// An object tag in a filter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// A transition of current versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transition {
    /// Days after creation.
    pub days: u32,
    /// Target class.
    pub storage_class: StorageClass,
}

/// Expiry of current versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Expiration {
    /// Days after creation.
    pub days: u32,
}

/// A transition of noncurrent versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentTransition {
    /// Days after becoming noncurrent.
    pub noncurrent_days: u32,
    /// Target class.
    pub storage_class: StorageClass,
}

/// Expiry of noncurrent versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentExpiration {
    /// Days after becoming noncurrent.
    pub noncurrent_days: u32,
}

/// Abort of incomplete multipart uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AbortIncomplete {
    /// Days after the upload was started.
    pub days_after_initiation: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_serialise_in_the_aws_cli_shape() {
        let config = LifecycleConfiguration {
            rules: vec![LifecycleRule {
                id: "fitsbak-archive-fast".into(),
                status: RuleStatus::Enabled,
                filter: RuleFilter {
                    tag: Some(Tag {
                        key: "archive".into(),
                        value: "fast".into(),
                    }),
                    ..RuleFilter::default()
                },
                transitions: vec![Transition {
                    days: 7,
                    storage_class: StorageClass::DeepArchive,
                }],
                ..LifecycleRule::default()
            }],
        };
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Rules": [{
                "ID": "fitsbak-archive-fast",
                "Status": "Enabled",
                "Filter": {"Tag": {"Key": "archive", "Value": "fast"}},
                "Transitions": [{"Days": 7, "StorageClass": "DEEP_ARCHIVE"}]
            }]})
        );
        let back: LifecycleConfiguration = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn filters_match_prefix_and_tags() {
        let mut tags = crate::model::Tags::new();
        tags.insert("archive".into(), "fast".into());
        tags.insert("backup".into(), "deep-archive".into());
        let t = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(RuleFilter::default().matches("any", &tags));
        let by_tag = RuleFilter {
            tag: Some(t("archive", "fast")),
            ..Default::default()
        };
        assert!(by_tag.matches("k", &tags));
        let and = RuleFilter {
            and: Some(RuleAnd {
                prefix: Some("backups/raw/".into()),
                tags: vec![t("archive", "fast"), t("backup", "deep-archive")],
            }),
            ..Default::default()
        };
        assert!(and.matches("backups/raw/2024/S.tar", &tags));
        assert!(!and.matches("backups/other/S.tar", &tags));
        tags.insert("archive".into(), "delayed".into());
        assert!(!by_tag.matches("k", &tags));
    }
}
