#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's web-server scenario, as a user runs it: a registry on the outer machine (on the outer
# end of the test host's veth, a namespace this test makes) serves an image whose only program is a
# static busybox (no init, no ip, no shell of ours) with httpd on port 80 as its entrypoint. Inside the
# nested systemd test host, `mkmachine pull … web --port=tcp:7777:80 --restart=always --enable --now`
# on the default private network (veth): the outer machine gets the page from the test host's 7777;
# again after kill -9 of the machine's nspawn, after a reboot from inside the machine and after a
# reboot of the test host; a name the test host's DNS server serves resolves inside the machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require
for tool in umoci skopeo docker-registry curl python3 apt-get dpkg-deb; do
    command -v "$tool" >/dev/null && continue
    if [ "${MKMACHINE_MUST_WORK:-0}" = 1 ]; then
        echo "Bail out! $tool missing (and MKMACHINE_MUST_WORK=1)"
        exit 1
    fi
    echo "1..0 # SKIP $tool missing"
    exit 77
done
th_build_trees

work=$(mktemp -d /var/tmp/test-pull-boot.XXXXXX)
registry_pid='' dns_pid=''
cleanup_pull() {
    [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
    [ -z "$dns_pid" ] || kill "$dns_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup_pull EXIT

# A static busybox: Debian's busybox-static, from the archive apt uses (cached; it conflicts with the
# busybox package, so it is unpacked, not installed).
cache=${MKMACHINE_TEST_CACHE:-/var/cache/mkmachine-tests}/busybox-static
mkdir -p "$cache"
if [ ! -x "$cache/bin/busybox" ]; then
    (cd "$work" && apt-get download -q busybox-static >/dev/null)
    rm -rf "$cache/x"
    dpkg-deb -x "$work"/busybox-static_*.deb "$cache/x"
    mv "$cache/x/bin" "$cache/bin"
    rm -rf "$cache/x"
fi
check "the busybox of the image is static" sh -c "! ldd '$cache/bin/busybox' >/dev/null 2>&1"

# The image: /bin/busybox and a page, nothing else; the entrypoint serves on port 80.
cd "$work"
umoci init --layout img
umoci new --image img:base
umoci unpack --image img:base b >/dev/null
mkdir -p b/rootfs/bin b/rootfs/www
cp "$cache/bin/busybox" b/rootfs/bin/
printf 'hello from a pulled image\n' >b/rootfs/www/index.html
umoci repack --image img:web b >/dev/null
umoci config --image img:web --config.entrypoint /bin/busybox \
    --config.cmd httpd --config.cmd -f --config.cmd -p --config.cmd 80 --config.cmd -h --config.cmd /www \
    >/dev/null

th_start pullboot

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $TH_ADDR_OUTER:$port
EOF
env -u REGISTRY_AUTH_FILE docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$TH_ADDR_OUTER:$port/v2/" && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false oci:img:web "docker://$TH_ADDR_OUTER:$port/e2e/web:1"
ok "registry on the outer end of the veth ($TH_ADDR_OUTER:$port) holds the image"

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
export ASAN_OPTIONS UBSAN_OPTIONS

# The test host's name server: on its own address (in its netns), answering A queries for
# web-dns.mkm.test. Its resolv.conf lists a loopback stub first, which the machine cannot reach.
cat >"$work/dns.py" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 17:
        continue
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
        i += 1 + q[i]
    question = q[12:i + 5]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
    name = ".".join(labels).lower()
    known = name == "web-dns.mkm.test"
    hit = known and qtype == 1
    r = q[:2] + struct.pack(">HHHHH", 0x8180 if known else 0x8183, 1, 1 if hit else 0, 0, 0) + question
    if hit:
        r += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("192.0.2.80")
    s.sendto(r, peer)
EOF
start_dns() {
    [ -z "$dns_pid" ] || kill "$dns_pid" 2>/dev/null || true
    ip netns exec "$TH_NS" python3 "$work/dns.py" "$TH_ADDR_INNER" >"$work/dns.log" 2>&1 &
    dns_pid=$!
    for _ in $(seq 50); do
        ip netns exec "$TH_NS" ss -Hlun "src $TH_ADDR_INNER:53" | grep -q . && return 0
        sleep 0.1
    done
    echo "# the DNS server did not start in $TH_NS: $(cat "$work/dns.log")"
}
start_dns
# The test host's resolv.conf, set early at every boot (the outer nspawn copies the VM's own into it).
cat >"$work/resolv-conf.service" <<EOF
[Unit]
DefaultDependencies=no
Before=sysinit.target machines.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c "rm -f /etc/resolv.conf && printf 'nameserver 127.0.0.53\\\\nnameserver $TH_ADDR_INNER\\\\nsearch mkm.test\\\\n' >/etc/resolv.conf"

[Install]
WantedBy=sysinit.target
EOF
th_copy_in "$work/resolv-conf.service" /etc/systemd/system/mkm-resolv-conf.service
th_run systemctl enable -q --now mkm-resolv-conf.service
th_run cat /etc/resolv.conf >"$work/host-resolv" 2>&1 || true
check "the test host's resolv.conf: a loopback stub, then its own server" \
    grep -qzP "^nameserver 127.0.0.53\nnameserver $TH_ADDR_INNER\nsearch mkm.test\n" "$work/host-resolv"

if th_run mkmachine -q --tls-verify=false pull "$TH_ADDR_OUTER:$port/e2e/web:1" \
    --port=tcp:7777:80 --restart=always --enable --now >"$work/pull.out" 2>&1; then
    ok "mkmachine pull … web --port=tcp:7777:80 --restart=always --enable --now (no --network)"
else
    not_ok "mkmachine pull inside the test host: $(cat "$work/pull.out")"
fi
check "the machine is named after the repository" test -x "$TH_ROOT/var/lib/machines/web/bin/busybox"
check "its .nspawn runs the entrypoint on the private network" grep -qzP \
    'Boot=no\nParameters=/bin/busybox httpd -f -p 80 -h /www\n(.|\n)*VirtualEthernet=yes\nPort=tcp:7777:80\n' \
    "$TH_ROOT/etc/systemd/nspawn/web.nspawn"
check "machinectl list-images shows it" \
    sh -c "nsenter -t '$TH_LEADER' -a machinectl list-images --no-legend | grep -q '^web '"
check "machined reports the machine running" \
    th_wait_for 30 sh -c "[ \"\$(machinectl show web -p State --value)\" = running ]"

# systemd-networkd 256 and newer turn forwarding on only for the machine's link, not for what arrives
# on the uplink: doctor must say so, and the administrator does what it says. The test host's
# /proc/sys is read-only from inside, so the sysctl is set from outside, as sysctl.d would at boot.
sd_version=$(th_run systemctl --version | awk 'NR == 1 { print $2 }')
forwarding_by_admin() {
    [ "$sd_version" -ge 256 ] || return 0
    ip netns exec "$TH_NS" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
}
if [ "$sd_version" -ge 256 ]; then
    if th_run mkmachine doctor >"$work/doctor" 2>&1; then
        not_ok "systemd $sd_version: doctor must fail while nothing forwards IPv4: $(cat "$work/doctor")"
    else
        check "systemd $sd_version: doctor says forwarding needs IPv4Forwarding=yes or the sysctl" \
            grep -q '^ *fix: IPv4Forwarding=yes in \[Network\] of /etc/systemd/networkd.conf' "$work/doctor"
    fi
    forwarding_by_admin
fi

# page: the outer machine gets the page from the test host's 7777 (retrying for up to 30 s).
page() {
    curl -s --retry 30 --retry-delay 1 --retry-all-errors -m 5 "http://$TH_ADDR_INNER:7777/index.html" \
        >"$work/page" 2>&1 && grep -q 'hello from a pulled image' "$work/page"
}
why() {
    echo "$(cat "$work/page" 2>/dev/null); $(th_run journalctl -u systemd-nspawn@web --no-pager 2>&1 | tail -20)"
}
# inside CMD…: CMD in all namespaces of the machine (its leader is the httpd).
inside() {
    th_run sh -c 'l=$(machinectl show web -p Leader --value) && nsenter -t "$l" -a "$@"' sh "$@"
}
leader() { th_run machinectl show web -p Leader --value; }

if page; then
    ok "the outer machine gets the page from the test host's port 7777"
else
    not_ok "no answer on $TH_ADDR_INNER:7777: $(why)"
fi
th_run sh -c 'l=$(machinectl show web -p Leader --value) && nsenter -t "$l" -n ip -4 route show default' \
    >"$work/route" 2>&1 || true
check "host0 inside has a default route, set from the host ($(cat "$work/route"))" \
    grep -q 'default via .* dev host0' "$work/route"
check "the unit's journal says how host0 was configured" sh -c \
    "nsenter -t $TH_LEADER -a journalctl -q -u systemd-nspawn@web --no-pager | grep -q \"Machine 'web': host0 \""
if inside /bin/busybox nslookup web-dns.mkm.test >"$work/ns" 2>&1 && grep -q 192.0.2.80 "$work/ns"; then
    ok "DNS inside the machine resolves a name the test host's server serves"
else
    not_ok "nslookup web-dns.mkm.test inside: $(cat "$work/ns"); $(cat "$work/dns.log")"
fi
inside /bin/busybox cat /etc/resolv.conf >"$work/resolv" 2>&1 || true
check "its resolv.conf names the test host's server, not the loopback stub" sh -c \
    "grep -qx 'nameserver $TH_ADDR_INNER' '$work/resolv' && ! grep -q 127.0.0.53 '$work/resolv'"
check "the image tree got no resolv.conf content (a read-only bind from /run)" \
    sh -c "[ ! -s '$TH_ROOT/var/lib/machines/web/etc/resolv.conf' ]"
th_run sh -c 'cat /proc/$(machinectl show web -p Leader --value)/uid_map' >"$work/uidmap" 2>&1 || true
check "httpd binds port 80 as root of a user namespace ($(tr -s ' ' <"$work/uidmap"))" \
    grep -Eq '^ *0 +[1-9][0-9]* +65536$' "$work/uidmap"
th_run mkmachine show web >"$work/show" 2>&1 || true
check "show: the port, host0 set up by mkmachine, restart always, enabled, no resolv.conf bind" sh -c \
    "grep -q 'tcp:7777:80' '$work/show' && grep -q 'host0 set up by mkmachine' '$work/show' &&
     grep -q 'Restart: always' '$work/show' && grep -q 'At boot: enabled' '$work/show' &&
     ! grep -q resolv '$work/show'"

# doctor tells the truth about forwarding: off while a machine with ports runs is a failure.
th_run mkmachine doctor >"$work/doctor" 2>&1 || true
check "doctor: ip-forward ok while the machine runs" grep -q '^ok *ip-forward' "$work/doctor"
ip netns exec "$TH_NS" sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
if th_run mkmachine doctor >"$work/doctor" 2>&1; then
    not_ok "doctor must fail with forwarding off and a machine forwarding ports: $(cat "$work/doctor")"
else
    check "doctor fails with forwarding off while a machine with ports runs ($(grep ip-forward "$work/doctor"))" \
        grep -q '^fail *ip-forward .*lead nowhere' "$work/doctor"
fi
ip netns exec "$TH_NS" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'

# --network=host with --port: refused when set, nothing changed.
cp "$TH_ROOT/etc/systemd/nspawn/web.nspawn" "$work/before"
if th_run mkmachine set web --network=host 2>"$work/err"; then
    not_ok "set --network=host on a machine with --port must fail"
else
    check "set --network=host with a port is refused ($(cat "$work/err"))" grep -q "network=host.*--port" \
        "$work/err"
fi
check "... and the settings are unchanged" cmp "$work/before" "$TH_ROOT/etc/systemd/nspawn/web.nspawn"

pid=$(th_run systemctl show -p MainPID --value systemd-nspawn@web.service)
case $pid in ''|0|*[!0-9]*) pid=1 ;; esac      # no main PID: the checks below fail, nothing is killed
[ "$pid" = 1 ] || th_run sh -c "kill -9 $pid"
check "after kill -9 of its nspawn ($pid) the unit restarts" th_wait_for 30 sh -c \
    "p=\$(systemctl show -p MainPID --value systemd-nspawn@web.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
if page; then ok "... and the page comes from 7777 again"; else not_ok "no answer after kill -9: $(why)"; fi

old=$(leader)
inside /bin/busybox reboot -f >/dev/null 2>&1 || true
check "a reboot from inside the machine restarts it" th_wait_for 30 sh -c \
    "l=\$(machinectl show web -p Leader --value) && [ -n \"\$l\" ] && [ \"\$l\" != $old ]"
if page; then ok "... and the page comes from 7777 again"; else not_ok "no answer after the reboot inside: $(why)"; fi

th_reboot
start_dns
forwarding_by_admin
check "after a reboot of the test host the machine is back by itself" th_wait_for 60 sh -c \
    "[ \"\$(machinectl show web -p State --value)\" = running ]"
if page; then ok "... and the page comes from 7777"; else not_ok "no answer after the test-host reboot: $(why)"; fi
if inside /bin/busybox nslookup web-dns.mkm.test >"$work/ns" 2>&1 && grep -q 192.0.2.80 "$work/ns"; then
    ok "... and DNS resolves inside"
else
    not_ok "nslookup after the reboot: $(cat "$work/ns"); resolv.conf: $(inside /bin/busybox cat /etc/resolv.conf 2>&1); \
$(th_run cat /etc/resolv.conf 2>&1); dns: $(cat "$work/dns.log")"
fi

check "mkmachine stop web" th_run mkmachine stop web
check "mkmachine remove web" th_run mkmachine remove web
check "the machine is gone" test ! -e "$TH_ROOT/var/lib/machines/web"
check "... with its drop-ins, settings and resolv.conf" sh -c \
    "[ -z \"\$(find '$TH_ROOT/etc/systemd' '$TH_ROOT/var/lib/mkmachine' -name '*web*')\" ]"

th_stop
tap_done
