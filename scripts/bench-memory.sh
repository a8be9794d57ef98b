#!/usr/bin/env bash
# Memory benchmark: peak RSS and CPU of `fitsbak upload` (default settings) for a
# 2 GiB session and a 20 GiB session (sparse source files), against s3s-fs on
# loopback (s3s-fs 0.14.1, installed in .tools by scripts/install-test-tools.sh).
#
#   ./scripts/bench-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-tools.sh
cargo build --quiet --release -p fitsbak-cli
exec python3 scripts/bench/memory_bench.py
