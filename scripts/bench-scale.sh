#!/usr/bin/env bash
# Scale benchmark: status, list-sessions and analyze on a synthetic catalog of
# 5,000 sessions and 500,000 files (rows only, the files do not exist), release
# build. Prints the median wall time and peak RSS of RUNS runs of each command.
# TRACKED=1: 10,000 sessions and 1,000,000 files, every one of them tracked as
# backed up (an archive row each, a member row per file): status, list-sessions
# estimate-costs and the planning of `verify --all` (`--dry-run`: what it would
# check, from the rows), and the tracking database's size per archive.
#
#   ./scripts/bench-scale.sh            (RUNS=5 by default)
#   TRACKED=1 ./scripts/bench-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
cargo build --quiet --release -p fitsbak-cli
fitsbak="$PWD/target/release/fitsbak"
sessions=5000 work="$PWD/bench-out/scale"
commands=(status list-sessions analyze)
if [ -n "${TRACKED:-}" ]; then
    sessions=10000 work="$PWD/bench-out/scale-tracked"
    commands=(status list-sessions estimate-costs "verify --all --dry-run")
fi
if [ -n "${TRACKED:-}" ]; then
    scripts/bench/tracked_catalog.sh "$fitsbak" "$work" "$sessions" 100
elif [ ! -f "$work/catalog.db" ]; then
    rm -rf "$work"
    echo "writing the synthetic catalog ($sessions sessions x 100 files) in $work ..."
    "$fitsbak" -q demo init "$work" --sessions "$sessions" --files-per-session 100 --rows-only
fi
config="$work/s3_config.json"
"$fitsbak" -q --config "$config" status > /dev/null   # tracking tables, warm cache
if [ -n "${TRACKED:-}" ]; then
    size=$(stat -c %s "$work/tracking.db")
    echo "tracking database: $((size / 1048576)) MiB, $((size / sessions)) bytes per archive (100 members each)"
fi

printf '%-24s %10s %12s\n' command "median s" "peak RSS MB"
for cmd in "${commands[@]}"; do
    times=() rss=()
    for _ in $(seq "$runs"); do
        # shellcheck disable=SC2086
        out=$( { /usr/bin/time -f '%e %M' "$fitsbak" --config "$config" $cmd > /dev/null; } 2>&1 )
        times+=("${out% *}") rss+=("${out#* }")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    peak=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
    printf '%-24s %10s %12d\n' "$cmd" "$median" "$((peak / 1024))"
done
