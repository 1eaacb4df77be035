#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine as a machined client, in a nested systemd test host: `status` shows a running machine's
# unit, leader, address and uptime, and a stored one as stopped; `list` puts store images, running
# machines and Podman containers in one table (and in --json); `doctor` finds a stopped networkd and
# is clean otherwise. On the outer machine (no systemd) status and doctor say so at once.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- Outside: no systemd as PID 1 -----------------------------------------------------------------
if [ ! -e /run/systemd/system ]; then
    rc=0
    timeout 10 "$MKMACHINE" --image-root="$work" status guest >"$work/out" 2>"$work/err" || rc=$?
    check "outside: status fails at once, not booted with systemd (rc=$rc: $(head -c 200 "$work/err"))" \
        sh -c "[ $rc = 1 ] && grep -q 'not booted with systemd' '$work/err'"
    rc=0
    timeout 10 "$MKMACHINE" --image-root="$work" doctor >"$work/out" 2>&1 || rc=$?
    check "outside: doctor reports the missing systemd and fails (rc=$rc)" \
        sh -c "[ $rc = 1 ] && grep -q '^fail system-bus .*not booted with systemd' '$work/out' &&
               grep -q '^skip networkd' '$work/out' && grep -q 'fix: ' '$work/out'"
    rc=0
    timeout 10 "$MKMACHINE" --image-root="$work" list >"$work/out" 2>"$work/err" || rc=$?
    check "outside: list still lists the store, with a note on stderr (rc=$rc)" \
        sh -c "[ $rc = 0 ] && grep -q '^NAME *TYPE *STATE' '$work/out' &&
               grep -q 'running machines not shown' '$work/err'"
    check "outside: --quiet list leaves out the notes" \
        sh -c "'$MKMACHINE' --image-root='$work' -q list 2>&1 >/dev/null | wc -c | grep -qx 0"
fi

th_build_trees
th_start machined
th_podman_setup

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
th_copy_in "$TH_GUEST_TAR" /root/guest.tar
export ASAN_OPTIONS UBSAN_OPTIONS

# inside CMD…: run mkmachine (or anything) in the test host, stdout to $work/out, stderr to
# $work/err; returns its status.
inside() { th_run "$@" >"$work/out" 2>"$work/err"; }

check "import the guest" inside mkmachine -q import-tar /root/guest.tar guest
check "clone it into a second, stopped machine" inside mkmachine -q clone guest idle

# A stopped machine: its unit is inactive, status says stopped and succeeds.
check "status of a stopped machine succeeds" inside mkmachine status idle
check "it shows as stopped, its unit inactive and not enabled" \
    sh -c "grep -q 'State: stopped' '$work/out' && grep -q 'inactive (dead), not enabled' '$work/out'"
inside mkmachine status --json idle
check "status --json of a stopped machine: state stopped, no machine, the image" python3 - "$work/out" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "stopped" and s["machine"] is None and s["in_store"] is True, s
assert s["unit"]["active_state"] == "inactive" and s["unit"]["enabled"] is False, s["unit"]
assert s["image"]["name"] == "idle" and s["image"]["origin"]["cloned_from"] == "guest", s["image"]
EOF
rc=0
inside mkmachine status nosuch || rc=$?
check "status of an unknown machine fails naming it (rc=$rc: $(cat "$work/err"))" \
    sh -c "[ $rc = 1 ] && grep -q \"No machine 'nosuch'\" '$work/err'"

th_run systemctl enable systemd-nspawn@guest.service >/dev/null 2>&1
th_run machinectl start guest
check "machinectl start guest" th_wait_for 30 sh -c "[ \"\$(machinectl show guest -p State --value)\" = running ]"
# DHCP on host0 takes a few seconds.
check "status shows an IPv4 address once DHCP is done" \
    th_wait_for 30 sh -c "mkmachine status --json guest | grep -q '\"192\\.168\\.'"

leader=$(th_run machinectl show guest -p Leader --value)
check "status guest" inside mkmachine status guest
sed 's/^/# /' "$work/out"
check "status: running, with machined's leader ($leader)" \
    sh -c "grep -q 'State: running' '$work/out' && grep -qx ' *Leader: $leader' '$work/out'"
