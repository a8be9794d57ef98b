#!/usr/bin/env bash
# A single-node Ceph cluster with one RADOS Gateway on loopback, for the store
# matrix tests: one monitor, one manager, one bluestore OSD on a sparse file, pools
# of size 1, radosgw with the beast frontend. No systemd: the daemons are started
# by hand and stopped by `stop`.
#
#   scripts/ceph-rgw.sh start DIR   # prints FITSBAK_CEPH_* lines (also in DIR/env)
#   scripts/ceph-rgw.sh stop DIR
#
# Needs Debian's radosgw, ceph-mon, ceph-osd, ceph-mgr and ceph-common
# (scripts/install-test-tools.sh installs them).
set -euo pipefail

cmd=${1:?usage: ceph-rgw.sh start|stop DIR}
dir=${2:?usage: ceph-rgw.sh start|stop DIR}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
    for pidfile in "$dir"/run/*.pid; do
        [ -e "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 1
    for pidfile in "$dir"/run/*.pid; do
        [ -e "$pidfile" ] || continue
        kill -9 "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi
[ "$cmd" = start ] || { echo "usage: ceph-rgw.sh start|stop DIR" >&2; exit 2; }

for tool in ceph-mon ceph-osd ceph-mgr radosgw radosgw-admin monmaptool ceph-authtool ceph; do
    command -v "$tool" >/dev/null || {
        echo "ceph-rgw.sh: $tool is not installed (run scripts/install-test-tools.sh)" >&2
        exit 1
    }
done

if [ -e "$dir/env" ] && [ -e "$dir/run/client.pid" ] && kill -0 "$(cat "$dir/run/client.pid")" 2>/dev/null; then
    cat "$dir/env"
    exit 0
fi
failed() {
    echo "ceph-rgw.sh: failed at line $1: $2" >&2
    df -h "$dir" >&2 || true
    for log in "$dir"/log/*.log; do
        [ -s "$log" ] || continue
        echo "--- last lines of $log" >&2
        tail -n 15 "$log" >&2
    done
    stop
}
stop
rm -rf "$dir"
trap 'failed $LINENO "$BASH_COMMAND"' ERR
mkdir -p "$dir"/{mon,osd,mgr,rgw,run,log}
dir=$(cd "$dir" && pwd)
fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
mon_port=$(free_port)
rgw_port=$(free_port)
conf=$dir/ceph.conf
cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
keyring = $dir/keyring
run dir = $dir/run
pid file = $dir/run/\$type.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
# The monitor shuts down when its disk has less than 5 % free by default; a
# test machine's disk is often fuller than that and the tests write little.
mon data avail crit = 0
mon data avail warn = 0
ms bind ipv6 = false

[mon.a]
mon data = $dir/mon
keyring = $dir/mon.keyring

[mgr.x]
mgr data = $dir/mgr
keyring = $dir/mgr/keyring

[osd.0]
osd data = $dir/osd
keyring = $dir/osd/keyring
osd objectstore = bluestore
bluestore block path = $dir/block
bluestore block create = true
bluestore block size = 10737418240
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728

[client.rgw]
keyring = $dir/rgw/keyring
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
rgw enable usage log = false
EOF

ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/keyring" >/dev/null
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring"
ceph-mon -c "$conf" -i a
ceph -c "$conf" --connect-timeout 30 -s >/dev/null

ceph -c "$conf" auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' \
    -o "$dir/mgr/keyring"
ceph-mgr -c "$conf" -i x

osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
osd_id=$(ceph -c "$conf" osd new "$osd_uuid")
ceph -c "$conf" auth get-or-create "osd.$osd_id" mon 'allow profile osd' \
    mgr 'allow profile osd' osd 'allow *' -o "$dir/osd/keyring"
ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/osd-mkfs.log"
ceph-osd -c "$conf" -i "$osd_id"

ceph -c "$conf" auth get-or-create client.rgw mon 'allow rw' osd 'allow rwx' \
    -o "$dir/rgw/keyring"
radosgw -c "$conf" -n client.rgw
access=FITSBAKCEPHTESTKEY01
secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
user=
for _ in $(seq 1 120); do
    if radosgw-admin -c "$conf" user create --uid=fitsbak --display-name=fitsbak \
        --access-key="$access" --secret-key="$secret" >/dev/null 2>>"$dir/log/user.log"; then
        user=created
        break
    fi
    sleep 1
done
[ -n "$user" ] || false "radosgw-admin could not create the test user within 120 s"
listening=
for _ in $(seq 1 120); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$rgw_port/', timeout=2)" 2>/dev/null; then
        listening=yes
        break
    fi
    sleep 1
done
[ -n "$listening" ] || false "radosgw did not answer on port $rgw_port within 120 s"
cat >"$dir/env" <<EOF
FITSBAK_CEPH_ENDPOINT=http://127.0.0.1:$rgw_port
FITSBAK_CEPH_ACCESS_KEY=$access
FITSBAK_CEPH_SECRET_KEY=$secret
EOF
cat "$dir/env"
