//! `fitsbak list-sessions`.

use fitsbak_core::engine::list_sessions::{SessionFilter, list_sessions};

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// One line per imaging session.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only sessions of this year.
    #[arg(long)]
    year: Option<i32>,
    /// Only sessions without an archive.
    #[arg(long)]
    not_backed_up: bool,
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    let (catalog, db) = ctx.open_for_reports()?;
    let filter = SessionFilter {
        target_bucket: Some(ctx.config.target_bucket()),
        year: args.year,
        not_backed_up: args.not_backed_up,
        session_id: None,
    };
    let list = list_sessions(catalog.as_ref(), db.as_ref(), &filter).await?;
    ctx.warn_rejected(&list.rejected);
    if ctx.global.json {
        print_json(&list.sessions)?;
    } else {
        crate::views::list_sessions::print(&list);
    }
    Ok(Outcome::Success)
}
