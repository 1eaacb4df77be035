#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A nested systemd test host for integration tests; see /work/shared/testhost.md for why and how.
#
# PID 1 of the development and CI machines is not systemd, so machined, machinectl and systemctl
# only work inside a booted Debian tree. This library builds such trees once (cached tarballs),
# boots one with systemd-nspawn in a network namespace of its own and tears everything down again.
#
# Usage (source it; set -euo pipefail compatible):
#     . "$(dirname "$0")/testhost.sh"
#     th_require                    # exit 77 (skip) unless root and the tools are there
#     th_build_trees                # build or reuse host.tar and guest.tar in the cache
#     th_start mytest               # boot; sets TH_ROOT TH_LEADER TH_NS TH_LOG TH_ADDR_OUTER ...
#     th_run systemctl is-system-running
#     th_copy_in build/mkmachine /usr/local/bin/mkmachine
#     th_podman_setup               # only if the test runs podman containers (--network=none)
#     th_reboot                     # power off, boot the same tree in a fresh namespace
#     th_stop                       # clean power off, remove netns, veth and the tree
# th_start chains an EXIT trap (an existing one still runs, after ours) that removes everything,
# also when the test fails; th_cleanup is the same function for tests that manage traps themselves.
# One test host per shell process. Each boot gets its own cgroup (below this process' own, in
# name=systemd and the unified hierarchy): with --keep-unit, nspawn's "supervisor"/"payload"
# cgroups of test hosts started from the same cgroup would otherwise be shared and break each
# other's units. A test host whose test was killed (SIGKILL: no trap runs) is recorded in
# /run/mkmachine-tests/*.state and removed by the next th_start.
#
# Environment: MKMACHINE_MUST_WORK=1 turns "skip" into "fail"; MKMACHINE_TEST_CACHE (default
# /var/cache/mkmachine-tests) holds the tarballs; TH_KEEP=1 keeps the tree of a failed test.

# shellcheck source=tests/integration/cache.sh
. "$(dirname "${BASH_SOURCE[0]}")/cache.sh"
# shellcheck source=tests/integration/suite-tree.sh
. "$(dirname "${BASH_SOURCE[0]}")/suite-tree.sh"

# Bump when the way the trees are built changes: it is part of the cache key.
TH_VERSION="testhost-1"
# MKMACHINE_TH_SUITE=trixie: a Debian 13 test host (systemd 257) instead of Debian 12's (252).
TH_SUITE=${MKMACHINE_TH_SUITE:-bookworm}
TH_HOST_PACKAGES="systemd,systemd-sysv,dbus,systemd-container,iproute2,busybox,nftables,curl"
# The runtime libraries of a mkmachine built on the outer machine (also with ASan+UBSan); trixie
# has some of them under their 64-bit time_t names (the same sonames).
th__t64=''
[ "$TH_SUITE" = bookworm ] || th__t64=t64
TH_HOST_PACKAGES+=",libarchive13$th__t64,libmount1,libsystemd0,zlib1g,libisal2,libjson-c5,libssl3$th__t64"
TH_HOST_PACKAGES+=",libcurl4$th__t64,libasan8,libubsan1,libgcc-s1"
# Podman beside the machines (mkmachine list shows its containers; doctor compares its networks).
# It runs only in tests that call th_podman_setup (see /work/shared/testhost.md for why).
TH_HOST_PACKAGES+=",podman,crun,conmon,netavark"
TH_GUEST_PACKAGES="systemd,systemd-sysv,dbus,iproute2,busybox"
# The customize hooks, single-quoted on purpose: mmdebstrap's shell expands "$1" to the tree.
# shellcheck disable=SC2016
TH_HOOKS=(
    --customize-hook='systemctl --root="$1" enable systemd-networkd'
    --customize-hook='rm -f "$1/etc/hostname"'
    # Debian enables podman's units; podman-restart and podman-auto-update pull in
    # network-online.target, whose wait-online hangs the boot for 2 minutes (the test host's link is
    # not networkd's). Tests start podman by hand.
    --customize-hook='rm -f "$1"/etc/systemd/system/*.wants/podman*'
)
# systemd 257's modules-load fails in a container of nspawn 252 and fails the boot ("degraded").
[ "$TH_SUITE" = bookworm ] ||
    TH_HOOKS+=(--customize-hook='ln -sf /dev/null "$1/etc/systemd/system/systemd-modules-load.service"')
