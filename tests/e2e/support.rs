//! Helpers for the end-to-end tests.

use std::path::PathBuf;

use assert_cmd::Command;
use fitsbak_demo::{self as demo, DemoLibrary, DemoSpec};

/// A small demo library in a temporary directory.
pub fn demo() -> (tempfile::TempDir, DemoLibrary) {
    let dir = tempfile::tempdir().unwrap();
    let lib = demo::create(
        &dir.path().join("demo"),
        &DemoSpec {
            sessions: 3,
            files_per_session: 5,
            width: 16,
            height: 16,
            ..DemoSpec::default()
        },
    )
    .unwrap();
    (dir, lib)
}

/// The `fitsbak` binary.
pub fn fitsbak() -> Command {
    let mut cmd = Command::cargo_bin("fitsbak").unwrap();
    cmd.env_remove("FITSBAK_CONFIG")
        .env_remove("FITSBAK_DATABASE");
    cmd
}

/// An example program built by `cargo test` (examples are built with the tests).
pub fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path: PathBuf = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built; run the tests with `cargo test --workspace`",
        path.display()
    );
    let mut cmd = Command::new(path);
    cmd.env_remove("FITSBAK_CONFIG")
        .env_remove("FITSBAK_DATABASE");
    cmd
}

pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
}
