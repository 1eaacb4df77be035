#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine auto-update with restart, health check and rollback, in the nested systemd test host.
# Images are built and pushed on the outer machine to a local registry (registry.sh) listening on the
# outer end of the test host's veth; inside, a machine pulled from it runs as systemd-nspawn@.service.
# A good new image under the tag: updated, running again, new digest recorded. A broken one (its
# command exits at once): rolled back, the old tree and digest back, running again, exit != 0, a
# message naming the machine. Also systemd-analyze verify of the shipped service and timer.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"
# shellcheck source=tests/integration/registry.sh
. "$here/registry.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}
MKMACHINE_BUILD_ROOT=${MKMACHINE_BUILD_ROOT:-$(dirname "$(dirname "$(dirname "$MKMACHINE")")")}

th_require
command -v docker-registry >/dev/null || th__die "docker-registry missing"
th_build_trees
work=$(mktemp -d /var/tmp/test-auto-update.XXXXXX)
cleanup_work() {
    registry_stop
    rm -rf "$work"
}
# th_start chains its own cleanup in front of this one.
trap cleanup_work EXIT
th_start autoupdate

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
export ASAN_OPTIONS UBSAN_OPTIONS

# A small tree that runs busybox, pushed from the outer machine with a private store.
mkm() {
    MKMACHINE_NSPAWN_DIR=$work/nspawn MKMACHINE_UNIT_DIR=$work/units MKMACHINE_NETWORK_DIR=$work/network \
        "$MKMACHINE" --image-root="$work/store" --cache-dir="$work/cache" -q "$@"
}
mkdir -p "$work/tree/bin" "$work/tree/etc" "$work/tree/usr/lib"
# systemd-nspawn wants an os-release to call a directory an OS tree.
printf 'ID=busybox\nNAME=busybox\n' >"$work/tree/usr/lib/os-release"
# The health command runs with /bin/sh -c.
ln -s busybox "$work/tree/bin/sh"
for f in /bin/busybox $(ldd /bin/busybox | grep -o '/[^ ]*'); do
    cp --parents -L "$f" "$work/tree"
done
printf 'v1\n' >"$work/tree/etc/version"
tar -C "$work/tree" -cf "$work/tree.tar" .

REGISTRY_ADDR=$TH_ADDR_OUTER
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry_start "$work/reg" "$port"
reg=$TH_ADDR_OUTER:$port

push_version() {  # push_version VERSION COMMAND…
    local v=$1
    shift
    mkm remove app 2>/dev/null || true
    printf '%s\n' "$v" >"$work/tree/etc/version"
    tar -C "$work/tree" -cf "$work/tree.tar" .
    mkm import-tar "$work/tree.tar" app
    mkm set app --exec -- "$@"
    mkm --tls-verify=false push app "$reg/test/app:latest"
}
inside() { th_run env MKMACHINE_HEALTH_SETTLE_SEC=5 MKMACHINE_HEALTH_TIMEOUT_SEC=30 "$@"; }
origin_digest() {
    getfattr --only-values -n trusted.mkmachine.origin "$TH_ROOT/var/lib/machines/app" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["manifest_digest"])'
}
active() { [ "$(th_run systemctl is-active systemd-nspawn@app.service 2>/dev/null)" = active ]; }

push_version v1 /bin/busybox sleep 100000
check "pull inside the test host from the outer registry" \
    inside mkmachine -q --tls-verify=false pull --auto-update=registry "$reg/test/app:latest" app
inside mkmachine -q set app --health-cmd='test -e /etc/version'
check "the machine starts" inside mkmachine start app
check "and runs" th_wait_for 20 sh -c "[ \"\$(systemctl is-active systemd-nspawn@app.service)\" = active ]"
d1=$(origin_digest)

# A good update of a running machine.
push_version v2 /bin/busybox sleep 100000
if inside mkmachine auto-update --json >"$work/up.json" 2>"$work/err"; then
    ok "auto-update of the running machine succeeds"
else
    not_ok "auto-update of the running machine succeeds ($(cat "$work/err"))"
fi
check "it reports 'updated'" python3 -c "
import json; l = json.load(open('$work/up.json')); assert l[0]['result'] == 'updated', l"
check "the tree is the new one" grep -qx v2 "$TH_ROOT/var/lib/machines/app/etc/version"
d2=$(origin_digest)
check "the new digest is recorded" test "$d2" != "$d1"
check "the machine runs again" active
check "the previous tree is kept" grep -qx v1 "$TH_ROOT/var/lib/machines/.#app.previous/etc/version"

