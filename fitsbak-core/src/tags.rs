//! Object tags, derived from the config's `backup_rules`: the single source of the
//! tags written on objects and of the lifecycle rules that match them.
//!
//! | config word (`archive_policy`) | tag `archive=` | transition |
//! |---|---|---|
//! | `fast` | `fast` | to DEEP_ARCHIVE after `archive_days` (7) |
//! | `standard`, `normal` | `normal` | to DEEP_ARCHIVE after `archive_days` (30) |
//! | `delayed` | `delayed` | to GLACIER after `archive_days` (90) |
//! | `instant` | `instant` | to GLACIER_IR after `archive_days` (0): readable at once |
//!
//! | config word (`backup_policy`) | tag `backup=` | meaning |
//! |---|---|---|
//! | `deep`, `deep-archive` | `deep-archive` | ends in DEEP_ARCHIVE |
//! | `flexible` | `flexible` | ends in GLACIER (Flexible Retrieval) |
//! | `instant` | `instant` | ends in GLACIER_IR (Instant Retrieval) |

use crate::config::{BackupRule, Config};

use crate::model::{StorageClass, Tags};

/// The kinds of object fitsbak writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A session archive (`backup_rules.raw_lights`).
    RawArchive,
    /// An archive's manifest: no lifecycle tags, it stays in STANDARD.
    Manifest,
    /// A session's notes (`backup_rules.imaging_sessions`).
    SessionNotes,
    /// A catalog database snapshot (`backup_rules.imaging_sessions`).
    DatabaseSnapshot,
    /// A processing session's notes (`backup_rules.processing_sessions`).
    ProcessingNotes,
    /// An intermediate file of a processing session (`backup_rules.processing_sessions`).
    ProcessedIntermediate,
    /// A final output of a processing session (`backup_rules.final_outputs`).
    ProcessedFinal,
}

/// The `archive=` tag value for a config word.
pub fn archive_tag_value(policy: &str) -> Option<&'static str> {
    match policy.trim().to_ascii_lowercase().as_str() {
        "fast" => Some("fast"),
        "standard" | "normal" => Some("normal"),
        "delayed" => Some("delayed"),
        "instant" => Some("instant"),
        _ => None,
    }
}

/// The `backup=` tag value for a config word.
pub fn backup_tag_value(policy: &str) -> Option<&'static str> {
    match policy.trim().to_ascii_lowercase().as_str() {
        "deep" | "deep-archive" | "deep_archive" => Some("deep-archive"),
        "flexible" | "glacier" => Some("flexible"),
        "instant" | "glacier-ir" | "glacier_ir" => Some("instant"),
        _ => None,
    }
}

impl BackupRule {
    /// The `archive=` value of this rule (an unknown word is kept as written).
    pub fn archive_value(&self) -> String {
        archive_tag_value(&self.archive_policy)
            .map_or_else(|| self.archive_policy.trim().to_owned(), str::to_owned)
    }

    /// The `backup=` value of this rule (an unknown word is kept as written).
    pub fn backup_value(&self) -> String {
        backup_tag_value(&self.backup_policy)
            .map_or_else(|| self.backup_policy.trim().to_owned(), str::to_owned)
    }

    /// Where the lifecycle rules will eventually put an object under this rule.
    pub fn expected_storage_class(&self) -> StorageClass {
        match backup_tag_value(&self.backup_policy) {
            Some("flexible") => StorageClass::Glacier,
            Some("instant") => StorageClass::GlacierIr,
            _ => StorageClass::DeepArchive,
        }
    }
}

impl Config {
    /// The backup rule of a kind of object (`None` for manifests).
    pub fn rule_for(&self, kind: ObjectKind) -> Option<&BackupRule> {
        match kind {
            ObjectKind::RawArchive => Some(&self.backup_rules.raw_lights),
            ObjectKind::Manifest => None,
            ObjectKind::SessionNotes | ObjectKind::DatabaseSnapshot => {
                Some(&self.backup_rules.imaging_sessions)
            }
            ObjectKind::ProcessingNotes | ObjectKind::ProcessedIntermediate => {
                Some(&self.backup_rules.processing_sessions)
            }
            ObjectKind::ProcessedFinal => Some(&self.backup_rules.final_outputs),
        }
    }

    /// The tags written on an object of `kind`.
    pub fn tags_for(&self, kind: ObjectKind) -> Tags {
        let mut tags = Tags::new();
        if let Some(rule) = self.rule_for(kind) {
            tags.insert(self.lifecycle.archive_tag_key.clone(), rule.archive_value());
            tags.insert(self.lifecycle.backup_tag_key.clone(), rule.backup_value());
        }
        tags
    }

    /// The kinds of object fitsbak tags, with their tags.
    pub fn tagged_kinds(&self) -> Vec<(ObjectKind, Tags)> {
        [
            ObjectKind::RawArchive,
            ObjectKind::SessionNotes,
            ObjectKind::DatabaseSnapshot,
            ObjectKind::ProcessingNotes,
            ObjectKind::ProcessedIntermediate,
            ObjectKind::ProcessedFinal,
        ]
        .into_iter()
        .map(|k| (k, self.tags_for(k)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_original_lifecycle_policy() {
        let c = Config::default();
        let raw = c.tags_for(ObjectKind::RawArchive);
        assert_eq!(raw["archive"], "fast");
        assert_eq!(raw["backup"], "deep-archive");
        let notes = c.tags_for(ObjectKind::SessionNotes);
        assert_eq!(notes["archive"], "normal", "`standard` maps to `normal`");
        assert!(c.tags_for(ObjectKind::Manifest).is_empty());
        assert_eq!(
            c.backup_rules.processing_sessions.expected_storage_class(),
            StorageClass::Glacier
        );
        assert_eq!(
            c.backup_rules.raw_lights.expected_storage_class(),
            StorageClass::DeepArchive
        );
    }

    #[test]
    fn policy_words_map_in_one_table() {
        assert_eq!(archive_tag_value(" Standard "), Some("normal"));
        assert_eq!(archive_tag_value("never"), None);
        assert_eq!(backup_tag_value("deep"), Some("deep-archive"));
        assert_eq!(backup_tag_value("flexible"), Some("flexible"));
    }
}
