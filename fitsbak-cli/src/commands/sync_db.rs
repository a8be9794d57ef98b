//! `fitsbak sync-db`: rebuild the tracking tables from the bucket.

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Rebuild the tracking tables from the bucket's manifests.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Show what would change without writing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_from_bucket().await?;
    let report = engine.sync_db(args.dry_run).await?;
    if ctx.global.json {
        print_json(&report)?;
    } else {
        crate::views::restore::print_sync(&report, args.dry_run);
    }
    Ok(if report.has_problems() {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}
