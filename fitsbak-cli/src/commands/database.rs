//! `fitsbak backup-db`, `list-db-backups`, `restore-db`: snapshots of the catalog
//! database in the bucket.

use std::path::PathBuf;

use fitsbak_core::engine::database::SnapshotSelector;
use fitsbak_core::store::RestoreTier;

use crate::Outcome;
use crate::context::Context;
use crate::output::print_json;

/// Arguments of `backup-db`.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    /// A note kept with the snapshot ("before the 2025 reprocessing").
    #[arg(long)]
    description: Option<String>,
}

/// Arguments of `list-db-backups`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {}

/// Arguments of `restore-db`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The version to restore (from `list-db-backups`); the newest when neither
    /// this nor --key is given.
    #[arg(long)]
    version_id: Option<String>,
    /// The snapshot's key or file name (buckets without versioning keep one key per
    /// snapshot); with --version-id, that version of it.
    #[arg(long)]
    key: Option<String>,
    /// Where to write the restored database.
    #[arg(long, required_unless_present = "request_restore")]
    output: Option<PathBuf>,
    /// Replace an existing file at --output.
    #[arg(long)]
    overwrite: bool,
    /// The snapshot is in GLACIER or DEEP_ARCHIVE: ask for a readable copy first.
    #[arg(long)]
    request_restore: bool,
    /// Retrieval tier of --request-restore: Bulk, Standard or Expedited.
    #[arg(long, default_value = "Standard", value_parser = parse_tier)]
    tier: RestoreTier,
    /// Days the readable copy of --request-restore stays.
    #[arg(long, default_value_t = 7)]
    days: u32,
}

fn parse_tier(s: &str) -> Result<RestoreTier, String> {
    RestoreTier::parse(s).ok_or_else(|| format!("{s}: the tiers are Bulk, Standard and Expedited"))
}

pub async fn backup(ctx: &Context, args: &BackupArgs) -> anyhow::Result<Outcome> {
    let source = ctx.database_path();
    let engine = ctx.engine(None).await?;
    let (record, info) = engine.backup_db(&source, args.description.clone()).await?;
    if ctx.global.json {
        print_json(&record)?;
    } else {
        crate::views::database::print_backup(&record, &info, &source, &engine.target());
    }
    Ok(Outcome::Success)
}

pub async fn list(ctx: &Context, _args: &ListArgs) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_from_bucket().await?;
    let snapshots = engine.list_db_snapshots().await?;
    if ctx.global.json {
        print_json(&snapshots)?;
    } else {
        let prefix = ctx.config.s3_paths.database_backups.trim_matches('/');
        crate::views::database::print_list(&snapshots, &engine.target(), prefix);
    }
    Ok(Outcome::Success)
}

pub async fn restore(ctx: &Context, args: &RestoreArgs) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_from_bucket().await?;
    let selector = SnapshotSelector {
        key: args.key.clone(),
        version_id: args.version_id.clone(),
    };
    if args.request_restore {
        let snapshot = engine
            .request_db_snapshot_restore(&selector, args.days, args.tier)
            .await?;
        crate::views::database::print_requested(&snapshot, args.tier, args.days);
        return Ok(Outcome::Success);
    }
    let output = args.output.clone().ok_or_else(|| {
        anyhow::anyhow!("--output is required: where to write the restored database")
    })?;
    let restored = engine
        .restore_db_snapshot(&selector, &output, args.overwrite)
        .await?;
    if ctx.global.json {
        print_json(&restored)?;
    } else {
        crate::views::database::print_restored(&restored);
    }
    Ok(Outcome::Success)
}
