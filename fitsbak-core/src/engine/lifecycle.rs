//! Bucket lifecycle rules derived from the same config as the tags written on
//! objects: `fitsbak lifecycle generate | show | apply` (`doctor` proves the bucket
//! agrees).
//!
//! Generated rules (ids start with `fitsbak-`, which is how `apply` recognises its
//! own and leaves other rules alone):
//!
//! | id | filter | action |
//! |---|---|---|
//! | `fitsbak-archive-fast` | tag `archive=fast` | to DEEP_ARCHIVE after the rules' `archive_days` (7) |
//! | `fitsbak-archive-normal` | tag `archive=normal` | to DEEP_ARCHIVE after `archive_days` (30) |
//! | `fitsbak-archive-delayed` | tag `archive=delayed` | to GLACIER after `archive_days` (90) |
//! | `fitsbak-backup-deep-archive` | tag `backup=deep-archive` | to DEEP_ARCHIVE at once |
//! | `fitsbak-backup-flexible` | tag `backup=flexible` (when a rule uses it) | to GLACIER at once |
//! | `fitsbak-archive-instant`, `fitsbak-backup-instant` | tags `archive=instant`, `backup=instant` (final outputs) | to GLACIER_IR after `archive_days` (0) |
//! | `fitsbak-abort-incomplete-multipart` | fitsbak's key prefix | abort after `abort_incomplete_multipart_days` (7) |

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::{StorageClass, Tags};
use crate::rules::{AbortIncomplete, LifecycleRule, RuleFilter, RuleStatus, Tag, Transition};
use crate::store::ObjectStoreExt;
use crate::tags::ObjectKind;

/// Ids of the rules fitsbak writes start with this.
pub const RULE_PREFIX: &str = "fitsbak-";

pub use crate::model::DEEP_ARCHIVE_MINIMUM_DAYS;

fn tag_rule(id: &str, key: &str, value: &str, days: u32, class: StorageClass) -> LifecycleRule {
    LifecycleRule {
        id: format!("{RULE_PREFIX}{id}"),
        status: RuleStatus::Enabled,
        filter: RuleFilter {
            tag: Some(Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            }),
            ..RuleFilter::default()
        },
        transitions: vec![Transition {
            days,
            storage_class: class,
        }],
        ..LifecycleRule::default()
    }
}

/// The longest key prefix all of fitsbak's objects share (`backups/`).
pub fn common_prefix(config: &Config) -> String {
    let p = &config.s3_paths;
    let prefixes = [
        &p.raw_archives,
        &p.manifests,
        &p.session_notes,
        &p.database_backups,
        &p.processing_notes,
        &p.processed_files,
    ];
    let first: Vec<&str> = prefixes[0].trim_matches('/').split('/').collect();
    let mut shared = first.len();
    for other in &prefixes[1..] {
        let segs: Vec<&str> = other.trim_matches('/').split('/').collect();
        shared = shared.min(first.iter().zip(&segs).take_while(|(a, b)| a == b).count());
    }
    if shared == 0 {
        String::new()
    } else {
        format!("{}/", first[..shared].join("/"))
    }
}

/// A key an object of `kind` could have, to test filters against.
pub fn sample_key(config: &Config, kind: ObjectKind) -> String {
    let p = &config.s3_paths;
    let prefix = match kind {
        ObjectKind::RawArchive => &p.raw_archives,
        ObjectKind::Manifest => &p.manifests,
        ObjectKind::SessionNotes => &p.session_notes,
        ObjectKind::DatabaseSnapshot => &p.database_backups,
        ObjectKind::ProcessingNotes => &p.processing_notes,
        ObjectKind::ProcessedIntermediate | ObjectKind::ProcessedFinal => &p.processed_files,
    };
    format!("{}/2024/sample", prefix.trim_matches('/'))
}

/// The lifecycle rules the config calls for.
pub fn generate_rules(config: &Config) -> Vec<LifecycleRule> {
    let keys = &config.lifecycle;
    let rules = &config.backup_rules;
    let all = [
        &rules.raw_lights,
        &rules.raw_calibration,
        &rules.imaging_sessions,
        &rules.processing_sessions,
        &rules.final_outputs,
    ];
    let days = |value: &str, default: u32| {
        all.iter()
            .filter(|r| r.archive_value() == value)
            .map(|r| r.archive_days)
            .min()
            .unwrap_or(default)
    };
    let archive = |value: &str, default_days: u32, class: StorageClass| {
        let id = format!("archive-{value}");
        tag_rule(
            &id,
            &keys.archive_tag_key,
            value,
            days(value, default_days),
            class,
        )
    };
    let mut out = vec![
        archive("fast", 7, StorageClass::DeepArchive),
        archive("normal", 30, StorageClass::DeepArchive),
        archive("delayed", 90, StorageClass::Glacier),
        tag_rule(
            "backup-deep-archive",
            &keys.backup_tag_key,
            "deep-archive",
            0,
            StorageClass::DeepArchive,
        ),
    ];
    out.extend(rules_for_other_words(config));
    out.push(LifecycleRule {
        id: format!("{RULE_PREFIX}abort-incomplete-multipart"),
        status: RuleStatus::Enabled,
        filter: RuleFilter {
            prefix: Some(common_prefix(config)),
            ..RuleFilter::default()
        },
        abort_incomplete_multipart_upload: Some(AbortIncomplete {
            days_after_initiation: keys.abort_incomplete_multipart_days,
        }),
        ..LifecycleRule::default()
    });
    out
}

