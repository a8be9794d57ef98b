//! `fitsbak upload`: the main job.

use fitsbak_core::engine::upload::UploadOptions;
use fitsbak_core::ids::SessionId;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

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
    /// Only sessions that are not backed up (what `upload` does anyway; the
    /// opposite of --no-skip-existing).
    #[arg(long, conflicts_with = "no_skip_existing")]
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
    // Into archive_settings.temp_dir, else a directory of the system's own.
    let keep_copy = args
        .no_cleanup
        .then(|| match &ctx.config.archive_settings.temp_dir {
            Some(_) => ctx.config.temp_dir(),
            None => ctx.config.temp_dir().join("fitsbak-archives"),
        });
    let options = UploadOptions {
        session_id: args.session_id.as_deref().map(SessionId::new).transpose()?,
        year: args.year,
        limit: args.limit,
        no_skip_existing: args.no_skip_existing,
        keep_copy: keep_copy.clone(),
        allow_missing: args.allow_missing,
        dry_run: args.dry_run,
    };
    let engine = ctx.engine(args.bandwidth).await?;
    let watcher = crate::context::stop_on_ctrl_c(engine.cancel.clone());
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
        crate::views::upload::print_plan(&summary, bandwidth);
    } else {
        use crate::views::upload::Detail;
        let detail = match (ctx.global.quiet, ctx.global.verbose) {
            (true, _) => Detail::Quiet,
            (false, 0) => Detail::Normal,
            (false, _) => Detail::Verbose,
        };
        crate::views::upload::print_summary(&summary, keep_copy.as_deref(), detail);
    }
    if !args.dry_run {
        send_report(ctx, &engine, &summary).await;
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

/// Mails or posts the run report of an upload (`notifications`), with what the
/// status says needs a look after it. The web page's uploads send it too.
pub(crate) async fn send_report(
    ctx: &Context,
    engine: &fitsbak_core::engine::Engine,
    summary: &fitsbak_core::engine::upload::UploadSummary,
) {
    let mut report = crate::notify::RunReport::new(
        ctx,
        "upload",
        crate::views::upload::totals(summary),
        crate::views::upload::failures(summary),
    );
    let status = fitsbak_core::engine::status::status(
        engine.catalog.as_ref(),
        engine.tracker.as_ref(),
        &ctx.config,
    )
    .await;
    if let Ok(status) = status {
        report = report.with_status(&status);
    }
    crate::notify::send(ctx, &report).await;
}
