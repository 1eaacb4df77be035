#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine pull end to end: a registry on the outer machine (on the outer end of the test host's veth,
# a namespace this test makes) serves an image whose entrypoint is busybox httpd; inside the nested
# systemd test host mkmachine pulls it, machinectl starts it, and the entrypoint answers over HTTP from
# the outer machine; the machine is then stopped and removed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require
for tool in umoci skopeo docker-registry curl; do
    command -v "$tool" >/dev/null && continue
    if [ "${MKMACHINE_MUST_WORK:-0}" = 1 ]; then
        echo "Bail out! $tool missing (and MKMACHINE_MUST_WORK=1)"
        exit 1
    fi
    echo "1..0 # SKIP $tool missing"
    exit 77
done
th_build_trees

work=$(mktemp -d /var/tmp/test-pull-boot.XXXXXX)
registry_pid=
cleanup_pull() {
    [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup_pull EXIT

# The image: busybox (and the libraries it needs) with an index page; the entrypoint serves it.
cd "$work"
umoci init --layout img
umoci new --image img:base
umoci unpack --image img:base b >/dev/null
# No /usr: the pull adds the one systemd-nspawn wants.
mkdir -p b/rootfs/bin b/rootfs/www
cp /bin/busybox b/rootfs/bin/
for lib in $(ldd /bin/busybox | grep -o '/[^ ]*'); do
    mkdir -p "b/rootfs$(dirname "$lib")"
    cp -L "$lib" "b/rootfs$lib"
done
printf 'hello from a pulled image\n' >b/rootfs/www/index.html
umoci repack --image img:web b >/dev/null
umoci config --image img:web --config.entrypoint /bin/busybox \
    --config.cmd httpd --config.cmd -f --config.cmd -p --config.cmd 8080 --config.cmd -h --config.cmd /www \
    >/dev/null

th_start pullboot

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $TH_ADDR_OUTER:$port
EOF
env -u REGISTRY_AUTH_FILE docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$TH_ADDR_OUTER:$port/v2/" && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false oci:img:web "docker://$TH_ADDR_OUTER:$port/e2e/web:1"
ok "registry on the outer end of the veth ($TH_ADDR_OUTER:$port) holds the image"

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
export ASAN_OPTIONS UBSAN_OPTIONS

if th_run mkmachine -q --tls-verify=false pull "$TH_ADDR_OUTER:$port/e2e/web:1" --network=host 2>&1; then
    ok "mkmachine pull inside the test host"
else
    not_ok "mkmachine pull inside the test host"
fi
check "the machine is named after the repository" test -x "$TH_ROOT/var/lib/machines/web/bin/busybox"
check "its .nspawn runs the entrypoint" grep -qzP \
    'Boot=no\nParameters=/bin/busybox httpd -f -p 8080 -h /www\n' "$TH_ROOT/etc/systemd/nspawn/web.nspawn"
check "machinectl list-images shows it" \
    sh -c "nsenter -t '$TH_LEADER' -a machinectl list-images --no-legend | grep -q '^web '"

check "mkmachine start web" th_run mkmachine start web
check "machined reports the machine running" \
    th_wait_for 30 sh -c "[ \"\$(machinectl show web -p State --value)\" = running ]"
if curl -s --retry 30 --retry-delay 1 --retry-all-errors -m 5 "http://$TH_ADDR_INNER:8080/index.html" \
    >"$work/page" 2>&1 && grep -q 'hello from a pulled image' "$work/page"; then
    ok "the entrypoint (busybox httpd) answers from the outer machine"
else
    not_ok "no answer from the entrypoint: $(cat "$work/page"); $(th_run journalctl -u systemd-nspawn@web \
        --no-pager 2>&1 | tail -20)"
fi

check "mkmachine stop web" th_run mkmachine stop web
check "mkmachine remove web" th_run mkmachine remove web
check "the machine is gone" test ! -e "$TH_ROOT/var/lib/machines/web"

th_stop
tap_done
