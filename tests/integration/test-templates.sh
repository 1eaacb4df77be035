#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Template machines and their instances. Outside (no systemd): TEMPLATE@INSTANCE names, create and
# remove, and what is refused (bad names, existing instances, a template with instances) changes
# nothing. In a nested systemd test host: a template "web" whose web server answers with the host
# name; two clone instances web@a and web@b on ports 8081 and 8082 run at once and answer with their
# own names from the outer machine; ephemeral instances run beside them on the template's tree (one
# with "mkmachine start", one with "systemctl start systemd-nspawn@web@f.service"), their changes are
# gone after a restart, and the template's tree is unchanged; removing the template is refused while
# it has instances; "remove web@a" leaves web and web@b; "list" marks the instances.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require

# --- Outside: no systemd here. ---
tmp=$(mktemp -d /tmp/mkmachine-templates.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tree/etc"
echo hi >"$tmp/tree/etc/motd"
tar -C "$tmp/tree" -cf "$tmp/small.tar" .
out() { MKMACHINE_NSPAWN_DIR="$tmp/nspawn" MKMACHINE_UNIT_DIR="$tmp/units" MKMACHINE_NETWORK_DIR="$tmp/network" \
        "$MKMACHINE" -q --image-root="$tmp/store" "$@"; }
state() { (cd "$tmp" && find nspawn units store -maxdepth 2 2>/dev/null | sort; cat nspawn/* 2>/dev/null) |
    sha256sum; }
# fails WHAT PATTERN CMD…: CMD must fail, print PATTERN and change nothing.
fails() {
    local what=$1 pattern=$2 before rc=0
    shift 2
    before=$(state)
    out "$@" 2>"$tmp/err" || rc=$?
    check "$what: refused ($(head -1 "$tmp/err"))" sh -c "[ $rc != 0 ] && grep -q -- \"\$1\" '$tmp/err'" _ \
        "$pattern"
    check "... nothing changed" test "$before" = "$(state)"
}

check "import the template" out import-tar "$tmp/small.tar" web --port=tcp:8080:80
for bad in @a web@ web@a@b 'web@a b' web@-a "$(printf 'w%.0s' {1..40})@$(printf 'i%.0s' {1..24})"; do
    fails "create '$bad'" "Invalid instance name" create "$bad"
done
fails "create of a plain name" "no instance name" create web
fails "create from a missing template" "No template machine 'nosuch'" create nosuch@a
check "create web@a --port=tcp:8081:80 (a clone)" out create web@a --port=tcp:8081:80
check "... a tree of its own, the instance's port instead of the template's" \
    sh -c "[ -d '$tmp/store/web.a/etc' ] && grep -qx 'Port=tcp:8081:80' '$tmp/nspawn/web.a.nspawn' &&
           ! grep -q 8080 '$tmp/nspawn/web.a.nspawn'"
check "... the record and the drop-in for systemd-nspawn@web@a.service" \
    sh -c "grep -qx 'X-MkmachineMode=clone' '$tmp/units/systemd-nspawn@web.a.service.d/40-mkmachine-instance.conf' &&
           grep -q -- '--machine=web.a -D $tmp/store/web.a\$' \
               '$tmp/units/systemd-nspawn@web@a.service.d/40-mkmachine-instance.conf'"
fails "create of an existing instance" "exists already" create web@a --ephemeral
fails "create with a bad option" "Invalid --port" create web@c --port=tcp:0:80
check "create --ephemeral web@e" out create --ephemeral web@e --port=tcp:8083:80
check "... no tree of its own, the overlay on the template's in its unit" \
    sh -c "[ ! -e '$tmp/store/web.e' ] &&
           grep -q -- '-D $tmp/store/web --volatile=overlay --read-only\$' \
               '$tmp/units/systemd-nspawn@web.e.service.d/40-mkmachine-instance.conf'"
check "a machine named like an instance but made otherwise" out clone web web.x
fails "create of an instance whose machine name is taken" "is no instance of 'web'" create web@x
shows_e() { out show web@e | grep -q 'Instance: web@e of template web (ephemeral'; }
check "show web@e says what it is" shows_e
check "set web@e (an ephemeral instance has no tree, and still has settings)" out set web@e --env=A=1
# Two first starts at once (they fail to start without systemd, after making the instance).
out start web@c --port=tcp:8091:80 2>"$tmp/e1" & p1=$!
out start web@c --port=tcp:8092:80 2>"$tmp/e2" & p2=$!
wait "$p1" || true
wait "$p2" || true
one_c() { [ -d "$tmp/store/web.c/etc" ] && [ "$(grep -c '^Port=' "$tmp/nspawn/web.c.nspawn")" = 1 ] &&
    [ "$(ls -A "$tmp/store" | tr '\n' ' ')" = "web web.a web.c web.x " ] &&
    grep -q 'not booted with systemd' "$tmp/e1" && grep -q 'not booted with systemd' "$tmp/e2"; }
check "two first 'start web@c' at once make one instance, no leftovers" one_c
check "... which remove web@c removes" out remove web@c
list=$(out list 2>/dev/null)
while IFS= read -r line; do echo "# $line"; done <<<"$list"
list_ok() { grep -q '^web.a .*instance web@a of web (clone)' <<<"$list" &&
    grep -q '^web.e  *ephemeral .*instance web@e of web (ephemeral)' <<<"$list" &&
    ! grep -q '^web.x .*instance' <<<"$list"; }
check "list marks web.a and web.e as instances, web.x not" list_ok
json_ok() { out list --json 2>/dev/null | tr -d ' \n' | grep -q \
    '"name":"web.e","kind":"machine","type":"ephemeral","state":"stopped","in_store":false,"instance":{"template":"web","instance":"e","mode":"ephemeral"}'; }
check "list --json: the ephemeral instance with its template" json_ok
fails "remove of the template while it has instances" "template of web@a, web@e" remove --force web
fails "rename of the template while it has instances" "template of web@a, web@e" rename web web2
fails "rename of an instance" "is an instance" rename web.a other
check "remove web@e" out remove web@e
check "remove web.a (by its machine name)" out remove web.a
check "... only the instances are gone" sh -c "[ -d '$tmp/store/web' ] && [ -d '$tmp/store/web.x' ] &&
    [ ! -e '$tmp/store/web.a' ] && [ -z \"\$(ls '$tmp/units')\" ] && [ -e '$tmp/nspawn/web.nspawn' ] &&
    [ ! -e '$tmp/nspawn/web.a.nspawn' ] && [ ! -e '$tmp/nspawn/web.e.nspawn' ]"
fails "remove of a removed instance" "No machine 'web.a'" remove web@a
check "now the template can go" out remove web

# --- Inside the test host. ---
th_build_trees
th_start tmpl
th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
th_copy_in "$TH_GUEST_TAR" /root/guest.tar
export ASAN_OPTIONS UBSAN_OPTIONS

err=$TH_ROOT/tmp/err
# run WHAT CMD…: a test point for a command in the test host, with its error output on failure.
run() {
    local what=$1
    shift
    if th_run "$@" 2>"$err"; then ok "$what"; else not_ok "$what: $(tr '\n' ' ' <"$err")"; fi
}
running() { [ "$(th_run machinectl show "$1" -p State --value 2>/dev/null)" = running ]; }
# answers PORT NAME: the web server behind the forward of PORT (from the outer machine) says NAME.
answers() { [ "$(curl -sf --max-time 3 "http://$TH_ADDR_INNER:$1/" 2>/dev/null)" = "$2" ]; }
wait_answers() {
    local i
    for ((i = 0; i < 90; i++)); do answers "$1" "$2" && return 0; sleep 1; done
    return 1
}
manifest() { th_run sh -c 'cd /var/lib/machines/web && find . -xdev -printf "%p %y %s %m %U:%G %T@ %C@\n" |
    sort | sha256sum'; }

run "import-tar the template web" mkmachine import-tar /root/guest.tar web
# Its web server answers with the host name, which is the machine's name.
w=$TH_ROOT/var/lib/machines/web
cat >"$w/etc/systemd/system/hostname-httpd.service" <<'UNIT'
[Service]
ExecStart=/bin/sh -c 'mkdir -p /run/www && hostname >/run/www/index.html && exec busybox httpd -f -p 80 -h /run/www'
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/hostname-httpd.service \
    "$w/etc/systemd/system/multi-user.target.wants/hostname-httpd.service"
before=$(manifest)

run "create web@a --port=tcp:8081:80" mkmachine create web@a --port=tcp:8081:80
run "start web@a" mkmachine start web@a
run "start web@b --port=tcp:8082:80 (made on the fly, a clone)" mkmachine start web@b --port=tcp:8082:80
check "web.a runs" th_wait_for 30 sh -c "[ \"\$(machinectl show web.a -p State --value)\" = running ]"
check "web.b runs" th_wait_for 30 sh -c "[ \"\$(machinectl show web.b -p State --value)\" = running ]"
check "web@a answers as web.a on 8081 from the outer machine" wait_answers 8081 web.a
check "web@b answers as web.b on 8082 from the outer machine" wait_answers 8082 web.b
check "... in units systemd-nspawn@web.a and @web.b" th_run sh -c \
    "systemctl is-active -q systemd-nspawn@web.a.service && systemctl is-active -q systemd-nspawn@web.b.service"
check "web.a's tree is its own" sh -c "[ -d '$TH_ROOT/var/lib/machines/web.a/etc' ]"

run "create --ephemeral web@e --port=tcp:8083:80" mkmachine create --ephemeral web@e --port=tcp:8083:80
run "start web@e" mkmachine start web@e
check "web@e answers as web.e on 8083" wait_answers 8083 web.e
beside() { answers 8081 web.a && answers 8082 web.b; }
check "... beside web.a and web.b" beside
check "a change inside the ephemeral instance" th_wait_for 30 systemd-run -M web.e --wait -q -G -P \
    sh -c 'echo x >/etc/ephemeral-mark && rm -f /etc/motd'
run "a second ephemeral instance, web@f" mkmachine create --ephemeral web@f --port=tcp:8084:80
run "systemctl start systemd-nspawn@web@f.service" systemctl start systemd-nspawn@web@f.service
both_ephemeral() { wait_answers 8084 web.f && answers 8083 web.e; }
check "web@f answers as web.f on 8084, web@e still on 8083" both_ephemeral
check "machinectl: web.f runs under systemd-nspawn@web@f.service" sh -c \
    "[ \"\$(nsenter -t $TH_LEADER -a machinectl show web.f -p Unit --value)\" = 'systemd-nspawn@web@f.service' ]"
list=$(th_run mkmachine list 2>/dev/null || true)
while IFS= read -r line; do echo "# $line"; done <<<"$list"
list_ok() { grep -q '^web  *directory in-use ' <<<"$list" &&
    grep -q '^web.a .* running .*instance web@a of web (clone)' <<<"$list" &&
    grep -q '^web.b .* running .*instance web@b of web (clone)' <<<"$list" &&
    grep -q '^web.e  *ephemeral running .*instance web@e of web (ephemeral)' <<<"$list" &&
    grep -q '^web.f  *ephemeral running .*instance web@f of web (ephemeral)' <<<"$list" &&
    ! grep -q 'not in the store' <<<"$list"; }
check "list marks the instances, the template is in use" list_ok
status_f() { th_run mkmachine status web@f >"$TH_ROOT/tmp/status" 2>"$err" &&
    grep -q 'Unit: systemd-nspawn@web@f.service: active' "$TH_ROOT/tmp/status" &&
    grep -q 'Instance: web@f of template web (ephemeral' "$TH_ROOT/tmp/status" &&
    grep -q 'Name: web.f' "$TH_ROOT/tmp/status"; }
check "status web@f: its unit (the @ one), that it is an instance" status_f

if th_run mkmachine remove --force web 2>"$err"; then
    not_ok "remove of the template while instances run must fail"
else
    check "remove of the template is refused ($(cat "$err"))" grep -q "template of web@a, web@b, web@e, web@f" \
        "$err"
fi
check "... it is still there" sh -c "[ -d '$w/etc' ]"
if th_run machinectl remove web 2>"$err"; then
    not_ok "machinectl remove of the template while ephemeral instances run must fail"
else
    ok "machinectl cannot remove it either while ephemeral instances run ($(cat "$err"))"
fi

run "stop web@e" mkmachine stop web@e
check "... stopped" th_wait_for 10 sh -c "! machinectl show web.e >/dev/null 2>&1"
status_e() { th_run mkmachine status web@e >"$TH_ROOT/tmp/status" 2>"$err" &&
    grep -q 'State: stopped' "$TH_ROOT/tmp/status" && grep -q 'Instance: web@e' "$TH_ROOT/tmp/status"; }
check "status of the stopped ephemeral instance" status_e
run "start web@e again" mkmachine start web@e
check "... it answers again" wait_answers 8083 web.e
check "... and the change is gone" th_wait_for 30 systemd-run -M web.e --wait -q -G -P \
    sh -c '[ ! -e /etc/ephemeral-mark ] && [ -e /etc/motd ]'
run "mkmachine stop web@f (running in systemd-nspawn@web@f.service)" mkmachine stop web@f
check "... stopped" th_wait_for 10 sh -c "! machinectl show web.f >/dev/null 2>&1 &&
    ! systemctl is-active -q systemd-nspawn@web@f.service"
run "stop web@e" mkmachine stop web@e
check "the template's tree is unchanged (manifest)" test "$before" = "$(manifest)"

if th_run mkmachine remove web@a 2>"$err"; then
    not_ok "remove of a running instance without --force must fail"
else
    check "remove of a running instance is refused ($(cat "$err"))" grep -q "running.*--force" "$err"
fi
run "remove --force web@a" mkmachine remove --force web@a
check "... web.a is gone: tree, settings, drop-ins, unit" sh -c "[ ! -e '$TH_ROOT/var/lib/machines/web.a' ] &&
    [ -z \"\$(find '$TH_ROOT/etc/systemd' -name '*web.a*' -o -name '*web@a*')\" ] &&
    ! nsenter -t $TH_LEADER -a machinectl show web.a >/dev/null 2>&1"
left_ok() { [ -d "$w/etc" ] && running web.b && answers 8082 web.b; }
check "... web and web@b are left, web@b still answers" left_ok
run "remove web@f" mkmachine remove web@f
run "set web@e --enable" mkmachine set web@e --enable
th_reboot
check "after a reboot of the test host the enabled ephemeral instance is back" wait_answers 8083 web.e
b_down() { ! running web.b && ! answers 8082 web.b; }
check "... and web@b, not enabled, is not" b_down
run "remove --force web@e" mkmachine remove --force web@e
run "remove web@b" mkmachine remove web@b
run "now the template can be removed" mkmachine remove web
check "... nothing is left" sh -c "[ -z \"\$(ls '$TH_ROOT/var/lib/machines')\" ] &&
    [ -z \"\$(find '$TH_ROOT/etc/systemd' -name '*web*')\" ]"

th_stop
tap_done
