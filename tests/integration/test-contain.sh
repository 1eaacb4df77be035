#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bootstrap's maintainer scripts and recipe commands are contained (build-env.h): `mkmachine
# bootstrap FILE.conf` against a local, signed repository (aptrepo.sh) with the real .debs of a
# minbase tree and mkm-escape, whose preinst, postinst and a recipe command try every way to the host
# (aptrepo_make_escape). None may work: no file of theirs on the host, the host's name unchanged, a
# host process alive, only the sandbox's few processes in their /proc, no connection to the host's
# server on 127.0.0.1, only lo; and the bootstrap of the ordinary packages still succeeds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"
# shellcheck source=tests/integration/aptrepo.sh
. "$here/aptrepo.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

aptrepo_require
tap_require perl hostname

base=/dev/shm
[ "$(df --output=avail -k /dev/shm | tail -n 1)" -gt 4000000 ] || base=/var/tmp
work=$(mktemp -d "$base/test-contain.XXXXXX")
victim=
hostname_before=$(hostname)
cleanup() {
    [ -z "$victim" ] || kill -KILL "$victim" 2>/dev/null || true
    # Should a script have got out after all, the host gets its name back.
    [ "$(hostname)" = "$hostname_before" ] || hostname "$hostname_before" || true
    rm -rf "$work"
}
trap cleanup EXIT

# A directory of the host the scripts try to write into, and a host process that sits in it.
hostdir=$work/host
mkdir -p "$hostdir" "$work/store"
(cd "$hostdir" && exec sleep 3600) &
victim=$!
disown "$victim"        # no "Killed" from bash when the clean-up ends it

real=$(aptrepo_fetch_real_debs bookworm systemd systemd-sysv dbus iproute2 ca-certificates)
aptrepo_make_synthetic "$work/synthetic"
aptrepo_build "$work/repo" bookworm main "$work/key" "$real" "$work/synthetic"
aptrepo_serve "$work/repo"
url=$APTREPO_URL
# The package knows the server's port only now: the repository is rebuilt with it.
aptrepo_make_escape "$work/escape" "$hostdir" "$victim" "$APTREPO_PORT"
aptrepo_build "$work/repo" bookworm main "$work/key" "$real" "$work/synthetic" "$work/escape"

cat >"$work/contain.conf" <<CONF
[Recipe]
Description=minbase from the local test repository, with a package that tries to get out

[Distribution]
Distribution=debian
Suite=bookworm
Components=main
Architecture=amd64
Mirror=$url
Keyring=$work/key/keyring.gpg

[Packages]
Variant=minbase
Include=mkm-tool mkm-escape

[Run]
Command=/usr/bin/mkm-escape
CONF

name=contain-$$
if "$MKMACHINE" --image-root="$work/store" --cache-dir="$work/cache" bootstrap "$work/contain.conf" \
    --name="$name" -q 2>"$work/err"; then
    ok "bootstrap with mkm-escape from the local repository"
else
    not_ok "bootstrap with mkm-escape: $(tail -n 20 "$work/err")"
fi
t=$work/store/$name
r=$t/var/lib/mkm-escape
check "the ordinary packages are installed, dpkg --audit is clean" \
    sh -c "chroot '$t' dpkg-query -W -f '\${Status}\n' mkm-tool mkm-base dpkg bash | grep -vqx 'install ok installed' && exit 1;
           [ -z \"\$(chroot '$t' dpkg --audit 2>&1)\" ]"
check "mkm-escape is installed (its preinst and postinst succeeded)" \
    sh -c "chroot '$t' dpkg-query -W -f '\${Status}' mkm-escape | grep -qx 'install ok installed'"

for stage in preinst postinst command; do
    if [ ! -s "$r/$stage.pids" ]; then
        not_ok "$stage: mkm-escape ran and recorded what it saw"
        continue
    fi
    ok "$stage: mkm-escape ran and recorded what it saw"
    check "$stage: no file through /proc/1/root, /proc/self/root, /proc/N/root, /proc/PID/cwd or chroot" \
        sh -c "[ ! -s '$r/$stage.written' ] && [ -z \"\$(ls -A '$hostdir')\" ]"
    pids=$(cat "$r/$stage.pids")
    check "$stage: its /proc shows only the sandbox's processes ($pids: $(tr '\n' ' ' <"$r/$stage.pidlist"))" \
        test "$pids" -le 8
    check "$stage: the host process is not in its /proc" grep -qx invisible "$r/$stage.victim"
    check "$stage: signalling the host process failed" \
        test "$(tr '\n' ' ' <"$r/$stage.kill")" = "failed failed "
    # Each command has a UTS namespace of its own: what the preinst renamed is not what the postinst sees.
    check "$stage: its host name was the machine's ($(head -n 1 "$r/$stage.hostname"))" \
        test "$(head -n 1 "$r/$stage.hostname")" = "$name"
    check "$stage: renaming its host worked, inside" grep -qx renamed "$r/$stage.hostname"
    check "$stage: no connection to the host's server on 127.0.0.1:$APTREPO_PORT" grep -qx failed "$r/$stage.tcp"
    check "$stage: only a loopback ($(tr '\n' ' ' <"$r/$stage.net"))" test "$(cat "$r/$stage.net")" = lo
    check "$stage: a server and a client on the loopback work ($(cat "$r/$stage.loopback"))" \
        grep -qx ok "$r/$stage.loopback"
done

check "nothing was written into the host directory" test -z "$(ls -A "$hostdir")"
check "the host's name is unchanged ($(hostname))" test "$(hostname)" = "$hostname_before"
check "the host process is alive" kill -0 "$victim"
check "the server saw no request from inside (only the downloads: GET of indexes and packages)" \
    sh -c "! grep -v '^GET ' '$APTREPO_LOG'"
check "nothing of the build is left mounted" sh -c "! grep -q ' $t/' /proc/self/mountinfo"

tap_done
