//! `fitsbak lifecycle generate | show | apply`.

use fitsbak_core::engine::lifecycle::generate_rules;
use fitsbak_core::rules::LifecycleConfiguration;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

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
                crate::views::lifecycle::print_rules(&rules);
            }
        }
        Command::Apply(args) => apply(ctx, args).await?,
    }
    Ok(Outcome::Success)
}

async fn apply(ctx: &Context, args: &ApplyArgs) -> anyhow::Result<()> {
    let engine = ctx.engine(None).await?;
    let plan = engine.lifecycle_plan().await?;
    let say = |text: String| {
        if !ctx.global.json {
            println!("{text}");
        }
    };
    if ctx.global.json {
        print_json(&plan)?;
    } else {
        crate::views::lifecycle::print_plan(&plan);
    }
    if !plan.changes() {
        say("The bucket's lifecycle rules already match the config; nothing to change.".into());
    } else if args.dry_run {
        say("Dry run: nothing was changed.".into());
    } else {
        engine.apply_lifecycle(&plan).await?;
        say(format!(
            "Applied {} rule(s) to {}.",
            plan.rules.len(),
            engine.target()
        ));
    }
    Ok(())
}
