//! The commands. Each file holds one command's arguments and its `exec`: parse,
//! call the engine, print.

mod analyze;
mod costs;
mod database;
mod demo;
mod doctor;
mod init_config;
mod lifecycle;
mod list_sessions;
mod migrate;
mod notes;
mod processed;
mod restore;
mod schedule;
mod serve;
mod status;
mod sync_db;
pub(crate) mod upload;
mod verify;

use clap::Subcommand;

use crate::context::Context;
use crate::{Outcome, S3Args};

/// Every fitsbak command.
#[derive(Debug, Clone, Subcommand)]
pub enum S3Command {
    /// Write a commented s3_config.json (local target, so you can try fitsbak at once).
    #[command(
        after_help = "Examples:\n  fitsbak init-config                 # s3_config.json here, local target\n  fitsbak --config ~/astro/s3_config.json init-config --force"
    )]
    InitConfig(init_config::Args),
    /// How much of the catalog is backed up, and where.
    #[command(
        after_help = "Examples:\n  fitsbak status\n  fitsbak status --json | jq .percent_backed_up"
    )]
    Status(status::Args),
    /// One line per imaging session: files, size, backed up or not.
    #[command(
        after_help = "Examples:\n  fitsbak list-sessions --not-backed-up\n  fitsbak list-sessions --year 2024 | head"
    )]
    ListSessions(list_sessions::Args),
    /// Per year: sessions, files, size on disk and upload time estimates.
    #[command(
        after_help = "Examples:\n  fitsbak analyze\n  fitsbak analyze --bandwidth 20   # upload times at 20 Mbit/s"
    )]
    Analyze(analyze::Args),
    /// Back up sessions: each becomes one tar archive, streamed to the target.
    #[command(
        after_help = "Examples:\n  fitsbak upload --dry-run            # what would go, and how long\n  fitsbak upload --year 2024 --bandwidth 40\n  fitsbak -q --wait upload            # for cron: failures and a summary only"
    )]
    Upload(upload::Args),
    /// Check recorded archives: quick (HEAD, tags, manifest), --deep, --local.
    Verify(verify::Args),
    /// Bucket lifecycle rules derived from the config: generate, show, apply.
    #[command(
        after_help = "Examples:\n  fitsbak lifecycle generate > rules.json\n  fitsbak lifecycle apply"
    )]
    #[command(subcommand)]
    Lifecycle(lifecycle::Command),
    /// Check the bucket's health, one line per check with its fix.
    #[command(after_help = "Examples:\n  fitsbak doctor\n  fitsbak doctor --json")]
    Doctor(doctor::Args),
    /// Restore from Glacier and Deep Archive: request, status, download.
    #[command(
        after_help = "Examples:\n  fitsbak restore request --session-id 20240315_A7B3C2D1 --tier Bulk\n  fitsbak restore status\n  fitsbak restore download --session-id 20240315_A7B3C2D1 --to /data/restored"
    )]
    #[command(subcommand)]
    Restore(restore::Command),
    /// Rebuild the tracking tables from the bucket's manifests (after losing the database).
    #[command(
        after_help = "Examples:\n  fitsbak sync-db --dry-run\n  fitsbak sync-db                     # after losing the database"
    )]
    SyncDb(sync_db::Args),
    /// Adopt the cataloger's Python s3_backup (archives, notes, snapshots) without uploading again.
    Migrate(migrate::Args),
    /// Session notes (notes_dir): upload the new and changed ones, or show where each stands.
    #[command(after_help = "Examples:\n  fitsbak notes status\n  fitsbak notes upload --dry-run")]
    #[command(subcommand)]
    Notes(notes::Command),
    /// Processing sessions: their intermediate and final files, `.data` folders and notes.
    #[command(
        after_help = "Examples:\n  fitsbak processed upload --dry-run\n  fitsbak processed upload --processing-session 20250115_ABC123 --subfolder final\n  fitsbak processed verify --deep\n  fitsbak processed restore --processing-session 20250115_ABC123 --to /data/restored"
    )]
    #[command(subcommand)]
    Processed(processed::Command),
    /// Snapshot the catalog database (SQLite online backup) and upload it.
    #[command(
        after_help = "Examples:\n  fitsbak backup-db --description \"before the 2025 reprocessing\""
    )]
    BackupDb(database::BackupArgs),
    /// The catalog snapshots in the bucket: versions, or timestamped keys.
    #[command(after_help = "Examples:\n  fitsbak list-db-backups")]
    ListDbBackups(database::ListArgs),
    /// Download a catalog snapshot and check it with PRAGMA integrity_check.
    #[command(
        after_help = "Examples:\n  fitsbak restore-db --output /data/astro/fits_catalog.db\n  fitsbak restore-db --request-restore"
    )]
    RestoreDb(database::RestoreArgs),
    /// Run the backup on a schedule: a systemd timer or a crontab line (upload, then verify --due).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  fitsbak schedule print\n  fitsbak schedule install --cron --at 07:30"
    )]
    Schedule(schedule::Command),
    /// Storage cost per month and first year, with the lifecycle rules, and of restoring everything.
    #[command(after_help = "Examples:\n  fitsbak estimate-costs\n  fitsbak estimate-costs --json")]
    EstimateCosts(costs::Args),
    /// Serve the web page: dashboard, sessions, uploads, checks, restores, config.
    #[command(
        after_help = "Examples:\n  fitsbak serve                       # http://127.0.0.1:8083/\n  fitsbak serve --listen 0.0.0.0:8083 # other machines: prints a token"
    )]
    Serve(serve::Args),
    /// Generate a demo library (FITS files, catalog, config) to try fitsbak on.
    #[command(
        after_help = "Examples:\n  fitsbak demo init ./demo && fitsbak --config demo/s3_config.json upload"
    )]
    #[command(subcommand)]
    Demo(demo::Command),
}

