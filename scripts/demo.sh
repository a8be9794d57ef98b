#!/usr/bin/env bash
# The main job, end to end, on the embedded default (no AWS account needed):
# writes a demo library (FITS files, a cataloger database, a config with the local
# target) and runs fitsbak on it.
#
#   ./scripts/demo.sh [DIR]      (DIR must be new or empty; default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p fitsbak-cli
fitsbak="$PWD/target/debug/fitsbak"
dir="${1:-$(mktemp -d)/fitsbak-demo}"

"$fitsbak" demo init "$dir"
config="$dir/s3_config.json"
echo
echo "\$ fitsbak --config $config status"
"$fitsbak" --config "$config" status
echo
echo "\$ fitsbak --config $config analyze"
"$fitsbak" --config "$config" analyze
