//! What the benchmarks share: editing a demo library's config, running the
//! `fitsbak` binary against a test server.

use std::path::Path;
use std::process::{Command, Stdio};

use fitsbak_testkit::server::StoreServer;

/// Rewrites the JSON config at `path` through `edit`.
pub fn edit_config(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// Runs `fitsbak --config {config} {args}` with the server's credentials; fails
/// the benchmark when it fails. `FITSBAK_BIN` names another binary (an older
/// build, for a before/after in one run).
pub fn fitsbak(server: &StoreServer, config: &Path, args: &[&str]) {
    let binary = std::env::var_os("FITSBAK_BIN").unwrap_or(env!("CARGO_BIN_EXE_fitsbak").into());
    let mut cmd = Command::new(binary);
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::null());
    for (k, v) in server.child_env() {
        cmd.env(k, v);
    }
    assert!(
        cmd.status().unwrap().success(),
        "fitsbak {} failed",
        args.join(" ")
    );
}
