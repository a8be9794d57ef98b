#!/usr/bin/env bash
# A rows-only demo catalog whose sessions are all tracked as backed up (an archive
# row each, a member row per file, in a tracking database beside it), for the
# benchmarks that time reports at scale without uploading. Kept when it exists.
#
#   scripts/bench/tracked_catalog.sh FITSBAK WORK SESSIONS FILES_PER_SESSION
set -euo pipefail
fitsbak=$1 work=$2 sessions=$3 files=$4
[ -f "$work/tracking.db" ] && exit 0
rm -rf "$work"
echo "writing the synthetic catalog ($sessions sessions x $files files, all tracked) in $work ..." >&2
"$fitsbak" -q demo init "$work" --sessions "$sessions" --files-per-session "$files" --rows-only
python3 - "$work/s3_config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["tracking_database_path"] = "tracking.db"
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
"$fitsbak" -q --config "$work/s3_config.json" status > /dev/null
python3 "$(dirname "$0")/scale_tracked.py" "$work/catalog.db" "$work/tracking.db" "$work/bucket"
