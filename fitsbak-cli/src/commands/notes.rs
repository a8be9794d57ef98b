//! `fitsbak notes upload | status`.

use fitsbak_core::ids::SessionId;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Session notes: `{notes_dir}/Imaging_Sessions/{year}/{session_id}.md`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Upload the notes that are new or changed since their last upload (by MD5).
    Upload(UploadArgs),
    /// Each session's note: new, changed, up to date, or none.
    Status(Which),
}

/// Which sessions.
#[derive(Debug, Clone, clap::Args)]
pub struct Which {
    /// Only this session.
    #[arg(long)]
    session_id: Option<String>,
    /// Only sessions of this year.
    #[arg(long)]
    year: Option<i32>,
}

/// Arguments of `notes upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    #[command(flatten)]
    which: Which,
    /// Upload every note, changed or not.
    #[arg(long)]
    force: bool,
    /// Say what would be uploaded; send nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn exec(ctx: &Context, command: &Command) -> anyhow::Result<Outcome> {
    let engine = ctx.engine(None).await?;
    let which = match command {
        Command::Status(which) | Command::Upload(UploadArgs { which, .. }) => which,
    };
    let session = which
        .session_id
        .as_deref()
        .map(SessionId::new)
        .transpose()?;
    let sessions = engine
        .catalog_sessions(session.as_ref(), which.year)
        .await?;
    match command {
        Command::Status(_) => {
            let statuses = engine.notes_status(&sessions).await?;
            if ctx.global.json {
                print_json(&statuses)?;
            } else {
                crate::views::notes::print_status(&statuses, &engine.notes_dir()?);
            }
            Ok(Outcome::Success)
        }
        Command::Upload(args) => {
            let summary = engine
                .upload_notes(&sessions, args.force, args.dry_run)
                .await?;
            if ctx.global.json {
                print_json(&summary)?;
            } else {
                crate::views::notes::print_upload(&summary, args.dry_run);
            }
            Ok(if summary.failed() > 0 {
                Outcome::Failures
            } else {
                Outcome::Success
            })
        }
    }
}