TH_STATE_DIR=/run/mkmachine-tests
TH_BOOT_TIMEOUT=60
TH_STOP_TIMEOUT=10

# Internal state of this process' test host.
th__seq=0
th__trap_set=0
th__nspawn_pid=
th__dir=
th__veth=
th__cg=
th__state=
th__host_tar=
th__guest_tar=

th__log() { echo "# testhost: $*" >&2; }

th__die() {
    th__log "ERROR: $*"
    return 1
}

# th_require: skip the test (exit 77) unless it runs as root with the tools it needs; with
# MKMACHINE_MUST_WORK=1 fail (exit 1) instead.
th_require() {
    local missing=() t
    for t in mmdebstrap systemd-nspawn nsenter ip tar flock findmnt setsid timeout; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    local why=
    [ "$(id -u)" = 0 ] || why="not root"
    [ ${#missing[@]} = 0 ] || why="${why:+$why, }missing: ${missing[*]}"
    [ -z "$why" ] && return 0
    if [ "${MKMACHINE_MUST_WORK:-0}" = 1 ]; then
        echo "Bail out! testhost: $why (MKMACHINE_MUST_WORK=1)"
        exit 1
    fi
    echo "1..0 # SKIP testhost: $why"
    exit 77
}


th__mirror() {
    local f src=''
    # The first *.sources file (as "ls …/*.sources | head -1" would list it), else sources.list.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && { src=$f; break; }
    done
    [ -n "$src" ] || src=/etc/apt/sources.list
    [ -r "$src" ] || { th__die "no apt sources file to use as mirror"; return 1; }
    echo "$src"
}

# th__key PACKAGES: the cache key of a tree, from everything that goes into building it.
th__key() {
    printf '%s\n' "$TH_VERSION" "$TH_SUITE" "--variant=minbase" "--include=$1" "${TH_HOOKS[@]}" |
        sha256sum | cut -c 1-16
}

# th__build_tar TMP KIND PACKAGES: mmdebstrap the tree of KIND into the tarball TMP.
th__build_tar() {
    local tmp=$1 kind=$2 packages=$3 mirror log start=$SECONDS
    mirror=$(th__mirror) || return 1
    log=$(mktemp)
    th__log "building the $kind tree of $TH_SUITE (about 30 s)"
    if [ "$TH_SUITE" != bookworm ]; then
        # The host's apt sources name bookworm's suites: another release from the same mirror.
        if suite_tree_build "$tmp" "$log" "$TH_SUITE" --include="$packages" "${TH_HOOKS[@]}" &&
            [ -s "$tmp" ]; then
            th__log "built the $kind tree in $((SECONDS - start)) s"
            rm -f "$log"
            return 0
        fi
        rm -f "$log"
        return 1
    fi
    if mmdebstrap --variant=minbase --format=tar --include="$packages" "${TH_HOOKS[@]}" \
        "$TH_SUITE" "$tmp" "$mirror" </dev/null >"$log" 2>&1 && [ -s "$tmp" ]; then
        th__log "built the $kind tree in $((SECONDS - start)) s"
        rm -f "$log"
        return 0
    fi
    tail -n 30 "$log" | sed 's/^/# mmdebstrap: /' >&2
    rm -f "$log"
    return 1
}

# th__build KIND PACKAGES: prints the path of KIND-<key>.tar in the cache, building it if needed.
th__build() {
    local kind=$1 packages=$2 cache
    cache=$(test_cache_dir)
    test_cache_build "$cache/$kind-$(th__key "$packages").tar" "$cache/.lock" \
        th__build_tar "$kind" "$packages" ||
        th__die "building the $kind tree failed"
}

# th_build_trees: build (once; cached under $MKMACHINE_TEST_CACHE, keyed by the inputs) the test
# host and guest tarballs. Sets TH_HOST_TAR and TH_GUEST_TAR.
th_build_trees() {
    th__host_tar=$(th__build host "$TH_HOST_PACKAGES") || return 1
    th__guest_tar=$(th__build guest "$TH_GUEST_PACKAGES") || return 1
    export TH_HOST_TAR=$th__host_tar TH_GUEST_TAR=$th__guest_tar
}

# th_guest_tar: print the path of the cached guest tarball (builds it if needed).
th_guest_tar() {
    [ -n "$th__guest_tar" ] || th__guest_tar=$(th__build guest "$TH_GUEST_PACKAGES") || return 1
    echo "$th__guest_tar"
}

# th__start_time PID: the start time of a live (not zombie) process, to tell it from a later one
# with the same PID; fails if there is none.
th__start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    [ "$1" != Z ] && [ "$1" != X ] || return 1
    echo "${20}"
}

th__alive() { th__start_time "$1" >/dev/null 2>&1; }

th__write_state() {
    [ -n "$th__state" ] || return 0
    local nspawn_start
    nspawn_start=$(th__start_time "${th__nspawn_pid:-0}") || nspawn_start=''
    printf '%s=%q\n' OWNER "$$" OWNER_START "$(th__start_time $$)" NSPAWN "$th__nspawn_pid" \
        NSPAWN_START "$nspawn_start" NS "${TH_NS:-}" VETH "$th__veth" CG "$th__cg" DIR "$th__dir" \
        >"$th__state.tmp"
    mv -f "$th__state.tmp" "$th__state"
}

# th__unmount_below DIR: unmount everything mounted at or below DIR, deepest first.
th__unmount_below() {
    local dir=$1 m
    [ -n "$dir" ] || return 0
    findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1 || $0 == d' | sort -r |
        while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || th__log "cannot unmount $m"
        done
}

# th__cg_dirs NAME: the directories of cgroup NAME in the hierarchies systemd uses (cgroup2 alone,
# or name=systemd plus the unified one in the hybrid layout), below this process' own cgroups.
th__cg_dirs() {
    local name=$1 line path
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        path=$(sed -n 's/^0:://p' /proc/self/cgroup)
        echo "/sys/fs/cgroup${path%/}/$name"
        return 0
    fi
    while IFS= read -r line; do
        case $line in
            *:name=systemd:*)
                [ -d /sys/fs/cgroup/systemd ] || continue
                path=${line#*:name=systemd:}
                echo "/sys/fs/cgroup/systemd${path%/}/$name" ;;
            0::*)
                [ -f /sys/fs/cgroup/unified/cgroup.procs ] || continue
                path=${line#0::}
                echo "/sys/fs/cgroup/unified${path%/}/$name" ;;
        esac
    done </proc/self/cgroup
}

# th__cg_remove DIR...: kill whatever still runs in these cgroups, then remove them, deepest first.
th__cg_remove() {
    local d f p i busy
    for d in "$@"; do
        [ -d "$d" ] || continue
        [ ! -f "$d/cgroup.kill" ] || echo 1 >"$d/cgroup.kill" 2>/dev/null || true
    done
    for ((i = 0; i < 50; i++)); do
        busy=0
        for d in "$@"; do
            [ -d "$d" ] || continue
            while IFS= read -r f; do
                while IFS= read -r p; do
                    busy=1
                    kill -KILL "$p" 2>/dev/null || true
                done <"$f"
            done < <(find "$d" -name cgroup.procs 2>/dev/null)
        done
        [ "$busy" = 1 ] || break
        sleep 0.1
    done
    for d in "$@"; do
        [ ! -d "$d" ] || find "$d" -depth -type d -exec rmdir {} + 2>/dev/null ||
            th__log "cannot remove cgroup $d"
    done
}

# th__kill PID START: SIGTERM, then SIGKILL after TH_STOP_TIMEOUT s. Returns 0 if it went on TERM.
th__kill() {
    local pid=$1 start=$2 i
    [ -n "$pid" ] || return 0
    [ "$(th__start_time "$pid" 2>/dev/null)" = "$start" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < TH_STOP_TIMEOUT * 10; i++)); do
        [ "$(th__start_time "$pid" 2>/dev/null)" = "$start" ] || return 0
        sleep 0.1
    done
    th__log "pid $pid did not stop in $TH_STOP_TIMEOUT s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        [ "$(th__start_time "$pid" 2>/dev/null)" = "$start" ] || break
        sleep 0.1
    done
    return 1
}

