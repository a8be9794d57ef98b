#!/usr/bin/env bash
# Web page benchmark: `fitsbak serve` (release build) on a demo catalog of 5,000
# sessions x 8 files (rows only), every session tracked as backed up. A fresh
# headless Chromium opens the dashboard RUNS times (cache empty each time) and
# reports the medians of: the bytes transferred on first load (page weight), the
# time to first contentful paint, and the time until the dashboard shows its
# numbers (every API call of the first view answered). Then the server's RSS:
# right after start, and idle after the loads.
#
#   ./scripts/bench-web.sh              (RUNS=5, SESSIONS=5000 by default)
#   FITSBAK_BIN=older/fitsbak ./scripts/bench-web.sh   (another binary serves)
#
# Needs chromium, chromedriver and selenium (scripts/install-test-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
sessions="${SESSIONS:-5000}"
cargo build --quiet --release -p fitsbak-cli
fitsbak="${FITSBAK_BIN:-$PWD/target/release/fitsbak}"
work="$PWD/bench-out/web-$sessions"
scripts/bench/tracked_catalog.sh "$fitsbak" "$work" "$sessions" 8
log="$work/serve.log"
"$fitsbak" --config "$work/s3_config.json" serve --listen 127.0.0.1:0 2> "$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$log" && break
    sleep 0.1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$log" | head -1)
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status"; }
started=$(rss)
result=$(.venv/bin/python fitsbak-cli/tests/it/py/browser.py bench "$url" "$runs" | tail -1)
sleep 5
idle=$(rss)
python3 - "$result" "$started" "$idle" "$sessions" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"sessions                      {int(sys.argv[4]):>8}")
print(f"page weight (first load)      {r['page_weight_bytes'] / 1024:>8.1f} KiB")
print(f"first contentful paint        {r['first_contentful_paint_ms']:>8.0f} ms")
print(f"dashboard numbers shown       {r['dashboard_numbers_ms']:>8.0f} ms")
print(f"server RSS at start           {int(sys.argv[2]):>8} MB")
print(f"server RSS idle after loads   {int(sys.argv[3]):>8} MB")
print(f"(medians of {r['runs']} fresh browsers)")
PY
