//! `fitsbak upload`: the main job.

use fitsbak_core::engine::report::transfer_seconds;
use fitsbak_core::engine::upload::{SessionOutcome, UploadOptions};
use fitsbak_core::ids::SessionId;

use crate::Outcome;
use crate::context::Context;
use crate::output::{count, human_bytes, human_duration, print_json, table};

/// Bandwidth assumed by `--dry-run` estimates when none is set (Mbit/s).
const DEFAULT_BANDWIDTH_MBPS: f64 = 20.0;

/// Back up sessions: each becomes one tar archive, streamed to the target.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only this session.
    #[arg(long, value_name = "ID")]
    session_id: Option<String>,
    /// Only sessions of this year.
    #[arg(long)]
    year: Option<i32>,
    /// At most N sessions that are not backed up yet.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Only sessions that are not backed up (what `upload` does anyway).
    #[arg(long)]
    not_backed_up: bool,
    /// Upload sessions that already have an archive again.
    #[arg(long)]
    no_skip_existing: bool,
    /// Keep a copy of each archive. Archives are streamed, so there is no local
    /// tar to keep; this also writes one into archive_settings.temp_dir (the
    /// system's temporary directory when unset).
    #[arg(long)]
    no_cleanup: bool,
    /// Leave files missing on disk out of their archive (recorded in the manifest
    /// and the archive row's notes) instead of failing the session.
    #[arg(long)]
    allow_missing: bool,
    /// Show the plan (sessions, bytes, time estimate) and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Limit the upload rate, in megabits per second (overrides
    /// upload_settings.max_bandwidth_mbps).
    #[arg(long, value_name = "MBPS")]
    bandwidth: Option<f64>,
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    if let Some(rate) = args.bandwidth {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--bandwidth must be a positive number of megabits per second, not {rate}"
        );
    }
    let session_id = args.session_id.as_deref().map(SessionId::new).transpose()?;
    let keep_copy = args.no_cleanup.then(|| {
        ctx.config
            .archive_settings
            .temp_dir
            .as_ref()
            .map(|d| ctx.config.resolve(d))
            .unwrap_or_else(|| std::env::temp_dir().join("fitsbak-archives"))
    });
    let options = UploadOptions {
        session_id,
        year: args.year,
        limit: args.limit,
        no_skip_existing: args.no_skip_existing,
        keep_copy: keep_copy.clone(),
        allow_missing: args.allow_missing,
        dry_run: args.dry_run,
    };
    let engine = ctx.engine(args.bandwidth).await?;
    // The first Ctrl-C stops between parts (the upload stays resumable), the second
    // aborts it.
    let cancel = engine.cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nstopping after the parts in flight; the next `fitsbak upload` resumes \
                 (Ctrl-C again to abort the upload)"
            );
            cancel.stop.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("aborting the upload");
                cancel.abort.cancel();
            }
        }
    });
    let summary = engine.upload(&options).await;
    watcher.abort();
    let summary = summary?;
    if ctx.global.json {
        print_json(&summary)?;
    } else if args.dry_run {
        let bandwidth = args
            .bandwidth
            .or(ctx.config.upload_settings.max_bandwidth_mbps)
            .unwrap_or(DEFAULT_BANDWIDTH_MBPS);
        let mut t = table(
            &["Session", "Plan", "Files", "Archive size", "Upload time"],
            &[2, 3, 4],
        );
        let mut total = 0;
        for s in &summary.sessions {
            let row = match &s.outcome {
                SessionOutcome::Planned { bytes, files } => {
                    total += bytes;
                    vec![
                        s.session_id.clone(),
                        "upload".into(),
                        count(*files),
                        human_bytes(*bytes),
                        human_duration(transfer_seconds(*bytes, bandwidth)),
                    ]
                }
                SessionOutcome::Skipped { reason } => vec![
                    s.session_id.clone(),
                    format!("skip: {reason}"),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
                SessionOutcome::Failed { error } => vec![
                    s.session_id.clone(),
                    format!("FAIL: {error}"),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
                _ => continue,
            };
            t.add_row(row);
        }
        println!("{}", t.trim_fmt());
        let planned = summary.count(|o| matches!(o, SessionOutcome::Planned { .. }));
        println!(
            "Dry run: {planned} session(s) to upload, {}, about {} at {bandwidth} Mbit/s. Nothing was sent.",
            human_bytes(total),
            human_duration(transfer_seconds(total, bandwidth))
        );
        print_notes(&summary);
    } else {
        let mut t = table(&["Session", "Result", "Size", "Time", "Details"], &[2, 3]);
        for s in &summary.sessions {
            let row = match &s.outcome {
                SessionOutcome::Uploaded {
                    bytes,
                    seconds,
                    parts,
                    left_out,
                    verified,
                    resumed_parts,
                } => vec![
                    s.session_id.clone(),
                    "uploaded".into(),
                    human_bytes(*bytes),
                    human_duration(*seconds),
                    [
                        Some(format!("{parts} part(s)")),
                        (*resumed_parts > 0)
                            .then(|| format!("resumed: {resumed_parts} part(s) already sent")),
                        (*left_out > 0).then(|| format!("{left_out} missing file(s) left out")),
                        match verified {
                            Some(true) => Some("verified".to_owned()),
                            Some(false) => Some("CHECK FAILED, see `fitsbak verify`".to_owned()),
                            None => None,
                        },
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
                ],
                SessionOutcome::Adopted { bytes } => vec![
                    s.session_id.clone(),
                    "adopted".into(),
                    human_bytes(*bytes),
                    String::new(),
                    "already in the bucket with a matching manifest".into(),
                ],
                SessionOutcome::Skipped { reason } => vec![
                    s.session_id.clone(),
                    "skipped".into(),
                    String::new(),
                    String::new(),
                    reason.clone(),
                ],
                SessionOutcome::Failed { error } => vec![
                    s.session_id.clone(),
                    "FAILED".into(),
                    String::new(),
                    String::new(),
                    error.clone(),
                ],
                SessionOutcome::Interrupted { reason } => vec![
                    s.session_id.clone(),
                    "STOPPED".into(),
                    String::new(),
                    String::new(),
                    reason.clone(),
                ],
                SessionOutcome::Planned { .. } => continue,
            };
            t.add_row(row);
        }
        if !summary.sessions.is_empty() {
            println!("{}", t.trim_fmt());
        }
        let uploaded = summary.count(|o| matches!(o, SessionOutcome::Uploaded { .. }));
        println!(
            "{uploaded} uploaded, {} adopted, {} skipped, {} failed; {} sent in {} ({}/s){}",
            summary.count(|o| matches!(o, SessionOutcome::Adopted { .. })),
            summary.count(|o| matches!(o, SessionOutcome::Skipped { .. })),
            summary.failed(),
            human_bytes(summary.bytes_uploaded),
            human_duration(summary.seconds),
            human_bytes((summary.bytes_uploaded as f64 / summary.seconds.max(0.001)) as u64),
            if summary.retries > 0 {
                format!(", {} retries", summary.retries)
            } else {
                String::new()
            }
        );
        if let Some(dir) = keep_copy {
            println!("Copies of the archives are in {}", dir.display());
        }
        print_notes(&summary);
    }
    let notes_failed = summary.notes.as_ref().is_some_and(|n| n.failed() > 0);
    Ok(if summary.interrupted() {
        Outcome::Interrupted
    } else if summary.failed() > 0 || notes_failed {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}

/// The notes line of an upload run, and each note that failed.
fn print_notes(summary: &fitsbak_core::engine::upload::UploadSummary) {
    if let Some(why) = &summary.notes_error {
        eprintln!("warning: session notes not backed up: {why}");
    }
    if let Some(notes) = &summary.notes {
        println!("Notes: {}", notes.line());
        for n in &notes.notes {
            if let fitsbak_core::engine::notes::NoteAction::Failed(why) = &n.action {
                eprintln!("error: notes of {}: {why}", n.session_id);
            }
        }
    }
}
