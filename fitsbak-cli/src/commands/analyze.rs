//! `fitsbak analyze`: the original `analyze_session_sizes` report.

use fitsbak_core::engine::analyze;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Bandwidth assumed when neither `--bandwidth` nor the config sets one (Mbit/s).
const DEFAULT_BANDWIDTH_MBPS: f64 = 20.0;

/// Per year: sessions, files, size on disk, upload time estimates.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Uplink bandwidth for the estimates, in megabits per second (default: the
    /// config's max_bandwidth_mbps, else 20).
    #[arg(long, value_name = "MBPS")]
    bandwidth: Option<f64>,
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    let bandwidth = args
        .bandwidth
        .or(ctx.config.upload_settings.max_bandwidth_mbps)
        .unwrap_or(DEFAULT_BANDWIDTH_MBPS);
    anyhow::ensure!(
        bandwidth.is_finite() && bandwidth > 0.0,
        "--bandwidth must be a positive number of megabits per second, not {bandwidth}"
    );
    let db = ctx.open_database()?;
    // JSON lists every missing file; the table shows the first few.
    let listed = if ctx.global.json {
        usize::MAX
    } else {
        crate::views::analyze::MISSING_SHOWN
    };
    let r = analyze::analyze(&db, bandwidth, listed).await?;
    ctx.warn_rejected(&r.rejected);
    if ctx.global.json {
        print_json(&r)?;
        return Ok(Outcome::Success);
    }
    crate::views::analyze::print(&r);
    Ok(Outcome::Success)
}