th__del_net() {  # th__del_net NS VETH
    [ -z "$2" ] || ! ip link show dev "$2" >/dev/null 2>&1 || ip link del dev "$2" 2>/dev/null || true
    [ -z "$1" ] || [ ! -e "/run/netns/$1" ] || ip netns del "$1" 2>/dev/null || true
}

th__remove_dir() {
    local dir=$1
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    th__unmount_below "$dir"
    rm -rf --one-file-system "$dir" 2>/dev/null || {
        th__unmount_below "$dir"
        rm -rf --one-file-system "$dir"
    }
}

# Clean up after test hosts whose test process is gone (killed with SIGKILL, say).
th__reap_stale() {
    local f fd OWNER OWNER_START NSPAWN NSPAWN_START NS VETH CG DIR
    exec {fd}>>"$TH_STATE_DIR/lock"
    flock -w 60 "$fd" || { exec {fd}>&-; return 0; }
    for f in "$TH_STATE_DIR"/*.state; do
        [ -f "$f" ] || continue
        OWNER='' OWNER_START='' NSPAWN='' NSPAWN_START='' NS='' VETH='' CG='' DIR=''
        # shellcheck disable=SC1090
        . "$f"
        [ -n "$OWNER" ] || continue
        [ "$(th__start_time "$OWNER" 2>/dev/null)" = "$OWNER_START" ] && continue
        th__log "removing the test host left behind by pid $OWNER ($f)"
        th__kill "$NSPAWN" "$NSPAWN_START" || true
        # shellcheck disable=SC2086
        [ -z "$CG" ] || th__cg_remove $CG
        th__del_net "$NS" "$VETH"
        th__remove_dir "$DIR" || true
        rm -f "$f"
    done
    exec {fd}>&-
}

# th__subnet: print a free 10.X.Y (as in 10.X.Y.0/24); call with the allocation lock held.
th__subnet() {
    local used i a b
    used=$(ip -4 -o addr show; ip -4 route show table all)
    for ((i = 0; i < 200; i++)); do
        if [ "$i" = 0 ]; then
            a=$((200 + ($$ / 256) % 50)) b=$(($$ % 256))
        else
            a=$((200 + RANDOM % 50)) b=$((RANDOM % 256))
        fi
        grep -qF "10.$a.$b." <<<"$used" || { echo "10.$a.$b"; return 0; }
    done
    th__die "no free 10.x.y.0/24 subnet"
}

# th__net: create a fresh netns with a veth to the outer machine. Sets TH_NS, th__veth and, the
# first time, TH_ADDR_OUTER/TH_ADDR_INNER (kept across reboots).
th__net() {
    local fd ns o i subnet
    exec {fd}>>"$TH_STATE_DIR/lock"
    flock -w 60 "$fd" || { exec {fd}>&-; th__die "cannot lock $TH_STATE_DIR/lock"; return 1; }
    while :; do
        th__seq=$((th__seq + 1))
        ns="mkmachine-th-$$-$th__seq"
        o="tho$$x$th__seq" i="thi$$x$th__seq"
        [ -e "/run/netns/$ns" ] || ip link show dev "$o" >/dev/null 2>&1 ||
            ip link show dev "$i" >/dev/null 2>&1 || break
    done
    if [ -z "${TH_ADDR_OUTER:-}" ]; then
        subnet=$(th__subnet) || { exec {fd}>&-; return 1; }
        export TH_ADDR_OUTER="$subnet.1" TH_ADDR_INNER="$subnet.2"
    fi
    export TH_NS=$ns
    th__veth=$o
    th__write_state
    if ! { ip netns add "$ns" &&
        ip link add "$o" type veth peer name "$i" &&
        ip link set "$i" netns "$ns" &&
        ip addr add "$TH_ADDR_OUTER/24" dev "$o" &&
        ip link set "$o" up &&
        ip netns exec "$ns" ip addr add "$TH_ADDR_INNER/24" dev "$i" &&
        ip netns exec "$ns" ip link set "$i" up &&
        ip netns exec "$ns" ip link set lo up; }
    then
        exec {fd}>&-
        th__die "setting up netns $ns failed"
        return 1
    fi
    exec {fd}>&-
}

th__dump_log() {
    if [ -n "${TH_LOG:-}" ] && [ -s "$TH_LOG" ]; then
        th__log "last 50 lines of $TH_LOG:"
        tail -n 50 "$TH_LOG" | sed 's/^/#   /' >&2
    fi
    if [ -n "${TH_LEADER:-}" ] && th__alive "$TH_LEADER"; then
        th__log "warnings in the test host's journal:"
        timeout 10 nsenter -t "$TH_LEADER" -a journalctl -b -p warning -n 30 --no-pager 2>&1 |
            sed 's/^/#   /' >&2 || true
    fi
}

# th__boot: boot TH_ROOT in a fresh netns and wait until systemd reports a state.
th__boot() {
    local i state=
    th__net || return 1
    # A cgroup of its own: with --keep-unit nspawn puts its "supervisor" and "payload" cgroups below
    # its own, and test hosts started from the same cgroup would share (and break) each other's.
    local cgs=() d
    mapfile -t cgs < <(th__cg_dirs "mkmachine-th-$$-$th__seq")
    th__cg=${cgs[*]}
    th__write_state
    for d in "${cgs[@]}"; do
        mkdir -p "$d" || { th__die "cannot create cgroup $d"; return 1; }
    done
    echo "=== boot in netns $TH_NS at $(date +%T.%N)" >>"$TH_LOG"
    (
        for d in "${cgs[@]}"; do
            echo "$BASHPID" >"$d/cgroup.procs"
        done
        exec setsid systemd-nspawn -D "$TH_ROOT" --register=no --keep-unit -b --capability=all \
            --machine="$TH_MACHINE" --network-namespace-path="/run/netns/$TH_NS" --console=passive
    ) </dev/null >>"$TH_LOG" 2>&1 &
    th__nspawn_pid=$!
    th__write_state
    TH_LEADER=
    for ((i = 0; i < 100; i++)); do
        TH_LEADER=$(pgrep -P "$th__nspawn_pid" -x systemd | head -n 1) || true
        [ -z "$TH_LEADER" ] || break
        th__alive "$th__nspawn_pid" || break
        sleep 0.1
    done
    if [ -z "$TH_LEADER" ]; then
        th__dump_log
        th__die "systemd-nspawn did not start systemd"
        return 1
    fi
    export TH_LEADER
    # "Failed to connect to bus" for the first moments; retry until it prints a state.
    for ((i = 0; i < TH_BOOT_TIMEOUT * 10; i++)); do
        state=$(timeout "$((TH_BOOT_TIMEOUT - i / 10 + 1))" \
            nsenter -t "$TH_LEADER" -a systemctl is-system-running --wait 2>/dev/null) || true
        [ -z "$state" ] || break
        th__alive "$th__nspawn_pid" || break
        sleep 0.1
    done
    if [ -z "$state" ]; then
        th__dump_log
        th__die "the test host did not boot in $TH_BOOT_TIMEOUT s"
        return 1
    fi
    export TH_STATE=$state
    th__log "test host $TH_MACHINE is $state (leader $TH_LEADER, netns $TH_NS, $TH_ADDR_INNER)"
}

th__exit_status=0
th__on_exit() {
    th__exit_status=$1
    th_cleanup "$1" || true
}

# th__chain_trap: install th__on_exit as EXIT trap, keeping an existing one (run after ours).
th__chain_trap() {
    [ "$th__trap_set" = 0 ] || return 0
    th__trap_set=1
    local prev
    prev=$(trap -p EXIT)
    if [ -n "$prev" ]; then
        prev=${prev#"trap -- "}
        prev=${prev%" EXIT"}
        eval "prev=$prev"
        # The previous trap sees the exit status in $? as before.
        # shellcheck disable=SC2064
        trap "th__on_exit \$?; set +e; (exit \$th__exit_status); $prev" EXIT
    else
        trap 'th__on_exit $?' EXIT
    fi
}

# th_start NAME: boot a fresh copy of host.tar. Exports TH_MACHINE (NAME-<pid>), TH_ROOT (the
# tree, on the outer machine), TH_LEADER (PID of the test host's systemd, for nsenter), TH_NS
# (the netns, /run/netns/$TH_NS), TH_LOG (nspawn's output), TH_ADDR_OUTER (the outer machine's
# end of the veth, 10.x.y.1) and TH_ADDR_INNER (the test host's end, 10.x.y.2, on a /24),
# TH_STATE (what is-system-running said).
th_start() {
    local name=${1:?th_start NAME}
    [ -z "$th__dir" ] || { th__die "a test host is already running in this process"; return 1; }
    [ -n "$th__host_tar" ] || th_build_trees || return 1
    mkdir -p "$TH_STATE_DIR"
    th__reap_stale
    th__chain_trap
    local base=${TMPDIR:-/tmp}
    if [ -d /dev/shm ] && [ -w /dev/shm ] &&
        [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt 2000000 ]; then
        base=/dev/shm
    fi
    th__dir=$(mktemp -d "$base/mkmachine-th-$name.XXXXXX")
    th__state="$TH_STATE_DIR/$$-$name.state"
    export TH_MACHINE="$name-$$" TH_ROOT="$th__dir/root" TH_LOG="$th__dir/nspawn.log"
    unset TH_ADDR_OUTER TH_ADDR_INNER
    th__write_state
    mkdir "$TH_ROOT"
    : >"$TH_LOG"
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$TH_ROOT" -xpf "$th__host_tar" ||
        { th__die "extracting $th__host_tar failed"; return 1; }
    th__boot
}

# th_run CMD...: run CMD in all namespaces of the test host (as its root); returns its status.
th_run() {
    nsenter -t "$TH_LEADER" -a "$@"
}

# th_copy_in SRC DST: copy the file (or directory) SRC into the test host's tree as DST (an
# absolute path inside the test host; a trailing / or an existing directory copies into it).
# Symbolic links in DST are resolved inside the tree. Writes the tree on disk: /run, /tmp, /dev
# of a running test host are mounts of its own, use th_run there.
th_copy_in() {
    local src=${1:?th_copy_in SRC DST} dst=${2:?th_copy_in SRC DST} real
    if [ -z "${TH_ROOT:-}" ] || [ ! -d "$TH_ROOT" ]; then
        th__die "th_copy_in: no test host tree"
        return 1
    fi
    case $dst in
        /*) ;;
        *) th__die "th_copy_in: $dst is not absolute"; return 1 ;;
    esac
    real=$(chroot "$TH_ROOT" realpath -m -- "$dst") || return 1
    case $dst in
        */) mkdir -p "$TH_ROOT$real"; real="$real/" ;;
        *) mkdir -p "$TH_ROOT$(dirname "$real")" ;;
    esac
    cp -rL --preserve=mode,timestamps -- "$src" "$TH_ROOT$real"
}

