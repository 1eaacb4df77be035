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
# shellcheck source=tests/integration/suite-tree.sh
. "$here/suite-tree.sh"

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

[ -n "$(suite_mirror_uri)" ] || skip "no mirror in the host's apt sources"

# fresh_tree TMP SUITE: what a fresh minimal install of SUITE has (Debian's minbase, apt, its
# archive as the only source), as a tarball.
fresh_tree() {
    suite_tree_build "$1" "$work/mmdebstrap-$2.log" "$2 $2-updates"
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
    start=$SECONDS
    if suite_tree_exec "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 bash -euo pipefail -c 'cd /root/mkmachine && eval "$1"' sh "$command" \
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
    if suite_tree_exec "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 bash -euo pipefail -c '
            cd /root/mkmachine
            tests/install-deps.sh
            for cc in gcc clang; do
                CC=$cc meson setup /root/build-$cc -Dwerror=true -Db_sanitize=address,undefined \
                    -Db_lundef=false >/dev/null
                ninja -C /root/build-$cc
                meson test -C /root/build-$cc --suite unit --suite fuzz --print-errorlogs
            done' >"$work/$suite-ci.log" 2>&1 </dev/null; then
        ok "on $suite, gcc $(chroot "$root" gcc -dumpversion) and clang $(chroot "$root" clang -dumpversion) build with --werror and ASan+UBSan, unit tests and fuzz corpora pass ($((SECONDS - start)) s)"
    else
        not_ok "on $suite, the sanitizer builds and the unit tests"
        grep -E 'error|FAIL|not ok' "$work/$suite-ci.log" | tail -n 30 | sed 's/^/#   /'
    fi
done

tap_done
