#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine auto-update with the policy "packages", in the nested systemd test host. A bootable Debian
# machine is bootstrapped (on the outer machine, into the test host's store) from a local apt
# repository signed with a key made here (aptrepo.sh), served on the outer end of the test host's veth
# so that apt in the machine's tree, run by mkmachine inside the test host, reaches it too. The
# repository then publishes new versions of the synthetic package mkm-pkgtest, whose file
# /usr/share/mkm-pkgtest/state the health command checks:
#   1.1-1 (good): --dry-run lists it and changes nothing; the run installs it, the running machine
#         reports it, the previous tree is kept; a stopped copy of the machine is updated without
#         being booted.
#   1.2-1 (state "broken": the health command fails afterwards): rolled back, 1.1-1 is back, the
#         machine runs, exit != 0, "rolled back" in the message and the JSON.
#   1.3-1 (its postinst fails): nothing is swapped in, the machine runs again unchanged, exit != 0.
# Also the refusals: --auto-update=registry for the bootstrapped machine, packages for an imported one.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"
# shellcheck source=tests/integration/aptrepo.sh
. "$here/aptrepo.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

th_require
aptrepo_require
th_build_trees
work=$(mktemp -d /var/tmp/test-auto-update-packages.XXXXXX)
cleanup_work() { rm -rf "$work"; }
# th_start and aptrepo_serve chain their own cleanups in front of this one.
trap cleanup_work EXIT
th_start pkgupdate

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
export ASAN_OPTIONS UBSAN_OPTIONS
store=$TH_ROOT/var/lib/machines
mkdir -p "$store"

# mkm-pkgtest VERSION STATE [POSTINST]: a package with the two files the test looks at; POSTINST
# replaces its postinst.
make_pkgtest() {
    local v=$1 state=$2 postinst=${3:-} root=$work/deb-$1
    mkdir -p "$root/DEBIAN" "$root/usr/share/mkm-pkgtest" "$work/v$v"
    printf '%s\n' "$state" >"$root/usr/share/mkm-pkgtest/state"
    printf '%s\n' "$v" >"$root/usr/share/mkm-pkgtest/version"
    printf 'Package: mkm-pkgtest\nVersion: %s\nArchitecture: all\nMaintainer: mkmachine tests <test@invalid>\nPriority: optional\nDescription: mkmachine auto-update test package\n' \
        "$v" >"$root/DEBIAN/control"
    printf '#!/bin/sh\nset -e\nif [ "$1" = configure ]; then mkdir -p /var/lib/mkm-test; echo "%s" >>/var/lib/mkm-test/pkgtest.configured; fi\n%s\n' \
        "$v" "$postinst" >"$root/DEBIAN/postinst"
    chmod 755 "$root/DEBIAN/postinst"
    chmod -R go-w "$root"
    SOURCE_DATE_EPOCH=$APTREPO_SOURCE_DATE_EPOCH dpkg-deb --root-owner-group -Zxz --build "$root" \
        "$work/v$v/mkm-pkgtest_${v}_all.deb" >/dev/null
}
# publish VERSION: the repository lists the real packages and exactly this mkm-pkgtest.
publish() { aptrepo_build "$work/repo" bookworm main "$work/key" "$real" "$work/v$1" >/dev/null; }

real=$(aptrepo_fetch_real_debs bookworm systemd systemd-sysv dbus iproute2 ca-certificates)
aptrepo_genkey "$work/key"
make_pkgtest 1.0-1 ok
make_pkgtest 1.1-1 ok
make_pkgtest 1.2-1 broken
make_pkgtest 1.3-1 ok 'exit 1'
publish 1.0-1
APTREPO_BIND=$TH_ADDR_OUTER aptrepo_serve "$work/repo"

cat >"$work/pkg.conf" <<CONF
[Recipe]
Description=bootable minbase from the local test repository

[Distribution]
Distribution=debian
Suite=bookworm
SourcesFormat=one-line
Components=main
Architecture=amd64
Mirror=$APTREPO_URL
Keyring=$work/key/keyring.gpg

[Packages]
Variant=minbase
Include=apt systemd systemd-sysv dbus iproute2 mkm-pkgtest

[Setup]
RootLocked=yes
EnableServices=systemd-networkd.service
CONF

mkm_out() { "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache" -q "$@"; }
start=$SECONDS
if mkm_out bootstrap "$work/pkg.conf" --name=pkg --auto-update=packages \
        --health-cmd='grep -qx ok /usr/share/mkm-pkgtest/state' 2>"$work/err"; then
    ok "bootstrap with --auto-update=packages from the local signed repository ($((SECONDS - start)) s)"
else
    not_ok "bootstrap with --auto-update=packages: $(tail -n 20 "$work/err")"