# th__poweroff: SIGTERM to nspawn (a clean poweroff inside), SIGKILL after TH_STOP_TIMEOUT s,
# then remove the veth and the netns. Returns 1 if nspawn had to be killed or exited non-zero.
th__poweroff() {
    local rc=0 pid=$th__nspawn_pid start
    if [ -n "$pid" ]; then
        start=$(th__start_time "$pid" 2>/dev/null) || start=
        if [ -n "$start" ]; then
            th__kill "$pid" "$start" || rc=1
        fi
        # Reap it (it is our child) to learn its exit status.
        local st=0
        wait "$pid" 2>/dev/null || st=$?
        if [ "$st" != 0 ] && [ "$st" != 127 ]; then
            th__log "systemd-nspawn exited with $st"
            rc=1
        fi
        th__nspawn_pid=
    fi
    # shellcheck disable=SC2086
    [ -z "$th__cg" ] || th__cg_remove $th__cg
    th__cg=''
    th__del_net "${TH_NS:-}" "$th__veth"
    th__veth=
    TH_LEADER=
    th__write_state
    return "$rc"
}

# th_reboot: power the test host off and boot the same tree again, in a fresh netns (nspawn's
# nftables state would survive in the old one); TH_LEADER and TH_NS change, the addresses stay.
th_reboot() {
    [ -n "$th__dir" ] || { th__die "th_reboot: no test host"; return 1; }
    th__poweroff || th__log "the power off was not clean"
    th__boot
}

