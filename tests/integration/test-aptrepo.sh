#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke test of the apt repository infrastructure of the bootstrap tests (aptrepo.sh and
# aptrepo-server.py), with real apt as the oracle in a private configuration: the signed
# repositories are accepted, every tamper helper and fault is refused with the expected kind of
# message, the real .debs of a minbase tree are complete and cached, and nothing is left behind.
# TAP output; exit 77 (skip) without root or tools unless MKMACHINE_MUST_WORK=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$here/tap.sh"
# shellcheck source-path=SCRIPTDIR source=aptrepo.sh
. "$here/aptrepo.sh"

aptrepo_require

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkmachine-test-aptrepo.XXXXXX")
# aptrepo_serve chains its own EXIT trap in front of this one: servers stop, then this goes.
trap 'rm -rf "$tmp"' EXIT

now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}
secs_since() {  # secs_since MS: seconds since MS, with a decimal
    local d=$(($(now_ms) - $1))
    printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}
fail_with() {  # fail_with WHAT DETAILS: "not ok" with the details (last 15 lines) as comments
    not_ok "$1"
    printf '%s\n' "$2" | tail -n 15 | sed 's/^/#   /'
}

# new_apt NAME SOURCES_LINE…: a fresh private apt configuration $tmp/apt-NAME.
new_apt() {
    local dir="$tmp/apt-$1"
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    printf '%s\n' "$@" >"$dir/sources.list"
    aptrepo_apt_init "$dir" "$dir/sources.list"
}
apt_get() {  # apt_get NAME ARGS…: apt-get with the configuration $tmp/apt-NAME
    local dir="$tmp/apt-$1"
    shift
    aptrepo_apt "$dir" apt-get -q "$@"
}
# download NAME PACKAGE: apt-get download into $tmp/dl-NAME (emptied first).
download() {
    rm -rf "$tmp/dl-$1"
    mkdir -p "$tmp/dl-$1"
    (cd "$tmp/dl-$1" && apt_get "$1" download "$2")
}
# expect_fail WHAT PATTERN CMD…: CMD fails and its output matches the extended regex PATTERN.
expect_fail() {
    local what=$1 pattern=$2 out rc=0
    shift 2
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" != 0 ] && grep -qE -- "$pattern" <<<"$out"; then
        ok "$what"
    else
        fail_with "$what (exit $rc, expected /$pattern/)" "$out"
    fi
}
# expect_ok WHAT CMD…: CMD succeeds (its output is shown if not).
expect_ok() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$what"
    else
        fail_with "$what" "$out"
    fi
}
# sha256_in_packages PACKAGES_FILE PACKAGE: the SHA256 field of PACKAGE's stanza.
sha256_in_packages() {
    awk -v p="$2" '/^Package: / { cur = $2 } /^SHA256: / && cur == p { print $2; exit }' "$1"
}
# release_hashes_ok REPO SUITE: every SHA256 line of Release matches the file (size and hash).
release_hashes_ok() {
    local d="$1/dists/$2" h s f n=0
    while read -r h s f; do
        [ "$(stat -c %s "$d/$f")" = "$s" ] || { echo "$f: size"; return 1; }
        [ "$(sha256sum <"$d/$f" | cut -d' ' -f1)" = "$h" ] || { echo "$f: hash"; return 1; }
        n=$((n + 1))
    done < <(sed -n '/^SHA256:/,/^[^ ]/{/^ /p}' "$d/Release")
    [ "$n" -gt 0 ]
}
kinds_of_members() {  # kinds_of_members DIR: the compressions of the data members, sorted
    local deb
    for deb in "$1"/*.deb; do
        grep -aoE -m 1 'data\.tar\.(xz|zst|gz)' "$deb" | awk 'NR == 1'
    done | sed 's/data\.tar\.//' | sort -u | paste -sd ' '
}

www="$tmp/www"
key="$tmp/key"
serve_dirs=()
serve() {  # serve OPTION…: aptrepo_serve "$www" OPTION…, remembering its files and URL
    aptrepo_serve "$www" "$@"
    serve_dirs+=("$(dirname "$APTREPO_LOG")")
    url=$APTREPO_URL
}
mkdir -p "$www"

# --- synthetic packages and the Debian-like repository ----------------------------------------
start=$(now_ms)
aptrepo_make_synthetic "$tmp/synth"
echo "# synthetic packages built in $(secs_since "$start") s"
n=$(find "$tmp/synth" -name 'mkm-*.deb' | wc -l)
kinds=$(kinds_of_members "$tmp/synth")
if [ "$n" = 11 ] && [ "$kinds" = "gz xz zst" ]; then
    ok "aptrepo_make_synthetic: 11 mkm-* packages, members compressed with $kinds"
else
    not_ok "aptrepo_make_synthetic: 11 mkm-* packages (got $n), members gz xz zst (got '$kinds')"
fi
if [ "$(dpkg-deb -f "$tmp/synth/mkm-base_1.0-1_amd64.deb" Essential)" = yes ] &&
    grep -qE '^-rw-r--r-- root/root .* \./etc/mkm-tool\.conf$' \
        <<<"$(dpkg-deb -c "$tmp/synth/mkm-tool_1.2-1_amd64.deb")" &&
    grep -qx /etc/mkm-tool.conf <<<"$(dpkg-deb -I "$tmp/synth/mkm-tool_1.2-1_amd64.deb" conffiles)" &&
    grep -q 'mkm-tool.configured' <<<"$(dpkg-deb -I "$tmp/synth/mkm-tool_1.2-1_amd64.deb" postinst)"
then
    ok "synthetic packages: Essential field, root-owned conffile, maintainer scripts"
else
    not_ok "synthetic packages: Essential field, root-owned conffile, maintainer scripts"
fi

start=$(now_ms)
aptrepo_build "$www/debian" bookworm main "$key" "$tmp/synth"
echo "# Debian-like repository built and signed in $(secs_since "$start") s"
missing=()
for f in dists/bookworm/{InRelease,Release,Release.gpg} \
    dists/bookworm/main/binary-amd64/{Packages,Packages.xz,Packages.gz,Release} \
    pool/main/m/mkm-libfoo/mkm-libfoo_2.1-1_amd64.deb keyring.gpg; do
    if [ "$f" = keyring.gpg ]; then f="$key/keyring.gpg"; else f="$www/debian/$f"; fi
    [ -s "$f" ] || missing+=("$f")
done
if [ ${#missing[@]} = 0 ]; then
    ok "aptrepo_build: Debian archive layout and keyring"
else
    fail_with "aptrepo_build: Debian archive layout and keyring" "missing: ${missing[*]}"
fi
expect_ok "Release: every SHA256 entry matches its file" release_hashes_ok "$www/debian" bookworm
expect_ok "gpgv --keyring keyring.gpg InRelease" \
    gpgv --keyring "$key/keyring.gpg" "$www/debian/dists/bookworm/InRelease"
expect_ok "gpgv --keyring keyring.gpg Release.gpg Release" gpgv --keyring "$key/keyring.gpg" \
    "$www/debian/dists/bookworm/Release.gpg" "$www/debian/dists/bookworm/Release"

# Copies for the tamper helpers, made before anything changes the original.
for t in badsig otherkey expired badindex baddeb unsigned; do
    cp -a "$www/debian" "$www/$t"
done

# --- the good repository through real apt -----------------------------------------------------
serve
line() { echo "deb [signed-by=$key/keyring.gpg] $url/$1 ${2:-bookworm} ${3:-main}"; }
new_apt good "$(line debian)"
expect_ok "apt-get update of the good repository" apt_get good update
ims=$(aptrepo_requests '/debian/dists/bookworm/InRelease$')
pkgs=$(aptrepo_requests '/debian/dists/bookworm/main/binary-amd64/Packages\.xz$')
if [ "$ims" = 1 ] && [ "$pkgs" = 1 ] && grep -q '^GET /debian/dists/bookworm/InRelease 200 ' "$APTREPO_LOG"
then
    ok "the server log shows GET InRelease and Packages.xz"
else
    fail_with "the server log shows GET InRelease and Packages.xz ($ims, $pkgs)" "$(cat "$APTREPO_LOG")"
fi

aptrepo_log_reset
if out=$(download good mkm-tool 2>&1) && f=$(ls "$tmp/dl-good"/mkm-tool_*.deb) &&
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = \
        "$(sha256_in_packages "$www/debian/dists/bookworm/main/binary-amd64/Packages" mkm-tool)" ]
then
    ok "apt-get download mkm-tool: its sha256 is the one in Packages"
else
    fail_with "apt-get download mkm-tool: its sha256 is the one in Packages" "$out"
fi
if grep -q '^GET /debian/pool/main/m/mkm-tool/mkm-tool_1.2-1_amd64.deb 200 ' "$APTREPO_LOG"; then
    ok "the server log shows the .deb download"
else
    fail_with "the server log shows the .deb download" "$(cat "$APTREPO_LOG")"
fi

# apt's resolver on the synthetic relations: versions, alternatives, versioned Provides.
if out=$(apt_get good install -s mkm-exact mkm-alt mkm-virtual-user 2>&1) &&
    inst=$(grep -oE '^Inst mkm-[a-z-]+' <<<"$out" | sed 's/^Inst //' | sort | paste -sd ' ') &&
    [ "$inst" = "mkm-alt mkm-alt-b mkm-base mkm-exact mkm-libfoo mkm-provider mkm-tool mkm-virtual-user" ]
then
    ok "apt resolves the synthetic relations (= << >= epochs, a-missing | b, versioned Provides)"
else
    fail_with "apt resolves the synthetic relations" "$out"
fi
expect_fail "apt refuses mkm-broken (mkm-nonexistent)" 'mkm-broken : Depends: mkm-nonexistent' \
    apt_get good install -s mkm-broken

aptrepo_log_reset
out=$(apt_get good update 2>&1) || true
n=$(aptrepo_requests 'Packages')
if grep -q '^Hit:' <<<"$out" && [ "$n" = 0 ] &&
    grep -q '^GET /debian/dists/bookworm/InRelease 304 0$' "$APTREPO_LOG"; then
    ok "a second apt-get update: InRelease 304 (If-Modified-Since), no index downloaded"
else
    fail_with "a second apt-get update: InRelease 304, no index downloaded" "$out
$(cat "$APTREPO_LOG")"
fi

# HEAD, Range and keep-alive, straight over HTTP.
deb_path=/debian/pool/main/m/mkm-base/mkm-base_1.0-1_amd64.deb
if out=$(python3 - "$APTREPO_PORT" "$deb_path" "$www$deb_path" 2>&1 <<'EOF'
import http.client, sys
port, path, local = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("HEAD", path)
r = c.getresponse(); r.read()
assert r.status == 200 and int(r.getheader("Content-Length")) == len(local), r.status
c.request("GET", path, headers={"Range": "bytes=10-19"})
r = c.getresponse(); body = r.read()
assert r.status == 206 and body == local[10:20], (r.status, body)
assert r.getheader("Content-Range") == f"bytes 10-19/{len(local)}", r.getheader("Content-Range")
c.request("GET", path, headers={"Range": "bytes=-5"})
r = c.getresponse(); body = r.read()
assert r.status == 206 and body == local[-5:], r.status
c.request("GET", path, headers={"Range": f"bytes={len(local)}-"})
r = c.getresponse(); r.read()
assert r.status == 416, r.status
c.request("GET", path)
r = c.getresponse(); body = r.read()
assert r.status == 200 and body == local, r.status
# All of it went over one connection (keep-alive).
assert c.sock is not None
c.request("GET", "/debian/nonexistent")
r = c.getresponse(); r.read()
assert r.status == 404, r.status
EOF
) && [ "$(grep -c "^[A-Z]* $deb_path " "$APTREPO_LOG")" = 5 ]; then
    ok "server: HEAD, Range (206, suffix, 416) and keep-alive"
else
    fail_with "server: HEAD, Range (206, suffix, 416) and keep-alive" "$out"
fi

# --- the Ubuntu-like repository: jammy, main and universe -----------------------------------
mkdir -p "$tmp/synth-main" "$tmp/synth-universe"
cp "$tmp/synth"/*.deb "$tmp/synth-main/"
mv "$tmp/synth-main"/mkm-provider_*.deb "$tmp/synth-universe/"
start=$(now_ms)
aptrepo_build "$www/ubuntu" jammy main "$key" "$tmp/synth-main"
aptrepo_build "$www/ubuntu" jammy universe "$key" "$tmp/synth-universe"
echo "# Ubuntu-like repository built in $(secs_since "$start") s"
if grep -qx 'Components: main universe' "$www/ubuntu/dists/jammy/Release" &&
    grep -q ' universe/binary-amd64/Packages.gz$' "$www/ubuntu/dists/jammy/Release" &&
    release_hashes_ok "$www/ubuntu" jammy; then
    ok "Ubuntu-like repository: one Release for main and universe"
else
    not_ok "Ubuntu-like repository: one Release for main and universe"
fi
new_apt ubuntu "$(line ubuntu jammy "main universe")"
if out=$(apt_get ubuntu update 2>&1 && apt_get ubuntu install -s mkm-virtual-user 2>&1 &&
    aptrepo_apt "$tmp/apt-ubuntu" apt-cache policy mkm-provider 2>&1) &&
    grep -q '^Inst mkm-provider ' <<<"$out" && grep -q ' jammy/universe amd64 Packages' <<<"$out"; then
    ok "apt: jammy main + universe, mkm-virtual provided from universe"
else
    fail_with "apt: jammy main + universe, mkm-virtual provided from universe" "$out"
fi
new_apt ubuntu-main "$(line ubuntu jammy main)"
expect_fail "apt: with main alone mkm-virtual-user is not installable" 'mkm-virtual' \
    eval 'apt_get ubuntu-main update && apt_get ubuntu-main install -s mkm-virtual-user'

# --- tampered repositories ------------------------------------------------------------------
aptrepo_break_signature "$www/badsig" bookworm
expect_fail "gpgv refuses a changed InRelease" 'BAD signature' \
    gpgv --keyring "$key/keyring.gpg" "$www/badsig/dists/bookworm/InRelease"
new_apt badsig "$(line badsig)"
expect_fail "aptrepo_break_signature: apt-get update fails (BADSIG)" 'BADSIG' apt_get badsig update

aptrepo_sign_with_other_key "$www/otherkey" bookworm "$tmp/key2"
new_apt otherkey "$(line otherkey)"
expect_fail "aptrepo_sign_with_other_key: apt-get update fails (NO_PUBKEY)" 'NO_PUBKEY' \
    apt_get otherkey update
expect_fail "gpgv refuses the other key" "public key not found|No public key" \
    gpgv --keyring "$key/keyring.gpg" "$www/otherkey/dists/bookworm/InRelease"

aptrepo_expire "$www/expired" bookworm "$key"
expect_ok "the expired Release is still validly signed" \
    gpgv --keyring "$key/keyring.gpg" "$www/expired/dists/bookworm/InRelease"
new_apt expired "$(line expired)"
expect_fail "aptrepo_expire: apt-get update fails (is expired)" 'is expired' apt_get expired update

xs=$(stat -c %s "$www/badindex/dists/bookworm/main/binary-amd64/Packages.xz")
aptrepo_corrupt_index "$www/badindex" bookworm main
if [ "$(stat -c %s "$www/badindex/dists/bookworm/main/binary-amd64/Packages.xz")" = "$xs" ] &&
    cmp -s "$www/badindex/dists/bookworm/InRelease" "$www/debian/dists/bookworm/InRelease" &&
    xz -t "$www/badindex/dists/bookworm/main/binary-amd64/Packages.xz"; then
    ok "aptrepo_corrupt_index: same size, valid xz, Release unchanged"
else
    not_ok "aptrepo_corrupt_index: same size, valid xz, Release unchanged"
fi
new_apt badindex "$(line badindex)"
expect_fail "aptrepo_corrupt_index: apt-get update fails (Hash Sum mismatch)" 'Hash Sum mismatch' \
    apt_get badindex update

aptrepo_corrupt_deb "$www/baddeb" mkm-libfoo
new_apt baddeb "$(line baddeb)"
expect_ok "aptrepo_corrupt_deb: apt-get update still works" apt_get baddeb update
expect_fail "aptrepo_corrupt_deb: the download fails (Hash Sum mismatch)" 'Hash Sum mismatch' \
    download baddeb mkm-libfoo
if ! cmp -s "$www/baddeb/pool/main/m/mkm-libfoo/mkm-libfoo_2.1-1_amd64.deb" \
    "$tmp/synth/mkm-libfoo_2.1-1_amd64.deb"; then
    ok "aptrepo_corrupt_deb changed the pool copy, not the source .deb"
else
    not_ok "aptrepo_corrupt_deb changed the pool copy, not the source .deb"
fi

aptrepo_unsigned "$www/unsigned" bookworm
new_apt unsigned "$(line unsigned)"
expect_fail "aptrepo_unsigned: apt-get update fails (not signed)" 'is not signed' apt_get unsigned update

# --- faults of the server -------------------------------------------------------------------
tool=mkm-tool_1.2-1_amd64.deb
serve --die-after "$tool:100" --status mkm-libfoo_2.1-1_amd64.deb:404 \
    --status /debian/dists/bookworm/InRelease:404 --slow mkm-base_1.0-1_amd64.deb:2000
new_apt faults "$(line debian)"
if out=$(apt_get faults update 2>&1) &&
    [ "$(aptrepo_requests '/debian/dists/bookworm/Release(\.gpg)?$')" = 2 ]; then
    ok "--status InRelease:404: apt falls back to Release + Release.gpg"
else
    fail_with "--status InRelease:404: apt falls back to Release + Release.gpg" "$out"
fi
# apt says "Connection reset by peer" or "Undetermined Error", depending on timing.
expect_fail "--die-after: the download fails" "Failed to fetch .*/$tool" download faults mkm-tool
# (apt-get download may leave an empty or partial file behind.)
full=$(stat -c %s "$www/debian/pool/main/m/mkm-tool/$tool")
if grep -q "^GET /debian/pool/main/m/mkm-tool/$tool 200 100\$" "$APTREPO_LOG" &&
    [ "$(stat -c %s "$tmp/dl-faults/$tool" 2>/dev/null || echo 0)" -lt "$full" ]; then
    ok "--die-after: 100 bytes sent, no complete file"
else
    fail_with "--die-after: 100 bytes sent, no complete file" "$(cat "$APTREPO_LOG")"
fi
expect_fail "--status .deb:404: the download fails with 404" '404' download faults mkm-libfoo
start=$(now_ms)
expect_ok "--slow: the download works" download faults mkm-base
ms=$(($(now_ms) - start))
if [ "$ms" -ge 400 ]; then
    ok "--slow 2000 B/s: 1.1 kB took $ms ms"
else
    not_ok "--slow 2000 B/s: 1.1 kB took $ms ms (expected >= 400)"
fi
aptrepo_stop
url=''

# --- real packages from the mirror ----------------------------------------------------------
start=$(now_ms)
if debs=$(aptrepo_fetch_real_debs bookworm systemd systemd-sysv dbus iproute2); then
    echo "# aptrepo_fetch_real_debs: $(secs_since "$start") s, $debs"
    n=$(find "$debs" -name '*.deb' | wc -l)
    missing=()
    for p in dpkg libc6 base-files systemd systemd-sysv dbus iproute2 apt bash coreutils; do
        grep -q "^$p " "$debs/PACKAGES" || missing+=("$p")
    done
    if [ "$n" -ge 100 ] && [ ${#missing[@]} = 0 ] && [ "$(wc -l <"$debs/PACKAGES")" = "$n" ]; then
        ok "aptrepo_fetch_real_debs: $n .debs with dpkg, libc6, base-files, systemd…"
    else
        not_ok "aptrepo_fetch_real_debs: $n .debs (>= 100), missing: ${missing[*]}"
    fi
    start=$(now_ms)
    debs2=$(aptrepo_fetch_real_debs bookworm systemd systemd-sysv dbus iproute2) || debs2=
    ms=$(($(now_ms) - start))
    if [ "$debs2" = "$debs" ] && [ "$ms" -lt 2000 ]; then
        ok "aptrepo_fetch_real_debs again: a cache hit in $ms ms"
    else
        not_ok "aptrepo_fetch_real_debs again: cache hit ($debs2 in $ms ms)"
    fi

    start=$(now_ms)
    aptrepo_build "$www/real" bookworm main "$key" "$debs" "$tmp/synth"
    echo "# repository of the real .debs built in $(secs_since "$start") s"
    serve
    new_apt real "$(line real)"
    mapfile -t names < <(cut -d' ' -f1 "$debs/PACKAGES")
    if out=$(apt_get real update 2>&1 && apt_get real install -s "${names[@]}" mkm-tool 2>&1) &&
        [ "$(grep -c '^Inst ' <<<"$out")" = $((n + 3)) ]; then
        ok "apt installs all $n real packages (+ mkm-tool) from the local repository alone"
    else
        fail_with "apt installs all $n real packages (+ mkm-tool) from the local repository alone" "$out"
    fi
    expect_ok "gpgv --keyring keyring.gpg InRelease of the real repository" \
        gpgv --keyring "$key/keyring.gpg" "$www/real/dists/bookworm/InRelease"
    aptrepo_stop
else
    not_ok "aptrepo_fetch_real_debs bookworm systemd systemd-sysv dbus iproute2"
fi

# --- nothing left behind --------------------------------------------------------------------
# A test that fails with a server running and an EXIT trap of its own: the server goes, its
# files go, the old trap still runs and the exit status is kept.
out=$(bash -c '
    set -euo pipefail
    . "$1/aptrepo.sh"
    trap "echo previous trap ran" EXIT
    aptrepo_serve "$2"
    echo "$APTREPO_PID $APTREPO_LOG"
    false
    echo not reached' _ "$here" "$www" 2>&1) && rc=0 || rc=$?
read -r pid log <<<"$out" || true
if [ "$rc" = 1 ] && [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && [ ! -e "$(dirname "$log")" ] &&
    grep -qx 'previous trap ran' <<<"$out"; then
    ok "a failing test: server stopped, its files removed, its own EXIT trap ran, status kept"
else
    fail_with "a failing test: server stopped, files removed, EXIT trap ran, status kept (rc $rc)" "$out"
fi

aptrepo_cleanup
left=()
if procs=$(pgrep -a -f "aptrepo-server.py $www" 2>/dev/null); then
    left+=("servers: $procs")
fi
if procs=$(pgrep -a -f "gpg-agent.*$tmp" 2>/dev/null); then
    left+=("gpg-agent: $procs")
fi
for d in "${serve_dirs[@]}"; do
    [ ! -e "$d" ] || left+=("$d")
done
if [ ${#left[@]} = 0 ]; then
    ok "nothing left behind (servers, gpg agents, temporary directories)"
else
    fail_with "nothing left behind" "$(printf '%s\n' "${left[@]}")"
fi

tap_done
