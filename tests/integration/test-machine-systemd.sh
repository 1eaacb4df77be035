#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The systemd glue, for real, in a nested systemd test host: a machine created with a port forward, a
# read-only bind, --restart=always and --enable --now runs, answers on its forwarded port from the
# outer machine, comes back after its nspawn is killed and after a reboot of the host, stops and
# starts with mkmachine, and "remove --force" leaves no trace. First, on this machine (no systemd):
# bad options change nothing, and the verbs that need systemd fail at once with a clear error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require

# --- Outside: no systemd here. ---
tmp=$(mktemp -d /tmp/mkmachine-systemd.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tree/etc" "$tmp/data"
echo hi >"$tmp/tree/etc/motd"
tar -C "$tmp/tree" -cf "$tmp/small.tar" .
out() { MKMACHINE_NSPAWN_DIR="$tmp/nspawn" MKMACHINE_UNIT_DIR="$tmp/units" MKMACHINE_NETWORK_DIR="$tmp/network" \
        "$MKMACHINE" -q --image-root="$tmp/store" "$@"; }
nothing_written() { [ ! -e "$tmp/nspawn" ] && [ ! -e "$tmp/units" ] && [ ! -e "$tmp/store/m" ]; }

if out import-tar "$tmp/small.tar" m --bind="$tmp/missing:/data" 2>"$tmp/err"; then
    not_ok "a missing bind source must fail"
else
    check "a missing bind source is named ($(cat "$tmp/err"))" grep -q "$tmp/missing" "$tmp/err"
fi
check "... and nothing was written, no machine made" nothing_written
if out import-tar "$tmp/small.tar" m --port=tcp:0:80 2>"$tmp/err"; then
    not_ok "a bad --port must fail"
else
    check "a bad --port is an error ($(cat "$tmp/err"))" grep -q "Invalid --port='tcp:0:80'" "$tmp/err"
fi
check "... and nothing was written, no machine made" nothing_written

start=$SECONDS
rc=0
out import-tar "$tmp/small.tar" m --port=8080:80 --bind="$tmp/data:/data" --restart=on-failure \
    --now 2>"$tmp/err" || rc=$?
check "--now without systemd fails (rc=$rc) with the clear error ($(head -1 "$tmp/err"))" \
    sh -c "[ $rc != 0 ] && grep -q 'not booted with systemd' '$tmp/err'"
check "... but the machine, its settings and the drop-in are in place" \
    sh -c "[ -d '$tmp/store/m/etc' ] && grep -qx 'Port=tcp:8080:80' '$tmp/nspawn/m.nspawn' &&
           grep -qx 'Restart=on-failure' '$tmp/units/systemd-nspawn@m.service.d/50-mkmachine-restart.conf'"
check "... and the bind got idmap (private users are on)" \
    grep -qx "Bind=$tmp/data:/data:idmap" "$tmp/nspawn/m.nspawn"
for verb in start stop; do
    rc=0
    timeout 20 "$MKMACHINE" --image-root="$tmp/store" "$verb" m 2>"$tmp/err" || rc=$?
    check "'$verb' without systemd: the clear error, rc=$rc" \
        sh -c "[ $rc = 1 ] && grep -q 'not booted with systemd' '$tmp/err'"
done
check "all that took less than 10 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 10
check "set without --enable/--start works without systemd" out set m --env=A=1 --restart=always
check "... keeping the other keys" \
    sh -c "grep -qx 'Port=tcp:8080:80' '$tmp/nspawn/m.nspawn' && grep -qx 'Environment=A=1' '$tmp/nspawn/m.nspawn'"
# A line systemd-nspawn skips (a value it cannot use) is skipped, and kept byte for byte by a change of
# other keys; a change that would replace it is refused with file:line, changing nothing.
printf '# mine\n[Exec]\nBoot=maybe\n' >>"$tmp/nspawn/m.nspawn"
check "set with a line it cannot read" out set m --env=B=2
check "... keeps that line" sh -c "grep -qx 'Boot=maybe' '$tmp/nspawn/m.nspawn' &&
    grep -qx 'Environment=B=2' '$tmp/nspawn/m.nspawn'"
out show m >/dev/null 2>"$tmp/err" || true
check "... and show names it" grep -q "m.nspawn:[0-9]*: cannot read this line" "$tmp/err"
cp "$tmp/nspawn/m.nspawn" "$tmp/before"
if out set m --boot 2>"$tmp/err"; then
    not_ok "set replacing a line it cannot read must fail"
else
    check "set replacing a line it cannot read: file:line ($(cat "$tmp/err"))" \
        grep -q "m.nspawn:[0-9]*:" "$tmp/err"
fi
check "... and it is unchanged" cmp -s "$tmp/before" "$tmp/nspawn/m.nspawn"
check "clone with settings" out clone m m2 --network=none --exec -- /bin/sh -c "echo hi"
m2_ok() { grep -qx 'Private=yes' "$tmp/nspawn/m2.nspawn" && grep -qx 'Boot=no' "$tmp/nspawn/m2.nspawn" &&
    grep -qx 'Parameters=/bin/sh -c "echo hi"' "$tmp/nspawn/m2.nspawn"; }
check "... wrote the clone's settings" m2_ok
json=$(out show m2 --json)
json_ok() { grep -q '"network": "none"' <<<"$json" && grep -q '"restart": "no"' <<<"$json"; }
check "show --json has the settings" json_ok
check "remove m2" out remove m2
if out set m -- /bin/true 2>"$tmp/err"; then
    not_ok "a command after -- without --exec must fail"
else
    check "a command after -- needs --exec ($(cat "$tmp/err"))" grep -q "needs --exec" "$tmp/err"
fi
check "remove without systemd removes the machine, settings and drop-in" out remove m
check "... nothing left" sh -c "[ -z \"\$(ls -A '$tmp/nspawn' '$tmp/units/' '$tmp/store' | grep -v :)\" ]"

# --- Inside the test host. ---
th_build_trees
th_start machsys
th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
th_copy_in "$TH_GUEST_TAR" /root/guest.tar
mkdir -p "$TH_ROOT/srv/data"
echo "from the host" >"$TH_ROOT/srv/data/hello.txt"
export ASAN_OPTIONS UBSAN_OPTIONS

# gr CMD…: run a command in the guest.
gr() { th_run systemd-run -M guest --wait -q -G -P "$@"; }
running() { [ "$(th_run machinectl show guest -p State --value 2>/dev/null)" = running ]; }
outer_http() { curl -sf --max-time 3 "http://$TH_ADDR_INNER:7777/" | grep -q mkmachine-ok; }
wait_outer_http() {
    local i
    for ((i = 0; i < $1; i++)); do outer_http && return 0; sleep 1; done
    return 1
}

if th_run mkmachine import-tar /root/guest.tar guest --network=veth --port=tcp:7777:80 \
        --bind=/srv/data:/data:ro --restart=always --enable --now 2>"$TH_ROOT/tmp/err"; then
    ok "import-tar --port --bind --restart=always --enable --now"
else
    not_ok "import-tar --port --bind --restart=always --enable --now: $(cat "$TH_ROOT/tmp/err")"
fi
check "the machine reaches running" th_wait_for 30 sh -c \
    "[ \"\$(machinectl show guest -p State --value)\" = running ]"
check "its systemd is up" th_wait_for 60 systemd-run -M guest --wait -q -G -P true
check "host0 has a DHCP address" th_wait_for 30 systemd-run -M guest --wait -q -G -P \
    sh -c "ip -4 -o addr show dev host0 | grep -q 'inet .* dynamic'"
addr=$(gr ip -4 -o addr show dev host0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }' || true)
echo "# guest address: $addr"

# A web server in the guest, enabled there so that it comes back with the machine.
g=$TH_ROOT/var/lib/machines/guest
mkdir -p "$g/srv/www"
echo mkmachine-ok >"$g/srv/www/index.html"
cat >"$g/etc/systemd/system/httpd.service" <<'UNIT'
[Service]
ExecStart=/bin/busybox httpd -f -p 80 -h /srv/www
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/httpd.service "$g/etc/systemd/system/multi-user.target.wants/httpd.service"
th_run systemctl -M guest daemon-reload
th_run systemctl -M guest start httpd.service
check "the web server answers on the machine's address from the test host" \
    th_wait_for 20 sh -c "curl -sf --max-time 2 http://$addr/ | grep -q mkmachine-ok"
check "the forward answers on 7777 from the outer machine" wait_outer_http 30
check "/data shows the host's files" sh -c "[ \"\$(nsenter -t $TH_LEADER -a systemd-run -M guest \
    --wait -q -G -P cat /data/hello.txt)\" = 'from the host' ]"
check "/data is read-only inside" sh -c "! nsenter -t $TH_LEADER -a systemd-run -M guest --wait -q -G -P \
    touch /data/new 2>/dev/null && [ ! -e '$TH_ROOT/srv/data/new' ]"
check "systemd-nspawn@guest is enabled" th_run systemctl is-enabled -q systemd-nspawn@guest.service
check "machines.target is enabled" th_run systemctl is-enabled -q machines.target
show=$(th_run mkmachine show guest 2>&1 || true)
shows() { grep -q 'Restart: always' <<<"$show" && grep -q 'At boot: enabled' <<<"$show" &&
    grep -q 'tcp:7777:80' <<<"$show"; }
check "show: restart always, enabled, the port" shows

# Kill the nspawn: systemd restarts it (the drop-in cleans up what 252 would trip over). The stale
# forward is removed over netlink: on a host without the nft program too.
th_run sh -c 'for n in /usr/sbin/nft /sbin/nft; do [ ! -e "$n" ] || mv "$n" "$n.hidden"; done'
check "the test host has no nft program now" sh -c "! nsenter -t $TH_LEADER -a sh -c 'command -v nft'"
pid=$(th_run systemctl show -p MainPID --value systemd-nspawn@guest.service)
th_run sh -c "kill -9 $pid"
check "after kill -9 of nspawn ($pid) the unit restarts" th_wait_for 30 sh -c \
    "p=\$(systemctl show -p MainPID --value systemd-nspawn@guest.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
check "... the machine runs again" th_wait_for 30 sh -c \
    "[ \"\$(machinectl show guest -p State --value)\" = running ]"
check "... and the forward answers again" wait_outer_http 60
check "... because the stale forward was removed over netlink (the unit's journal says so)" sh -c \
    "nsenter -t $TH_LEADER -a journalctl -q -u systemd-nspawn@guest.service --no-pager |
     grep -q 'Removed 1 stale port forward of .guest.'"
th_run journalctl -q -u systemd-nspawn@guest.service --no-pager | grep -iE 'exists|forward|firewall' |
    sed 's/^/#   /' || true
check "... and nspawn did not trip over an old one" sh -c \
    "! nsenter -t $TH_LEADER -a journalctl -q -u systemd-nspawn@guest.service --no-pager |
     grep -q 'firewall: File exists'"

th_reboot
check "after a reboot of the test host the machine is back by itself" th_wait_for 60 sh -c \
    "[ \"\$(machinectl show guest -p State --value)\" = running ]"
check "... and its forward answers" wait_outer_http 60

check "mkmachine stop" th_run mkmachine stop guest
sleep 3
check "... the machine is gone and stays gone (no restart after an explicit stop)" \
    sh -c "! nsenter -t $TH_LEADER -a machinectl show guest >/dev/null 2>&1 &&
           [ \"\$(nsenter -t $TH_LEADER -a systemctl is-active systemd-nspawn@guest.service)\" = inactive ]"
check "mkmachine start" th_run mkmachine start guest
check "... running, and the forward answers" wait_outer_http 60
if th_run mkmachine start nosuch 2>"$TH_ROOT/tmp/err"; then
    not_ok "start of a machine that does not exist must fail"
else
    check "start of a machine that does not exist ($(cat "$TH_ROOT/tmp/err"))" grep -q "No machine 'nosuch'" \
        "$TH_ROOT/tmp/err"
fi

if th_run mkmachine remove guest 2>"$TH_ROOT/tmp/err"; then
    not_ok "remove of a running machine without --force must fail"
else
    check "remove of a running machine is refused ($(cat "$TH_ROOT/tmp/err"))" \
        grep -q "running.*--force" "$TH_ROOT/tmp/err"
fi
check "... it still runs" running
check "remove --force" th_run mkmachine remove --force guest
check "... no enablement symlink, drop-in or settings file is left" \
    sh -c "[ -z \"\$(find '$TH_ROOT/etc/systemd' -name '*guest*')\" ]"
check "... no image" sh -c "[ ! -e '$TH_ROOT/var/lib/machines/guest' ] &&
    ! nsenter -t $TH_LEADER -a machinectl list-images --no-legend | grep -q guest"
check "... not running, unit not enabled" sh -c "! nsenter -t $TH_LEADER -a machinectl show guest >/dev/null 2>&1 &&
    ! nsenter -t $TH_LEADER -a systemctl is-enabled -q systemd-nspawn@guest.service"

th_stop
tap_done
