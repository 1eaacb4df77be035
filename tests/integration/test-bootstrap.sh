#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine RECIPE against a local, signed apt repository on 127.0.0.1 (aptrepo.sh): the real .debs
# of a minbase tree plus synthetic packages exercising Essential, Pre-Depends, versions,
# alternatives, versioned Provides, xz/zstd/gzip members and maintainer scripts. The install result
# is checked (dpkg --audit, scripts ran), a warm cache downloads nothing (requests counted at the
# server), and every tampering — bad signature, foreign key, expired Release, wrong index or package
# digest, unsigned archive, a server dying mid-download, an unresolvable dependency — fails with a
# clear message, leaves the store as it was and the cache unpoisoned. Also the Ubuntu layout with
# the shipped jammy recipe.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"
# shellcheck source=tests/integration/aptrepo.sh
. "$here/aptrepo.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

aptrepo_require

# On RAM when there is room: dpkg's many small writes are slow on the VM's disk.
base=/dev/shm
[ "$(df --output=avail -k /dev/shm | tail -n 1)" -gt 4000000 ] || base=/var/tmp
work=$(mktemp -d "$base/test-bootstrap.XXXXXX")
trap 'rm -rf "$work"' EXIT
store=$work/store
mkdir -p "$store"

real=$(aptrepo_fetch_real_debs bookworm systemd systemd-sysv dbus iproute2 ca-certificates)
aptrepo_make_synthetic "$work/synthetic"
aptrepo_genkey "$work/key"
aptrepo_build "$work/repo" bookworm main "$work/key" "$real" "$work/synthetic"
aptrepo_build "$work/repo" jammy main "$work/key" "$real"
aptrepo_build "$work/repo" jammy universe "$work/key" "$work/synthetic"
# The shipped jammy recipe takes jammy-updates and jammy-security too; here they hold the same.
for suite in jammy-updates jammy-security; do
    aptrepo_build "$work/repo" $suite main "$work/key" "$real"
    aptrepo_build "$work/repo" $suite universe "$work/key" "$work/synthetic"
done
cp -a "$work/repo" "$work/pristine"
aptrepo_serve "$work/repo"
url=$APTREPO_URL

cat >"$work/test.conf" <<CONF
[Recipe]
Description=minbase from the local test repository, with the synthetic packages

[Distribution]
Distribution=debian
Suite=bookworm
Components=main
Architecture=amd64
Mirror=$url
Keyring=$work/key/keyring.gpg

[Packages]
Variant=minbase
Include=mkm-tool mkm-exact mkm-alt mkm-virtual-user mkm-replacer

[Setup]
RootLocked=yes

[Run]
Command=echo test >>/etc/mkm-runs
CONF