# th_stop: clean poweroff, then remove the netns, the veth and the tree. Returns 1 if the power
# off was not clean (everything is removed all the same).
th_stop() {
    local rc=0
    [ -n "$th__dir" ] || return 0
    th__poweroff || rc=1
    [ "$rc" = 0 ] || th__dump_log
    th__remove_dir "$th__dir"
    rm -f "$th__state"
    th__dir='' th__state=''
    unset TH_LEADER TH_NS TH_ROOT TH_LOG TH_ADDR_OUTER TH_ADDR_INNER TH_STATE
    return "$rc"
}

# th_cleanup [STATUS]: remove the test host whatever its state (the EXIT trap calls it); with a
# non-zero STATUS dump the end of the nspawn log first, and with TH_KEEP=1 keep the tree.
th_cleanup() {
    local status=${1:-0}
    [ -n "$th__dir" ] || return 0
    if [ "$status" != 0 ]; then
        th__dump_log
        if [ "${TH_KEEP:-0}" = 1 ]; then
            th__poweroff || true
            rm -f "$th__state"
            th__log "TH_KEEP=1: keeping $th__dir"
            th__dir='' th__state=''
            return 0
        fi
    fi
    th_stop >/dev/null 2>&1 || true
}

# th_podman_setup: make Podman usable inside the running test host, for containers that need no
# network (`podman run --cgroups=disabled --network=none …`): the test host sees the outer machine's
# hybrid cgroup v1 layout (crun cannot create cgroups there), its /proc/sys is read-only (crun would
# write net.ipv4.ping_group_range) and units started by the test host's systemd run under nspawn's
# syscall filter (no keyrings; commands through nsenter don't). The vfs storage driver needs no
# overlay mount support from the tree's file system.
# Only tests that call it change their test host; see /work/shared/testhost.md.
th_podman_setup() {
    th_run mkdir -p /etc/containers || return 1
    printf '%s\n' '[containers]' 'default_sysctls = []' 'keyring = false' |
        th_run sh -c 'cat >/etc/containers/containers.conf' || return 1
    printf '%s\n' '[storage]' 'driver = "vfs"' 'runroot = "/run/containers/storage"' \
        'graphroot = "/var/lib/containers/storage"' |
        th_run sh -c 'cat >/etc/containers/storage.conf'
}

# th_wait_for TIMEOUT CMD…: runs CMD in the test host every 0.1 s until it succeeds; fails after
# TIMEOUT seconds.
th_wait_for() {
    local timeout=$1 i
    shift
    for ((i = 0; i < timeout * 10; i++)); do
        if th_run "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}
