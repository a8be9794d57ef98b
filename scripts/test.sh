#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, end-to-end, examples, doctests.
# The S3 tests run against moto_server on loopback; it is installed in .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-tools.sh
cargo test --workspace "$@"
