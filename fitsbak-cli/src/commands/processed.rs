//! `fitsbak processed upload | status | verify | restore`: the files of processing
//! sessions (intermediate and final outputs, their `.data` folders) and their
//! notes.

use std::path::PathBuf;

use fitsbak_core::engine::processed::ProcessedOptions;
use fitsbak_core::ids::SessionId;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Processing sessions: their files and notes.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Upload the processed files that are new or changed (by size, mtime, MD5), and
    /// the processing notes.
    Upload(UploadArgs),
    /// Each processing session: files, bytes, backed up, verified.
    Status,
    /// Check the uploaded files: there with the size and ETag recorded; --deep reads
    /// each and compares its MD5.
    Verify(VerifyArgs),
    /// Download a processing session's files (or some) below DIR/{subfolder}/.
    Restore(RestoreArgs),
}

/// Arguments of `processed upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// Only this processing session.
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    processing_session: Option<String>,
    /// Every processing session (the default).
    #[arg(long)]
    all: bool,
    /// Only this subfolder (final, intermediate). Repeatable.
    #[arg(long, value_name = "S")]
    subfolder: Vec<String>,
    /// Only this file type (xisf, jpg, xosm, pxiproject). Repeatable.
    #[arg(long, value_name = "T")]
    file_type: Vec<String>,
    /// Only processing sessions not wholly backed up.
    #[arg(long)]
    incomplete: bool,
    /// Upload again even when unchanged.
    #[arg(long)]
    force: bool,
    /// Say what would be uploaded; send nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Arguments of `processed verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Only this processing session.
    #[arg(long, value_name = "ID")]
    processing_session: Option<String>,
    /// Read every object and compare its MD5.
    #[arg(long)]
    deep: bool,
}

/// Arguments of `processed restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The processing session.
    #[arg(long, value_name = "ID")]
    processing_session: String,
    /// Where the files go (below DIR/{subfolder}/).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Only this file (its name). Repeatable.
    #[arg(long, value_name = "NAME")]
    file: Vec<String>,
    /// Replace existing files that differ.
    #[arg(long)]
    overwrite: bool,
}

fn session(raw: Option<&str>) -> anyhow::Result<Option<SessionId>> {
    Ok(raw.map(SessionId::new).transpose()?)
}

pub async fn exec(ctx: &Context, command: &Command) -> anyhow::Result<Outcome> {
    let engine = ctx.engine(None).await?;
    match command {
        Command::Upload(args) => {
            let options = ProcessedOptions {
                session: session(args.processing_session.as_deref())?,
                subfolders: args.subfolder.clone(),
                file_types: args.file_type.clone(),
                incomplete: args.incomplete,
                force: args.force,
                dry_run: args.dry_run,
            };
            // Ctrl-C or SIGTERM: stop between parts, keep them for the next run.
            let watcher = crate::context::stop_on_ctrl_c(engine.cancel.clone());
            let summary = engine.upload_processed(&options).await;
            watcher.abort();
            let summary = summary?;
            if ctx.global.json {
                print_json(&summary)?;
            } else {
                crate::views::processed::print_upload(&summary, args.dry_run);
            }
            Ok(if summary.interrupted {
                Outcome::Interrupted
            } else if summary.failed() > 0 {
                Outcome::Failures
            } else {
                Outcome::Success
            })
        }
        Command::Status => {
            let status = engine.processed_status().await?;
            if ctx.global.json {
                print_json(&status)?;
            } else {
                crate::views::processed::print_status(&status);
            }
            Ok(Outcome::Success)
        }
        Command::Verify(args) => {
            let id = session(args.processing_session.as_deref())?;
            let checks = engine.verify_processed(id.as_ref(), args.deep).await?;
            if ctx.global.json {
                print_json(&checks)?;
            } else {
                crate::views::processed::print_checks(&checks);
            }
            Ok(if checks.iter().any(|c| c.outcome == "failed") {
                Outcome::Failures
            } else {
                Outcome::Success
            })
        }
        Command::Restore(args) => {
            let id = SessionId::new(args.processing_session.clone())?;
            let files = engine
                .restore_processed(&id, &args.to, &args.file, args.overwrite)
                .await?;
            if ctx.global.json {
                print_json(&files)?;
            } else {
                crate::views::processed::print_restored(&files);
            }
            Ok(Outcome::Success)
        }
    }
}
