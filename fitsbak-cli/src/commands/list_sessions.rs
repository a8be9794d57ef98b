//! `fitsbak list-sessions`.

use fitsbak_core::engine::report::{self, SessionFilter};

use crate::Outcome;
use crate::context::Context;
use crate::output::{count, human_bytes, print_json, table};

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
    let db = ctx.open_database()?;
    let filter = SessionFilter {
        year: args.year,
        not_backed_up: args.not_backed_up,
        session_id: None,
    };
    let list = report::list_sessions(&db, &db, &filter).await?;
    ctx.warn_rejected(&list.rejected);
    if ctx.global.json {
        print_json(&list.sessions)?;
        return Ok(Outcome::Success);
    }
    let mut t = table(
        &[
            "Session",
            "Date",
            "Files",
            "Size",
            "Backed up",
            "Storage class",
        ],
        &[2, 3],
    );
    for r in &list.sessions {
        let backed_up = match (r.backed_up, r.verified) {
            (true, true) => "yes, verified".to_owned(),
            (true, false) => "yes".to_owned(),
            (false, _) if r.missing_files > 0 => format!("no ({} missing)", r.missing_files),
            (false, _) => "no".to_owned(),
        };
        t.add_row(vec![
            r.session_id.to_string(),
            r.date.clone(),
            count(r.file_count),
            human_bytes(r.size_bytes),
            backed_up,
            r.storage_class.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if !list.sessions.is_empty() {
        println!("{}", t.trim_fmt());
    }
    let backed = list.sessions.iter().filter(|r| r.backed_up).count() as u64;
    println!(
        "{} session(s), {} backed up, {} not",
        count(list.sessions.len() as u64),
        count(backed),
        count(list.sessions.len() as u64 - backed)
    );
    Ok(Outcome::Success)
}
