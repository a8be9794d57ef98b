//! `fitsbak analyze`: the original `analyze_session_sizes` report.

use fitsbak_core::engine::report;

use crate::Outcome;
use crate::context::Context;
use crate::output::{count, human_bytes, human_duration, print_json, table};

/// Bandwidth assumed when neither `--bandwidth` nor the config sets one (Mbit/s).
const DEFAULT_BANDWIDTH_MBPS: f64 = 20.0;

/// Missing files listed in the human report before it points to `--json`.
const MISSING_SHOWN: usize = 20;

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
        MISSING_SHOWN
    };
    let r = report::analyze(&db, bandwidth, listed).await?;
    ctx.warn_rejected(&r.rejected);
    if ctx.global.json {
        print_json(&r)?;
        return Ok(Outcome::Success);
    }
    let mut t = table(
        &[
            "Year",
            "Sessions",
            "Files",
            "Size",
            "Avg session",
            "Largest session",
            "Upload time",
            "Missing",
        ],
        &[1, 2, 3, 4, 6, 7],
    );
    for y in &r.years {
        t.add_row(vec![
            y.year.to_string(),
            count(y.sessions),
            count(y.files),
            human_bytes(y.total_bytes),
            human_bytes(y.average_session_bytes),
            y.largest_session
                .as_ref()
                .map(|(id, b)| format!("{id} ({})", human_bytes(*b)))
                .unwrap_or_default(),
            human_duration(y.upload_seconds),
            count(y.missing_files),
        ]);
    }
    t.add_row(vec![
        "Total".to_owned(),
        count(r.total.sessions),
        count(r.total.files),
        human_bytes(r.total.total_bytes),
        human_bytes(r.total.total_bytes / r.total.sessions.max(1)),
        String::new(),
        human_duration(r.total.upload_seconds),
        count(r.total.missing_files),
    ]);
    println!("{}", t.trim_fmt());
    println!("Upload times assume {bandwidth} Mbit/s.");
    if r.total.missing_files > 0 {
        println!();
        println!("Files listed in the catalog but not found on disk:");
        let missing: Vec<_> = r.years.iter().flat_map(|y| &y.missing).collect();
        for path in missing.iter().take(MISSING_SHOWN) {
            println!("  {}", path.display());
        }
        let unlisted = r.total.missing_files.saturating_sub(MISSING_SHOWN as u64);
        if unlisted > 0 {
            println!("  ... and {unlisted} more (`fitsbak analyze --json` lists them all)");
        }
    }
    Ok(Outcome::Success)
}
