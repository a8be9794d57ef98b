//! `fitsbak restore request | status | download`, and `fitsbak sync-db`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use fitsbak_core::archive::ExtractAction;
use fitsbak_core::engine::restore::DownloadOptions;
use fitsbak_core::ids::SessionId;
use fitsbak_core::store::RestoreTier;

use crate::Outcome;
use crate::commands::ArchiveChoice;
use crate::context::Context;
use crate::output::{human_bytes, print_json, table};

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

/// Rebuild the tracking tables from the bucket's manifests.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// Show what would change without writing.
    #[arg(long)]
    dry_run: bool,
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
        Command::Request(args) => {
            let tier_name = args
                .tier
                .clone()
                .unwrap_or_else(|| ctx.config.restore_settings.default_tier.clone());
            let tier = RestoreTier::parse(&tier_name).ok_or_else(|| {
                anyhow::anyhow!("unknown tier {tier_name:?}: use Bulk, Standard or Expedited")
            })?;
            let days = args
                .days
                .unwrap_or(ctx.config.restore_settings.default_days);
            anyhow::ensure!(days >= 1, "--days must be at least 1");
            let records = engine
                .select_archives(args.which.session()?.as_ref(), args.which.year())
                .await?;
            let plan = engine.plan_restore(records).await?;
            if !ctx.global.json {
                for (id, why) in &plan.not_needed {
                    println!("{id}: no restore needed ({why})");
                }
                if plan.archives.is_empty() {
                    println!("Nothing to restore.");
                    return Ok(Outcome::Success);
                }
                println!(
                    "{} archive(s), {} to restore; downloading them afterwards costs about ${:.2}.",
                    plan.archives.len(),
                    human_bytes(plan.bytes),
                    plan.download_cost_usd
                );
                let mut t = table(&["Tier", "Cost", "Wait"], &[1]);
                for e in &plan.tiers {
                    let marker = if e.tier == tier { " (chosen)" } else { "" };
                    t.add_row(vec![
                        format!("{}{marker}", e.tier),
                        format!("${:.2}", e.cost_usd),
                        e.wait.clone(),
                    ]);
                }
                println!("{}", t.trim_fmt());
            }
            if plan.archives.is_empty() {
                print_json(&plan)?;
                return Ok(Outcome::Success);
            }
            let chosen = plan
                .tiers
                .iter()
                .find(|e| e.tier == tier)
                .expect("every tier is estimated");
            if !args.yes
                && !confirm(&format!(
                    "Request the {tier} restore of {} archive(s) for {days} day(s), about ${:.2}?",
                    plan.archives.len(),
                    chosen.cost_usd
                ))?
            {
                println!("Nothing requested.");
                return Ok(Outcome::Success);
            }
            let rows = engine.request_restore(&plan, tier, days).await?;
            if ctx.global.json {
                print_json(&rows)?;
            } else {
                for r in &rows {
                    println!(
                        "{}: restore requested ({tier}, {}), {}",
                        r.session_id, chosen.wait, r.status
                    );
                }
                println!("Follow it with `fitsbak restore status`.");
            }
        }
        Command::Status(args) => {
            let id = session(&args.session_id)?;
            let records = engine.select_archives(id.as_ref(), None).await?;
            let rows = engine.restore_status(records, id.is_none()).await?;
            if ctx.global.json {
                print_json(&rows)?;
            } else if rows.is_empty() {
                println!("No restore has been requested.");
            } else {
                let mut t = table(
                    &["Session", "Status", "Available until", "Storage class"],
                    &[],
                );
                for r in &rows {
                    t.add_row(vec![
                        r.session_id.to_string(),
                        r.status.clone(),
                        r.expires_at.map(|e| e.to_string()).unwrap_or_default(),
                        r.storage_class
                            .as_ref()
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                    ]);
                }
                println!("{}", t.trim_fmt());
            }
        }
        Command::Download(args) => {
            let id = SessionId::new(args.session_id.clone())?;
            let to = args
                .to
                .clone()
                .or_else(|| {
                    ctx.config
                        .restore_settings
                        .restore_path
                        .as_ref()
                        .map(|p| ctx.config.resolve(p))
                })
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "say where the files go: --to DIR (or set restore_settings.restore_path)"
                    )
                })?;
            let files = engine
                .download(
                    &id,
                    &to,
                    &DownloadOptions {
                        files: args.files.clone(),
                        overwrite: args.overwrite,
                        flat: args.flat,
                    },
                )
                .await?;
            let written: Vec<_> = files
                .iter()
                .filter(|f| f.action == ExtractAction::Written)
                .collect();
            if ctx.global.json {
                print_json(&files)?;
            } else {
                for f in &written {
                    println!("restored {}", f.destination.display());
                }
                println!(
                    "{} file(s) restored ({}), {} already there with the right MD5, below {}",
                    written.len(),
                    human_bytes(written.iter().map(|f| f.size).sum()),
                    files.len() - written.len(),
                    to.display()
                );
            }
        }
    }
    Ok(Outcome::Success)
}

pub async fn sync(ctx: &Context, args: &SyncArgs) -> anyhow::Result<Outcome> {
    let engine = ctx.engine_from_bucket().await?;
    let report = engine.sync_db(args.dry_run).await?;
    if ctx.global.json {
        print_json(&report)?;
    } else {
        let verb = if args.dry_run { "would be " } else { "" };
        println!(
            "{} archive row(s) {verb}added, {} {verb}updated, {} already right.",
            report.added.len(),
            report.updated.len(),
            report.unchanged.len()
        );
        for k in &report.archives_without_manifest {
            println!("archive without a manifest (not recorded): {k}");
        }
        for k in &report.manifests_without_archive {
            println!("manifest without its archive (not recorded): {k}");
        }
        for k in &report.unreadable {
            println!("unreadable manifest: {k}");
        }
        if !args.dry_run {
            println!(
                "Nothing is marked verified: run `fitsbak verify --all` to check the archives."
            );
        }
    }
    Ok(if report.unreadable.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
