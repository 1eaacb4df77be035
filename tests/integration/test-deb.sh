#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine as a Debian package: dpkg-buildpackage -b turns this source tree into a .deb that is
# lintian-clean at the default level and holds the binary, the generator, the units, the networkd
# files, the recipes, the man pages and the completions where this release's systemd and
# bash-completion say (pkg-config), not at fixed paths. Installed with dpkg in a nested systemd test
# host, its files drive a declarative machine: daemon-reload runs the installed generator, starting the
# unit builds the machine with the installed binary and boots it; the timer and service verify; the
# package is removed and purged without leftovers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${MKMACHINE_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require
tap_require dpkg-buildpackage dh lintian pkg-config

work=$(mktemp -d /var/tmp/test-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- Build: from a copy of the tree as it is (build directories and git metadata left out) ----------
mkdir -p "$work/mkmachine"
tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/mkmachine" -xf -
if (cd "$work/mkmachine" && dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1); then
    ok "dpkg-buildpackage -b builds the package"
else
    not_ok "dpkg-buildpackage -b builds the package"
    tail -n 30 "$work/build.log" | sed 's/^/#   /'
    tap_done
    exit 1
fi
deb=$(ls "$work"/mkmachine_*_*.deb)
lintian "$deb" "$work"/mkmachine_*.changes >"$work/lintian" 2>&1 || true
grep -v 'running with root privileges' "$work/lintian" | sed 's/^/#   /' || true
check "lintian reports no error and no warning" sh -c "! grep -qE '^[EW]: ' '$work/lintian'"

dpkg -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/files"
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
gendir=$(pkg-config --variable=systemdsystemgeneratordir systemd)
netdir=$(pkg-config --variable=systemdutildir systemd)/network
bashdir=$(pkg-config --variable=completionsdir bash-completion)
for f in /usr/bin/mkmachine "$gendir/mkmachine-generator" "$unitdir/mkmachine-auto-update.service" \
        "$unitdir/mkmachine-auto-update.timer" "$netdir/90-mkmachine-ve.network" \
        "$netdir/90-mkmachine-vz.network" /usr/share/mkmachine/recipes/bookworm.conf \
        /usr/share/mkmachine/recipes/trixie.conf /usr/share/man/man1/mkmachine.1.gz \
        /usr/share/man/man5/mkmachine.recipe.5.gz /usr/share/man/man5/mkmachine.machine.5.gz \
        "$bashdir/mkmachine" /usr/share/zsh/site-functions/_mkmachine; do
    check "the package has $f" grep -qx "$f" "$work/files"
done
check "it depends on gpgv and its libraries" sh -c \
    "dpkg-deb -f '$deb' Depends | grep -q gpgv && dpkg-deb -f '$deb' Depends | grep -q libarchive"

# --- Installed in a test host ---------------------------------------------------------------------
TH_STOP_TIMEOUT=30
th_build_trees
th_start deb
th_copy_in "$deb" /root/mkmachine.deb
th_copy_in "$TH_GUEST_TAR" /root/guest.tar
if th_run dpkg -i /root/mkmachine.deb >"$work/dpkg.log" 2>&1; then
    ok "dpkg -i installs it (its dependencies are there)"
else
    not_ok "dpkg -i installs it: $(tail -n 5 "$work/dpkg.log")"
fi
check "mkmachine --version runs from /usr/bin" sh -c \
    "nsenter -t $TH_LEADER -a /usr/bin/mkmachine --version | grep -q mkmachine"

mkdir -p "$TH_ROOT/etc/mkmachine/machines"
printf '[Machine]\nSource=/root/guest.tar\nRestart=always\n\n[Install]\nWantedBy=machines.target\n' \
    >"$TH_ROOT/etc/mkmachine/machines/pkg.machine"
check "daemon-reload runs the installed generator" sh -c \
    "nsenter -t $TH_LEADER -a systemctl daemon-reload &&
     nsenter -t $TH_LEADER -a systemctl show -p DropInPaths --value systemd-nspawn@pkg.service |
     grep -q '50-mkmachine-restart.conf'"
check "its build unit calls the installed binary" th_run grep -qx 'ExecStart=/usr/bin/mkmachine __ensure pkg' \
    /run/systemd/generator/mkmachine-build@pkg.service
check "starting the unit builds the machine and boots it" sh -c \
    "nsenter -t $TH_LEADER -a systemctl start systemd-nspawn@pkg.service &&
     for i in \$(seq 60); do
         [ \"\$(nsenter -t $TH_LEADER -a machinectl show pkg -p State --value 2>/dev/null)\" = running ] && exit 0
         sleep 1
     done; exit 1"
check "mkmachine list shows it running" sh -c "nsenter -t $TH_LEADER -a mkmachine list | grep -q '^pkg .*running'"
check "the auto-update service and timer verify" th_run systemd-analyze verify --man=no \
    "$unitdir/mkmachine-auto-update.service" "$unitdir/mkmachine-auto-update.timer"
th_run systemctl stop systemd-nspawn@pkg.service
th_run sh -c 'rm -f /etc/mkmachine/machines/pkg.machine && systemctl daemon-reload'
th_run mkmachine remove pkg >/dev/null 2>&1 || true
check "dpkg --purge removes every file of the package" sh -c \
    "nsenter -t $TH_LEADER -a dpkg --purge mkmachine >/dev/null &&
     while read -r f; do [ -d \"$TH_ROOT\$f\" ] || [ ! -e \"$TH_ROOT\$f\" ] || exit 1; done <'$work/files'"

th_stop
tap_done
