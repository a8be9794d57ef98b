//! `fitsbak estimate-costs`.

use fitsbak_core::engine::costs::estimate_from;
use fitsbak_core::model::StorageClass;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Arguments of `estimate-costs`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Also show what everything would cost kept in this class (STANDARD,
    /// STANDARD_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE).
    #[arg(long, value_parser = parse_class)]
    storage_class: Option<StorageClass>,
}

fn parse_class(s: &str) -> Result<StorageClass, String> {
    let class = StorageClass::parse(s);
    if class.is_known() {
        Ok(class)
    } else {
        Err(format!(
            "{s} is not a storage class: STANDARD, STANDARD_IA, GLACIER_IR, GLACIER or DEEP_ARCHIVE"
        ))
    }
}

pub async fn exec(ctx: &Context, args: &Args) -> anyhow::Result<Outcome> {
    let db = ctx.open_tracking()?;
    let e = estimate_from(&ctx.config, &db, args.storage_class.clone()).await?;
    if ctx.global.json {
        print_json(&e)?;
        return Ok(Outcome::Success);
    }
    crate::views::costs::print(&e, &ctx.config_path);
    Ok(Outcome::Success)
}
