//! Lifecycle rules between the core's JSON-shaped types and the SDK's types.

use aws_sdk_s3::types as s3t;
use fitsbak_core::model::StorageClass;
use fitsbak_core::rules::{
    AbortIncomplete, Expiration, LifecycleRule, NoncurrentExpiration, NoncurrentTransition,
    RuleAnd, RuleFilter, RuleStatus, Tag, Transition,
};

fn tag_from(t: &s3t::Tag) -> Tag {
    Tag {
        key: t.key().to_owned(),
        value: t.value().to_owned(),
    }
}

fn tag_to(t: &Tag) -> Result<s3t::Tag, String> {
    s3t::Tag::builder()
        .key(&t.key)
        .value(&t.value)
        .build()
        .map_err(|e| e.to_string())
}

/// A rule as the SDK returned it.
pub fn from_sdk_rule(rule: &s3t::LifecycleRule) -> LifecycleRule {
    #[allow(deprecated)] // the legacy rule-level `Prefix` older tools still write
    let legacy_prefix = rule.prefix().map(str::to_owned);
    let filter = rule
        .filter()
        .map(|f| RuleFilter {
            prefix: f.prefix().map(str::to_owned),
            tag: f.tag().map(tag_from),
            and: f.and().map(|a| RuleAnd {
                prefix: a.prefix().map(str::to_owned),
                tags: a.tags().iter().map(tag_from).collect(),
            }),
        })
        .unwrap_or(RuleFilter {
            prefix: legacy_prefix,
            ..RuleFilter::default()
        });
    LifecycleRule {
        id: rule.id().unwrap_or_default().to_owned(),
        status: match rule.status() {
            s3t::ExpirationStatus::Enabled => RuleStatus::Enabled,
            _ => RuleStatus::Disabled,
        },
        filter,
        transitions: rule
            .transitions()
            .iter()
            .map(|t| Transition {
                days: t.days().unwrap_or_default().max(0) as u32,
                storage_class: t
                    .storage_class()
                    .map_or(StorageClass::Glacier, |c| StorageClass::parse(c.as_str())),
            })
            .collect(),
        expiration: rule
            .expiration()
            .and_then(|e| e.days())
            .map(|days| Expiration {
                days: days.max(0) as u32,
            }),
        noncurrent_version_transitions: rule
            .noncurrent_version_transitions()
            .iter()
            .map(|t| NoncurrentTransition {
                noncurrent_days: t.noncurrent_days().unwrap_or_default().max(0) as u32,
                storage_class: t
                    .storage_class()
                    .map_or(StorageClass::Glacier, |c| StorageClass::parse(c.as_str())),
            })
            .collect(),
        noncurrent_version_expiration: rule
            .noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days())
            .map(|d| NoncurrentExpiration {
                noncurrent_days: d.max(0) as u32,
            }),
        abort_incomplete_multipart_upload: rule
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation())
            .map(|d| AbortIncomplete {
                days_after_initiation: d.max(0) as u32,
            }),
    }
}

/// A rule for the SDK.
pub fn to_sdk_rule(rule: &LifecycleRule) -> Result<s3t::LifecycleRule, String> {
    let mut filter = s3t::LifecycleRuleFilter::builder().set_prefix(rule.filter.prefix.clone());
    if let Some(tag) = &rule.filter.tag {
        filter = filter.tag(tag_to(tag)?);
    }
    if let Some(and) = &rule.filter.and {
        filter = filter.and(
            s3t::LifecycleRuleAndOperator::builder()
                .set_prefix(and.prefix.clone())
                .set_tags(Some(and.tags.iter().map(tag_to).collect::<Result<_, _>>()?))
                .build(),
        );
    }
    // An empty filter applies to every object; S3 wants it as an empty prefix.
    if rule.filter == RuleFilter::default() {
        filter = filter.prefix("");
    }
    let mut builder = s3t::LifecycleRule::builder()
        .id(&rule.id)
        .status(match rule.status {
            RuleStatus::Enabled => s3t::ExpirationStatus::Enabled,
            RuleStatus::Disabled => s3t::ExpirationStatus::Disabled,
        })
        .filter(filter.build());
    for t in &rule.transitions {
        builder = builder.transitions(
            s3t::Transition::builder()
                .days(t.days as i32)
                .storage_class(s3t::TransitionStorageClass::from(t.storage_class.as_str()))
                .build(),
        );
    }
    if let Some(e) = &rule.expiration {
        builder = builder.expiration(
            s3t::LifecycleExpiration::builder()
                .days(e.days as i32)
                .build(),
        );
    }
    for t in &rule.noncurrent_version_transitions {
        builder = builder.noncurrent_version_transitions(
            s3t::NoncurrentVersionTransition::builder()
                .noncurrent_days(t.noncurrent_days as i32)
                .storage_class(s3t::TransitionStorageClass::from(t.storage_class.as_str()))
                .build(),
        );
    }
    if let Some(e) = &rule.noncurrent_version_expiration {
        builder = builder.noncurrent_version_expiration(
            s3t::NoncurrentVersionExpiration::builder()
                .noncurrent_days(e.noncurrent_days as i32)
                .build(),
        );
    }
    if let Some(a) = &rule.abort_incomplete_multipart_upload {
        builder = builder.abort_incomplete_multipart_upload(
            s3t::AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(a.days_after_initiation as i32)
                .build(),
        );
    }
    builder
        .build()
        .map_err(|e| format!("rule {}: {e}", rule.id))
}
