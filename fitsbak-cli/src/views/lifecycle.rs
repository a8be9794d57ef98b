//! `fitsbak lifecycle show | apply`, for people.

use fitsbak_core::engine::lifecycle::LifecyclePlan;
use fitsbak_core::rules::{LifecycleRule, RuleStatus};

use crate::output::table;

fn describe_filter(rule: &LifecycleRule) -> String {
    let f = &rule.filter;
    let mut parts = Vec::new();
    if let Some(p) = &f.prefix {
        parts.push(format!("prefix {p:?}"));
    }
    if let Some(t) = &f.tag {
        parts.push(format!("tag {}={}", t.key, t.value));
    }
    if let Some(and) = &f.and {
        if let Some(p) = &and.prefix {
            parts.push(format!("prefix {p:?}"));
        }
        parts.extend(
            and.tags
                .iter()
                .map(|t| format!("tag {}={}", t.key, t.value)),
        );
    }
    if parts.is_empty() {
        "every object".into()
    } else {
        parts.join(" and ")
    }
}

fn describe_actions(rule: &LifecycleRule) -> String {
    let mut parts: Vec<String> = rule
        .transitions
        .iter()
        .map(|t| format!("to {} after {} day(s)", t.storage_class, t.days))
        .collect();
    if let Some(e) = &rule.expiration {
        parts.push(format!("expire after {} day(s)", e.days));
    }
    parts.extend(rule.noncurrent_version_transitions.iter().map(|t| {
        format!(
            "noncurrent to {} after {} day(s)",
            t.storage_class, t.noncurrent_days
        )
    }));
    if let Some(e) = &rule.noncurrent_version_expiration {
        parts.push(format!(
            "noncurrent expire after {} day(s)",
            e.noncurrent_days
        ));
    }
    if let Some(a) = &rule.abort_incomplete_multipart_upload {
        parts.push(format!(
            "abort incomplete uploads after {} day(s)",
            a.days_after_initiation
        ));
    }
    parts.join("; ")
}

pub fn print_rules(rules: &[LifecycleRule]) {
    let mut t = table(&["Rule", "Status", "Applies to", "Actions"], &[]);
    for r in rules {
        t.add_row(vec![
            r.id.clone(),
            match r.status {
                RuleStatus::Enabled => "enabled".into(),
                RuleStatus::Disabled => "disabled".into(),
            },
            describe_filter(r),
            describe_actions(r),
        ]);
    }
    println!("{}", t.trim_fmt());
}

/// What `apply` changes, one line per rule.
pub fn print_plan(plan: &LifecyclePlan) {
    for (what, ids) in [
        ("add", &plan.added),
        ("replace", &plan.replaced),
        ("remove", &plan.removed),
        ("unchanged", &plan.unchanged),
        ("keep (not fitsbak's)", &plan.kept),
    ] {
        for id in ids {
            println!("{what:>22}  {id}");
        }
    }
}
