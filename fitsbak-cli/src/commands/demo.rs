//! `fitsbak demo init`: a library to try fitsbak on.

use std::path::PathBuf;

use fitsbak_demo::{self as demo, DemoSpec};
use serde::Serialize;

use crate::output::{human_bytes, print_json};
use crate::{GlobalArgs, Outcome};

/// Demo library commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Write FITS files over several nights, a catalog listing them and a config
    /// (local target) into DIR.
    Init(InitArgs),
}

/// Arguments of `demo init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Directory to create (must be empty or absent).
    dir: PathBuf,
    /// Imaging sessions.
    #[arg(long, default_value_t = 6)]
    sessions: usize,
    /// Files per session (lights, a dark, two flats, a bias).
    #[arg(long, default_value_t = 8)]
    files_per_session: usize,
    /// Approximate size of each file, in KiB.
    #[arg(long, default_value_t = 40, value_name = "KIB")]
    file_size_kib: u64,
    /// Seed: the same seed writes the same library.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Write only the catalog's rows, no FITS files (for scale benchmarks).
    #[arg(long)]
    rows_only: bool,
}

#[derive(Serialize)]
struct Created {
    root: PathBuf,
    config: PathBuf,
    database: PathBuf,
    sessions: usize,
    files: usize,
    bytes: u64,
}

pub fn exec(global: &GlobalArgs, command: &Command) -> anyhow::Result<Outcome> {
    let Command::Init(args) = command;
    if args
        .dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        anyhow::bail!(
            "{} is not empty; the demo library goes in a new or empty directory",
            args.dir.display()
        );
    }
    anyhow::ensure!(args.sessions > 0, "--sessions must be at least 1");
    anyhow::ensure!(
        args.files_per_session > 0,
        "--files-per-session must be at least 1"
    );
    let spec = DemoSpec {
        sessions: args.sessions,
        files_per_session: args.files_per_session,
        seed: args.seed,
        rows_only: args.rows_only,
        ..DemoSpec::default()
    }
    .with_file_size(args.file_size_kib.max(3) * 1024);
    let lib = demo::create(&args.dir, &spec)?;
    let created = Created {
        root: lib.root.clone(),
        config: lib.config_path.clone(),
        database: lib.database_path.clone(),
        sessions: lib.sessions.len(),
        files: lib.file_count(),
        bytes: lib.total_bytes(),
    };
    if global.json {
        print_json(&created)?;
    } else if !global.quiet {
        println!(
            "Demo library in {}: {} sessions, {} FITS files, {}.",
            created.root.display(),
            created.sessions,
            created.files,
            human_bytes(created.bytes)
        );
        println!("  catalog: {}", created.database.display());
        println!("  config:  {} (local target)", created.config.display());
        println!();
        println!("Try: fitsbak --config {} status", created.config.display());
    }
    Ok(Outcome::Success)
}