/// Words of the config that are not the standard ones still get a rule, so that
/// every tag fitsbak writes is matched.
fn rules_for_other_words(config: &Config) -> Vec<LifecycleRule> {
    let keys = &config.lifecycle;
    let mut extra: BTreeMap<String, LifecycleRule> = BTreeMap::new();
    for (kind, _) in config.tagged_kinds() {
        let Some(rule) = config.rule_for(kind) else {
            continue;
        };
        let archive = rule.archive_value();
        if !["fast", "normal", "delayed"].contains(&archive.as_str()) {
            let id = format!("archive-{archive}");
            extra.entry(id.clone()).or_insert_with(|| {
                let class = match archive.as_str() {
                    "instant" => StorageClass::GlacierIr,
                    _ => StorageClass::DeepArchive,
                };
                tag_rule(
                    &id,
                    &keys.archive_tag_key,
                    &archive,
                    rule.archive_days,
                    class,
                )
            });
        }
        let backup = rule.backup_value();
        if backup != "deep-archive" {
            let class = match backup.as_str() {
                "flexible" => StorageClass::Glacier,
                "instant" => StorageClass::GlacierIr,
                _ => StorageClass::DeepArchive,
            };
            let id = format!("backup-{backup}");
            extra
                .entry(id.clone())
                .or_insert_with(|| tag_rule(&id, &keys.backup_tag_key, &backup, 0, class));
        }
    }
    extra.into_values().collect()
}

/// What `lifecycle apply` would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LifecyclePlan {
    /// The rules the bucket will have.
    pub rules: Vec<LifecycleRule>,
    /// fitsbak rules the bucket lacks.
    pub added: Vec<String>,
    /// fitsbak rules that differ and will be replaced.
    pub replaced: Vec<String>,
    /// fitsbak rules the config no longer calls for.
    pub removed: Vec<String>,
    /// fitsbak rules already right.
    pub unchanged: Vec<String>,
    /// Rules fitsbak did not write, kept as they are.
    pub kept: Vec<String>,
}

impl LifecyclePlan {
    /// True when applying would change the bucket.
    pub fn changes(&self) -> bool {
        !(self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty())
    }
}

/// Merges `generated` into the bucket's `existing` rules: rules fitsbak did not
/// write are kept, its own are replaced by id.
pub fn plan_lifecycle(existing: &[LifecycleRule], generated: Vec<LifecycleRule>) -> LifecyclePlan {
    let mut plan = LifecyclePlan::default();
    let ours = |r: &LifecycleRule| r.id.starts_with(RULE_PREFIX);
    for rule in existing.iter().filter(|r| !ours(r)) {
        plan.kept.push(rule.id.clone());
        plan.rules.push(rule.clone());
    }
    for rule in existing.iter().filter(|r| ours(r)) {
        if !generated.iter().any(|g| g.id == rule.id) {
            plan.removed.push(rule.id.clone());
        }
    }
    for rule in generated {
        match existing.iter().find(|r| r.id == rule.id) {
            None => plan.added.push(rule.id.clone()),
            Some(old) if *old == rule => plan.unchanged.push(rule.id.clone()),
            Some(_) => plan.replaced.push(rule.id.clone()),
        }
        plan.rules.push(rule);
    }
    plan
}

/// Whether an enabled rule with a transition matches an object.
pub fn transitions(rules: &[LifecycleRule], key: &str, tags: &Tags) -> bool {
    rules.iter().any(|r| {
        r.status == RuleStatus::Enabled && !r.transitions.is_empty() && r.filter.matches(key, tags)
    })
}

impl Engine {
    /// The bucket's lifecycle rules.
    pub async fn lifecycle_rules(&self) -> Result<Vec<LifecycleRule>> {
        self.offers_lifecycle().await?;
        self.store.try_admin()?.lifecycle().await
    }

