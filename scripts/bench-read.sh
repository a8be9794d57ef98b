#!/usr/bin/env bash
# Read-path benchmark: fitsbak verify --all --deep, restore download (whole
# sessions and --file) against `aws s3 cp s3://b/k - | tar -x`, on 1 GiB in 4
# sessions (16 files x 16 MiB each; SESSIONS, FILES, FILE_KIB change it) uploaded
# once to one moto_server on loopback. RUNS runs each (default 3); prints medians
# of wall time, client CPU per GiB, peak RSS and the fitsbak / peer ratios.
#
#   ./scripts/bench-read.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-tools.sh
cargo build --quiet --release -p fitsbak-cli
exec .venv/bin/python scripts/bench/read_bench.py