fi
origin() { getfattr --only-values -n trusted.mkmachine.origin "$store/$1" 2>/dev/null; }
check "the origin record carries the policy and the health command" python3 -c "
import json, sys; o = json.loads(sys.argv[1])
assert o['type'] == 'bootstrap' and o['auto_update'] == 'packages', o
assert o['health_cmd'] == 'grep -qx ok /usr/share/mkm-pkgtest/state', o" "$(origin pkg)"
# The machine's apt trusts the repository's key as a real machine trusts its distribution's (which
# comes with its keyring package).
mkdir -p "$store/pkg/etc/apt/trusted.gpg.d"
cp "$work/key/keyring.gpg" "$store/pkg/etc/apt/trusted.gpg.d/mkm-test.gpg"

# The policies and the origins that do not go together are refused, with the policy to use.
rc=0
mkm_out set pkg --auto-update=registry 2>"$work/err" || rc=$?
check "set --auto-update=registry of a bootstrapped machine is refused ($(cat "$work/err"))" \
    sh -c "[ $rc != 0 ] && grep -q 'auto-update=packages' '$work/err'"
mkdir -p "$work/tiny/etc"
echo tiny >"$work/tiny/etc/hostname"
tar -C "$work/tiny" -cf "$work/tiny.tar" .
mkm_out import-tar "$work/tiny.tar" tiny
rc=0
mkm_out set tiny --auto-update=packages 2>"$work/err" || rc=$?
check "set --auto-update=packages of an imported tar is refused ($(cat "$work/err"))" \
    sh -c "[ $rc != 0 ] && grep -q 'bootstrapped from a recipe' '$work/err'"
rc=0
mkm_out import-tar "$work/tiny.tar" tiny2 --auto-update=packages 2>"$work/err" || rc=$?
check "import-tar --auto-update=packages is refused" test "$rc" != 0
mkm_out remove tiny

mkm_out clone pkg pkgstop
check "the clone keeps the policy" grep -q '"auto_update":"packages"' <<<"$(origin pkgstop)"

inside() { th_run env MKMACHINE_HEALTH_SETTLE_SEC=2 MKMACHINE_HEALTH_TIMEOUT_SEC=60 "$@"; }
# dpkg-query prints "mkm-pkgtest<TAB>VERSION" (no -f: systemd-run would expand its ${…}).
version_in_tree() { chroot "$store/$1" dpkg-query -W mkm-pkgtest | cut -f 2; }
version_running() { th_run systemd-run -M "$1" --wait -q -G -P dpkg-query -W mkm-pkgtest | cut -f 2; }
active() { [ "$(th_run systemctl is-active "systemd-nspawn@$1.service" 2>/dev/null)" = active ]; }
booted() {
    th_wait_for 60 sh -c "systemd-run -M $1 --wait -q -G -P systemctl is-system-running 2>/dev/null |
        grep -qE 'running|degraded'"
}
no_temporaries() { test -z "$(find "$store" -maxdepth 1 -name '.#*.mkmachine-*')"; }
lists_sum() { (cd "$store/$1/var/lib/apt/lists" && find . -type f -exec sha256sum {} + | sort | sha256sum); }

inside mkmachine start pkg
check "the bootstrapped machine boots in the test host" booted pkg
check "it runs mkm-pkgtest 1.0-1" test "$(version_running pkg)" = 1.0-1

# Nothing published yet: up to date, reported as such.
inside mkmachine auto-update --dry-run --json >"$work/dry0.json" 2>"$work/err" || true
check "nothing pending: both machines are up-to-date ($(tr '\n' ' ' <"$work/err"))" python3 -c "
import json; l = {m['name']: m for m in json.load(open('$work/dry0.json'))}
assert l['pkg']['policy'] == 'packages' and l['pkg']['result'] == 'up-to-date' and l['pkg']['upgrades'] == [], l
assert l['pkgstop']['result'] == 'up-to-date', l"

# 1.1-1: --dry-run lists it and changes nothing.
publish 1.1-1
pid_before=$(th_run systemctl show -p MainPID --value systemd-nspawn@pkg.service)
lists_before=$(lists_sum pkg)
inside mkmachine auto-update --dry-run --json >"$work/dry.json" 2>"$work/err" || true
check "--dry-run --json lists mkm-pkgtest 1.0-1 → 1.1-1 for both machines" python3 -c "
import json; l = {m['name']: m for m in json.load(open('$work/dry.json'))}
for n in ('pkg', 'pkgstop'):
    m = l[n]; assert m['result'] == 'pending', m
    assert {'package': 'mkm-pkgtest', 'installed': '1.0-1', 'candidate': '1.1-1', 'architecture': 'all'} in m['upgrades'], m"
