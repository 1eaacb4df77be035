#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's first command, exactly as written there, as a newcomer runs it on a fresh Debian 12 and a
# fresh Debian 13: a minimal tree of each release (nothing installed by hand) with this source tree
# copied in, the command run as root inside it (its own mount namespace with the tree as /, the
# host's network for apt and the mirror). It must install what it needs, build, bootstrap the machine
# and list it. On trixie, the test set is installed too and both compilers of that release build with
# --werror and the sanitizers, and the unit tests pass there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${MKMACHINE_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"
# shellcheck source=tests/integration/cache.sh
. "$here/cache.sh"

tap_require mmdebstrap unshare tar

work=$(mktemp -d /var/tmp/test-readme.XXXXXX)
cleanup() {
    findmnt -rn -o TARGET | { grep "^$work/" || true; } | sort -r | xargs -r umount -l || true
    rm -rf "$work"
}
trap cleanup EXIT

# The command: the first indented line after "1." in the README.
command=$(awk '/^1\./ { f = 1; next } f && /^    [^ ]/ { sub(/^    /, ""); print; exit }' "$src/README")
echo "# README's first command: $command"
check "the README has a first command that installs with --build" grep -q -- '--build' <<<"$command"

mirror_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { print $2; exit }' "$f"
        return 0
    done
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list
}
uri=$(mirror_uri)
[ -n "$uri" ] || skip "no mirror in the host's apt sources"

# fresh_tree TMP SUITE: what a fresh minimal install of SUITE has (Debian's minbase, apt, its
# archive as the only source), as a tarball.
fresh_tree() {
    local tmp=$1 suite=$2 list
    list=$(mktemp --suffix=.sources)
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$uri" "$suite" "$suite" >"$list"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >>"$list"
    if ! mmdebstrap --variant=minbase --format=tar --customize-hook='rm -f "$1/etc/hostname"' \
            "$suite" "$tmp" "$list" </dev/null >"$work/mmdebstrap-$suite.log" 2>&1; then
        tail -n 20 "$work/mmdebstrap-$suite.log" | sed 's/^/# mmdebstrap: /' >&2
        rm -f "$list"
        return 1
    fi
    rm -f "$list"
}

for suite in bookworm trixie; do
    tar=$(test_cache_build "$(test_cache_dir)/fresh-$suite-1.tar" "$(test_cache_dir)/.lock" \
        fresh_tree "$suite") || { not_ok "a fresh $suite tree"; continue; }
    root=$work/$suite
    mkdir -p "$root"
    tar -C "$root" -xf "$tar"
    mkdir -p "$root/root/mkmachine"
    tar -C "$src" --exclude='./build*' --exclude=./.git --exclude='./obj-*' -cf - . |
        tar -C "$root/root/mkmachine" -xf -
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mkdir -p "$root/oldroot"
    start=$SECONDS
    if unshare -m sh -c '
            root=$1 cmd=$2
            mount --make-rprivate / && mount --bind "$root" "$root" && mount -t proc proc "$root/proc" &&
            mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev" &&
            mount -t tmpfs tmpfs "$root/run" && mount -t tmpfs tmpfs "$root/tmp" && cd "$root" &&
            pivot_root . oldroot && umount -l /oldroot && cd /root/mkmachine &&
            exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
                LANG=C.UTF-8 bash -euo pipefail -c "$cmd"' sh "$root" "$command" \
            >"$work/$suite.log" 2>&1 </dev/null; then
        ok "on a fresh $suite, the README's first command succeeds ($((SECONDS - start)) s)"
    else
        not_ok "on a fresh $suite, the README's first command succeeds"
        tail -n 30 "$work/$suite.log" | sed 's/^/#   /'
    fi
    check "… it left the bootstrapped machine, with dpkg's database" \
        test -s "$root/var/lib/machines/bookworm/var/lib/dpkg/status"
    check "… and listed it" grep -q '^bookworm ' "$work/$suite.log"
    check "… with no test tool installed (no clang, no registry)" sh -c \
        "[ ! -e '$root/usr/bin/clang' ] && [ ! -e '$root/usr/bin/docker-registry' ]"

    # This release's compilers as CI uses them: the test set installed, gcc and clang with --werror and
    # ASan+UBSan, the unit tests and the fuzzers' corpora (on bookworm the rest of the suite does it).
    [ "$suite" = trixie ] || continue
    start=$SECONDS
    # shellcheck disable=SC2016 # expanded inside the tree
    if unshare -m sh -c '
            root=$1
            mount --make-rprivate / && mount --bind "$root" "$root" && mount -t proc proc "$root/proc" &&
            mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev" &&
            mount -t tmpfs tmpfs "$root/run" && mount -t tmpfs tmpfs "$root/tmp" && cd "$root" &&
            pivot_root . oldroot && umount -l /oldroot && cd /root/mkmachine &&
            exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 bash -euo pipefail -c "
                tests/install-deps.sh
                for cc in gcc clang; do
                    CC=\$cc meson setup /root/build-\$cc -Dwerror=true -Db_sanitize=address,undefined \
                        -Db_lundef=false >/dev/null
                    ninja -C /root/build-\$cc
                    meson test -C /root/build-\$cc --suite unit --suite fuzz --print-errorlogs
                done"' sh "$root" >"$work/$suite-ci.log" 2>&1 </dev/null; then
        ok "on $suite, gcc $(chroot "$root" gcc -dumpversion) and clang $(chroot "$root" clang -dumpversion) build with --werror and ASan+UBSan, unit tests and fuzz corpora pass ($((SECONDS - start)) s)"
    else
        not_ok "on $suite, the sanitizer builds and the unit tests"
        grep -E 'error|FAIL|not ok' "$work/$suite-ci.log" | tail -n 30 | sed 's/^/#   /'
    fi
done

tap_done
