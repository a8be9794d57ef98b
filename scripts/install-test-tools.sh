#!/usr/bin/env bash
# Installs what the tests run against. Idempotent: what is there is kept.
#
# - .venv: moto_server from moto[server]==5.2.5 (with crc32c, so that it computes
#   real CRC32C checksums), and the AWS CLI (the lifecycle tests hand it the JSON
#   `fitsbak lifecycle generate` prints), aiosmtpd (the SMTP server the
#   notification tests mail their reports to), SQLAlchemy (the cataloger's
#   models read the rows fitsbak writes) and selenium (drives Chromium through the
#   web page);
# - Ceph's RADOS Gateway and a single node's daemons, from Debian's packages
#   (radosgw, ceph-mon, ceph-osd, ceph-mgr, ceph-common), started by
#   scripts/ceph-rgw.sh; systemd, whose systemd-analyze checks the units
#   `fitsbak schedule` writes; tmux, the terminal the progress bars are tested in;
#   chromium and chromium-driver, the browser the web page is tested in;
# - .tools/bin/s3s-fs: s3s-fs 0.14.1 from crates.io;
# - .tools/node_modules/.bin/s3rver: s3rver 3.7.1 from npm.
set -euo pipefail
cd "$(dirname "$0")/.."

want="5.2.5"
if ! { [ -x .venv/bin/moto_server ] && [ -x .venv/bin/aws ] &&
    .venv/bin/python -c "import moto, crc32c, aiosmtpd, sqlalchemy, selenium, sys; sys.exit(moto.__version__ != '$want')" 2>/dev/null; }; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$want" "crc32c>=2.3" awscli "aiosmtpd>=1.4" "sqlalchemy>=2,<3" "selenium>=4.20,<5"
    .venv/bin/python -c "import moto; print('moto', moto.__version__, 'installed in .venv')"
fi

# Debian packages: Ceph for the store matrix, systemd-analyze for the schedule test.
if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null ||
    ! command -v systemd-analyze >/dev/null || ! command -v tmux >/dev/null ||
    ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        radosgw ceph-mon ceph-osd ceph-mgr ceph-common systemd tmux \
        chromium chromium-driver fonts-dejavu-core >/dev/null
    echo "Ceph $(ceph --version | cut -d' ' -f3), $(systemd-analyze --version | head -1) and $(chromium --version) installed"
fi

if [ ! -x .tools/bin/s3s-fs ]; then
    cargo install --quiet s3s-fs --version 0.14.1 --features binary --locked \
        --root .tools --target-dir target/tools
    echo "s3s-fs 0.14.1 installed in .tools"
fi

if [ ! -x .tools/node_modules/.bin/s3rver ]; then
    npm install --silent --no-audit --no-fund --prefix .tools s3rver@3.7.1 >/dev/null
    echo "s3rver 3.7.1 installed in .tools"
fi
