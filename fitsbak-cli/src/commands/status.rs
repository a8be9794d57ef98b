//! `fitsbak status`.

use fitsbak_core::engine::status;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// How much of the catalog is backed up.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {}

pub async fn exec(ctx: &Context, _args: &Args) -> anyhow::Result<Outcome> {
    let (catalog, db) = ctx.open_for_reports()?;
    let r = status::status(catalog.as_ref(), db.as_ref(), &ctx.config).await?;
    ctx.warn_rejected(&r.rejected_sessions);
    if ctx.global.json {
        print_json(&r)?;
    } else {
        crate::views::status::print(&r);
    }
    Ok(Outcome::Success)
}