check "status: the unit is active and enabled" \
    grep -q 'Unit: systemd-nspawn@guest.service: active (running), enabled' "$work/out"
check "status: an address, the uptime and the image" \
    sh -c "grep -Eq '^ *(Address:)? +192\\.168\\.[0-9]+\\.[0-9]+$' '$work/out' &&
           grep -Eq 'Uptime: [0-9]+(s|min)' '$work/out' && grep -q 'Image: /var/lib/machines/guest (directory' '$work/out'"

inside mkmachine status --json guest
check "status --json has the fields" python3 - "$work/out" "$leader" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["name"] == "guest" and s["state"] == "running" and s["in_store"], s
assert s["unit"]["name"] == "systemd-nspawn@guest.service", s["unit"]
assert s["unit"]["active_state"] == "active" and s["unit"]["enabled"] is True, s["unit"]
m = s["machine"]
assert m["leader"] == int(sys.argv[2]), m
assert m["class"] == "container" and m["service"] == "systemd-nspawn", m
assert any(a.startswith("192.168.") for a in m["addresses"]), m["addresses"]
assert m["uptime_usec"] > 0 and m["started_usec"] > 0, m
assert s["image"]["type"] == "directory" and s["image"]["usage"] > 0, s["image"]
EOF

# --- Podman beside the machines -------------------------------------------------------------------
# An image of busybox and the libraries it links to, made from the test host's own files.
rm -rf "$work/img"
mkdir -p "$work/img/bin"
cp "$TH_ROOT/bin/busybox" "$work/img/bin/"
for lib in $(chroot "$TH_ROOT" ldd /bin/busybox | grep -oE '/[^ ]+'); do
    mkdir -p "$work/img$(dirname "$lib")"
    cp -L "$TH_ROOT$lib" "$work/img$lib"
done
tar -C "$work/img" -cf "$work/bb.tar" .
th_copy_in "$work/bb.tar" /root/bb.tar
check "podman import of a busybox image" inside podman import /root/bb.tar localhost/bb
check "podman runs a container" \
    inside podman run -d --name web --cgroups=disabled --network=none localhost/bb /bin/busybox sleep 600
[ -s "$work/err" ] && sed 's/^/# podman: /' "$work/err"
check "podman creates a second one (not started)" \
    inside podman create --name later --cgroups=disabled --network=none localhost/bb /bin/busybox true

# A machine that machined runs but that is not in the store: a copy of the tree elsewhere, run by
# systemd-nspawn as a plain command.
th_run cp -a /var/lib/machines/idle /srv/other
th_run systemd-run -q --unit=other-machine systemd-nspawn -q -D /srv/other -M other /bin/sleep 600
check "a machine outside the store runs" \
    th_wait_for 30 sh -c "[ \"\$(machinectl show other -p State --value)\" = running ]"
check "status of the machine outside the store" inside mkmachine status other
check "status: running, its root, and no image in the store" \
    sh -c "grep -q 'State: running' '$work/out' && grep -q 'Root: /srv/other' '$work/out' &&
           grep -q 'Image: not in /var/lib/machines' '$work/out'"

check "list" inside mkmachine list
sed 's/^/# /' "$work/out"
check "list: the running machine, from the store" grep -Eq '^guest +directory +running ' "$work/out"
check "list: the stopped machine" grep -Eq '^idle +directory +stopped ' "$work/out"
check "list: the machine outside the store, marked as such" \
    grep -Eq '^other +container +running .*systemd-nspawn \(not in the store\)' "$work/out"
check "list: the running podman container with its image" \
    grep -Eq '^web +podman +running .*localhost/bb' "$work/out"
check "list: the created podman container" grep -Eq '^later +podman +created ' "$work/out"
check "list: no notes (bus and podman are there): $(cat "$work/err")" test ! -s "$work/err"

