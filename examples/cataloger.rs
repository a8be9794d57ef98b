//! A cataloger-style program that mounts fitsbak's whole command group as `s3`,
//! next to commands of its own:
//!
//! ```text
//! cargo run --example cataloger -- s3 status
//! cargo run --example cataloger -- s3 --config s3_config.json list-sessions --json
//! cargo run --example cataloger -- scan
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// FITS Cataloger (example host program).
#[derive(Debug, Parser)]
#[command(name = "main", version)]
struct Main {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan folders for new FITS files (the host's own command).
    Scan,
    /// Back up imaging sessions to S3 and Glacier Deep Archive.
    S3(fitsbak_cli::S3Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    match Main::parse().command {
        Command::Scan => {
            println!("scanning... (the host program's own command)");
            ExitCode::SUCCESS
        }
        Command::S3(args) => fitsbak_cli::exit_code(fitsbak_cli::run(args).await),
    }
}
