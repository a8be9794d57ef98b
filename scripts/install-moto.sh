#!/usr/bin/env bash
# Installs the S3 protocol server the tests run against: moto_server from
# moto[server]==5.2.5 (with crc32c, so that it computes real CRC32C checksums) in
# .venv at the workspace root. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
want="5.2.5"
if [ -x .venv/bin/moto_server ] && .venv/bin/python -c "import moto, crc32c, sys; sys.exit(moto.__version__ != '$want')" 2>/dev/null; then
    exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$want" "crc32c>=2.3"
.venv/bin/python -c "import moto; print('moto', moto.__version__, 'installed in .venv')"
