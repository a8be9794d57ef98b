//! The `fitsbak` binary: parses the command line and runs the command group.

use std::process::ExitCode;

use clap::Parser;

#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Back up astrophotography imaging sessions to Amazon S3 and Glacier Deep Archive.
#[derive(Debug, Parser)]
#[command(name = "fitsbak", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    args: fitsbak_cli::S3Args,
}

/// `fitsbak list-sessions | head -1`: a reader that closed the pipe has what it
/// wanted; the run ends quietly with 0 instead of a panic.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
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
