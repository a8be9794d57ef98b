//! `fitsbak backup-db`, `list-db-backups`, `restore-db`: snapshots of the catalog
//! database in the bucket.

use std::path::PathBuf;

use anyhow::Context as _;
use fitsbak_core::engine::database::SnapshotSelector;
use fitsbak_core::store::RestoreTier;

use crate::Outcome;
use crate::context::Context;
use crate::output::{human_bytes, print_json, table};

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
    let dir = ctx
        .config
        .archive_settings
        .temp_dir
        .as_ref()
        .map(|d| ctx.config.resolve(d))
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // A directory of its own, removed whatever happens.
    let scratch = tempfile::Builder::new()
        .prefix("fitsbak-snapshot-")
        .tempdir_in(&dir)
        .with_context(|| format!("creating a snapshot directory in {}", dir.display()))?;
    let path = scratch.path().join("snapshot.db");
    let info = fitsbak_store::snapshot::snapshot(&source, &path)
        .context("the snapshot of the catalog failed")?;
    let uploaded = engine
        .upload_db_snapshot(&path, &source, args.description.clone())
        .await;
    drop(scratch);
    let record = uploaded?;
    if ctx.global.json {
        print_json(&record)?;
    } else {
        println!(
            "Snapshot of {} ({}, {} pages, integrity ok) uploaded to {}/{}{}",
            source.display(),
            human_bytes(info.size_bytes),
            info.pages,
            engine.target(),
            record.key,
            record
                .version_id
                .as_ref()
                .map(|v| format!(" as version {v}"))
                .unwrap_or_default()
        );
    }
    Ok(Outcome::Success)
}

pub async fn list(ctx: &Context, _args: &ListArgs) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_from_bucket().await?;
    let snapshots = engine.list_db_snapshots().await?;
    if ctx.global.json {
        print_json(&snapshots)?;
        return Ok(Outcome::Success);
    }
    if snapshots.is_empty() {
        println!(
            "No catalog snapshots in {} under {}/ (`fitsbak backup-db` takes one)",
            engine.target(),
            ctx.config.s3_paths.database_backups.trim_matches('/')
        );
        return Ok(Outcome::Success);
    }
    let mut t = table(
        &[
            "Key",
            "Version",
            "Size",
            "Taken",
            "Storage class",
            "Description",
        ],
        &[2],
    );
    for s in &snapshots {
        t.add_row(vec![
            s.key.clone(),
            match &s.version_id {
                Some(v) if s.is_latest => format!("{v} (latest)"),
                Some(v) => v.clone(),
                None => "-".into(),
            },
            human_bytes(s.size_bytes),
            s.last_modified
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            s.storage_class.to_string(),
            s.description.clone().unwrap_or_default(),
        ]);
    }
    println!("{}", t.trim_fmt());
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
        println!(
            "Restore of {}{} requested ({} tier, readable for {} days once done); \
             run `fitsbak restore-db` with --output when it is available",
            snapshot.key,
            snapshot
                .version_id
                .as_ref()
                .map(|v| format!(" version {v}"))
                .unwrap_or_default(),
            args.tier,
            args.days
        );
        return Ok(Outcome::Success);
    }
    let output = args
        .output
        .clone()
        .context("--output is required: where to write the restored database")?;
    let check = |path: &std::path::Path| -> fitsbak_core::Result<()> {
        fitsbak_store::snapshot::integrity_check(path)
            .map_err(|e| fitsbak_core::Error::Refused(e.to_string()))
    };
    let restored = engine
        .restore_db_snapshot(&selector, &output, args.overwrite, &check)
        .await?;
    if ctx.global.json {
        print_json(&restored)?;
    } else {
        println!(
            "Restored {}{} to {} ({}, MD5 {}{}, PRAGMA integrity_check ok)",
            restored.key,
            restored
                .version_id
                .as_ref()
                .map(|v| format!(" version {v}"))
                .unwrap_or_default(),
            restored.path.display(),
            human_bytes(restored.size_bytes),
            restored.md5,
            if restored.md5_checked {
                " as uploaded"
            } else {
                ", not recorded at upload"
            }
        );
    }
    Ok(Outcome::Success)
}