# A broken update: its command fails at once. Rolled back.
push_version v3 /bin/busybox false
rc=0
inside mkmachine auto-update app >"$work/out" 2>"$work/err" || rc=$?
check "auto-update of a broken image exits non-zero" test "$rc" != 0
check "the message names the machine and the rollback" grep -q "Machine 'app': update rolled back" "$work/err"
sed 's/^/# /' "$work/err"
check "the old tree is back" grep -qx v2 "$TH_ROOT/var/lib/machines/app/etc/version"
check "the old digest is back" test "$(origin_digest)" = "$d2"
check "the old command is back" grep -qx 'Parameters=/bin/busybox sleep 100000' "$TH_ROOT/etc/systemd/nspawn/app.nspawn"
check "the machine runs again after the rollback" th_wait_for 20 sh -c \
    "[ \"\$(systemctl is-active systemd-nspawn@app.service)\" = active ]"
check "no temporary is left" test -z "$(find "$TH_ROOT/var/lib/machines" -maxdepth 1 -name '.#app.mkmachine-*')"

# A health command that fails: rolled back too, after the timeout.
push_version v4 /bin/busybox sleep 100000
inside mkmachine -q set app --health-cmd='test -e /etc/missing'
rc=0
th_run env MKMACHINE_HEALTH_SETTLE_SEC=2 MKMACHINE_HEALTH_TIMEOUT_SEC=8 mkmachine auto-update app \
    >"$work/out" 2>"$work/err" || rc=$?
check "a failing health command makes auto-update fail" test "$rc" != 0
check "the message names the health command" grep -q "Machine 'app': update rolled back: the health command" \
    "$work/err"
check "the tree before it is back" grep -qx v2 "$TH_ROOT/var/lib/machines/app/etc/version"
check "the machine runs again after that rollback" th_wait_for 20 sh -c \
    "[ \"\$(systemctl is-active systemd-nspawn@app.service)\" = active ]"
inside mkmachine -q set app --health-cmd='test -e /etc/version'

# --dry-run: the pending update reported, nothing changed, the machine untouched.
pid_before=$(th_run systemctl show -p MainPID --value systemd-nspawn@app.service)
inside mkmachine auto-update --dry-run --json >"$work/dry.json"
check "--dry-run reports the pending update" python3 -c "
import json; l = json.load(open('$work/dry.json')); assert l[0]['result'] == 'pending', l"
check "--dry-run changes nothing" test "$(origin_digest)" = "$d2" -a \
    "$(th_run systemctl show -p MainPID --value systemd-nspawn@app.service)" = "$pid_before"

inside mkmachine stop app || true

# A booted machine (the test host's Debian guest tree): healthy when is-system-running inside says
# so, and the health command runs in it with systemd-run -M.
mkm import-tar "$TH_GUEST_TAR" deb
mkm --tls-verify=false push deb "$reg/test/deb:latest"
inside mkmachine -q --tls-verify=false pull --auto-update=registry --health-cmd='test -e /etc/debian_version' \
    "$reg/test/deb:latest" deb
check "the pulled Debian machine boots" grep -qx 'Boot=yes' "$TH_ROOT/etc/systemd/nspawn/deb.nspawn"
inside mkmachine start deb
check "it reaches running" th_wait_for 60 sh -c \
    "systemd-run -M deb --wait -q -P systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'"
printf 'v2\n' >"$work/store/deb/etc/mkmachine-version"
mkm --tls-verify=false push deb "$reg/test/deb:latest"
rc=0
th_run env MKMACHINE_HEALTH_TIMEOUT_SEC=90 mkmachine auto-update deb >"$work/out" 2>"$work/err" || rc=$?
check "the booted machine is updated ($(tr '\n' ' ' <"$work/err"))" test "$rc" = 0
check "its new tree is in place" grep -qx v2 "$TH_ROOT/var/lib/machines/deb/etc/mkmachine-version"
check "and it runs" th_wait_for 30 sh -c \
    "[ \"\$(systemctl is-active systemd-nspawn@deb.service)\" = active ]"
inside mkmachine stop deb || true

# The shipped units.
for u in mkmachine-auto-update.service mkmachine-auto-update.timer; do
    th_copy_in "$MKMACHINE_BUILD_ROOT/units/$u" "/etc/systemd/system/$u" 2>/dev/null ||
        th_copy_in "$here/../../units/$u" "/etc/systemd/system/$u"
done
if out=$(th_run systemd-analyze verify --man=no /etc/systemd/system/mkmachine-auto-update.service \
        /etc/systemd/system/mkmachine-auto-update.timer 2>&1); then
    ok "systemd-analyze verify accepts the service and the timer"
else
    not_ok "systemd-analyze verify accepts the service and the timer"
    printf '%s\n' "$out" | sed 's/^/# /'
fi
check "the timer is not enabled by installing it" sh -c \
    "! nsenter -t '$TH_LEADER' -a systemctl is-enabled -q mkmachine-auto-update.timer"

tap_done
