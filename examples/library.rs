//! Calling fitsbak as a library: open a catalog and print how much of it is
//! backed up, without the CLI.
//!
//! ```text
//! cargo run --example library -- path/to/s3_config.json
//! ```

use std::path::PathBuf;

use fitsbak_core::config::Config;
use fitsbak_core::engine::list_sessions::{SessionFilter, list_sessions};
use fitsbak_core::engine::status::status;
use fitsbak_store::{Database, OpenOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("s3_config.json"));
    let loaded = Config::load(&path)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let config = loaded.config;
    let db = Database::open(&config.database(), None, &OpenOptions::default())?;
    let status = status(&db, &db, &config).await?;
    println!(
        "{} of {} sessions backed up ({:.1}%), {} files",
        status.sessions_backed_up,
        status.sessions_total,
        status.percent_backed_up,
        status.files_backed_up
    );
    for row in list_sessions(&db, &db, &SessionFilter::default())
        .await?
        .sessions
    {
        println!(
            "{}  {}  {:>4} files  {}",
            row.session_id,
            row.date,
            row.file_count,
            if row.backed_up {
                "backed up"
            } else {
                "not backed up"
            }
        );
    }
    Ok(())
}
