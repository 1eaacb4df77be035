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
# shellcheck source=tests/integration/aptrepo.sh
. "$here/aptrepo.sh"

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

# Patched at build time: no package of the machine is older than what apt on this host (whose
# sources name bookworm, bookworm-updates and bookworm-security) would install now, and the
# machine's sources name all three. apt runs with the host's sources but a private state, updated
# now (aptrepo_apt_init): the host's own lists are neither used nor changed.
# host_uri SUITE: the URI of the host's apt sources entry for SUITE (deb822, then one-line), no '/'.
host_uri() {
    { awk -v s="$1" 'BEGIN { RS = ""; FS = "\n" }
        { u = ""; ok = 0; types = 0
          for (i = 1; i <= NF; i++) {
              if ($i ~ /^URIs:/) { split($i, a, " "); u = a[2] }
              if ($i ~ /^Types:.*[[:space:]]deb([[:space:]]|$)/) types = 1
              if ($i ~ /^Suites:/) { n = split($i, b, " "); for (j = 2; j <= n; j++) if (b[j] == s) ok = 1 }
          }
          if (ok && types && u != "") { print u; exit } }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          sed 's/\[[^]]*\]//' | awk -v s="$1" '$1 == "deb" && $3 == s { print $2 }' || true
    } | awk 'NR == 1 { sub("/*$", ""); print }'
}
apt_dir=$TH_ROOT/tmp/host-apt
host_conf=()
for v in Acquire::http::Proxy Acquire::https::Proxy Acquire::Check-Valid-Until Acquire::Check-Date; do
    val=$(apt-config dump --no-empty "$v" 2>/dev/null | sed -n "s|^$v \"\\(.*\\)\";\$|\\1|p" | awk 'NR == 1')
    [ -z "$val" ] || host_conf+=("$v \"$val\";")
done
aptrepo_apt_init "$apt_dir" "$( [ -f /etc/apt/sources.list ] && echo /etc/apt/sources.list || echo /dev/null)" \
    ${host_conf[@]+"${host_conf[@]}"}
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    if [ -f "$f" ]; then cp "$f" "$apt_dir/etc/sources.list.d/"; fi
done
# The host's keyrings for Signed-By-less entries.
cp /etc/apt/trusted.gpg.d/* "$apt_dir/etc/trusted.gpg.d/" 2>/dev/null || true
if aptrepo_apt "$apt_dir" apt-get -q update >"$apt_dir/update.log" 2>&1; then
    chroot "$store/deb" dpkg-query -W -f '${Package} ${Version}\n' | LC_ALL=C sort >"$apt_dir/installed"
    mapfile -t pkgs < <(cut -d' ' -f1 "$apt_dir/installed")
    aptrepo_apt "$apt_dir" apt-cache policy "${pkgs[@]}" 2>/dev/null |
        awk '/^[^ ]/ { p = $1; sub(":$", "", p) } /^  Candidate:/ { print p, $2 }' | LC_ALL=C sort \
        >"$apt_dir/candidates"
    older=$(LC_ALL=C join "$apt_dir/installed" "$apt_dir/candidates" | while read -r p have cand; do
        if [ "$cand" = "(none)" ] || dpkg --compare-versions "$have" lt "$cand"; then echo "$p $have<$cand"; fi
    done | tr '\n' ' ')
    n=$(LC_ALL=C join "$apt_dir/installed" "$apt_dir/candidates" | wc -l)
    from_security=$(aptrepo_apt "$apt_dir" apt-cache madison "${pkgs[@]}" 2>/dev/null |
        awk -F'|' '$3 ~ /bookworm-security\// { gsub(/ /, "", $1); gsub(/ /, "", $2); print $1 " " $2 }' |
        LC_ALL=C sort |
        LC_ALL=C join - "$apt_dir/installed" 2>/dev/null | awk '$2 == $3' | wc -l || true)
    check "no package is older than the host's apt candidate from bookworm, -updates, -security ($n compared, $from_security at the version of bookworm-security; older: '$older')" \
        sh -c "[ -z '$older' ] && [ $n -eq $(wc -l <"$apt_dir/installed") ] && [ $n -gt 100 ]"
else
    not_ok "apt-get update with the host's sources: $(tail -n 5 "$apt_dir/update.log")"
fi
main_uri=$(host_uri bookworm) sec_uri=$(host_uri bookworm-security)
printf 'deb %s bookworm main\ndeb %s bookworm-security main\ndeb %s bookworm-updates main\n' \
    "$main_uri" "$sec_uri" "$main_uri" >"$apt_dir/want-sources"
check "its sources.list names bookworm, bookworm-security (the host's security mirror) and bookworm-updates" \
    sh -c "[ -n '$sec_uri' ] && diff -u '$apt_dir/want-sources' '$store/deb/etc/apt/sources.list'"
check "show says when the archive state was taken (each suite's Release date)" \
    sh -c "'$MKMACHINE' --image-root='$store' show deb | grep -qE '^ +bookworm-security, Release of [A-Z][a-z]{2}, '"

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
