//! The `fitsbak` binary: parses the command line and runs the command group.

use std::process::ExitCode;

use clap::Parser;

/// Back up astrophotography imaging sessions to Amazon S3 and Glacier Deep Archive.
#[derive(Debug, Parser)]
#[command(name = "fitsbak", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    args: fitsbak_cli::S3Args,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    fitsbak_cli::exit_code(runtime.block_on(fitsbak_cli::run(cli.args)))
}
