#!/usr/bin/env bash
# The main job, end to end, on the embedded default (no AWS account needed):
# writes a demo library (FITS files, a cataloger database, a config with the local
# target, session notes and processing sessions), backs it up with the notes and
# the processed files, checks it, snapshots the catalog, and shows the status and
# the costs.
#
#   ./scripts/demo.sh [DIR]      (DIR must be new or empty; default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
# The first build compiles the AWS SDK: several minutes, with cargo's progress.
echo "building fitsbak (the first build takes several minutes)..." >&2
cargo build -p fitsbak-cli
fitsbak="$PWD/target/debug/fitsbak"
dir="${1:-$(mktemp -d)/fitsbak-demo}"

"$fitsbak" demo init "$dir"
config="$dir/s3_config.json"
for step in analyze "upload --dry-run" upload "verify --all --deep" "notes status" "processed upload" "processed status" backup-db list-db-backups status estimate-costs; do
    echo
    echo "\$ fitsbak --config $config $step"
    # shellcheck disable=SC2086
    "$fitsbak" --config "$config" $step
done

echo
echo "The binary is $fitsbak (not on PATH: \`cargo install --path fitsbak-cli\` puts it there)."
echo "Try it on the demo: $fitsbak --config $config status"
echo "The web page:       $fitsbak --config $config serve    (then open http://127.0.0.1:8083/)"
