#!/usr/bin/env bash
# Upload benchmark: fitsbak against the original tool's way (tarfile + boto3), tar
# piped to `aws s3 cp -`, and tar piped to `rclone rcat` when rclone is installed
# (Debian package `rclone`), on a 2 GiB demo library (8 sessions x 16 files x
# 16 MiB), against one moto_server on loopback. RUNS runs each (default 3); prints
# medians and the fitsbak / peer ratios.
#
#   ./scripts/bench-upload.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-tools.sh
cargo build --quiet --release -p fitsbak-cli
exec .venv/bin/python scripts/bench/upload_bench.py