/// Which recorded archives a command works on: all, one session's, or one year's.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "which", required = true, multiple = false)]
pub struct ArchiveChoice {
    /// Every recorded archive.
    #[arg(long)]
    all: bool,
    /// Only this session's archive.
    #[arg(long, value_name = "ID")]
    session_id: Option<String>,
    /// Only archives of this year.
    #[arg(long)]
    year: Option<i32>,
}

impl ArchiveChoice {
    /// The session chosen, checked.
    pub fn session(&self) -> anyhow::Result<Option<fitsbak_core::ids::SessionId>> {
        Ok(self
            .session_id
            .as_deref()
            .map(fitsbak_core::ids::SessionId::new)
            .transpose()?)
    }

    /// The year chosen.
    pub fn year(&self) -> Option<i32> {
        self.year
    }
}

/// Runs a command.
pub async fn exec(args: S3Args) -> anyhow::Result<Outcome> {
    let global = &args.global;
    match args.command {
        S3Command::InitConfig(a) => init_config::exec(global, &a),
        S3Command::Demo(c) => demo::exec(global, &c),
        S3Command::Status(a) => status::exec(&Context::load(global)?, &a).await,
        S3Command::ListSessions(a) => list_sessions::exec(&Context::load(global)?, &a).await,
        S3Command::Analyze(a) => analyze::exec(&Context::load(global)?, &a).await,
        S3Command::Upload(a) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("upload")?;
            upload::exec(&ctx, &a).await
        }
        S3Command::Verify(a) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("verify")?;
            verify::exec(&ctx, &a).await
        }
        S3Command::Lifecycle(c) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("lifecycle")?;
            lifecycle::exec(&ctx, &c).await
        }
        S3Command::Doctor(a) => doctor::exec(&Context::load(global)?, &a).await,
        S3Command::Restore(c) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("restore")?;
            restore::exec(&ctx, &c).await
        }
        S3Command::SyncDb(a) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("sync-db")?;
            sync_db::exec(&ctx, &a).await
        }
        S3Command::Migrate(a) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("migrate")?;
            migrate::exec(&ctx, &a).await
        }
        S3Command::Notes(c) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("notes")?;
            notes::exec(&ctx, &c).await
        }
        S3Command::Processed(c) => {
            let ctx = Context::load(global)?;
            let _lock = match c {
                processed::Command::Status => None,
                _ => Some(ctx.run_lock("processed")?),
            };
            processed::exec(&ctx, &c).await
        }
        S3Command::BackupDb(a) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("backup-db")?;
            database::backup(&ctx, &a).await
        }
        S3Command::ListDbBackups(a) => database::list(&Context::load(global)?, &a).await,
        S3Command::RestoreDb(a) => {
            let ctx = Context::load(global)?;
            let _lock = ctx.run_lock("restore-db")?;
            database::restore(&ctx, &a).await
        }
        S3Command::Schedule(c) => schedule::exec(&Context::load(global)?, &c).await,
        S3Command::EstimateCosts(a) => costs::exec(&Context::load(global)?, &a).await,
        S3Command::Serve(a) => serve::exec(global, &a).await,
    }
}
