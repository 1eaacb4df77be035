#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine export, end to end on the outer machine: a machine with every file type, xattrs
# (security.capability too), ACLs, hardlinks and a sparse file, exported to .tar, .tar.gz, .tar.zst,
# .tar.xz and to stdout, imported again: the same tree, field by field (manifest.py). Failures: a
# missing machine, an unwritable destination, a name without a known suffix, a busy machine: exit != 0,
# a clear message, no file left behind.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

tap_require tar setfacl setfattr getfattr python3 zstd xz gzip file chattr

work=$(mktemp -d /var/tmp/test-export.XXXXXX)
trap 'rm -rf "$work"' EXIT
store=$work/store
out=$work/out
mkdir -p "$store" "$out"

# shellcheck source=tests/integration/fixture-tree.sh
. "$here/fixture-tree.sh"
mkm() { "$MKMACHINE" --image-root="$store" -q "$@"; }

make_fixture_tree "$work/src"
python3 "$here/manifest.py" "$work/src" >"$work/src.manifest"
tar --xattrs --xattrs-include='*' --acls --numeric-owner -S --format=posix -cf "$work/src.tar" -C "$work/src" .
rm -rf "$work/src"
mkm import-tar "$work/src.tar" orig
python3 "$here/manifest.py" "$store/orig" >"$work/orig.manifest"
check "the imported machine is the fixture tree" diff -u "$work/src.manifest" "$work/orig.manifest"

roundtrip() {  # roundtrip FILE DESCRIPTION
    local file=$1 what=$2
    mkm remove back 2>/dev/null || true
    if mkm import-tar "$file" back 2>"$work/err" &&
            python3 "$here/manifest.py" "$store/back" >"$work/back.manifest" &&
            diff -u "$work/orig.manifest" "$work/back.manifest" >"$work/diff"; then
        ok "$what: exported and imported again, identical"
    else
        not_ok "$what: differs ($(cat "$work/err"))"
        head -n 40 "$work/diff" | sed 's/^/# /'
    fi
}

for ext in tar tar.gz tar.zst tar.xz; do
    f=$out/orig.$ext
    if mkm export orig "$f" 2>"$work/err"; then
        ok "export to .$ext"
    else
        not_ok "export to .$ext: $(cat "$work/err")"
    fi
    case $ext in
        tar) want="POSIX tar archive" ;;
        tar.gz) want="gzip compressed" ;;
        tar.zst) want="Zstandard compressed" ;;
        tar.xz) want="XZ compressed" ;;
    esac
    check "... the file is $want" sh -c "file -b '$f' | grep -q '$want'"
    roundtrip "$f" ".$ext"
done
check "the sparse file stayed sparse in the archive (.tar much smaller than 64 MiB)" \
    test "$(stat -c %s "$out/orig.tar")" -lt $((4 * 1024 * 1024))
check "GNU tar reads the security.capability back" sh -c \
    "tar --warning=no-unknown-keyword --xattrs --xattrs-include='*' -xf '$out/orig.tar' -C '$work' ./usr/bin/ping &&
     getfattr -n security.capability '$work/usr/bin/ping' 2>/dev/null | grep -q security.capability"
check "the origin record of the machine is not in the archive" sh -c \
    "! tar --warning=no-unknown-keyword --xattrs --xattrs-include='*' -tvvf '$out/orig.tar' 2>/dev/null | grep -q mkmachine.origin"
check "no temporaries left next to the exports" sh -c "[ \$(ls -A '$out' | wc -l) = 4 ]"

mkm export orig - --format=tar.zst >"$out/stdout.tar.zst"
roundtrip "$out/stdout.tar.zst" "stdout with --format=tar.zst"
mkm export orig - >"$out/stdout.tar"
check "stdout without --format is a plain tar" sh -c "file -b '$out/stdout.tar' | grep -q 'POSIX tar archive'"
rm -f "$out/stdout.tar" "$out/stdout.tar.zst"

# --- Failures: nothing left behind. --------------------------------------------------------------
expect_failure() {  # expect_failure WHAT PATTERN FILE CMD…
    local what=$1 pattern=$2 file=$3 rc=0 before after
    shift 3
    before=$(ls -A "$out" "$(dirname "$file")" 2>/dev/null | sort | tr '\n' ' ' || true)
    "$@" 2>"$work/err" >/dev/null || rc=$?
    after=$(ls -A "$out" "$(dirname "$file")" 2>/dev/null | sort | tr '\n' ' ' || true)
    if [ "$rc" != 0 ] && grep -q -- "$pattern" "$work/err" && [ "$before" = "$after" ] && [ ! -e "$file" ]; then
        ok "$what: refused ($(head -c 150 "$work/err" | tr '\n' ' '))"
    else
        not_ok "$what: rc=$rc '$before' -> '$after' stderr: $(cat "$work/err")"
    fi
}
expect_failure "export of a missing machine" "No machine 'nope'" "$out/nope.tar" mkm export nope "$out/nope.tar"
mkdir "$work/ro"
chattr +i "$work/ro" 2>/dev/null || chmod 0555 "$work/ro"
expect_failure "an unwritable destination" "Failed to create '$work/ro/x.tar'" "$work/ro/x.tar" \
    mkm export orig "$work/ro/x.tar"
chattr -i "$work/ro" 2>/dev/null || true
expect_failure "a missing destination directory" "No such file or directory" "$work/nodir/x.tar" \
    mkm export orig "$work/nodir/x.tar"
expect_failure "a name without a known suffix" "Cannot tell the format" "$out/x.zip" mkm export orig "$out/x.zip"
expect_failure "a bad --format" "Invalid --format='zip'" "$out/x.tar" mkm export orig "$out/x.tar" --format=zip
expect_failure "an invalid machine name" "Invalid machine name" "$out/x.tar" mkm export ../etc "$out/x.tar"
# A full disk in the middle: the temporary is removed.
mkdir "$work/small"
mount -t tmpfs -o size=8k tmpfs "$work/small"
expect_failure "a destination that fills up" "Failed to export machine 'orig'" "$work/small/x.tar" \
    mkm export orig "$work/small/x.tar"
check "... and the temporary is gone" sh -c "[ -z \"\$(ls -A '$work/small')\" ]"
umount "$work/small"
# A running machine holds its image lock exclusively (systemd-nspawn does, with an OFD lock).
python3 - "$store/.#orig.lck" <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.fcntl(fd, 37, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))  # F_OFD_SETLK
open(sys.argv[1] + ".held", "w").close()
time.sleep(60)
PY
locker=$!
for _ in $(seq 50); do [ -e "$store/.#orig.lck.held" ] && break; sleep 0.1; done
expect_failure "a machine in use" "Machine 'orig' is in use" "$out/busy.tar" mkm export orig "$out/busy.tar"
check "... --force exports it anyway" mkm export --force orig "$out/busy.tar"
kill "$locker"
wait "$locker" 2>/dev/null || true
rm -f "$store/.#orig.lck.held"
rm -f "$out/busy.tar"
check "an existing file is replaced" sh -c "echo old >'$out/orig.tar' && $MKMACHINE --image-root='$store' -q export orig '$out/orig.tar' && file -b '$out/orig.tar' | grep -q 'POSIX tar'"

tap_done
