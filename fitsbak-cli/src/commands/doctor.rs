//! `fitsbak doctor`: one line per check of the bucket's health.

use fitsbak_core::engine::doctor::{DoctorOptions, Health};

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Check the target's health: credentials, bucket, versioning, lifecycle rules
/// against the tags fitsbak writes, stale uploads, public access, encryption.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Incomplete multipart uploads older than this many days are stale.
    #[arg(long, default_value_t = 7, value_name = "DAYS")]
    stale_days: u32,
    /// Abort the stale incomplete multipart uploads.
    #[arg(long)]
    abort_stale: bool,
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_for_reports().await?;
    let checks = engine
        .doctor(DoctorOptions {
            stale_days: args.stale_days,
            abort_stale: args.abort_stale,
        })
        .await?;
    if ctx.global.json {
        print_json(&checks)?;
    } else {
        for c in &checks {
            let status = match c.status {
                Health::Ok => "ok",
                Health::Warn => "warn",
                Health::Fail => "FAIL",
            };
            println!("{status:<5} {:<19} {}", c.check, c.message);
            if let Some(fix) = &c.fix {
                println!("{:<25} fix: {fix}", "");
            }
        }
    }
    Ok(if checks.iter().any(|c| c.status == Health::Fail) {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}
