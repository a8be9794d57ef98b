#!/usr/bin/env bash
# Latency benchmark: verify --all, sync-db, upload with nothing to do and restore
# status over 2,000 small archives (FITSBAK_BENCH_ARCHIVES) on moto_server, through
# a proxy adding 0 ms then 50 ms before each request. RUNS runs each (default 3);
# prints median seconds, requests, and the target at 50 ms.
#
#   ./scripts/bench-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-tools.sh
export PATH="$PWD/.venv/bin:$PATH"
exec cargo bench -p fitsbak-cli --bench latency
