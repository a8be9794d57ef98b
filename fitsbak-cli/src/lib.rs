//! fitsbak-cli: the `fitsbak` command line, and its command group for embedding.
//!
//! Another clap program mounts the whole group under a subcommand of its own, the
//! way the cataloger runs `main s3 status`:
//!
//! ```no_run
//! use clap::{Parser, Subcommand};
//!
//! #[derive(Parser)]
//! struct Main {
//!     #[command(subcommand)]
//!     command: Command,
//! }
//!
//! #[derive(Subcommand)]
//! enum Command {
//!     /// Back up imaging sessions to S3.
//!     S3(fitsbak_cli::S3Args),
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     match Main::parse().command {
//!         Command::S3(args) => fitsbak_cli::exit_code(fitsbak_cli::run(args).await),
//!     }
//! }
//! ```

mod commands;
mod context;
mod hints;
pub mod notify;
mod output;
mod progress;
mod views;
pub mod web;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args};

pub use commands::S3Command;

/// Options every command takes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "FITSBAK_CONFIG",
        default_value = fitsbak_core::config::DEFAULT_CONFIG_FILE
    )]
    pub config: PathBuf,

    /// The cataloger's database (overrides `database_path` in the config).
    #[arg(long, global = true, value_name = "PATH", env = "FITSBAK_DATABASE")]
    pub database: Option<PathBuf>,

    /// The cataloger's config.json, for the database and notes paths the config
    /// file does not set (default: config.json next to it, when there is one).
    #[arg(long, global = true, value_name = "PATH")]
    pub catalog_config: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Say more (-v: progress notes, -vv: debug).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// When another run works on the same database and target, wait for it to end
    /// instead of exiting with code 75.
    #[arg(long, global = true)]
    pub wait: bool,

    /// Say only what went wrong.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl GlobalArgs {
    /// The defaults of every option, with the config file at `path`: for a program
    /// that calls the library (the web router, say) without a command line.
    pub fn with_config(path: impl Into<PathBuf>) -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            global: GlobalArgs,
        }
        let mut global = <Only as clap::Parser>::parse_from(["fitsbak"]).global;
        global.config = path.into();
        global
    }
}

/// The fitsbak command group: global options and one command.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// Options for every command.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command.
    #[command(subcommand)]
    pub command: S3Command,
}

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done.
    Success,
    /// The command ran to the end, but something in it failed (a session, a check);
    /// its summary says what.
    Failures,
    /// Ctrl-C stopped it; what was done is kept.
    Interrupted,
}

/// Runs one command of the group.
pub async fn run(args: S3Args) -> anyhow::Result<Outcome> {
    context::init_logging(&args.global);
    let line = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    tracing::info!(target: context::REPORT, "fitsbak {line} (pid {})", std::process::id());
    let result = commands::exec(args).await;
    match &result {
        Ok(outcome) => tracing::info!(target: context::REPORT, "fitsbak {line}: {outcome:?}"),
        Err(_) => tracing::info!(target: context::REPORT, "fitsbak {line}: could not run"),
    }
    result
}

/// The exit code of a run that found another run working on the same database and
/// target (`EX_TEMPFAIL`: try again later).
pub const EXIT_LOCKED: u8 = 75;

/// Turns the result of [`run`] into the process exit code, printing the error (with
/// its causes) on stderr: 0 success, 1 the run had failures, 2 it could not run,
/// 75 another run holds the lock, 130 Ctrl-C stopped it.
pub fn exit_code(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failures) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(err) => {
            let locked = err.chain().any(|e| {
                matches!(
                    e.downcast_ref::<fitsbak_core::Error>(),
                    Some(fitsbak_core::Error::Locked { .. })
                )
            });
            output::print_error(error_words(&err));
            ExitCode::from(if locked { EXIT_LOCKED } else { 2 })
        }
    }
}

/// What the CLI says of an error: its causes, then the hint of what to do. The
/// web page shows a task's failure in the same words.
pub(crate) fn error_words(err: &anyhow::Error) -> String {
    match hints::of(err) {
        Some(hint) => format!("{}; {hint}", output::error_chain(err)),
        None => output::error_chain(err),
    }
}
