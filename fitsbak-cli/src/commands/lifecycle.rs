//! `fitsbak lifecycle generate | show | apply`.

use fitsbak_core::engine::lifecycle::generate_rules;
use fitsbak_core::lifecycle::{LifecycleConfiguration, LifecycleRule, RuleStatus};

use crate::Outcome;
use crate::context::Context;
use crate::output::{print_json, table};

/// Bucket lifecycle rules, derived from the config's backup_rules.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print the rules the config calls for, as the JSON that
    /// `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://...` takes.
    Generate,
    /// Show the bucket's current rules.
    Show,
    /// Merge the generated rules into the bucket's (rules fitsbak did not write are
    /// kept; its own are replaced by id), show the difference, and apply it.
    Apply(ApplyArgs),
}

/// Arguments of `lifecycle apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// Show the difference without applying it.
    #[arg(long)]
    dry_run: bool,
}

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

fn print_rules(rules: &[LifecycleRule]) {
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

pub async fn exec(ctx: &Context, command: &Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Generate => {
            // Always the JSON S3 takes: this is what the command is for.
            print_json(&LifecycleConfiguration {
                rules: generate_rules(&ctx.config),
            })?;
        }
        Command::Show => {
            let engine = ctx.engine(None).await?;
            let rules = engine.lifecycle_rules().await?;
            if ctx.global.json {
                print_json(&LifecycleConfiguration { rules })?;
            } else if rules.is_empty() {
                println!(
                    "{} has no lifecycle rules (`fitsbak lifecycle apply` writes them)",
                    engine.target()
                );
            } else {
                print_rules(&rules);
            }
        }
        Command::Apply(args) => {
            let engine = ctx.engine(None).await?;
            let plan = engine.lifecycle_plan().await?;
            if ctx.global.json {
                print_json(&plan)?;
            } else {
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
            if !plan.changes() {
                if !ctx.global.json {
                    println!(
                        "The bucket's lifecycle rules already match the config; nothing to change."
                    );
                }
            } else if args.dry_run {
                if !ctx.global.json {
                    println!("Dry run: nothing was changed.");
                }
            } else {
                engine.apply_lifecycle(&plan).await?;
                if !ctx.global.json {
                    println!(
                        "Applied {} rule(s) to {}.",
                        plan.rules.len(),
                        engine.target()
                    );
                }
            }
        }
    }
    Ok(Outcome::Success)
}
