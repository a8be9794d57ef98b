//! `fitsbak notes upload | status`.

use fitsbak_core::engine::Engine;
use fitsbak_core::engine::notes::{NoteAction, NoteState};
use fitsbak_core::ids::SessionId;
use fitsbak_core::model::Session;

use crate::Outcome;
use crate::context::Context;
use crate::output::{human_bytes, print_json, table};

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

async fn sessions(engine: &Engine, which: &Which) -> anyhow::Result<Vec<Session>> {
    let wanted = which
        .session_id
        .as_deref()
        .map(SessionId::new)
        .transpose()?;
    let sessions: Vec<Session> = engine
        .catalog
        .sessions()
        .await?
        .sessions
        .into_iter()
        .filter(|s| wanted.as_ref().is_none_or(|w| s.id == *w))
        .filter(|s| which.year.is_none_or(|y| s.year() == y))
        .collect();
    if let Some(id) = &wanted
        && sessions.is_empty()
    {
        anyhow::bail!(
            "session {id} is not in the catalog ({})",
            engine.catalog.describe()
        );
    }
    Ok(sessions)
}

pub async fn exec(ctx: &Context, command: &Command) -> anyhow::Result<Outcome> {
    let engine = ctx.engine(None).await?;
    match command {
        Command::Status(which) => {
            let statuses = engine
                .notes_status(&sessions(&engine, which).await?)
                .await?;
            if ctx.global.json {
                print_json(&statuses)?;
                return Ok(Outcome::Success);
            }
            let mut t = table(&["Session", "Note", "Size", "Uploaded", "Key"], &[2]);
            for s in &statuses {
                t.add_row(vec![
                    s.session_id.to_string(),
                    s.state.as_str().to_owned(),
                    if s.state == NoteState::NoNote {
                        String::new()
                    } else {
                        human_bytes(s.size_bytes)
                    },
                    s.uploaded_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default(),
                    s.key.clone(),
                ]);
            }
            println!("{}", t.trim_fmt());
            let n = |state| statuses.iter().filter(|s| s.state == state).count();
            println!(
                "{} new, {} changed, {} up to date, {} without notes (notes in {})",
                n(NoteState::New),
                n(NoteState::Changed),
                n(NoteState::UpToDate),
                n(NoteState::NoNote),
                engine.notes_dir()?.display()
            );
            Ok(Outcome::Success)
        }
        Command::Upload(args) => {
            let sessions = sessions(&engine, &args.which).await?;
            let summary = engine
                .upload_notes(&sessions, args.force, args.dry_run)
                .await?;
            if ctx.global.json {
                print_json(&summary)?;
            } else {
                let mut t = table(&["Session", "Result", "Size", "Key"], &[2]);
                for n in &summary.notes {
                    let result = match &n.action {
                        NoteAction::Uploaded => "uploaded".to_owned(),
                        NoteAction::WouldUpload => "would upload".to_owned(),
                        NoteAction::Unchanged => "unchanged".to_owned(),
                        NoteAction::NoNote => continue,
                        NoteAction::Failed(why) => format!("FAILED: {why}"),
                    };
                    t.add_row(vec![
                        n.session_id.to_string(),
                        result,
                        human_bytes(n.size_bytes),
                        n.key.clone(),
                    ]);
                }
                if !t.is_empty() {
                    println!("{}", t.trim_fmt());
                }
                println!(
                    "Notes: {}{}",
                    summary.line(),
                    if args.dry_run {
                        ". Dry run: nothing was sent."
                    } else {
                        ""
                    }
                );
            }
            Ok(if summary.failed() > 0 {
                Outcome::Failures
            } else {
                Outcome::Success
            })
        }
    }
}
