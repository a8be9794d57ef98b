#!/usr/bin/env bash
# Memory benchmark: peak RSS and CPU of `fitsbak upload` (default settings) for a
# 2 GiB session and a 20 GiB session (sparse source files), against s3s-fs on
# loopback. Needs s3s-fs: cargo install s3s-fs --version 0.14.1 --features binary
#
#   ./scripts/bench-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p fitsbak-cli
exec python3 scripts/bench/memory_bench.py
