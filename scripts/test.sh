#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, end-to-end, examples, doctests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