inside mkmachine auto-update --dry-run pkg >"$work/out" 2>&1 || true
sed 's/^/# /' "$work/out"
check "--dry-run says it in words" grep -q 'mkm-pkgtest 1.0-1 → 1.1-1' "$work/out"
check "--dry-run changes nothing: the package, apt's lists, the running machine, no previous tree" sh -c "
    [ \"\$(chroot '$store/pkg' dpkg-query -W mkm-pkgtest | cut -f 2)\" = 1.0-1 ] &&
    [ '$(lists_sum pkg)' = '$lists_before' ] &&
    [ \"\$(nsenter -t $TH_LEADER -a systemctl show -p MainPID --value systemd-nspawn@pkg.service)\" = '$pid_before' ] &&
    [ ! -e '$store/.#pkg.previous' ]"
check "no temporary is left after --dry-run" no_temporaries

# The run on the running machine: installed, running again, healthy.
rc=0
inside mkmachine auto-update pkg --json >"$work/up.json" 2>"$work/err" || rc=$?
check "auto-update of the running machine succeeds ($(tail -n 5 "$work/err" | tr '\n' ' '))" test "$rc" = 0
check "it reports 'updated' with the package" python3 -c "
import json; m = json.load(open('$work/up.json'))[0]
assert m['result'] == 'updated' and m['upgrades'][0]['candidate'] == '1.1-1', m"
check "the machine runs again" active pkg
booted pkg || true
check "the running machine reports mkm-pkgtest 1.1-1" test "$(version_running pkg)" = 1.1-1
check "its postinst ran in the update" grep -qx 1.1-1 "$store/pkg/var/lib/mkm-test/pkgtest.configured"
check "the previous tree (1.0-1) is kept" test "$(version_in_tree .#pkg.previous)" = 1.0-1
check "no policy-rc.d left behind" test ! -e "$store/pkg/usr/sbin/policy-rc.d"
check "the stopped machine was not touched" test "$(version_in_tree pkgstop)" = 1.0-1
check "no temporary is left after the update" no_temporaries

# The stopped machine: updated in its tree, never booted.
rc=0
inside mkmachine auto-update pkgstop --json >"$work/stop.json" 2>"$work/err" || rc=$?
check "auto-update of the stopped machine succeeds ($(tail -n 5 "$work/err" | tr '\n' ' '))" test "$rc" = 0
check "it reports 'updated'" python3 -c "
import json; m = json.load(open('$work/stop.json'))[0]; assert m['result'] == 'updated', m"
check "its tree has mkm-pkgtest 1.1-1" test "$(version_in_tree pkgstop)" = 1.1-1
check "it was not booted: its unit never started" test -z \
    "$(th_run systemctl show -p InvocationID --value systemd-nspawn@pkgstop.service)"
check "and it is not running" sh -c "! nsenter -t $TH_LEADER -a machinectl show pkgstop >/dev/null 2>&1"

# 1.2-1 breaks the machine (the health command fails afterwards): rolled back.
publish 1.2-1
rc=0
th_run env MKMACHINE_HEALTH_SETTLE_SEC=2 MKMACHINE_HEALTH_TIMEOUT_SEC=20 mkmachine auto-update pkg --json \
    >"$work/bad.json" 2>"$work/err" || rc=$?
sed 's/^/# /' "$work/err"
check "auto-update of a breaking package update exits non-zero" test "$rc" != 0
check "the message names the machine and the rollback" grep -q "Machine 'pkg': update rolled back" "$work/err"
check "the JSON says rolled-back" python3 -c "
import json; m = json.load(open('$work/bad.json'))[0]
assert m['result'] == 'rolled-back' and 'health command' in m['reason'], m"
check "the machine runs again after the rollback" th_wait_for 30 sh -c \
    "[ \"\$(systemctl is-active systemd-nspawn@pkg.service)\" = active ]"
booted pkg || true
check "the running machine has 1.1-1 again" test "$(version_running pkg)" = 1.1-1
check "and its health command passes" th_run systemd-run -M pkg --wait -q -G -P sh -c \
    'grep -qx ok /usr/share/mkm-pkgtest/state'
check "no temporary is left after the rollback" no_temporaries

# 1.3-1's postinst fails: the install fails in the copy, the machine is unchanged and runs again.
publish 1.3-1
rc=0
inside mkmachine auto-update pkg >"$work/out" 2>"$work/err" || rc=$?
sed 's/^/# /' "$work/err"
check "a failing postinst makes auto-update fail" test "$rc" != 0
check "the message says the machine is unchanged" grep -q "Machine 'pkg': update failed: .*unchanged" "$work/err"
check "the machine runs again" th_wait_for 30 sh -c \
    "[ \"\$(systemctl is-active systemd-nspawn@pkg.service)\" = active ]"
booted pkg || true
check "it still has 1.1-1" test "$(version_running pkg)" = 1.1-1
check "no temporary is left after the failure" no_temporaries

inside mkmachine stop pkg || true
th_stop
tap_done
