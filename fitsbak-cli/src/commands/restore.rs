//! `fitsbak restore request | status | download`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use fitsbak_core::engine::Engine;
use fitsbak_core::engine::restore::DownloadOptions;
use fitsbak_core::ids::SessionId;
use fitsbak_core::store::RestoreTier;

use crate::Outcome;
use crate::commands::ArchiveChoice;
use crate::context::Context;
use crate::output::print_json;

/// Restores from Glacier and Deep Archive, and downloads.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Ask S3 for readable copies of archived sessions (shows cost and wait first).
    Request(RequestArgs),
    /// Follow restore requests: in progress, available until when, or expired.
    Status(StatusArgs),
    /// Download a session (or single files) and put the files back on disk.
    Download(DownloadArgs),
}

/// Which sessions.
#[derive(Debug, Clone, clap::Args)]
pub struct RequestArgs {
    #[command(flatten)]
    which: ArchiveChoice,
    /// Retrieval tier: Bulk, Standard or Expedited (default: restore_settings.default_tier).
    #[arg(long)]
    tier: Option<String>,
    /// Days the restored copy stays readable (default: restore_settings.default_days).
    #[arg(long)]
    days: Option<u32>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

/// Arguments of `restore status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Only this session (every requested restore when absent).
    #[arg(long, value_name = "ID")]
    session_id: Option<String>,
}

/// Arguments of `restore download`.
#[derive(Debug, Clone, clap::Args)]
pub struct DownloadArgs {
    /// The session.
    #[arg(long, value_name = "ID")]
    session_id: String,
    /// Where to put the files (default: restore_settings.restore_path). Files go below
    /// their original folder, made relative: /data/2024/M42/a.fits becomes
    /// DIR/data/2024/M42/a.fits.
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    /// Only this file (its name, or its path in the archive); a ranged GET fetches
    /// just its bytes. Repeatable.
    #[arg(long = "file", value_name = "NAME")]
    files: Vec<String>,
    /// Replace existing files that differ from the archived ones.
    #[arg(long)]
    overwrite: bool,
    /// Put every file directly in DIR.
    #[arg(long)]
    flat: bool,
}

fn session(id: &Option<String>) -> anyhow::Result<Option<SessionId>> {
    Ok(id.as_deref().map(SessionId::new).transpose()?)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "confirmation needed, and stdin is not a terminal: pass --yes"
    );
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub async fn exec(ctx: &Context, command: &Command) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_from_bucket().await?;
    match command {
        Command::Request(args) => request(ctx, &engine, args).await,
        Command::Status(args) => {
            let id = session(&args.session_id)?;
            let records = engine.select_archives(id.as_ref(), None).await?;
            let rows = engine.restore_status(records, id.is_none()).await?;
            if ctx.global.json {
                print_json(&rows)?;
            } else {
                crate::views::restore::print_status(&rows);
            }
            Ok(Outcome::Success)
        }
        Command::Download(args) => download(ctx, &engine, args).await,
    }
}

async fn request(ctx: &Context, engine: &Engine, args: &RequestArgs) -> anyhow::Result<Outcome> {
    let settings = &ctx.config.restore_settings;
    let tier_name = args
        .tier
        .clone()
        .unwrap_or_else(|| settings.default_tier.clone());
    let tier = RestoreTier::parse(&tier_name).ok_or_else(|| {
        anyhow::anyhow!("unknown tier {tier_name:?}: use Bulk, Standard or Expedited")
    })?;
    let days = args.days.unwrap_or(settings.default_days);
    anyhow::ensure!(days >= 1, "--days must be at least 1");
    let records = engine
        .select_archives(args.which.session()?.as_ref(), args.which.year())
        .await?;
    let plan = engine.plan_restore(records).await?;
    if plan.archives.is_empty() {
        if ctx.global.json {
            print_json(&plan)?;
        } else {
            crate::views::restore::print_plan(&plan, tier);
        }
        return Ok(Outcome::Success);
    }
    if !ctx.global.json {
        crate::views::restore::print_plan(&plan, tier);
    }
    let chosen = plan
        .tiers
        .iter()
        .find(|e| e.tier == tier)
        .expect("every tier is estimated");
    let question = format!(
        "Request the {tier} restore of {} archive(s) for {days} day(s), about ${:.2}?",
        plan.archives.len(),
        chosen.cost_usd
    );
    if !args.yes && !confirm(&question)? {
        println!("Nothing requested.");
        return Ok(Outcome::Success);
    }
    let rows = engine.request_restore(&plan, tier, days).await?;
    if ctx.global.json {
        print_json(&rows)?;
    } else {
        crate::views::restore::print_requested(&rows, tier, &chosen.wait);
    }
    Ok(Outcome::Success)
}

async fn download(ctx: &Context, engine: &Engine, args: &DownloadArgs) -> anyhow::Result<Outcome> {
    let id = SessionId::new(args.session_id.clone())?;
    let default = ctx.config.restore_settings.restore_path.as_ref();
    let to = args
        .to
        .clone()
        .or_else(|| default.map(|p| ctx.config.resolve(p)))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "say where the files go: --to DIR (or set restore_settings.restore_path)"
            )
        })?;
    let options = DownloadOptions {
        files: args.files.clone(),
        overwrite: args.overwrite,
        flat: args.flat,
    };
    let files = engine.download(&id, &to, &options).await?;
    if ctx.global.json {
        print_json(&files)?;
    } else {
        crate::views::restore::print_downloaded(&files, &to);
    }
    Ok(Outcome::Success)
}
