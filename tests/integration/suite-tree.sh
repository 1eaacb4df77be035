#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Trees of other Debian releases for tests that run a release's own programs (its systemd-nspawn, its
# compilers, the README's commands on a fresh install). Source it; set -euo pipefail compatible.

# suite_mirror_uri: the URI of the first entry of the host's apt sources (never written down here).
suite_mirror_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { print $2; exit }' "$f"
        return 0
    done
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list
}

# suite_tree_build TMP LOG "SUITE [MORE_SUITES…]" [MMDEBSTRAP_OPTION…]: a minbase tree of SUITE from the
# host's mirror (the further suites of that mirror as sources too) as the tarball TMP; mmdebstrap's
# output goes to LOG, its tail to stderr on failure.
suite_tree_build() {
    local tmp=$1 log=$2 suites=$3 uri list rc=0
    shift 3
    uri=$(suite_mirror_uri)
    [ -n "$uri" ] || { echo "no mirror in the host's apt sources" >&2; return 1; }
    list=$(mktemp --suffix=.sources)
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$uri" "$suites" >"$list"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >>"$list"
    mmdebstrap --variant=minbase --format=tar --customize-hook='rm -f "$1/etc/hostname"' "$@" \
        "${suites%% *}" "$tmp" "$list" </dev/null >"$log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || tail -n 20 "$log" | sed 's/^/# mmdebstrap: /' >&2
    rm -f "$list"
    return "$rc"
}

# suite_tree_exec [--cgroup2] ROOT CMD…: CMD with ROOT as / (pivot_root, in a mount namespace of its own
# with /proc, /sys, /dev, and /run and /tmp as tmpfs), on the host's network. --cgroup2: a cgroup2
# mount of its own on a host that has only cgroup v1, which systemd 258 and later refuse.
suite_tree_exec() {
    local cgroup2=0
    if [ "$1" = --cgroup2 ]; then
        cgroup2=1
        shift
    fi
    mkdir -p "$1/oldroot"
    unshare -m sh -c '
        root=$1 cgroup2=$2
        shift 2
        mount --make-rprivate / && mount --bind "$root" "$root" && mount -t proc proc "$root/proc" &&
        mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev" &&
        { [ "$cgroup2" = 0 ] || [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] ||
          { umount -R "$root/sys/fs/cgroup" && mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"; }; } &&
        mount -t tmpfs tmpfs "$root/run" && mount -t tmpfs tmpfs "$root/tmp" && cd "$root" &&
        pivot_root . oldroot && umount -l /oldroot && cd / && exec "$@"' sh "$1" "$cgroup2" "${@:2}"
}
