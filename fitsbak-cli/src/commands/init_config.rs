//! `fitsbak init-config`.

use fitsbak_core::config::Config;

use crate::{GlobalArgs, Outcome};

/// Write a commented s3_config.json.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

pub fn exec(global: &GlobalArgs, args: &Args) -> anyhow::Result<Outcome> {
    Config::write_template(&global.config, args.force)?;
    if !global.quiet {
        println!(
            "Wrote {}. It uses the local target (no AWS account needed); set \
             \"target\": \"s3\" and buckets.primary to back up to S3.",
            global.config.display()
        );
    }
    Ok(Outcome::Success)
}
