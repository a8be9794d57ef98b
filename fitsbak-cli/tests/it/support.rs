//! Helpers: a demo library in a temporary directory and the binary to run on it.

use std::path::Path;

use assert_cmd::Command;
use fitsbak_store::demo::{self, DemoLibrary, DemoSpec};

pub struct Demo {
    pub dir: tempfile::TempDir,
    pub lib: DemoLibrary,
}

impl Demo {
    /// 4 sessions of 6 small files over three years.
    pub fn new() -> Self {
        Self::with(DemoSpec {
            sessions: 4,
            files_per_session: 6,
            width: 32,
            height: 16,
            ..DemoSpec::default()
        })
    }

    pub fn with(spec: DemoSpec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lib = demo::create(&dir.path().join("demo"), &spec).unwrap();
        Self { dir, lib }
    }

    pub fn config(&self) -> &Path {
        &self.lib.config_path
    }

    /// `fitsbak --config <demo config> args...`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = fitsbak();
        cmd.arg("--config").arg(self.config()).args(args);
        cmd
    }

    /// Runs and parses the JSON on stdout; the command must succeed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self
            .cmd(args)
            .arg("--json")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }
}

/// The binary, with a clean environment for the variables fitsbak reads.
pub fn fitsbak() -> Command {
    let mut cmd = Command::cargo_bin("fitsbak").unwrap();
    cmd.env_remove("FITSBAK_CONFIG")
        .env_remove("FITSBAK_DATABASE")
        .env_remove("RUST_LOG");
    cmd
}

pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

pub fn failure(cmd: &mut Command, code: i32) -> String {
    String::from_utf8(cmd.assert().code(code).get_output().stderr.clone()).unwrap()
}
