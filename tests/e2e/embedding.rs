//! The command group mounted in another clap program, and the library called
//! directly.

use clap::{Parser, Subcommand};
use predicates::prelude::*;

use crate::support::*;

#[test]
fn the_cataloger_example_runs_fitsbak_as_its_s3_subcommand() {
    let (_dir, lib) = demo();
    let config = lib.config_path.to_str().unwrap();
    // The first run creates the tracking tables (in the catalog's file here),
    // which changes the database's size that status reports: compare the next.
    json(fitsbak().args(["--config", config, "--json", "status"]));
    let direct = json(fitsbak().args(["--config", config, "--json", "status"]));
    let embedded = json(example("cataloger").args(["s3", "--config", config, "status", "--json"]));
    assert_eq!(embedded, direct, "the same command, the same answer");
    assert_eq!(embedded["sessions_total"], 3);

    let rows =
        json(example("cataloger").args(["s3", "list-sessions", "--json", "--config", config]));
    assert_eq!(rows.as_array().unwrap().len(), 3);

    example("cataloger")
        .args(["s3", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("list-sessions"))
        .stdout(predicate::str::contains("analyze"));
    example("cataloger")
        .arg("scan")
        .assert()
        .success()
        .stdout(predicate::str::contains("host program"));
    // Errors keep fitsbak's exit codes inside the host.
    example("cataloger")
        .args(["s3", "--config", "/nonexistent/s3_config.json", "status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not found"));
}

#[derive(Debug, Parser)]
struct Host {
    #[arg(long, global = true)]
    host_flag: bool,
    #[command(subcommand)]
    command: HostCommand,
}

#[derive(Debug, Subcommand)]
enum HostCommand {
    S3(fitsbak_cli::S3Args),
}

#[tokio::test]
async fn the_group_parses_and_runs_inside_a_host_parser() {
    let (_dir, lib) = demo();
    let config = lib.config_path.to_str().unwrap();
    let host =
        Host::try_parse_from(["main", "s3", "--config", config, "-q", "status", "--json"]).unwrap();
    let HostCommand::S3(args) = host.command;
    assert!(args.global.json && args.global.quiet);
    assert!(matches!(args.command, fitsbak_cli::S3Command::Status(_)));
    let outcome = fitsbak_cli::run(args).await.unwrap();
    assert_eq!(outcome, fitsbak_cli::Outcome::Success);

    let err = Host::try_parse_from(["main", "s3", "no-such-command"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::InvalidSubcommand);
}

#[test]
fn the_library_example_reads_the_catalog_without_the_cli() {
    let (_dir, lib) = demo();
    example("library")
        .arg(&lib.config_path)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 of 3 sessions backed up (0.0%)"))
        .stdout(predicate::str::contains(lib.sessions[0].id.as_str()));
}
