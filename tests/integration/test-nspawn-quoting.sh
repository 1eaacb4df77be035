#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The settings mkmachine writes mean the same to every systemd-nspawn a host may have: the one of
# this machine (Debian 12, systemd 252), Debian 13's (257) and the newest Debian has (unstable,
# 262 today). mkmachine set writes a .nspawn whose Parameters= and Environment= hold quotes of both
# kinds, backslashes (also at the end of a word), tabs, '$', '%', '#', ';', spaces and an empty word;
# each systemd-nspawn, in a tree of its own release, runs a busybox payload with that file
# (--settings=trusted, as from /etc/systemd/nspawn), and the payload must see every byte as given.
# systemd 258 and later refuse a cgroup v1 host: their nspawn gets a cgroup2 mount of its own.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"
# shellcheck source=tests/integration/cache.sh
. "$here/cache.sh"
# shellcheck source=tests/integration/suite-tree.sh
. "$here/suite-tree.sh"

tap_require mmdebstrap systemd-nspawn unshare busybox ldd tar

work=$(mktemp -d /var/tmp/test-nspawn-quoting.XXXXXX)
cleanup() {
    findmnt -rn -o TARGET | { grep "^$work/" || true; } | sort -r | xargs -r umount -l || true
    rm -rf "$work"
}
trap cleanup EXIT

# The payload: busybox with its libraries, an empty /usr (nspawn wants one).
payload=$work/payload
mkdir -p "$payload/bin" "$payload/usr" "$payload/etc" "$payload/proc" "$payload/sys" "$payload/dev" \
    "$payload/run" "$payload/tmp"
cp /bin/busybox "$payload/bin/busybox"
for lib in $(ldd /bin/busybox | grep -o '/[^ ]*'); do
    mkdir -p "$payload$(dirname "$lib")"
    cp -L "$lib" "$payload$lib"
done
ln -s busybox "$payload/bin/sh"
touch "$payload/etc/os-release"

args=('a"b' "c'd" 'e\f' $'tab\there' '$HOME' '%i' 'sp  ace' 'x\' "'\"'" '' 'a\"b' '\\' ';' '#x')
envs=("Q1=it's \"quoted\"" 'Q2=back\slash\\ end\' $'Q3=tab\t$X%i ;' 'Q4=')
{
    for a in "${args[@]}"; do printf '[%s]\n' "$a"; done
    for e in "${envs[@]}"; do printf '<%s>\n' "${e#*=}"; done
} >"$work/expected"

mkdir -p "$work/store/q" "$work/nspawn"
env_opts=()
for e in "${envs[@]}"; do env_opts+=("--env=$e"); done
# shellcheck disable=SC2016 # expanded by the payload's shell
if MKMACHINE_NSPAWN_DIR=$work/nspawn MKMACHINE_NETWORK_DIR=$work/network "$MKMACHINE" -q --image-root="$work/store" set q --network=none \
        "${env_opts[@]}" --exec -- /bin/sh -c \
        'for a; do printf "[%s]\n" "$a"; done; printf "<%s>\n" "$Q1" "$Q2" "$Q3" "$Q4"' sh "${args[@]}" \
        2>"$work/err"; then
    ok "mkmachine set writes the command and the environment"
else
    not_ok "mkmachine set writes the command and the environment: $(cat "$work/err")"
fi
sed 's/^/#   /' "$work/nspawn/q.nspawn"

[ -n "$(suite_mirror_uri)" ] || skip "no mirror in the host's apt sources"

# build_tree TMP SUITE: a minimal tree of SUITE with its systemd-nspawn, as a tarball. Signatures are
# checked; a mirror's unstable may be older than its Valid-Until, which does not matter for a tree that
# only runs this test.
build_tree() {
    suite_tree_build "$1" "$work/mmdebstrap-$2.log" "$2" --include=systemd-container,systemd \
        --aptopt='Acquire::Check-Valid-Until "false"'
}

# run_in ROOT: the payload under ROOT's systemd-nspawn, ROOT as /.
run_in() {
    local root=$1
    mkdir -p "$root/var/lib/machines/q" "$root/etc/systemd/nspawn"
    echo 0123456789abcdef0123456789abcdef >"$root/etc/machine-id"
    cp -a "$payload/." "$root/var/lib/machines/q/"
    cp "$work/nspawn/q.nspawn" "$root/etc/systemd/nspawn/q.nspawn"
    suite_tree_exec --cgroup2 "$root" timeout 60 systemd-nspawn -q --register=no --keep-unit \
        --console=pipe -D /var/lib/machines/q --machine=q </dev/null
}

host_version=$(systemd-nspawn --version | awk 'NR == 1 { print $2 }')
for suite in host trixie unstable; do
    if [ "$suite" = host ]; then
        root=/
        version=$host_version
        # The host's own nspawn reads /etc/systemd/nspawn: give it the file next to the image.
        mkdir -p "$work/host/q"
        cp -a "$payload/." "$work/host/q/"
        cp "$work/nspawn/q.nspawn" "$work/host/q.nspawn"
        out=$(timeout 60 systemd-nspawn -q --register=no --keep-unit --console=pipe --settings=trusted \
            --network-namespace-path=/proc/self/ns/net -D "$work/host/q" --machine=q </dev/null 2>&1 |
            grep -v 'Attempted to remove disk file system' || true)
    else
        tar=$(test_cache_build "$(test_cache_dir)/nspawn-$suite-1.tar" "$(test_cache_dir)/.lock" \
            build_tree "$suite") || { not_ok "a $suite tree with its systemd-nspawn"; continue; }
        root=$work/$suite
        mkdir -p "$root"
        tar -C "$root" -xf "$tar"
        version=$(chroot "$root" systemd-nspawn --version | awk 'NR == 1 { print $2 }')
        out=$(run_in "$root" 2>&1 || true)
    fi
    # Only the payload's lines: newer nspawns add notes of their own.
    out=$(grep -E '^[[<]' <<<"$out" || true)
    if [ "$out" = "$(cat "$work/expected")" ]; then
        ok "systemd-nspawn $version ($suite) runs the command and environment byte for byte"
    else
        not_ok "systemd-nspawn $version ($suite) runs the command and environment byte for byte"
        diff <(echo "$out") "$work/expected" | sed 's/^/#   /' || true
    fi
done

tap_done
