#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke test of the nested systemd test host (testhost.sh): builds or reuses the cached trees, boots
# the test host, checks systemd and machinectl inside, reboots it, stops it and checks that nothing
# is left behind. TAP output; exit 77 (skip) without root or tools unless MKMACHINE_MUST_WORK=1.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=testhost.sh
. "$(dirname "$0")/testhost.sh"

n=0
fail=0
ok() {  # ok DESCRIPTION: TAP "ok"
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {  # not_ok DESCRIPTION [DETAILS…]: TAP "not ok" with the details as comments
    n=$((n + 1))
    echo "not ok $n - $1"
    shift
    [ $# = 0 ] || printf '%s\n' "$@" | sed 's/^/# /'
    fail=1
}
now_ms() {  # milliseconds since the epoch
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}
secs_since() {  # secs_since MS: seconds since MS, with a decimal
    local d=$(($(now_ms) - $1))
    printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}
check_running() {  # check_running WHAT: the test host reports "running"
    local state
    state=$(th_run systemctl is-system-running 2>&1) || true
    if [ "$state" = running ]; then
        ok "$1: test host is running"
    else
        not_ok "$1: test host is running (is '$state')" \
            "$(th_run systemctl --failed --no-legend --plain 2>&1 || true)"
    fi
}

th_require
echo "1..9"

t0=$SECONDS
th_build_trees
echo "# trees ready in $((SECONDS - t0)) s: $TH_HOST_TAR $(basename "$(th_guest_tar)")"
if [ -s "$TH_HOST_TAR" ] && [ -s "$(th_guest_tar)" ]; then
    ok "host and guest trees are in the cache"
else
    not_ok "host and guest trees are in the cache"
fi

start=$(now_ms)
th_start smoke
echo "# booted in $(secs_since "$start") s: $TH_MACHINE leader $TH_LEADER ns $TH_NS"
ns=$TH_NS root=$TH_ROOT machine=$TH_MACHINE
veth_pattern="^[0-9]+: th[oi]$$x"
check_running "first boot"

if out=$(th_run machinectl list --no-legend 2>&1); then
    ok "machinectl list works inside"
else
    not_ok "machinectl list works inside" "$out"
fi

# (grep -q on a here-string: in a pipe, under pipefail, its early exit can fail the pipe.)
if out=$(th_run ip -4 -o addr show 2>&1) && grep -qF "inet $TH_ADDR_INNER/24" <<<"$out" &&
    grep -qF "inet $TH_ADDR_OUTER/24" <<<"$(ip -4 -o addr show)"; then
    ok "veth addresses: $TH_ADDR_OUTER outside, $TH_ADDR_INNER inside"
else
    not_ok "veth addresses: $TH_ADDR_OUTER outside, $TH_ADDR_INNER inside" "$out"
fi

marker=/usr/local/lib/testhost-marker
th_copy_in "$0" "$marker"
if th_run cmp -s "$marker" /dev/stdin <"$0"; then
    ok "th_copy_in copies into the tree"
else
    not_ok "th_copy_in copies into the tree"
fi

old_leader=$TH_LEADER old_ns=$TH_NS
start=$(now_ms)
th_reboot
echo "# rebooted in $(secs_since "$start") s: leader $TH_LEADER ns $TH_NS"
if [ "$TH_LEADER" != "$old_leader" ] && [ "$TH_NS" != "$old_ns" ] && [ ! -e "/run/netns/$old_ns" ]; then
    ok "reboot: new leader and fresh netns, old netns gone"
else
    not_ok "reboot: new leader and fresh netns, old netns gone"
fi
check_running "after reboot"
ns2=$TH_NS

if th_stop; then
    ok "th_stop: clean power off"
else
    not_ok "th_stop: clean power off"
fi

left=()
for x in "$ns" "$ns2"; do
    [ ! -e "/run/netns/$x" ] || left+=("netns $x")
done
if links=$(ip -o link show | grep -E "$veth_pattern"); then
    left+=("veth: $links")
fi
if procs=$(pgrep -a -f "systemd-nspawn .*--machine=$machine( |$)"); then
    left+=("nspawn: $procs")
fi
[ ! -e "$root" ] || left+=("tree $root")
for x in /sys/fs/cgroup/mkmachine-th-"$$"-* /sys/fs/cgroup/*/mkmachine-th-"$$"-*; do
    [ ! -e "$x" ] || left+=("cgroup $x")
done
if mounts=$(findmnt -rn -o TARGET | grep -F "$(dirname "$root")"); then
    left+=("mounts: $mounts")
fi
if [ ${#left[@]} = 0 ]; then
    ok "nothing left behind"
else
    not_ok "nothing left behind" "${left[@]}"
fi

exit "$fail"
