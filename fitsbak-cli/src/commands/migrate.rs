//! `fitsbak migrate`: adopt what the cataloger's Python s3_backup wrote.

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Adopt the cataloger's Python s3_backup: read its archives once against the
/// catalog, write their manifests, retag them, adopt its notes rows; nothing is
/// uploaded again.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  fitsbak migrate --dry-run   # the plan: what would be read, adopted, retagged\n  fitsbak migrate             # do it; a second run changes nothing"
)]
pub struct Args {
    /// Print the plan and change nothing (no archive is read).
    #[arg(long)]
    dry_run: bool,
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    let engine = ctx.engine(None).await?;
    let report = engine.migrate(args.dry_run).await?;
    if ctx.global.json {
        print_json(&report)?;
    } else {
        crate::views::migrate::print(&report);
    }
    Ok(if report.damaged() > 0 {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}