inside mkmachine list --json
check "list --json has all of them with kind and state" python3 - "$work/out" <<'EOF'
import json, sys
rows = {(r["kind"], r["name"]): r for r in json.load(open(sys.argv[1]))}
assert rows[("machine", "guest")]["state"] == "running", rows
assert rows[("machine", "guest")]["in_store"] is True
assert rows[("machine", "idle")]["state"] == "stopped"
assert rows[("podman", "web")]["state"] == "running" and "localhost/bb" in rows[("podman", "web")]["image"]
assert rows[("podman", "later")]["state"] == "created"
assert len(rows[("podman", "web")]["id"]) == 64 and rows[("podman", "web")]["created_usec"] > 0
assert rows[("machine", "other")]["state"] == "running" and rows[("machine", "other")]["in_store"] is False
assert rows[("machine", "other")]["type"] == "container"
assert len(rows) == 5, rows
EOF
th_run systemctl stop other-machine.service

# A Podman network in the range networkd gives machines their addresses from: a warning, not a
# failure.
check "podman network create in 192.168.0.0/16" \
    inside podman network create --subnet=192.168.250.0/24 clash
rc=0
inside mkmachine doctor || rc=$?
check "doctor warns about the Podman network in the machines' range, exit 0 (rc=$rc)" \
    sh -c "[ $rc = 0 ] && grep -q \"^warn address-ranges .*Podman network 'clash' (192.168.250.0/24)\" '$work/out' &&
           grep -q 'fix: give the Podman network a range outside' '$work/out'"
th_run ip route add 192.168.251.0/24 dev lo
rc=0
inside mkmachine doctor --json || rc=$?
check "doctor --json: both collisions, the route too (rc=$rc)" python3 - "$work/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
w = [c["message"] for c in d["checks"] if c["name"] == "address-ranges" and c["result"] == "warn"]
assert len(w) == 2 and any("clash" in m for m in w) and any("192.168.251.0/24" in m for m in w), w
assert d["ok"] is True, d
EOF
th_run ip route del 192.168.251.0/24 dev lo
th_run podman network rm clash >/dev/null

# --- doctor ---------------------------------------------------------------------------------------
rc=0
inside mkmachine doctor || rc=$?
sed 's/^/# /' "$work/out"
check "doctor is clean on a working test host (rc=$rc)" \
    sh -c "[ $rc = 0 ] && grep -q '^ok   networkd' '$work/out' && grep -q '^ok   machined' '$work/out' &&
           ! grep -q '^fail' '$work/out'"
inside mkmachine doctor --json || true
check "doctor --json parses and agrees" python3 - "$work/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["failed"] == 0, d
names = {c["name"]: c for c in d["checks"]}
for n in ("system-bus", "machined", "networkd", "systemd-nspawn", "ip-forward", "cgroups",
          "address-ranges", "disk-images", "disk-cache"):
    assert n in names, (n, names.keys())
assert names["networkd"]["result"] == "ok"
EOF

th_run systemctl stop systemd-networkd.service systemd-networkd.socket
rc=0
inside mkmachine doctor || rc=$?
sed 's/^/# /' "$work/out"
check "doctor fails when networkd is stopped (rc=$rc)" \
    sh -c "[ $rc = 1 ] && grep -q '^fail networkd .*inactive' '$work/out'"
check "doctor gives the fix for networkd" grep -q 'fix: systemctl enable --now systemd-networkd' "$work/out"
rc=0
inside mkmachine doctor --json || rc=$?
check "doctor --json: networkd failed, ok is false (rc=$rc)" python3 - "$work/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
n = [c for c in d["checks"] if c["name"] == "networkd"][0]
assert d["ok"] is False and n["result"] == "fail" and "systemd-networkd" in n["fix"], d
EOF
th_run systemctl start systemd-networkd.service
check "doctor is clean again with networkd started" inside mkmachine doctor

# --- after poweroff -------------------------------------------------------------------------------
th_run podman rm -f -t 0 web later >/dev/null 2>&1 || true
th_run machinectl poweroff guest
check "the guest powers off" th_wait_for 60 sh -c "! machinectl list --no-legend | grep -q '^guest '"
check "status after poweroff" inside mkmachine status guest
check "status says stopped, the unit inactive but enabled" \
    sh -c "grep -q 'State: stopped' '$work/out' && grep -q 'inactive (dead), enabled' '$work/out'"

th_stop
tap_done
