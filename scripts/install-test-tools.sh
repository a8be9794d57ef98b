#!/usr/bin/env bash
# Installs what the tests run against, in .venv at the workspace root: the S3
# protocol server moto_server from moto[server]==5.2.5 (with crc32c, so that it
# computes real CRC32C checksums), and the AWS CLI (the lifecycle tests hand it the
# JSON `fitsbak lifecycle generate` prints). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
want="5.2.5"
if [ -x .venv/bin/moto_server ] && [ -x .venv/bin/aws ] && .venv/bin/python -c "import moto, crc32c, sys; sys.exit(moto.__version__ != '$want')" 2>/dev/null; then
    exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$want" "crc32c>=2.3" awscli
.venv/bin/python -c "import moto; print('moto', moto.__version__, 'installed in .venv')"
