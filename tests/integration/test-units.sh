#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What units/ ships, for real in a nested systemd test host: with systemd's own
# 80-container-ve.network masked, mkmachine's 90-mkmachine-ve.network (installed where meson puts
# it) configures the host side of a machine's veth link, and the machine gets its address by DHCP;
# with systemd's file present, systemd's wins.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}
src=${MKMACHINE_SOURCE_ROOT:?set MKMACHINE_SOURCE_ROOT}

th_require
th_build_trees
th_start units

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
th_copy_in "$TH_GUEST_TAR" /root/guest.tar
th_copy_in "$src/units/90-mkmachine-ve.network" /usr/lib/systemd/network/90-mkmachine-ve.network
export ASAN_OPTIONS UBSAN_OPTIONS
th_run mkmachine -q import-tar /root/guest.tar guest --network=veth

# network_file LINK: the .network file networkd applied to LINK.
network_file() { th_run networkctl status "$1" 2>/dev/null | sed -n 's/^ *Network File: //p'; }

# boot_and_check WHAT: start the guest, check the .network file of its ve- link and its address.
boot_and_check() {
    local want=$1 file
    th_run mkmachine start guest
    check "the guest runs" th_wait_for 30 sh -c "[ \"\$(machinectl show guest -p State --value)\" = running ]"
    th_wait_for 30 sh -c "networkctl status ve-guest 2>/dev/null | grep -q 'Network File: /'" || true
    file=$(network_file ve-guest)
    check "ve-guest is configured by $want (got '$file')" test "$file" = "$want"
    check "…the guest's host0 has a DHCP address" th_wait_for 30 systemd-run -M guest --wait -q -G -P \
        sh -c "ip -4 -o addr show dev host0 | grep -q 'inet .* dynamic'"
    th_run mkmachine stop guest
    check "…and it stops" th_wait_for 30 sh -c "! machinectl list --no-legend | grep -q '^guest '"
}

boot_and_check /usr/lib/systemd/network/80-container-ve.network

# A host whose systemd lacks its own file: mask it (a link to /dev/null in /etc).
th_run ln -sf /dev/null /etc/systemd/network/80-container-ve.network
th_run networkctl reload
boot_and_check /usr/lib/systemd/network/90-mkmachine-ve.network

th_stop
tap_done
