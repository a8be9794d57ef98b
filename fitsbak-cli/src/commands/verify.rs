//! `fitsbak verify`: quick, deep and local checks of recorded archives.

use fitsbak_core::engine::list_sessions::SessionFilter;
use fitsbak_core::tracker::CheckMethod;
use fitsbak_core::tracker::CheckOutcome;

use crate::Outcome;
use crate::commands::ArchiveChoice;
use crate::context::Context;
use crate::output::print_json;

/// Check recorded archives: quick (HEAD, tags, manifest) by default.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  fitsbak verify --all                 # quick: HEAD, tags, manifest\n  fitsbak verify --year 2024 --deep    # read and re-hash every member\n  fitsbak verify --due                 # what a schedule runs: checks due, deep ones within the budget"
)]
pub struct Args {
    #[command(flatten)]
    which: ArchiveChoice,
    /// The checks that are due, for a schedule: quick checks of archives not
    /// checked for verification.quick_every_days, and deep checks of the longest
    /// unchecked few within verification.monthly_egress_budget_usd (it never asks
    /// for a restore).
    #[arg(long, group = "which", conflicts_with_all = ["deep", "local", "repair"])]
    due: bool,
    /// Read each archive and re-hash every member against its manifest (objects in
    /// GLACIER or DEEP_ARCHIVE must be restored first).
    #[arg(long)]
    deep: bool,
    /// Re-hash the source files on disk against the manifest.
    #[arg(long)]
    local: bool,
    /// Write a missing or wrong manifest again from the tracking rows (when the
    /// archive itself is good), then check again.
    #[arg(long)]
    repair: bool,
    /// Say what would be checked (archives, bytes a deep check reads, listings)
    /// from the tracking rows, and send no request.
    #[arg(long, conflicts_with_all = ["due", "repair"])]
    dry_run: bool,
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    if args.due {
        return due(ctx).await;
    }
    let which = &args.which;
    let filter = SessionFilter {
        target_bucket: Some(ctx.config.target_bucket()),
        year: which.year(),
        not_backed_up: false,
        session_id: which.session()?,
    };
    let mut methods = Vec::new();
    if args.deep {
        methods.push(CheckMethod::Deep);
    }
    if args.local {
        methods.push(CheckMethod::Local);
    }
    if methods.is_empty() {
        methods.push(CheckMethod::Quick);
    }
    let engine = ctx.engine_for_reports().await?;
    if args.dry_run {
        let plan = engine.plan_verify(&filter, &methods).await?;
        if ctx.global.json {
            print_json(&plan)?;
        } else {
            crate::views::verify::print_plan(&plan);
        }
        return Ok(Outcome::Success);
    }
    let reports = engine.verify(&filter, &methods, args.repair).await?;
    let failed = reports
        .iter()
        .filter(|r| matches!(r.outcome, CheckOutcome::Failed(_)))
        .count();
    let restore = reports
        .iter()
        .filter(|r| matches!(r.outcome, CheckOutcome::NeedsRestore(_)))
        .count();
    if ctx.global.json {
        let rows: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).expect("reports serialise");
                v["reasons"] = serde_json::json!(r.reasons());
                v
            })
            .collect();
        print_json(&rows)?;
    } else {
        crate::views::verify::print(&reports, failed, restore);
    }
    Ok(if failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}

/// `verify --due`.
async fn due(ctx: &Context) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_for_reports().await?;
    let report = engine.verify_due().await?;
    let failed = report
        .checks
        .iter()
        .filter(|r| matches!(r.outcome, CheckOutcome::Failed(_)))
        .count();
    if ctx.global.json {
        print_json(&report)?;
    } else {
        crate::views::verify::print_due(&report, failed);
    }
    let failures = report
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, CheckOutcome::Failed(_)))
        .map(|c| {
            format!(
                "session {} ({}): {}",
                c.session_id,
                c.method.name(),
                c.reasons().join("; ")
            )
        })
        .collect();
    let summary = format!(
        "{} check(s), {failed} failed; deep-check egress this month {} of {}",
        report.checks.len(),
        crate::output::usd(report.egress_after_usd),
        crate::output::usd(report.egress_budget_usd)
    );
    crate::notify::send(
        ctx,
        &crate::notify::RunReport::new(ctx, "verify --due", summary, failures),
    )
    .await;
    Ok(if failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}
