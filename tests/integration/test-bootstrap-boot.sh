#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real thing, end to end: `mkmachine bookworm` against the Debian mirror the host's apt uses,
# straight into the store of a nested systemd test host; there the machine must boot
# (machinectl start), reach running, and get an address on host0 by DHCP from the test host's
# networkd. The package cache is kept (under the test cache), so later runs download nothing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}
cache=${MKMACHINE_TEST_CACHE:-/var/cache/mkmachine-tests}/bootstrap-cache

th_require
th_build_trees
th_start bootstrap

store=$TH_ROOT/var/lib/machines
mkdir -p "$store" "$cache"
start=$(date +%s)
if "$MKMACHINE" --image-root="$store" --cache-dir="$cache" -q bookworm --name=deb --fresh \
        2>"$TH_ROOT/tmp/err"; then
    ok "mkmachine bookworm from the host's Debian mirror ($(($(date +%s) - start)) s)"
else
    not_ok "mkmachine bookworm: $(tail -n 20 "$TH_ROOT/tmp/err")"
fi

audit=$(chroot "$store/deb" dpkg --audit 2>&1 || true)
check "dpkg --audit is clean ('$audit')" test -z "$audit"
not_installed=$(chroot "$store/deb" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' | grep -vc '^ii ' || true)
check "dpkg -l shows every package installed ($not_installed not)" test "$not_installed" = 0
check "systemd-networkd is enabled" \
    test -L "$store/deb/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
check "/etc/machine-id is empty" test ! -s "$store/deb/etc/machine-id"
check "no /etc/hostname: the machine is named by nspawn" test ! -e "$store/deb/etc/hostname"
check "the root account is locked" grep -q '^root:[!*]' "$store/deb/etc/shadow"
check "no policy-rc.d left behind" test ! -e "$store/deb/usr/sbin/policy-rc.d"
check "the origin records recipe and mirror" \
    sh -c "'$MKMACHINE' --image-root='$store' show deb --json | grep -q '\"recipe\": \"bookworm\"'"

th_run machinectl start deb
check "machined reports the machine running" \
    th_wait_for 60 sh -c "[ \"\$(machinectl show deb -p State --value)\" = running ]"
check "the machine's systemd is up" th_wait_for 60 systemd-run -M deb --wait -q -G -P true
state=$(th_run systemd-run -M deb --wait -q -G -P systemctl is-system-running --wait 2>&1 || true)
check "the bootstrapped machine boots to running or degraded (got '$state')" \
    test "$state" = running -o "$state" = degraded
addr=""
for _ in $(seq 1 100); do
    addr=$(th_run systemd-run -M deb --wait -q -G -P ip -4 -o addr show dev host0 2>/dev/null || true)
    [[ $addr == *inet* ]] && break
    sleep 0.1
done
check "host0 has an address from DHCP ($addr)" grep -q 'inet ' <<<"$addr"
th_run machinectl poweroff deb
check "the machine powers off" th_wait_for 60 sh -c "! machinectl list --no-legend | grep -q '^deb '"

# A second machine from the warm cache: nothing is downloaded.
out=$("$MKMACHINE" --image-root="$store" --cache-dir="$cache" bookworm --name=deb2 2>&1 || true)
check "a second machine downloads no package ($(grep -o '[0-9]* packages downloaded' <<<"$out"))" \
    grep -qE '(^| )0 packages downloaded' <<<"$out"

# The seed scenario: a Debian machine that runs at boot. (The test host has no way to the mirror,
# so the machine was made from outside; enabling and starting it is done inside, over D-Bus.)
th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
export ASAN_OPTIONS UBSAN_OPTIONS
th_run mkmachine set deb2 --enable --now
check "mkmachine set --enable --now: deb2 runs" \
    th_wait_for 60 sh -c "[ \"\$(machinectl show deb2 -p State --value)\" = running ]"
check "…and systemd-nspawn@deb2 is enabled" th_run systemctl is-enabled -q systemd-nspawn@deb2.service
th_reboot
check "after a reboot of the test host deb2 is back by itself" \
    th_wait_for 60 sh -c "[ \"\$(machinectl show deb2 -p State --value)\" = running ]"
th_wait_for 60 systemd-run -M deb2 --wait -q -G -P true || true
state=$(th_run systemd-run -M deb2 --wait -q -G -P systemctl is-system-running --wait 2>&1 || true)
check "…and boots to running or degraded (got '$state')" test "$state" = running -o "$state" = degraded

th_stop
tap_done