mkm() { "$MKMACHINE" --image-root="$store" "$@"; }
store_listing() { (cd "$store" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '); }
cache_listing() { (cd "$1" && find . -type f -printf '%p %s\n' | sort); }

# expect_failure WHAT PATTERN CACHE ARGS…: mkmachine fails, says PATTERN, store unchanged, and the
# cache holds only files whose names are their digests.
expect_failure() {
    local what=$1 pattern=$2 cache=$3 before after rc=0 bad=""
    shift 3
    before=$(store_listing)
    mkm --cache-dir="$cache" "$@" >"$work/out" 2>&1 || rc=$?
    after=$(store_listing)
    if [ -d "$cache/debs" ]; then
        for f in "$cache"/debs/*; do
            [ -e "$f" ] || continue
            sum=$(sha256sum "$f" | cut -d' ' -f1)
            [ "$(basename "$f")" = "$sum.deb" ] || bad="$bad $(basename "$f")"
        done
    fi
    if [ "$rc" != 0 ] && grep -qE -- "$pattern" "$work/out" && [ "$before" = "$after" ] && [ -z "$bad" ]; then
        ok "$what: refused ($(grep -E -- "$pattern" "$work/out" | head -n 1 | cut -c1-160))"
    else
        not_ok "$what: rc=$rc store '$before' -> '$after' bad cache files:$bad"
        sed 's/^/#   /' "$work/out" | tail -n 15
    fi
}

# --- A good build --------------------------------------------------------------------------------
cache=$work/cache
aptrepo_log_reset
if mkm --cache-dir="$cache" --recipe="$work/test.conf" -q 2>"$work/err"; then
    ok "bootstrap from the local repository"
else
    not_ok "bootstrap from the local repository: $(tail -n 20 "$work/err")"
fi
t=$store/test
audit=$(chroot "$t" dpkg --audit 2>&1 || true)
check "dpkg --audit is clean" test -z "$audit"
check "every package is installed" \
    sh -c "! chroot '$t' dpkg-query -W -f '\${db:Status-Abbrev} \${Package}\n' | grep -v '^ii '"
for p in mkm-base mkm-libfoo mkm-tool mkm-exact mkm-alt mkm-alt-b mkm-provider mkm-virtual-user; do
    check "$p is installed" sh -c "chroot '$t' dpkg-query -W -f '\${Status}' $p | grep -q 'install ok installed'"
done
check "the first alternative that exists was taken (no mkm-a-missing)" \
    sh -c "! chroot '$t' dpkg-query -W -f '\${Status}' mkm-a-missing 2>/dev/null | grep -q 'install ok installed'"
check "maintainer scripts ran: preinst and postinst configure" \
    sh -c "[ -s '$t/var/lib/mkm-test/mkm-tool.preinst' ] && [ -s '$t/var/lib/mkm-test/mkm-tool.configured' ]"
check "the conffile is in place" test -f "$t/etc/mkm-tool.conf"
check "files from xz, zstd and gzip members are there" \
    sh -c "[ -x '$t/usr/bin/mkm-hello' ] && chroot '$t' dpkg -L mkm-libfoo mkm-alt-b >/dev/null"
# mkmachine unpacks the packages itself and registers them in dpkg's database; dpkg only configures.
check "dpkg --verify: every file as its package's md5sums say" \
    sh -c "[ -z \"\$(chroot '$t' dpkg --verify 2>&1)\" ]"
check "preinsts ran as dpkg runs them (install, with dpkg's environment)" \
    sh -c "[ \"\$(cat '$t/var/lib/mkm-test/mkm-tool.preinst')\" = 'install preinst mkm-tool' ] &&
           [ \"\$(cat '$t/var/lib/mkm-test/mkm-libfoo.preinst')\" = 'install preinst mkm-libfoo' ]"
conf_md5=$(md5sum <"$t/etc/mkm-tool.conf" | cut -d' ' -f1)
check "the conffile's hash is recorded, no .dpkg-new left" \
    sh -c "chroot '$t' dpkg-query -W -f '\${Conffiles}' mkm-tool | grep -qx ' /etc/mkm-tool.conf $conf_md5' &&
           [ -z \"\$(find '$t/etc' -name '*.dpkg-new')\" ]"
check "a package without md5sums gets them made, as dpkg makes them" \
    sh -c "grep -qx \"\$(md5sum <'$t/usr/bin/mkm-tool' | cut -d' ' -f1)  usr/bin/mkm-tool\" \
           '$t/var/lib/dpkg/info/mkm-tool.md5sums'"
check "Multi-Arch: same packages have their info files as NAME:ARCH" \
    test -s "$t/var/lib/dpkg/info/mkm-libfoo:amd64.list"
check "dpkg -S finds a registered file's package" \
    sh -c "chroot '$t' dpkg -S /usr/bin/mkm-tool | grep -qx 'mkm-tool: /usr/bin/mkm-tool'"
check "trigger interests are registered" \
    sh -c "grep -qx '/usr/share/mkm-test/hooks mkm-base/noawait' '$t/var/lib/dpkg/triggers/File' &&
           grep -qx 'mkm-base' '$t/var/lib/dpkg/triggers/mkm-trigger'"
check "a package with a file of another is left to dpkg, which hands the file over (Replaces)" \
    sh -c "chroot '$t' dpkg -S /usr/share/mkm-test/base.txt | grep -qx 'mkm-replacer: /usr/share/mkm-test/base.txt' &&
           grep -qx mkm-replacer '$t/usr/share/mkm-test/base.txt' &&
           ! grep -qx /usr/share/mkm-test/base.txt '$t/var/lib/dpkg/info/mkm-base.list'"
check "…and its file in a configured package's file trigger directory fired that trigger" \
    grep -qx "triggered /usr/share/mkm-test/hooks" "$t/var/lib/mkm-test/mkm-base.triggered"
debs=$(aptrepo_requests '\.deb$')
check "every package came from the local repository ($debs .deb requests)" test "$debs" -gt 50

aptrepo_log_reset
mkm --cache-dir="$cache" bootstrap "$work/test.conf" --name=test2 2>"$work/err" || true
check "a second build from the warm cache fetches no package ($(aptrepo_requests '\.deb$') .deb requests)" \
    test "$(aptrepo_requests '\.deb$')" = 0
check "…and no index" test "$(aptrepo_requests 'Packages')" = 0
check "…it is a copy of the cached tree" grep -q "cached tree" "$work/err"
python3 "$here/manifest.py" "$store/test" >"$work/m1"
python3 "$here/manifest.py" "$store/test2" >"$work/m2"
check "…identical to the first machine" diff -q "$work/m1" "$work/m2"
mkm remove test2

# --fresh installs anew from the package cache (still no download).
aptrepo_log_reset
mkm --cache-dir="$cache" bootstrap "$work/test.conf" --name=test3 --fresh 2>"$work/err" || true
check "--fresh installs anew, downloading nothing" \
    sh -c "grep -q 'Configuring the other packages' '$work/err' && [ $(aptrepo_requests '\.deb$') = 0 ]"
t3=$store/test3
check "…where dpkg runs an explicit trigger of a registered interest" \
    sh -c "chroot '$t3' dpkg-trigger --no-await mkm-trigger && chroot '$t3' dpkg --triggers-only --pending >/dev/null &&
           grep -qx 'triggered mkm-trigger' '$t3/var/lib/mkm-test/mkm-base.triggered'"
check "…and purges a registered package: its files, its conffile and its database entries go" \
    sh -c "chroot '$t3' dpkg --purge mkm-exact mkm-tool >/dev/null 2>&1 &&
           [ ! -e '$t3/usr/bin/mkm-tool' ] && [ ! -e '$t3/etc/mkm-tool.conf' ] &&
           ! ls '$t3/var/lib/dpkg/info/' | grep -q '^mkm-tool\.' &&
           [ -z \"\$(chroot '$t3' dpkg --audit 2>&1)\" ]"
mkm remove test3

# --- Base=: starts from the base's cached tree, adds only its own packages and commands -------------
cat >"$work/derived.conf" <<CONF
[Recipe]
Base=test

[Packages]
Include=mkm-extra

[Run]
Command=echo derived >>/etc/mkm-runs
CONF
aptrepo_log_reset
if mkm --cache-dir="$cache" bootstrap "$work/derived.conf" 2>"$work/err"; then
    ok "bootstrap of a recipe with Base=test"
else
    not_ok "bootstrap of a recipe with Base=test: $(tail -n 20 "$work/err")"
fi
d=$store/derived
check "…it started from the base's cached tree" grep -q "Starting from the cached tree of the base" "$work/err"
check "…and downloaded just the one package it adds ($(aptrepo_requests '\.deb$') .deb requests)" \
    test "$(aptrepo_requests '\.deb$')" = 1
check "…which is installed, with the base's packages" \
    sh -c "chroot '$d' dpkg-query -W -f '\${Status}' mkm-extra mkm-tool | grep -qx '\(install ok installed\)\{2\}'"
audit=$(chroot "$d" dpkg --audit 2>&1 || true)
check "…dpkg --audit is clean" test -z "$audit"
check "…the base's command ran once (in the base's tree), then the derived recipe's own" \
    test "$(cat "$d/etc/mkm-runs" 2>/dev/null | tr '\n' ' ')" = "test derived "
check "…no policy-rc.d or package cache mount point left" \
    sh -c "[ ! -e '$d/usr/sbin/policy-rc.d' ] && [ ! -e '$d/var/cache/mkmachine-debs' ]"
check "…and an empty machine-id" test ! -s "$d/etc/machine-id"
# --fresh bootstraps everything, and gives the same packages.
mkm --cache-dir="$cache" bootstrap "$work/derived.conf" --name=derived-fresh --fresh 2>"$work/err" || true
check "--fresh ignores the base's tree and installs all, with the same result" \
    sh -c "grep -q 'Configuring the essential packages' '$work/err' &&
           [ \"\$(chroot '$d' dpkg-query -W | sort)\" = \"\$(chroot '$store/derived-fresh' dpkg-query -W | sort)\" ] &&
           [ \"\$(cat '$store/derived-fresh/etc/mkm-runs' | tr '\n' ' ')\" = 'test derived ' ]"
mkm remove derived
mkm remove derived-fresh

expect_failure "existing machine" "already exists" "$cache" bootstrap "$work/test.conf"
cached=$(cache_listing "$cache")

# --- Interrupted while unpacking, and in the middle of dpkg: no machine, no temporary, the cache
# still valid ---------------------------------------------------------------------------------------
for when in "Unpacking the packages:0" "Configuring the essential:0.5"; do
    "$MKMACHINE" --image-root="$store" --cache-dir="$cache" bootstrap "$work/test.conf" --name=interrupted \
        --fresh >"$work/out" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        grep -q "${when%:*}" "$work/out" && break
        sleep 0.02
    done
    sleep "${when#*:}"
    kill -TERM $pid
    rc=0
    wait $pid || rc=$?
    check "bootstrap interrupted at '${when%:*}': killed by SIGTERM (rc=$rc), no machine, no temporary" \
        sh -c "[ $rc = 143 ] && [ ! -e '$store/interrupted' ] && ! ls -A '$store' | grep -q mkmachine"
    check "…and the package cache is as it was" test "$cached" = "$(cache_listing "$cache")"
done

# --- Resolution errors ---------------------------------------------------------------------------
expect_failure "unresolvable dependency" "Cannot satisfy Depends: mkm-nonexistent, of mkm-broken \\(included\\)" \
    "$cache" bootstrap "$work/test.conf" --name=bad --include=mkm-broken
expect_failure "included package missing" "mkm-no-such-package.*is not in" \
    "$cache" bootstrap "$work/test.conf" --name=bad --include=mkm-no-such-package
check "failed resolutions leave the cache as it was" test "$cached" = "$(cache_listing "$cache")"

# --- Tampering -----------------------------------------------------------------------------------
restore() { rm -rf "$work/repo" && cp -a "$work/pristine" "$work/repo"; }
aptrepo_break_signature "$work/repo" bookworm
expect_failure "bad signature" "not correctly signed.*bad signature" "$cache" bootstrap "$work/test.conf" --name=bad
restore
aptrepo_genkey "$work/other"
aptrepo_sign_with_other_key "$work/repo" bookworm "$work/other"
expect_failure "signed by another key" "not in the keyring" "$cache" bootstrap "$work/test.conf" --name=bad
restore
aptrepo_expire "$work/repo" bookworm "$work/key"
expect_failure "expired Release" "expired on" "$cache" bootstrap "$work/test.conf" --name=bad
restore
aptrepo_unsigned "$work/repo" bookworm
expect_failure "unsigned archive" "is not signed" "$cache" bootstrap "$work/test.conf" --name=bad
if mkm --cache-dir="$cache" bootstrap "$work/test.conf" --name=unsigned --no-verify -q 2>"$work/err"; then
    check "--no-verify accepts it, loudly" grep -q "NOT checked" "$work/err"
    mkm remove unsigned
else
    not_ok "--no-verify: $(tail -n 5 "$work/err")"
fi
restore
aptrepo_corrupt_index "$work/repo" bookworm main
expect_failure "index not matching the Release" "does not match its SHA256" "$work/cache-fresh" \
    bootstrap "$work/test.conf" --name=bad
restore
aptrepo_corrupt_deb "$work/repo" mkm-tool
expect_failure "package not matching its digest" "mkm-tool.*does not match its SHA256" "$work/cache-fresh" \
    bootstrap "$work/test.conf" --name=bad
restore
expect_failure "missing keyring" "keyring.*is missing" "$cache" --keyring="$work/nonexistent.gpg" \
    bootstrap "$work/test.conf" --name=bad

# A server that dies in the middle of a package.
aptrepo_stop
aptrepo_serve "$work/repo" --die-after "mkm-alt-b_1.0~rc1-1_all.deb:100"
expect_failure "server dying mid-download" "Failed to download.*mkm-alt-b" "$work/cache-dying" \
    --mirror="$APTREPO_URL" bootstrap "$work/test.conf" --name=bad
check "no partial download left in the cache" \
    sh -c "! ls -A '$work/cache-dying/debs' | grep -q '^\\.#'"
aptrepo_stop

# Interrupted while downloading (a slow package keeps it busy): nothing but verified packages stays.
aptrepo_serve "$work/repo" --slow "mkm-alt-b_1.0~rc1-1_all.deb:200"
"$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-killed" --mirror="$APTREPO_URL" \
    bootstrap "$work/test.conf" --name=interrupted >"$work/out" 2>&1 &
pid=$!
for _ in $(seq 1 500); do
    grep -q "Downloading packages" "$work/out" && break
    sleep 0.02
done
sleep 1
kill -TERM $pid
rc=0
wait $pid || rc=$?
bad=""
for f in "$work/cache-killed"/debs/* "$work/cache-killed"/debs/.[!.]*; do
    [ -e "$f" ] || continue
    [ "$(basename "$f")" = "$(sha256sum "$f" | cut -d' ' -f1).deb" ] || bad="$bad $(basename "$f")"
done
check "bootstrap interrupted while downloading (rc=$rc): no machine, no temporary, only verified packages in the cache" \
    sh -c "[ $rc = 143 ] && [ ! -e '$store/interrupted' ] && ! ls -A '$store' | grep -q mkmachine &&
           [ -z '$bad' ] && [ -n \"\$(ls '$work/cache-killed/debs')\" ]"
aptrepo_stop
aptrepo_serve "$work/repo"

# --- The Ubuntu layout and the shipped jammy recipe -------------------------------------------------
expect_failure "jammy without the Ubuntu keyring" "ubuntu-archive-keyring.gpg.*is missing.*--keyring" "$cache" \
    jammy --mirror="$APTREPO_URL"
if mkm --cache-dir="$cache" jammy --mirror="$APTREPO_URL" --keyring="$work/key/keyring.gpg" -q \
        2>"$work/err"; then
    ok "mkmachine jammy from an archive with Ubuntu's layout (main, universe)"
    check "its apt sources name both components, and the updates suites" \
        sh -c "grep -qx 'deb $APTREPO_URL jammy main universe' '$store/jammy/etc/apt/sources.list' &&
               grep -qx 'deb $APTREPO_URL jammy-security main universe' '$store/jammy/etc/apt/sources.list'"
    check "systemd-networkd is enabled" \
        test -L "$store/jammy/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
else
    not_ok "mkmachine jammy: $(tail -n 20 "$work/err")"
fi

# --- A declared machine whose source is a recipe: what mkmachine-build@NAME.service runs ----------------
mkdir -p "$work/machines"
printf '[Machine]\nSource=%s\nPort=8080:80\n' "$work/test.conf" >"$work/machines/declared.machine"
printf '[Machine]\nSource=%s\nRestart=maybe\n' "$work/test.conf" >"$work/machines/broken.machine"
export MKMACHINE_MACHINES_DIR=$work/machines
# The test server moved since test.conf was written: --mirror applies to the build as it would to bootstrap.
ensure() { mkm --cache-dir="$cache" --mirror="$APTREPO_URL" __ensure "$@"; }
if ensure declared 2>"$work/err"; then
    ok "__ensure builds a missing declared machine from its recipe"
    check "... under the name of its file" test -d "$store/declared/usr"
    check "... bootstrapped (its origin)" sh -c \
        "'$MKMACHINE' --image-root='$store' show declared | grep -q 'Source type: bootstrap'"
    check "... and said so" grep -q "Machine 'declared' is missing: building it from $work/test.conf (recipe)" \
        "$work/err"
else
    not_ok "__ensure declared: $(tail -n 20 "$work/err")"
fi
check "__ensure again: the machine is there, nothing is done" \
    sh -c "'$MKMACHINE' --image-root='$store' __ensure declared 2>&1 |
           grep -q 'in the store already'"
expect_failure "__ensure of a broken .machine file" "broken.machine:3: Restart= must be" "$cache" \
    __ensure broken
expect_failure "__ensure of an undeclared machine" "nothing declares machine 'nothere'" "$cache" __ensure nothere
mkm remove declared || true

# --- Updates=: a further suite of the archive, whose newer versions win ------------------------------
mkdir -p "$work/updates"
aptrepo__deb mkm-tool 1.3-1 amd64 gzip $'Priority: required
Pre-Depends: mkm-base (>= 1.0)
Depends: mkm-libfoo (>= 1:2.0), mkm-libfoo (<< 1:3.0)' "$work/updates" \
    '/etc/mkm-tool.conf=# mkm-tool configuration
setting=updated' '/usr/bin/mkm-tool=#!/bin/sh
cat /etc/mkm-tool.conf'
aptrepo_build "$work/repo" bookworm-updates main "$work/key" "$work/updates"
# mkm-exact wants mkm-tool (= 1.2-1): as with apt, the newest version is the candidate, and there is
# no going back to an older one for it.
sed "s|^Suite=bookworm\$|Suite=bookworm\nUpdates=bookworm-updates|; s|^Mirror=.*|Mirror=$APTREPO_URL|" \
    "$work/test.conf" >"$work/updated-exact.conf"
expect_failure "an update that breaks an exact dependency" \
    "Cannot satisfy Depends: mkm-tool \(= 1.2-1\), of mkm-exact" "$cache" bootstrap "$work/updated-exact.conf"
sed "s| mkm-exact||" "$work/updated-exact.conf" >"$work/updated.conf"
aptrepo_log_reset
if mkm --cache-dir="$cache" --recipe="$work/updated.conf" -q 2>"$work/err"; then
    ok "bootstrap of a recipe with Updates=bookworm-updates"
    u=$store/updated
    check "…the newer version of the updates suite is installed, the rest from bookworm" \
        sh -c "[ \"\$(chroot '$u' dpkg-query -W -f '\${Version} \${Status}' mkm-tool)\" = '1.3-1 install ok installed' ] &&
               [ \"\$(chroot '$u' dpkg-query -W -f '\${Version}' mkm-base)\" = '1.0-1' ] &&
               grep -qx 'setting=updated' '$u/etc/mkm-tool.conf'"
    check "…downloaded from the updates suite's pool, checked against its index" \
        test "$(aptrepo_requests 'mkm-tool_1.3-1_amd64\.deb$')" = 1
    check "…dpkg --audit is clean" sh -c "[ -z \"\$(chroot '$u' dpkg --audit 2>&1)\" ]"
    check "…and apt inside knows both suites" \
        sh -c "grep -qx 'deb $APTREPO_URL bookworm main' '$u/etc/apt/sources.list' &&
               grep -qx 'deb $APTREPO_URL bookworm-updates main' '$u/etc/apt/sources.list'"
    mkm remove updated
else
    not_ok "bootstrap of a recipe with Updates=bookworm-updates: $(tail -n 20 "$work/err")"
fi
sed "s|^Updates=.*|Updates=bookworm-nonexistent|" "$work/updated.conf" >"$work/updated-missing.conf"
expect_failure "an updates suite the archive does not have" "no suite 'bookworm-nonexistent'" "$cache" \
    bootstrap "$work/updated-missing.conf" --name=bad
aptrepo_break_signature "$work/repo" bookworm-updates
expect_failure "an updates suite with a bad signature" "bookworm-updates is not correctly signed" "$cache" \
    bootstrap "$work/updated.conf" --name=bad

# --- Security=: the security suite from a mirror of its own ------------------------------------------
# One server, three "mirrors" of the archive beside each other, as the Debian archive and the Debian
# security archive are: /debian (bookworm, bookworm-updates), /debian-security (bookworm-security,
# with a newer mkm-tool than the updates suite's), and the same security archive again under
# /host-security and /other-security (what the host's apt sources and --security-mirror name). What
# mkmachine takes for the host's apt sources is a private /etc/apt (aptrepo_with_host_apt).
restore
aptrepo_build "$work/repo" bookworm-updates main "$work/key" "$work/updates"
mkdir -p "$work/security-debs"
aptrepo__deb mkm-tool 1.4-1 amd64 xz $'Priority: required
Pre-Depends: mkm-base (>= 1.0)
Depends: mkm-libfoo (>= 1:2.0), mkm-libfoo (<< 1:3.0)' "$work/security-debs" \
    '/etc/mkm-tool.conf=# mkm-tool configuration
setting=security' '/usr/bin/mkm-tool=#!/bin/sh
cat /etc/mkm-tool.conf'
aptrepo_build "$work/security" bookworm-security main "$work/key" "$work/security-debs"
aptrepo_security_layout "$work/security" bookworm-security "$work/key"
aptrepo_mirrors "$work/mirrors" debian="$work/repo" debian-security="$work/security" \
    host-security="$work/security" other-security="$work/security" archive="$work/repo"
aptrepo_serve "$work/mirrors"
m=$APTREPO_URL
sec_deb=pool/main/m/mkm-tool/mkm-tool_1.4-1_amd64.deb
sec_deb_cached=$(sha256sum <"$work/security/$sec_deb" | cut -d' ' -f1).deb

# sec_recipe FILE FORMAT [MIRROR]: a bookworm-like (one-line) or trixie-like (deb822) recipe taking
# bookworm-updates from the mirror and bookworm-security from wherever it is found.
sec_recipe() {
    cat >"$1" <<CONF
[Distribution]
Distribution=debian
Suite=bookworm
Updates=bookworm-updates
Security=bookworm-security
SourcesFormat=$2
Components=main
Architecture=amd64
Mirror=${3:-$m/debian}
Keyring=$work/key/keyring.gpg

[Packages]
Variant=minbase
Include=mkm-tool mkm-alt mkm-virtual-user

[Setup]
RootLocked=yes
CONF
}
sec_recipe "$work/sec.conf" one-line
sec_recipe "$work/sec822.conf" deb822
sec_recipe "$work/sec-archive.conf" one-line "$m/archive"

# Host apt configurations: one that names the security archive (one-line sources.list), one
# (deb822) that names only the main archive.
mkdir -p "$work/apt-host/sources.list.d" "$work/apt-nosec/sources.list.d"
printf 'deb %s bookworm main\ndeb %s bookworm-security main\ndeb %s bookworm-updates main\n' \
    "$m/debian" "$m/host-security" "$m/debian" >"$work/apt-host/sources.list"
printf 'Types: deb\nURIs: %s/\nSuites: bookworm bookworm-updates\nComponents: main\n' "$m/debian" \
    >"$work/apt-nosec/sources.list.d/debian.sources"
# mkmachine (also in mkm and expect_failure) sees $HOST_APT as the host's /etc/apt from here on.
mkmachine_real=$MKMACHINE
printf '#!/bin/bash\n. %q\naptrepo_with_host_apt "$HOST_APT" %q "$@"\n' "$here/aptrepo.sh" "$mkmachine_real" \
    >"$work/mkmachine-host-apt"
chmod +x "$work/mkmachine-host-apt"
MKMACHINE=$work/mkmachine-host-apt
export HOST_APT=$work/apt-host
cache=$work/cache-security

# sec_build NAME RECIPE ARG…: build machine NAME from RECIPE with a package cache that lacks the
# security suite's mkm-tool (so that where it is downloaded from shows in the request log).
sec_build() {
    local name=$1 recipe=$2
    shift 2
    rm -f "$cache/debs/$sec_deb_cached"
    aptrepo_log_reset
    mkm --cache-dir="$cache" bootstrap "$recipe" --name="$name" "$@" 2>"$work/err"
}
release_date() { sed -n 's/^Date: //p' "$1/dists/$2/Release"; }

if sec_build sec "$work/sec.conf"; then
    ok "Security=bookworm-security, its mirror from the host's apt sources"
    t=$store/sec
    check "…the security suite's newer version wins over the updates suite's and the suite's" \
        sh -c "[ \"\$(chroot '$t' dpkg-query -W -f '\${Version} \${Status}' mkm-tool)\" = '1.4-1 install ok installed' ] &&
               [ \"\$(chroot '$t' dpkg-query -W -f '\${Version}' mkm-base)\" = '1.0-1' ] &&
               grep -qx 'setting=security' '$t/etc/mkm-tool.conf'"
    check "…its Release came from the host's security mirror, verified ($(aptrepo_requests '^/host-security/dists/bookworm-security/InRelease$') requests)" \
        test "$(aptrepo_requests '^/host-security/dists/bookworm-security/InRelease$')" -ge 1
    check "…its .deb was downloaded from the security mirror's pool, no other mkm-tool" \
        sh -c "[ $(aptrepo_requests "^/host-security/$sec_deb\$") = 1 ] && [ $(aptrepo_requests 'mkm-tool_1\.[23]-1') = 0 ]"
    check "…nothing was asked of the convention's path" test "$(aptrepo_requests '^/debian-security/')" = 0
    check "…the other packages came from the main mirror" test "$(aptrepo_requests '^/debian/pool/.*\.deb$')" -gt 50
    check "…dpkg --audit is clean" sh -c "[ -z \"\$(chroot '$t' dpkg --audit 2>&1)\" ]"
    printf 'deb %s bookworm main\ndeb %s bookworm-security main\ndeb %s bookworm-updates main\n' \
        "$m/debian" "$m/host-security" "$m/debian" >"$work/want-sources"
    check "…its sources.list names the three suites as bookworm's installer writes them" \
        diff -u "$work/want-sources" "$t/etc/apt/sources.list"
    check "…and there is no deb822 debian.sources beside it" test ! -e "$t/etc/apt/sources.list.d/debian.sources"
    "$MKMACHINE" --image-root="$store" show sec >"$work/show" 2>&1 || true
    check "show says when the archive state was taken: each suite's Release date" \
        sh -c "grep -qF 'Archive: bookworm, Release of $(release_date "$work/repo" bookworm) ($m/debian)' '$work/show' &&
               grep -qF 'bookworm-updates, Release of $(release_date "$work/repo" bookworm-updates) ($m/debian)' '$work/show' &&
               grep -qF 'bookworm-security, Release of $(release_date "$work/security" bookworm-security) ($m/host-security)' '$work/show'"
    "$MKMACHINE" --image-root="$store" show sec --json >"$work/show.json" 2>&1 || true
    check "…and show --json the same, in origin.archive" \
        python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["origin"]["archive"]
want = [("bookworm", sys.argv[2] + "/debian", sys.argv[3]), ("bookworm-updates", sys.argv[2] + "/debian", sys.argv[4]),
        ("bookworm-security", sys.argv[2] + "/host-security", sys.argv[5])]
sys.exit(0 if [(e["suite"], e["mirror"], e["date"]) for e in a] == want and
         all(len(e["release_sha256"]) == 64 for e in a) else 1)' "$work/show.json" "$m" \
            "$(release_date "$work/repo" bookworm)" "$(release_date "$work/repo" bookworm-updates)" \
            "$(release_date "$work/security" bookworm-security)"
else
    not_ok "Security=bookworm-security from the host's apt sources: $(tail -n 20 "$work/err")"
fi

# The tree cache: the same archive state is a copy; a new security Release is a new tree.
sec_build sec-again "$work/sec.conf" || true
check "a second build while no suite changed is a copy of the cached tree" \
    grep -q "Using the cached tree of this recipe" "$work/err"
aptrepo_redate "$work/security" bookworm-security "$work/key" $(($(date +%s) - 86400))
aptrepo_security_layout "$work/security" bookworm-security "$work/key"
if sec_build sec-new "$work/sec.conf"; then
    check "a new Release of the security suite: the cached tree is not used, the tree is built anew" \
        sh -c "! grep -q 'cached tree' '$work/err' && grep -q 'Unpacking the packages' '$work/err'"
    check "…and its origin has the new Release date" \
        grep -qF "bookworm-security, Release of $(release_date "$work/security" bookworm-security)" \
            <("$MKMACHINE" --image-root="$store" show sec-new 2>&1)
else
    not_ok "a build after a new Release of the security suite: $(tail -n 20 "$work/err")"
fi
mkm remove sec-again || true
mkm remove sec-new || true

# Nothing names the security archive: the convention, debian-security beside debian.
HOST_APT=$work/apt-nosec
if sec_build sec-conv "$work/sec.conf"; then
    check "without an entry in the host's apt sources: /debian-security beside /debian, verified" \
        sh -c "[ $(aptrepo_requests '^/debian-security/dists/bookworm-security/InRelease$') -ge 1 ] &&
               [ $(aptrepo_requests "^/debian-security/$sec_deb\$") = 1 ] &&
               [ $(aptrepo_requests '^/host-security/') = 0 ]"
    check "…mkm-tool from the security suite, sources.list names it there" \
        sh -c "[ \"\$(chroot '$store/sec-conv' dpkg-query -W -f '\${Version}' mkm-tool)\" = '1.4-1' ] &&
               grep -qx 'deb $m/debian-security bookworm-security main' '$store/sec-conv/etc/apt/sources.list'"
    mkm remove sec-conv || true
else
    not_ok "Security= by the convention: $(tail -n 20 "$work/err")"
fi

# --security-mirror overrides the host's apt sources; a trixie-like recipe gets deb822 sources.
HOST_APT=$work/apt-host
if sec_build sec822 "$work/sec822.conf" --security-mirror="$m/other-security/"; then
    t=$store/sec822
    check "--security-mirror=URL overrides the host's apt sources" \
        sh -c "[ $(aptrepo_requests "^/other-security/$sec_deb\$") = 1 ] && [ $(aptrepo_requests '^/host-security/') = 0 ] &&
               [ \"\$(chroot '$t' dpkg-query -W -f '\${Version}' mkm-tool)\" = '1.4-1' ]"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: %s\n\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: %s\n' \
        "$m/debian" "$work/key/keyring.gpg" "$m/other-security" "$work/key/keyring.gpg" >"$work/want-822"
    check "SourcesFormat=deb822: debian.sources names the three suites as trixie's installer writes them" \
        diff -u "$work/want-822" "$t/etc/apt/sources.list.d/debian.sources"
    check "…and there is no sources.list" test ! -e "$t/etc/apt/sources.list"
    mkm remove sec822 || true
else
    not_ok "--security-mirror with a deb822 recipe: $(tail -n 20 "$work/err")"
fi

# Failures: nothing is left, the store is as it was.
HOST_APT=$work/apt-nosec
expect_failure "no security mirror and a mirror not ending in /debian" \
    "bookworm-security.*does not end in /debian.*--security-mirror" "$cache" bootstrap "$work/sec-archive.conf" \
    --name=bad
HOST_APT=$work/apt-host
expect_failure "--security-mirror without the security suite" "no suite 'bookworm-security' at $m/debian" \
    "$cache" bootstrap "$work/sec.conf" --name=bad --security-mirror="$m/debian"
expect_failure "--security-mirror for a recipe without Security=" "takes no security suite.*--security-mirror does not apply" \
    "$cache" bootstrap "$work/test.conf" --name=bad --security-mirror="$m/debian-security"
expect_failure "--security-mirror that is not http(s)" "Security mirror 'ftp://x' is not an http" "$cache" \
    bootstrap "$work/sec.conf" --name=bad --security-mirror=ftp://x
cp -a "$work/security" "$work/security-good"
aptrepo_break_signature "$work/security" bookworm-security
expect_failure "a security suite with a bad signature" \
    "Release file of $m/host-security bookworm-security is not correctly signed" "$cache" \
    bootstrap "$work/sec.conf" --name=bad
rm -rf "$work/security" && mv "$work/security-good" "$work/security"
aptrepo_genkey "$work/other"
aptrepo_sign_with_other_key "$work/security" bookworm-security "$work/other"
expect_failure "a security suite signed by another key" "bookworm-security is not correctly signed" "$cache" \
    bootstrap "$work/sec.conf" --name=bad
aptrepo_expire "$work/security" bookworm-security "$work/key"
expect_failure "an expired security suite" "bookworm-security expired on" "$cache" \
    bootstrap "$work/sec.conf" --name=bad
mkm remove sec || true

# Ubuntu 24.04 writes deb822 ubuntu.sources; its security suite is on the same archive (Updates=).
for suite in noble noble-updates noble-security; do
    aptrepo_build "$work/repo" $suite main "$work/key" "$real"
    aptrepo_build "$work/repo" $suite universe "$work/key" "$work/synthetic"
done
if mkm --cache-dir="$cache" noble --mirror="$m/debian" --keyring="$work/key/keyring.gpg" -q 2>"$work/err"; then
    printf 'Types: deb\nURIs: %s\nSuites: noble noble-updates noble-security\nComponents: main universe\nSigned-By: %s\n' \
        "$m/debian" /usr/share/keyrings/ubuntu-archive-keyring.gpg >"$work/want-ubuntu"
    check "mkmachine noble: deb822 ubuntu.sources with its three suites, signed by Ubuntu's keyring, no sources.list" \
        sh -c "diff -u '$work/want-ubuntu' '$store/noble/etc/apt/sources.list.d/ubuntu.sources' &&
               [ ! -e '$store/noble/etc/apt/sources.list' ]"
    mkm remove noble || true
else
    not_ok "mkmachine noble: $(tail -n 20 "$work/err")"
fi
MKMACHINE=$mkmachine_real

check "no temporaries left in the store" sh -c "! ls -A '$store' | grep -q mkmachine"
tap_done
