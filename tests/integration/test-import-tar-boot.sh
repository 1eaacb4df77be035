#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The first vertical slice, for real: inside a nested systemd test host (real machined, real units,
# real networkd) mkmachine imports a bootable Debian tree, machinectl starts it, it reaches
# "running", a command runs in it with systemd-run -M, and the image locks keep mkmachine from
# removing the running machine; after poweroff it can be removed and is gone for machinectl too.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require
th_build_trees
th_start importboot

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
th_copy_in "$TH_GUEST_TAR" /root/guest.tar
# The sanitizers' settings (CI) apply inside too.
export ASAN_OPTIONS UBSAN_OPTIONS

if th_run mkmachine -q import-tar /root/guest.tar guest 2>&1; then
    ok "mkmachine import-tar inside the test host"
else
    not_ok "mkmachine import-tar inside the test host"
fi
check "machinectl list-images shows the machine" \
    sh -c "nsenter -t '$TH_LEADER' -a machinectl list-images --no-legend | grep -q '^guest '"
check "mkmachine list shows it with its source" \
    sh -c "nsenter -t '$TH_LEADER' -a mkmachine list | grep -q '^guest .*/root/guest.tar'"

th_run machinectl start guest
check "machinectl start guest" th_wait_for 30 sh -c "machinectl list --no-legend | grep -q '^guest '"
check "machined reports the machine running" \
    th_wait_for 30 sh -c "[ \"\$(machinectl show guest -p State --value)\" = running ]"
check "the guest's systemd is up" th_wait_for 60 systemd-run -M guest --wait -q -G -P true
state=$(th_run systemd-run -M guest --wait -q -G -P systemctl is-system-running --wait 2>&1 || true)
check "the guest reaches running (got '$state')" test "$state" = running
release=$(th_run systemd-run -M guest --wait -q -G -P cat /etc/os-release 2>&1 || true)
check "systemd-run -M runs a command in the guest" grep -q 'VERSION_CODENAME=bookworm' <<<"$release"
hostname=$(th_run systemd-run -M guest --wait -q -G -P hostname 2>&1 || true)
check "the guest is called by its machine name (got '$hostname')" test "$hostname" = guest

# The lock systemd-nspawn holds on the running image keeps mkmachine off it.
if th_run mkmachine remove guest 2>"$TH_ROOT/tmp/err"; then
    not_ok "mkmachine remove of a running machine must fail"
else
    check "mkmachine remove of a running machine is refused as in use ($(cat "$TH_ROOT/tmp/err"))" \
        grep -q "in use" "$TH_ROOT/tmp/err"
fi
check "the running machine is still there" test -d "$TH_ROOT/var/lib/machines/guest/etc"
if th_run mkmachine import-tar --force /root/guest.tar guest 2>"$TH_ROOT/tmp/err"; then
    not_ok "mkmachine import-tar --force onto a running machine must fail"
else
    check "replacing a running machine is refused ($(cat "$TH_ROOT/tmp/err"))" grep -q "in use" "$TH_ROOT/tmp/err"
fi

th_run machinectl poweroff guest
check "the guest powers off" th_wait_for 60 sh -c "! machinectl list --no-legend | grep -q '^guest '"

# The other way round: while mkmachine replaces a machine, machinectl keeps off it. The input comes
# slowly through a FIFO; an interruption then leaves the old machine as it was.
mkfifo "$TH_ROOT/root/slow"
nsenter -t "$TH_LEADER" -a mkmachine -q import-tar --force /root/slow guest 2>"$TH_ROOT/tmp/err" &
import_pid=$!
exec 7>"$TH_ROOT/root/slow"
head -c 3000000 "$TH_GUEST_TAR" >&7
check "machinectl remove is refused while mkmachine replaces the machine" \
    sh -c "! nsenter -t '$TH_LEADER' -a machinectl remove guest 2>'$TH_ROOT/tmp/err2'"
sed 's/^/# machinectl: /' "$TH_ROOT/tmp/err2"
# nsenter runs mkmachine as its child (to enter the PID namespace). SIGTERM, not SIGINT: a
# background job of a script starts with SIGINT ignored.
kill -TERM "$(pgrep -P $import_pid)"
rc=0
wait $import_pid || rc=$?
exec 7>&-
check "interrupted replacement: killed by SIGTERM, the old machine is intact (rc=$rc)" \
    sh -c "[ $rc = 143 ] && [ -x '$TH_ROOT/var/lib/machines/guest/usr/lib/systemd/systemd' ]"
check "no temporary left" sh -c "! ls -A '$TH_ROOT/var/lib/machines' | grep -q mkmachine"

th_run mkmachine rename guest guest2
check "machinectl sees the rename" \
    sh -c "nsenter -t '$TH_LEADER' -a machinectl list-images --no-legend | grep -q '^guest2 '"
th_run mkmachine remove guest2
check "after mkmachine remove, machinectl no longer lists the image" \
    sh -c "! nsenter -t '$TH_LEADER' -a machinectl list-images --no-legend | grep -q guest"
check "nothing is left in the store" \
    sh -c "[ -z \"\$(ls -A '$TH_ROOT/var/lib/machines')\" ]"

th_stop
tap_done