    /// Fails, saying what to do instead, when the store has no lifecycle rules.
    async fn offers_lifecycle(&self) -> Result<()> {
        if self.capabilities().await?.lifecycle {
            return Ok(());
        }
        Err(crate::error::Error::unusable(format!(
            "{} does not offer lifecycle rules: nothing will move objects to colder \
             classes; write them in the class they should stay in \
             (backup_rules.*.storage_class), or use the store's own tiering",
            self.store.describe()
        )))
    }

    /// The bucket's rules merged with the generated ones.
    pub async fn lifecycle_plan(&self) -> Result<LifecyclePlan> {
        let existing = self.lifecycle_rules().await?;
        Ok(plan_lifecycle(&existing, generate_rules(&self.config)))
    }

    /// Writes a plan's rules to the bucket.
    pub async fn apply_lifecycle(&self, plan: &LifecyclePlan) -> Result<()> {
        self.offers_lifecycle().await?;
        self.store.try_admin()?.put_lifecycle(&plan.rules).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_gives_the_four_rules_those_of_processed_files_and_the_abort_rule() {
        let rules = generate_rules(&Config::default());
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "fitsbak-archive-fast",
                "fitsbak-archive-normal",
                "fitsbak-archive-delayed",
                "fitsbak-backup-deep-archive",
                "fitsbak-archive-instant",
                "fitsbak-backup-flexible",
                "fitsbak-backup-instant",
                "fitsbak-abort-incomplete-multipart"
            ]
        );
        // Final outputs stay readable at once: Glacier Instant Retrieval.
        for instant in &rules[4..7] {
            let class = &instant.transitions[0].storage_class;
            let expected = if instant.id.ends_with("flexible") {
                StorageClass::Glacier
            } else {
                StorageClass::GlacierIr
            };
            assert_eq!(*class, expected, "{}", instant.id);
        }
        assert_eq!(rules[0].transitions[0].days, 7);
        assert_eq!(rules[1].transitions[0].days, 30);
        assert_eq!(rules[2].transitions[0].storage_class, StorageClass::Glacier);
        assert_eq!(rules[2].transitions[0].days, 90);
        assert_eq!(rules[3].transitions[0].days, 0);
        assert_eq!(rules[7].filter.prefix.as_deref(), Some("backups/"));
        let json = serde_json::to_value(crate::rules::LifecycleConfiguration { rules }).unwrap();
        assert_eq!(json["Rules"][0]["Filter"]["Tag"]["Key"], "archive");
        assert_eq!(
            json["Rules"][3]["Transitions"][0]["StorageClass"],
            "DEEP_ARCHIVE"
        );
        assert_eq!(
            json["Rules"][7]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
            7
        );
    }

    #[test]
    fn every_tag_fitsbak_writes_is_matched_even_with_custom_words() {
        let mut c = Config::default();
        c.backup_rules.raw_lights.archive_policy = "weekly".into();
        c.backup_rules.imaging_sessions.backup_policy = "flexible".into();
        c.lifecycle.archive_tag_key = "fitsbak-archive".into();
        let rules = generate_rules(&c);
        for (kind, tags) in c.tagged_kinds() {
            assert!(
                transitions(&rules, &sample_key(&c, kind), &tags),
                "{kind:?} {tags:?}"
            );
        }
        assert!(rules.iter().any(|r| r.id == "fitsbak-archive-weekly"));
        assert!(rules.iter().any(|r| r.id == "fitsbak-backup-flexible"));
    }

    #[test]
    fn apply_keeps_foreign_rules_and_replaces_its_own() {
        let generated = generate_rules(&Config::default());
        let foreign = LifecycleRule {
            id: "expire-logs".into(),
            filter: RuleFilter {
                prefix: Some("logs/".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut stale = generated[0].clone();
        stale.transitions[0].days = 99;
        let retired = LifecycleRule {
            id: "fitsbak-old".into(),
            ..Default::default()
        };
        let plan = plan_lifecycle(
            &[foreign.clone(), stale, retired, generated[1].clone()],
            generated.clone(),
        );
        assert_eq!(plan.kept, ["expire-logs"]);
        assert_eq!(plan.replaced, ["fitsbak-archive-fast"]);
        assert_eq!(plan.removed, ["fitsbak-old"]);
        assert_eq!(plan.unchanged, ["fitsbak-archive-normal"]);
        assert_eq!(plan.added.len(), generated.len() - 2);
        assert_eq!(plan.rules.len(), generated.len() + 1);
        assert!(plan.changes());
        let again = plan_lifecycle(&plan.rules, generated);
        assert!(!again.changes(), "idempotent");
    }

    #[test]
    fn the_common_prefix_follows_the_configured_paths() {
        let mut c = Config::default();
        assert_eq!(common_prefix(&c), "backups/");
        c.s3_paths.manifests = "index".into();
        assert_eq!(common_prefix(&c), "");
    }
}
