#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Local, signed apt repositories served over HTTP on 127.0.0.1, with fault injection, for the
# bootstrap tests.
#
# Usage (source it; set -euo pipefail compatible):
#     . "$(dirname "$0")/aptrepo.sh"
#     aptrepo_require                              # exit 77 (skip) unless root and the tools
#     debs=$(aptrepo_fetch_real_debs bookworm systemd dbus)   # cached real .debs of a minbase
#     aptrepo_make_synthetic "$tmp/synth"          # small mkm-* packages
#     aptrepo_build "$tmp/repo" bookworm main "$tmp/key" "$debs" "$tmp/synth"
#     aptrepo_serve "$tmp/repo" --die-after .deb:100   # exports APTREPO_URL APTREPO_LOG APTREPO_PID
#     aptrepo_requests '\.deb$'                    # how many requests for .debs so far
# Tamper helpers (aptrepo_break_signature, aptrepo_sign_with_other_key, aptrepo_expire,
# aptrepo_corrupt_index, aptrepo_corrupt_deb, aptrepo_unsigned) change a built repository in place.
# aptrepo_apt_init/aptrepo_apt run apt with a private configuration (never the host's state).
# aptrepo_mirrors puts several repositories under one server (/debian, /debian-security, …);
# aptrepo_with_host_apt runs a command that sees a private directory as the host's /etc/apt.
# aptrepo_serve chains an EXIT trap (an existing one still runs, after ours) that stops the
# servers of this shell; aptrepo_cleanup is the same function for tests that manage traps
# themselves.
#
# Environment: MKMACHINE_MUST_WORK=1 turns "skip" into "fail"; MKMACHINE_TEST_CACHE (default
# /var/cache/mkmachine-tests) holds the downloaded .debs (debs-<key>/).

# Bump when the way the real .debs are chosen changes: it is part of their cache key.
APTREPO_VERSION="aptrepo-1"
APTREPO_ARCH=amd64
APTREPO_ORIGIN="mkmachine"
APTREPO_LABEL="mkmachine test"
# The timestamps inside the synthetic packages (dpkg-deb honours SOURCE_DATE_EPOCH): same bytes
# on every build.
APTREPO_SOURCE_DATE_EPOCH=1700000000

aptrepo__lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/cache.sh
. "$aptrepo__lib/cache.sh"
aptrepo__servers=()  # "PID DIR" of each running server of this shell
aptrepo__trap_set=0
aptrepo__exit_status=0

aptrepo__log() { echo "# aptrepo: $*" >&2; }

aptrepo__die() {
    aptrepo__log "ERROR: $*"
    return 1
}

# aptrepo_require: skip the test (exit 77) unless it runs as root with the tools it needs; with
# MKMACHINE_MUST_WORK=1 fail (exit 1) instead.
aptrepo_require() {
    local missing=() t why=
    for t in dpkg-deb gpg gpg-agent gpgv gpgconf apt-get apt-cache apt-config python3 xz gzip zstd \
        sha256sum md5sum flock stat od dd; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ "$(id -u)" = 0 ] || why="not root"
    [ ${#missing[@]} = 0 ] || why="${why:+$why, }missing: ${missing[*]}"
    [ -z "$why" ] && return 0
    if [ "${MKMACHINE_MUST_WORK:-0}" = 1 ]; then
        echo "Bail out! aptrepo: $why (MKMACHINE_MUST_WORK=1)"
        exit 1
    fi
    echo "1..0 # SKIP aptrepo: $why"
    exit 77
}

# --- private apt configurations ---------------------------------------------------------------

# aptrepo_apt_init DIR SOURCES [CONFIG_LINE…]: write DIR/apt.conf, an apt configuration that
# reads nothing of the host's (no apt.conf.d, preferences, trusted keys, sources.list.d) and keeps
# its state, lists, caches and an empty dpkg status below DIR. SOURCES is the sources file to use
# (one-line style, or deb822 if it ends in .sources). Architecture amd64, no recommends, no
# translations, no retries, no proxy for 127.0.0.1, Valid-Until checked, downloads as root (no
# _apt sandbox). Extra CONFIG_LINEs (apt.conf syntax, e.g. 'Acquire::Retries "2";') are appended.
aptrepo_apt_init() {
    local dir=${1:?aptrepo_apt_init DIR SOURCES} sources=${2:?aptrepo_apt_init DIR SOURCES}
    shift 2
    mkdir -p "$dir"/etc/apt.conf.d "$dir"/etc/sources.list.d "$dir"/etc/preferences.d \
        "$dir"/etc/trusted.gpg.d "$dir"/state/lists/partial "$dir"/cache/archives/partial \
        "$dir"/log "$dir"/dpkg/updates
    : >"$dir/dpkg/status"
    case $sources in
        /*) ;;
        *) sources="$PWD/$sources" ;;
    esac
    {
        echo "Dir::Etc::main \"/dev/null\";"
        echo "Dir::Etc::parts \"$dir/etc/apt.conf.d\";"
        echo "Dir::Etc::sourcelist \"$sources\";"
        echo "Dir::Etc::sourceparts \"$dir/etc/sources.list.d\";"
        echo "Dir::Etc::preferences \"$dir/etc/preferences\";"
        echo "Dir::Etc::preferencesparts \"$dir/etc/preferences.d\";"
        echo "Dir::Etc::trusted \"$dir/etc/trusted.gpg\";"
        echo "Dir::Etc::trustedparts \"$dir/etc/trusted.gpg.d\";"
        echo "Dir::Etc::netrc \"$dir/etc/auth.conf\";"
        echo "Dir::Etc::netrcparts \"$dir/etc/auth.conf.d\";"
        echo "Dir::State \"$dir/state\";"
        echo "Dir::State::lists \"$dir/state/lists\";"
        echo "Dir::State::status \"$dir/dpkg/status\";"
        echo "Dir::State::extended_states \"$dir/state/extended_states\";"
        echo "Dir::Cache \"$dir/cache\";"
        echo "Dir::Cache::archives \"$dir/cache/archives\";"
        echo "Dir::Cache::pkgcache \"\";"
        echo "Dir::Cache::srcpkgcache \"\";"
        echo "Dir::Log \"$dir/log\";"
        echo "APT::Architecture \"$APTREPO_ARCH\";"
        echo "APT::Architectures { \"$APTREPO_ARCH\"; };"
        echo "APT::Install-Recommends \"false\";"
        echo "APT::Install-Suggests \"false\";"
        echo "APT::Sandbox::User \"root\";"
        echo "Acquire::Languages \"none\";"
        echo "Acquire::Retries \"0\";"
        echo "Acquire::Check-Valid-Until \"true\";"
        echo "Acquire::http::Proxy::127.0.0.1 \"DIRECT\";"
        echo "Binary::apt::APT::Keep-Downloaded-Packages \"true\";"
        [ $# = 0 ] || printf '%s\n' "$@"
    } >"$dir/apt.conf"
}

# aptrepo_apt DIR CMD ARGS…: run an apt command (apt-get, apt-cache, apt-config…) with the private
# configuration of aptrepo_apt_init DIR.
aptrepo_apt() {
    local dir=${1:?aptrepo_apt DIR CMD ARGS…}
    shift
    APT_CONFIG="$dir/apt.conf" "$@"
}

# --- keys and signatures ----------------------------------------------------------------------

aptrepo__gpg() {  # aptrepo__gpg KEYDIR ARGS…
    local keydir=$1
    shift
    GNUPGHOME=$keydir gpg --batch --no-tty --quiet --pinentry-mode loopback --passphrase '' "$@"
}

# gpg starts an agent for the secret key: stop it (and remove its socket directory, should it be
# outside KEYDIR) so that nothing of the key outlives the call.
aptrepo__gpg_done() {
    GNUPGHOME=$1 gpgconf --kill all >/dev/null 2>&1 || true
    GNUPGHOME=$1 gpgconf --remove-socketdir >/dev/null 2>&1 || true
}

# aptrepo_genkey KEYDIR: create a throwaway ed25519 signing key in KEYDIR (a GnuPG home) unless it
# has one, and export its public key as the binary keyring KEYDIR/keyring.gpg (for gpgv --keyring
# and apt's signed-by); KEYDIR/fingerprint holds its fingerprint.
aptrepo_genkey() {
    local keydir=${1:?aptrepo_genkey KEYDIR} fpr
    if [ -s "$keydir/keyring.gpg" ] && [ -s "$keydir/fingerprint" ]; then
        return 0
    fi
    mkdir -p "$keydir"
    chmod 700 "$keydir"
    if ! aptrepo__gpg "$keydir" --quick-gen-key 'mkmachine test <test@invalid>' ed25519 sign never \
        2>"$keydir/genkey.log"; then
        aptrepo__gpg_done "$keydir"
        sed 's/^/# gpg: /' "$keydir/genkey.log" >&2
        aptrepo__die "generating a key in $keydir failed"
        return 1
    fi
    fpr=$(aptrepo__gpg "$keydir" --with-colons --list-secret-keys |
        awk -F: '$1 == "fpr" && !n++ { print $10 }')
    aptrepo__gpg "$keydir" --export >"$keydir/keyring.gpg.tmp"
    aptrepo__gpg_done "$keydir"
    if [ -z "$fpr" ] || [ ! -s "$keydir/keyring.gpg.tmp" ]; then
        aptrepo__die "exporting the key of $keydir failed"
        return 1
    fi
    mv -f "$keydir/keyring.gpg.tmp" "$keydir/keyring.gpg"
    echo "$fpr" >"$keydir/fingerprint"
    rm -f "$keydir/genkey.log"
}

# aptrepo__replace NEW FILE: move NEW over FILE; its mtime is made later (in whole seconds) than
# the old FILE's, so that the server's Last-Modified changes and If-Modified-Since sees it.
aptrepo__replace() {
    local new=$1 file=$2 old=
    [ ! -e "$file" ] || old=$(stat -c %Y "$file")
    mv -f "$new" "$file"
    if [ -n "$old" ] && [ "$(stat -c %Y "$file")" -le "$old" ]; then
        touch -d "@$((old + 1))" "$file"
    fi
}

# aptrepo__sign REPO SUITE KEYDIR: (re)write InRelease (clear-signed) and Release.gpg (detached,
# armored) of dists/SUITE/Release with the key in KEYDIR.
aptrepo__sign() {
    local repo=$1 suite=$2 keydir=$3 d rc=0
    d="$repo/dists/$suite"
    aptrepo_genkey "$keydir" || return 1
    rm -f "$d/InRelease.new" "$d/Release.gpg.new"
    aptrepo__gpg "$keydir" --digest-algo SHA512 --clearsign -o "$d/InRelease.new" "$d/Release" &&
        aptrepo__gpg "$keydir" --digest-algo SHA512 --armor --detach-sign -o "$d/Release.gpg.new" \
            "$d/Release" || rc=1
    aptrepo__gpg_done "$keydir"
    [ "$rc" = 0 ] || { aptrepo__die "signing $d/Release failed"; return 1; }
    aptrepo__replace "$d/InRelease.new" "$d/InRelease"
    aptrepo__replace "$d/Release.gpg.new" "$d/Release.gpg"
}

aptrepo__date() {  # aptrepo__date EPOCH: the date format of Release files
    LC_ALL=C date -u -d "@$1" '+%a, %d %b %Y %H:%M:%S UTC'
}

# aptrepo__release REPO SUITE [DATE [VALID_UNTIL]]: (re)write dists/SUITE/Release from the index
# files below dists/SUITE (every component there). DATE and VALID_UNTIL are seconds since the
# epoch; the default is now and now + 7 days.
aptrepo__release() {
    local repo=$1 suite=$2 date=${3:-$(date +%s)} valid=${4:-} d comps=() c f files=() kind
    [ -n "$valid" ] || valid=$((date + 7 * 86400))
    d="$repo/dists/$suite"
    for c in "$d"/*/; do
        [ -d "$c" ] && comps+=("$(basename "$c")")
    done
    [ ${#comps[@]} != 0 ] || { aptrepo__die "no components in $d"; return 1; }
    while IFS= read -r f; do
        files+=("$f")
    done < <(cd "$d" && find . -mindepth 2 -type f ! -name '*.new' | sed 's|^\./||' | LC_ALL=C sort)
    {
        echo "Origin: $APTREPO_ORIGIN"
        echo "Label: $APTREPO_LABEL"
        echo "Suite: $suite"
        echo "Codename: $suite"
        echo "Date: $(aptrepo__date "$date")"
        echo "Valid-Until: $(aptrepo__date "$valid")"
        echo "Architectures: $APTREPO_ARCH"
        echo "Components: ${comps[*]}"
        echo "Description: mkmachine test repository"
        for kind in md5sum sha256sum; do
            [ "$kind" = md5sum ] && echo "MD5Sum:" || echo "SHA256:"
            for f in "${files[@]}"; do
                printf ' %s %8d %s\n' "$("$kind" <"$d/$f" | cut -d' ' -f1)" "$(stat -c %s "$d/$f")" "$f"
            done
        done
    } >"$d/Release.new"
    aptrepo__replace "$d/Release.new" "$d/Release"
}

# aptrepo__compress DIR: Packages.xz and Packages.gz next to DIR/Packages (always with the same
# options: aptrepo_corrupt_index relies on it).
aptrepo__compress() {
    xz -6 -c "$1/Packages" >"$1/Packages.xz.new"
    gzip -9 -n -c "$1/Packages" >"$1/Packages.gz.new"
}

# --- building repositories --------------------------------------------------------------------

# aptrepo_build REPO SUITE COMPONENT KEYDIR DEBDIR…: add the .debs in the DEBDIRs to REPO (Debian
# archive layout: pool/COMPONENT/<l>/<source>/<name>_<version without epoch>_<arch>.deb), write
# dists/SUITE/COMPONENT/binary-amd64/{Packages,Packages.xz,Packages.gz,Release} listing exactly
# these .debs, then dists/SUITE/Release covering all components of SUITE (call it once per
# component; suites may share the pool), signed with the key in KEYDIR (created if there is none)
# as InRelease and Release.gpg. KEYDIR/keyring.gpg is the public keyring.
aptrepo_build() {
    local repo=${1:?aptrepo_build REPO SUITE COMPONENT KEYDIR DEBDIR…} suite=${2:?} comp=${3:?}
    local keydir=${4:?} bin deb dir n i control pkg version arch src prefix rel line
    local controls=() rels=() sizes=() md5s=() sha256s=()
    shift 4
    [ $# -gt 0 ] || { aptrepo__die "aptrepo_build: no DEBDIR"; return 1; }
    aptrepo_genkey "$keydir" || return 1
    bin="$repo/dists/$suite/$comp/binary-$APTREPO_ARCH"
    mkdir -p "$bin" "$repo/pool/$comp"
    for dir in "$@"; do
        for deb in "$dir"/*.deb; do
            [ -f "$deb" ] || continue
            control=$(dpkg-deb -f "$deb") || { aptrepo__die "$deb: not a .deb"; return 1; }
            pkg='' version='' arch='' src=''
            while IFS= read -r line; do
                case $line in
                    Package:*) pkg=${line#Package:} ;;
                    Version:*) version=${line#Version:} ;;
                    Architecture:*) arch=${line#Architecture:} ;;
                    Source:*) src=${line#Source:} ;;
                esac
            done <<<"$control"
            pkg=${pkg// /} version=${version// /} arch=${arch// /}
            src=${src# }
            src=${src%% *}
            [ -n "$src" ] || src=$pkg
            case $src in
                lib?*) prefix=${src:0:4} ;;
                *) prefix=${src:0:1} ;;
            esac
            rel="pool/$comp/$prefix/$src/${pkg}_${version#[0-9]*:}_$arch.deb"
            mkdir -p "$repo/${rel%/*}"
            if ! cmp -s "$deb" "$repo/$rel"; then
                cp -f "$deb" "$repo/$rel.new"
                aptrepo__replace "$repo/$rel.new" "$repo/$rel"
            fi
            controls+=("$(sed '/^[[:space:]]*$/d' <<<"$control")")
            rels+=("$rel")
        done
    done
    n=${#rels[@]}
    [ "$n" -gt 0 ] || { aptrepo__die "aptrepo_build: no .deb in $*"; return 1; }
    # One process per kind of checksum for all files (hundreds of real .debs).
    mapfile -t sizes < <(cd "$repo" && stat -c %s -- "${rels[@]}")
    mapfile -t md5s < <(cd "$repo" && md5sum -- "${rels[@]}" | cut -d' ' -f1)
    mapfile -t sha256s < <(cd "$repo" && sha256sum -- "${rels[@]}" | cut -d' ' -f1)
    if [ ${#sizes[@]} != "$n" ] || [ ${#md5s[@]} != "$n" ] || [ ${#sha256s[@]} != "$n" ]; then
        aptrepo__die "aptrepo_build: checksums of the pool files failed"
        return 1
    fi
    for ((i = 0; i < n; i++)); do
        printf '%s\nFilename: %s\nSize: %s\nMD5sum: %s\nSHA256: %s\n\n' "${controls[i]}" "${rels[i]}" \
            "${sizes[i]}" "${md5s[i]}" "${sha256s[i]}"
    done >"$bin/Packages.new"
    aptrepo__replace "$bin/Packages.new" "$bin/Packages"
    aptrepo__compress "$bin"
    aptrepo__replace "$bin/Packages.xz.new" "$bin/Packages.xz"
    aptrepo__replace "$bin/Packages.gz.new" "$bin/Packages.gz"
    {
        echo "Archive: $suite"
        echo "Origin: $APTREPO_ORIGIN"
        echo "Label: $APTREPO_LABEL"
        echo "Component: $comp"
        echo "Architecture: $APTREPO_ARCH"
    } >"$bin/Release.new"
    aptrepo__replace "$bin/Release.new" "$bin/Release"
    aptrepo__release "$repo" "$suite" && aptrepo__sign "$repo" "$suite" "$keydir"
}

# aptrepo__deb NAME VERSION ARCH COMPRESSION FIELDS DIR [FILE=CONTENT…]: build one synthetic package
# into DIR with dpkg-deb (root-owned files). FIELDS: extra control lines; FILE=CONTENT makes a file,
# @LINK=TARGET a symbolic link, !MEMBER=CONTENT a control member (such as triggers). Every package
# gets a preinst (records "$1", the script's name and package as dpkg tells them, in
# /var/lib/mkm-test/NAME.preinst) and a postinst that, on "configure", writes its arguments to
# /var/lib/mkm-test/NAME.configured, and on "triggered" appends them to NAME.triggered, unless
# !preinst=… or !postinst=… replaces them. A FILE under /etc is a conffile.
aptrepo__deb() {
    local name=$1 version=$2 arch=$3 z=$4 fields=$5 out=$6 root spec path
    shift 6
    root=$(mktemp -d "${TMPDIR:-/tmp}/mkmachine-aptrepo-deb.XXXXXX")
    mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$name"
    echo "$name $version: a synthetic package of the mkmachine tests." >"$root/usr/share/doc/$name/README"
    cat >"$root/DEBIAN/preinst" <<EOF
#!/bin/sh
set -e
mkdir -p /var/lib/mkm-test
echo "\$1 \$DPKG_MAINTSCRIPT_NAME \$DPKG_MAINTSCRIPT_PACKAGE" >>/var/lib/mkm-test/$name.preinst
EOF
    cat >"$root/DEBIAN/postinst" <<EOF
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
    mkdir -p /var/lib/mkm-test
    echo "\$@" >/var/lib/mkm-test/$name.configured
elif [ "\$1" = triggered ]; then
    echo "\$@" >>/var/lib/mkm-test/$name.triggered
fi
EOF
    for spec in "$@"; do
        if [ "${spec:0:1}" = ! ]; then
            path=${spec%%=*}
            printf '%s\n' "${spec#*=}" >"$root/DEBIAN/${path#!}"
            continue
        fi
        path=${spec%%=*}
        path=${path#@}
        mkdir -p "$root$(dirname "$path")"
        if [ "${spec:0:1}" = @ ]; then
            ln -s "${spec#*=}" "$root$path"
            continue
        fi
        printf '%s\n' "${spec#*=}" >"$root$path"
        case $path in
            /etc/*) echo "$path" >>"$root/DEBIAN/conffiles" ;;
            */bin/*) chmod 755 "$root$path" ;;
        esac
    done
    {
        echo "Package: $name"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: mkmachine tests <test@invalid>"
        echo "Installed-Size: 8"
        [ -z "$fields" ] || printf '%s\n' "$fields"
        echo "Description: mkmachine test package $name"
        echo " A synthetic package for the resolver and installer tests of mkmachine."
    } >"$root/DEBIAN/control"
    chmod 755 "$root/DEBIAN/preinst" "$root/DEBIAN/postinst"
    chmod -R go-w "$root"
    SOURCE_DATE_EPOCH=$APTREPO_SOURCE_DATE_EPOCH dpkg-deb --root-owner-group -Z"$z" --build "$root" \
        "$out/${name}_${version#[0-9]*:}_$arch.deb" >/dev/null || { rm -rf "$root"; return 1; }
    rm -rf "$root"
}

# aptrepo_make_synthetic DIR: build the synthetic mkm-* packages into DIR (see the table below).
# The same bytes every time (fixed SOURCE_DATE_EPOCH).
aptrepo_make_synthetic() {
    local out=${1:?aptrepo_make_synthetic DIR}
    mkdir -p "$out"
    # NAME VERSION ARCH COMPRESSION FIELDS [FILES]
    aptrepo__deb mkm-base 1.0-1 amd64 xz $'Essential: yes\nPriority: required' "$out" \
        '/usr/bin/mkm-hello=#!/bin/sh
echo hello from mkm-base' \
        '/usr/share/mkm-test/base.txt=mkm-base' '@/usr/share/mkm-test/link=base.txt' \
        '!triggers=interest-noawait /usr/share/mkm-test/hooks
interest mkm-trigger' || return 1
    aptrepo__deb mkm-libfoo 1:2.1-1 amd64 zstd $'Priority: required\nMulti-Arch: same' "$out" \
        '/usr/lib/mkm-test/libfoo.txt=mkm-libfoo 1:2.1-1' || return 1
    aptrepo__deb mkm-tool 1.2-1 amd64 gzip $'Priority: required
Pre-Depends: mkm-base (>= 1.0)
Depends: mkm-libfoo (>= 1:2.0), mkm-libfoo (<< 1:3.0)' "$out" \
        '/etc/mkm-tool.conf=# mkm-tool configuration
setting=default' \
        '/usr/bin/mkm-tool=#!/bin/sh
cat /etc/mkm-tool.conf' || return 1
    aptrepo__deb mkm-exact 1.0-1 amd64 xz $'Priority: optional\nDepends: mkm-tool (= 1.2-1)' "$out" ||
        return 1
    aptrepo__deb mkm-alt 1.0-1 amd64 zstd $'Priority: optional\nDepends: mkm-a-missing | mkm-alt-b' "$out" ||
        return 1
    aptrepo__deb mkm-alt-b 1.0~rc1-1 all gzip $'Priority: optional' "$out" || return 1
    aptrepo__deb mkm-provider 3.0-1 all xz $'Priority: optional\nProvides: mkm-virtual (= 2.0)' "$out" ||
        return 1
    aptrepo__deb mkm-virtual-user 1.0-1 amd64 zstd \
        $'Priority: optional\nDepends: mkm-virtual (>= 1.5)' "$out" || return 1
    aptrepo__deb mkm-broken 1.0-1 amd64 gzip $'Priority: optional\nDepends: mkm-nonexistent' "$out" ||
        return 1
    # Takes over a file of mkm-base.
    aptrepo__deb mkm-replacer 1.0-1 all xz $'Priority: optional\nReplaces: mkm-base' "$out" \
        '/usr/share/mkm-test/base.txt=mkm-replacer' '/usr/share/mkm-test/hooks/replacer=hook' || return 1
    # Not in the test recipe's set: what a recipe with Base= adds.
    aptrepo__deb mkm-extra 1.0-1 all gzip $'Priority: optional\nDepends: mkm-tool' "$out" \
        '/usr/share/mkm-test/extra.txt=mkm-extra' || return 1
}

# aptrepo_make_escape DIR HOSTDIR PID PORT: build mkm-escape into DIR, a package whose preinst,
# postinst and /usr/bin/mkm-escape (for a recipe's command) try to reach the host from where they
# run: write files into HOSTDIR (a directory of the host that is not in the tree) through
# /proc/1/root, /proc/self/root, /proc/1/cwd, every /proc/N/root, /proc/PID/cwd (PID: a host
# process whose cwd is HOSTDIR) and by climbing out of a chroot; signal PID; rename the host; connect
# to 127.0.0.1:PORT (a server of the host). They never fail, and record what they saw in
# /var/lib/mkm-escape/STAGE.{written,pids,pidlist,victim,hostname,tcp,kill,net,loopback} (STAGE:
# preinst, postinst or command): the test checks that on the host.
aptrepo_make_escape() {
    local out=${1:?aptrepo_make_escape DIR HOSTDIR PID PORT} hostdir=${2:?} pid=${3:?} port=${4:?}
    local script
    mkdir -p "$out"
    script=$(cat <<SCRIPT
#!/bin/sh
h='$hostdir' victim='$pid' port='$port'
stage=\${DPKG_MAINTSCRIPT_NAME:-command}
o=/var/lib/mkm-escape/\$stage
mkdir -p /var/lib/mkm-escape
: >"\$o.written"
try() { (echo "escaped by \$stage" >"\$1") 2>/dev/null && echo "\$1" >>"\$o.written"; }
try "/proc/1/root\$h/proc1-root-\$stage"
try "/proc/self/root\$h/self-root-\$stage"
try "/proc/1/cwd\$h/proc1-cwd-\$stage"
try "/proc/self/root/../../..\$h/dotdot-\$stage"
try "/proc/\$victim/cwd/victim-cwd-\$stage"
for p in /proc/[0-9]*; do try "\$p/root\$h/scan-\${p#/proc/}-\$stage"; done
# The classic way out of a chroot: into a subdirectory, up from the old cwd, chroot there.
perl -e 'mkdir "/tmp/mkm-escape-chroot"; chroot "/tmp/mkm-escape-chroot" or exit;
         chdir ".." for 1 .. 64; chroot "." or exit;
         open(my \$f, ">", \$ARGV[0]) or exit; print \$f "escaped\n"; close \$f; print "\$ARGV[0]\n"' \\
    "\$h/chroot-\$stage" >>"\$o.written" 2>/dev/null || true
rmdir /tmp/mkm-escape-chroot 2>/dev/null || true
n=0
for p in /proc/[0-9]*; do n=\$((n + 1)); done
echo "\$n" >"\$o.pids"
ls -d /proc/[0-9]* >"\$o.pidlist"
if [ -e "/proc/\$victim" ]; then echo visible; else echo invisible; fi >"\$o.victim"
hostname >"\$o.hostname"
if hostname mkm-escaped-host 2>/dev/null; then echo renamed; else echo refused; fi >>"\$o.hostname"
if bash -c "exec 3<>/dev/tcp/127.0.0.1/\$port" 2>/dev/null; then r=connected; else r=failed; fi
echo "\$r" >"\$o.tcp"
if kill -TERM "\$victim" 2>/dev/null; then echo sent; else echo failed; fi >"\$o.kill"
if kill -KILL "\$victim" 2>/dev/null; then echo sent; else echo failed; fi >>"\$o.kill"
ls /sys/class/net >"\$o.net"
# What scripts may do: a server on the loopback, and a connection to it.
perl -MIO::Socket::INET -e '
    my \$l = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die;
    my \$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => \$l->sockport) or die;
    print "ok\n"' >"\$o.loopback" 2>&1 || echo failed >"\$o.loopback"
exit 0
SCRIPT
)
    aptrepo__deb mkm-escape 1.0-1 all gzip $'Priority: optional' "$out" "/usr/bin/mkm-escape=$script" \
        "!preinst=$script" "!postinst=$script"
}

# --- tampering --------------------------------------------------------------------------------

# aptrepo_break_signature REPO SUITE: change one byte of the signed text in InRelease (the Label),
# keeping the signature: gpgv and apt report BADSIG. Release and Release.gpg stay intact.
aptrepo_break_signature() {
    local f="${1:?aptrepo_break_signature REPO SUITE}/dists/${2:?}/InRelease"
    [ -f "$f" ] || { aptrepo__die "no $f"; return 1; }
    sed "s/^Label: $APTREPO_LABEL\$/Label: ${APTREPO_LABEL%?}X/" "$f" >"$f.new"
    if cmp -s "$f" "$f.new"; then
        rm -f "$f.new"
        aptrepo__die "no Label line to change in $f"
        return 1
    fi
    aptrepo__replace "$f.new" "$f"
}

# aptrepo_sign_with_other_key REPO SUITE KEYDIR2: sign Release again (InRelease and Release.gpg)
# with the key in KEYDIR2 (created if it has none): NO_PUBKEY for a client trusting the first key.
aptrepo_sign_with_other_key() {
    aptrepo__sign "${1:?aptrepo_sign_with_other_key REPO SUITE KEYDIR2}" "${2:?}" "${3:?}"
}

# aptrepo_expire REPO SUITE KEYDIR: rewrite Release dated 14 days ago and valid until 7 days ago,
# signed properly with KEYDIR: apt says "is expired".
aptrepo_expire() {
    local repo=${1:?aptrepo_expire REPO SUITE KEYDIR} suite=${2:?} keydir=${3:?} now
    now=$(date +%s)
    aptrepo__release "$repo" "$suite" $((now - 14 * 86400)) $((now - 7 * 86400)) &&
        aptrepo__sign "$repo" "$suite" "$keydir"
}

# aptrepo_corrupt_index REPO SUITE COMPONENT: change the content of Packages (one hex digit of the
# first SHA256 field) and recompress Packages.xz and .gz, keeping every file's size, so that only
# the hashes in the (untouched, still validly signed) Release disagree: "Hash Sum mismatch". If no
# such digit keeps both compressed sizes, a byte in the middle of each compressed file is flipped.
aptrepo_corrupt_index() {
    local repo=${1:?aptrepo_corrupt_index REPO SUITE COMPONENT} suite=${2:?} comp=${3:?} bin
    local line pos d xs gs found=0 f
    bin="$repo/dists/$suite/$comp/binary-$APTREPO_ARCH"
    [ -f "$bin/Packages" ] || { aptrepo__die "no $bin/Packages"; return 1; }
    xs=$(stat -c %s "$bin/Packages.xz") gs=$(stat -c %s "$bin/Packages.gz")
    mkdir -p "$bin/.corrupt"
    line=$(grep -n -m 1 '^SHA256: ' "$bin/Packages" | cut -d: -f1) || line=
    if [ -n "$line" ]; then
        for ((pos = 63; pos >= 0 && found == 0; pos--)); do
            for d in 0 f 5 a; do
                sed "${line}s/^\\(SHA256: .\\{$pos\\}\\)./\\1$d/" "$bin/Packages" >"$bin/.corrupt/Packages"
                ! cmp -s "$bin/Packages" "$bin/.corrupt/Packages" || continue
                aptrepo__compress "$bin/.corrupt"
                if [ "$(stat -c %s "$bin/.corrupt/Packages.xz.new")" = "$xs" ] &&
                    [ "$(stat -c %s "$bin/.corrupt/Packages.gz.new")" = "$gs" ]; then
                    found=1
                    break
                fi
            done
        done
    fi
    if [ "$found" = 1 ]; then
        aptrepo__replace "$bin/.corrupt/Packages" "$bin/Packages"
        aptrepo__replace "$bin/.corrupt/Packages.xz.new" "$bin/Packages.xz"
        aptrepo__replace "$bin/.corrupt/Packages.gz.new" "$bin/Packages.gz"
    else
        aptrepo__log "corrupt_index: no same-size recompression, flipping bytes instead"
        for f in Packages Packages.xz Packages.gz; do
            aptrepo__flip_byte "$bin/$f" || { rm -rf "$bin/.corrupt"; return 1; }
        done
    fi
    rm -rf "$bin/.corrupt"
}

# aptrepo__flip_byte FILE: invert the byte in the middle of FILE (a fresh copy: no hard link to
# anything else changes), keeping its size.
aptrepo__flip_byte() {
    local f=$1 size off byte
    size=$(stat -c %s "$f")
    [ "$size" -gt 0 ] || { aptrepo__die "$f is empty"; return 1; }
    off=$((size / 2))
    byte=$(od -An -tu1 -j "$off" -N 1 "$f" | tr -d ' ')
    cp -f "$f" "$f.new"
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$f.new" bs=1 seek="$off" conv=notrunc status=none
    aptrepo__replace "$f.new" "$f"
}

# aptrepo_corrupt_deb REPO PACKAGE: flip one byte in the middle of PACKAGE's .deb(s) in the pool,
# keeping the size (the index is untouched): the download fails with "Hash Sum mismatch".
aptrepo_corrupt_deb() {
    local repo=${1:?aptrepo_corrupt_deb REPO PACKAGE} pkg=${2:?} f n=0
    while IFS= read -r f; do
        aptrepo__flip_byte "$f" || return 1
        n=$((n + 1))
    done < <(find "$repo/pool" -type f -name "${pkg}_*.deb")
    [ "$n" -gt 0 ] || aptrepo__die "no .deb of $pkg in $repo/pool"
}

# aptrepo_redate REPO SUITE KEYDIR EPOCH: rewrite Release dated EPOCH (valid for 7 days from now),
# signed properly with KEYDIR: a new state of the suite with the same indexes (a new release).
aptrepo_redate() {
    local repo=${1:?aptrepo_redate REPO SUITE KEYDIR EPOCH} suite=${2:?} keydir=${3:?} when=${4:?}
    aptrepo__release "$repo" "$suite" "$when" $(($(date +%s) + 7 * 86400)) &&
        aptrepo__sign "$repo" "$suite" "$keydir"
}

# aptrepo_security_layout REPO SUITE KEYDIR: list the components in Release as the Debian security
# archive does ("Components: updates/main", the indexes still under main/), signed again with KEYDIR.
aptrepo_security_layout() {
    local repo=${1:?aptrepo_security_layout REPO SUITE KEYDIR} suite=${2:?} keydir=${3:?} d
    d="$repo/dists/$suite"
    sed '/^Components:/{s/ / updates\//g; s/^Components:updates\//Components: updates\//}' "$d/Release" \
        >"$d/Release.new"
    grep -q '^Components: updates/' "$d/Release.new" || { aptrepo__die "no Components in $d/Release"; return 1; }
    aptrepo__replace "$d/Release.new" "$d/Release"
    aptrepo__sign "$repo" "$suite" "$keydir"
}

# aptrepo_unsigned REPO SUITE: remove InRelease and Release.gpg: "is not signed".
aptrepo_unsigned() {
    rm -f "${1:?aptrepo_unsigned REPO SUITE}/dists/${2:?}/InRelease" "$1/dists/$2/Release.gpg"
}

# --- real packages from the host's mirror ----------------------------------------------------


# aptrepo__sources SUITE: print the host's apt sources file that has SUITE (the file is used as it
# is, with its other suites such as SUITE-updates and SUITE-security; no host name is copied).
aptrepo__sources() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        if grep -qE "^Suites:([[:space:]].*)?[[:space:]]$suite([[:space:]]|\$)" "$f"; then
            echo "$f"
            return 0
        fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        if grep -qE "^deb[[:space:]]+([^#]*[[:space:]])?$suite([[:space:]]|\$)" "$f"; then
            echo "$f"
            return 0
        fi
    done
    aptrepo__die "no apt sources file of this machine has suite $suite"
}

# aptrepo__download TMP PACKAGE…: with the private apt configuration TMP/apt, download the
# essential and required packages, the PACKAGEs and their closure into TMP/debs (log: TMP/log).
aptrepo__download() {
    local tmp=$1 want deb
    shift
    aptrepo_apt "$tmp/apt" apt-get -q update >"$tmp/log" 2>&1 || return 1
    want=$(aptrepo_apt "$tmp/apt" apt-cache dumpavail 2>>"$tmp/log" | awk '
        /^Package:/ { p = $2 }
        /^Essential: yes/ || /^Priority: required/ { if (p != "") print p }
        /^$/ { p = "" }' | LC_ALL=C sort -u) || return 1
    [ -n "$want" ] || { echo "no essential or required packages" >>"$tmp/log"; return 1; }
    # shellcheck disable=SC2086
    aptrepo_apt "$tmp/apt" apt-get -q -y --download-only install $want "$@" >>"$tmp/log" 2>&1 ||
        return 1
    mkdir -p "$tmp/debs"
    mv "$tmp/apt/cache/archives/"*.deb "$tmp/debs/" || return 1
    for deb in "$tmp/debs"/*.deb; do
        dpkg-deb -f "$deb" Package Version | paste -sd ' ' | sed 's/^Package: //; s/ Version: / /'
    done | LC_ALL=C sort >"$tmp/debs/PACKAGES"
    [ -s "$tmp/debs/PACKAGES" ]
}

# aptrepo_fetch_real_debs SUITE PACKAGE…: print a directory holding the real .debs of all
# packages of SUITE (amd64) that are Essential: yes or Priority: required, plus the PACKAGEs, with
# their whole Depends/Pre-Depends closure (no Recommends), as apt resolves them for an empty
# system - downloaded from the mirror in this machine's apt sources with a private apt state.
# The directory also has PACKAGES (name version, sorted). Cached as
# $MKMACHINE_TEST_CACHE/debs-<key>, key = sha256 of APTREPO_VERSION, SUITE and the PACKAGEs; built
# under a temporary name and renamed, under a lock.
aptrepo_fetch_real_debs() {
    local suite=${1:?aptrepo_fetch_real_debs SUITE PACKAGE…} cache key
    shift
    cache=$(test_cache_dir)
    key=$(printf '%s\n' "$APTREPO_VERSION" "$APTREPO_ARCH" "$suite" "$@" | sha256sum | cut -c 1-16)
    test_cache_build "$cache/debs-$key" "$cache/.lock-debs" aptrepo__build_debs "$suite" "$@" ||
        aptrepo__die "downloading the .debs of $suite failed"
}

# aptrepo__build_debs OUT SUITE PACKAGE…: the directory OUT for aptrepo_fetch_real_debs.
aptrepo__build_debs() {
    local out=$1 suite=$2 work sources start=$SECONDS host_conf=() v val
    shift 2
    sources=$(aptrepo__sources "$suite") || return 1
    work="$out.work"
    rm -rf "$work"
    aptrepo__log "downloading the .debs of $suite minbase + $*"
    # The host's settings for reaching its mirror, nothing else of its apt configuration.
    for v in Acquire::http::Proxy Acquire::https::Proxy Acquire::Check-Valid-Until Acquire::Check-Date; do
        val=$(apt-config dump --no-empty "$v" 2>/dev/null |
            sed -n "s|^$v \"\\(.*\\)\";\$|\\1|p" | awk 'NR == 1')
        [ -z "$val" ] || host_conf+=("$v \"$val\";")
    done
    aptrepo_apt_init "$work/apt" "$sources" "${host_conf[@]}"
    if aptrepo__download "$work" "$@" && mv -T "$work/debs" "$out"; then
        aptrepo__log "downloaded $(wc -l <"$out/PACKAGES") .debs in $((SECONDS - start)) s"
        rm -rf "$work"
        return 0
    fi
    tail -n 30 "$work/log" | sed 's/^/# apt: /' >&2
    rm -rf "$work"
    return 1
}

# --- serving ------------------------------------------------------------------------------

aptrepo__on_exit() {
    aptrepo__exit_status=$1
    aptrepo_cleanup || true
}

# aptrepo__chain_trap: install aptrepo__on_exit as EXIT trap, keeping an existing one (run after
# ours, seeing the same exit status in $?).
aptrepo__chain_trap() {
    [ "$aptrepo__trap_set" = 0 ] || return 0
    aptrepo__trap_set=1
    local prev
    prev=$(trap -p EXIT)
    if [ -n "$prev" ]; then
        prev=${prev#"trap -- "}
        prev=${prev%" EXIT"}
        eval "prev=$prev"
        # shellcheck disable=SC2064
        trap "aptrepo__on_exit \$?; set +e; (exit \$aptrepo__exit_status); $prev" EXIT
    else
        trap 'aptrepo__on_exit $?' EXIT
    fi
}

# aptrepo_serve REPO [SERVER OPTION…]: serve REPO on 127.0.0.1 (random port) with
# aptrepo-server.py in the background (options: --die-after, --status, --slow; see that file) and
# wait until it answers. Exports APTREPO_URL (http://127.0.0.1:PORT, no trailing slash),
# APTREPO_PORT, APTREPO_LOG (its request log, "METHOD PATH STATUS BYTES" per line, empty at
# return: the readiness probe is not in it) and APTREPO_PID. Several servers may run at once; the
# variables describe the latest. Must not run in a subshell ($(…)): the EXIT trap stops them.
# APTREPO_BIND (default 127.0.0.1) serves on another local address instead, such as the outer end of
# a test host's veth (TH_ADDR_OUTER); the URL then names it.
aptrepo_serve() {
    local repo=${1:?aptrepo_serve REPO [OPTION…]} dir pid port='' i fd line='' bind=${APTREPO_BIND:-127.0.0.1}
    shift
    [ -d "$repo" ] || { aptrepo__die "aptrepo_serve: no directory $repo"; return 1; }
    aptrepo__chain_trap
    dir=$(mktemp -d "${TMPDIR:-/tmp}/mkmachine-aptrepo-serve.XXXXXX")
    python3 "$aptrepo__lib/aptrepo-server.py" "$repo" --bind "$bind" --port-file "$dir/port" \
        --log "$dir/requests.log" "$@" </dev/null >"$dir/server.out" 2>&1 &
    pid=$!
    aptrepo__servers+=("$pid $dir")
    for ((i = 0; i < 200; i++)); do
        if [ -s "$dir/port" ]; then
            port=$(<"$dir/port")
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -n "$port" ] && exec {fd}<>"/dev/tcp/$bind/$port"; then
        printf 'HEAD / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$bind" >&"$fd"
        IFS= read -r -t 10 line <&"$fd" || true
        # Up to the end: the server has logged the probe when it closes the connection.
        while IFS= read -r -t 10 _ <&"$fd"; do :; done
        exec {fd}>&-
    fi
    case $line in
        HTTP/1.1\ *) ;;
        *)
            sed 's/^/# aptrepo-server: /' "$dir/server.out" >&2
            aptrepo_stop "$pid"
            aptrepo__die "the server for $repo did not start"
            return 1 ;;
    esac
    : >"$dir/requests.log"
    export APTREPO_URL="http://$bind:$port" APTREPO_PORT=$port APTREPO_LOG="$dir/requests.log"
    export APTREPO_PID=$pid
}

# aptrepo_stop [PID]: stop the server PID (default: APTREPO_PID) with SIGTERM (SIGKILL after 5 s)
# and remove its port file and log. Returns 1 if it had to be killed.
aptrepo_stop() {
    local pid=${1:-${APTREPO_PID:-}} entry rest=() dir='' i rc=0
    [ -n "$pid" ] || return 0
    for entry in "${aptrepo__servers[@]}"; do
        if [ "${entry%% *}" = "$pid" ]; then
            dir=${entry#* }
        else
            rest+=("$entry")
        fi
    done
    aptrepo__servers=("${rest[@]}")
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            aptrepo__log "server $pid did not stop in 5 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            rc=1
        fi
    fi
    wait "$pid" 2>/dev/null || true
    [ -z "$dir" ] || rm -rf "$dir"
    if [ "${APTREPO_PID:-}" = "$pid" ]; then
        unset APTREPO_URL APTREPO_PORT APTREPO_LOG APTREPO_PID
    fi
    return "$rc"
}

# aptrepo_cleanup: stop every server of this shell (the EXIT trap calls it).
aptrepo_cleanup() {
    local entry
    while [ ${#aptrepo__servers[@]} -gt 0 ]; do
        entry=${aptrepo__servers[0]}
        aptrepo_stop "${entry%% *}" || true
    done
}

# aptrepo_mirrors DIR NAME=REPO…: make DIR a tree of several "mirrors" for one server: DIR/NAME is
# (a symbolic link to) REPO, so aptrepo_serve DIR serves REPO under /NAME - e.g. debian=REPO and
# debian-security=SECREPO for the Debian archive and the security archive beside it. One REPO may
# appear under several NAMEs (different mirrors of the same content).
aptrepo_mirrors() {
    local dir=${1:?aptrepo_mirrors DIR NAME=REPO…} arg name target
    shift
    mkdir -p "$dir"
    for arg in "$@"; do
        name=${arg%%=*} target=${arg#*=}
        if [ -z "$name" ] || [ "$name" = "$arg" ] || [ ! -d "$target" ]; then
            aptrepo__die "aptrepo_mirrors: bad NAME=REPO '$arg'"
            return 1
        fi
        ln -sfn "$(cd "$target" && pwd)" "$dir/$name"
    done
}

# aptrepo_with_host_apt DIR CMD ARG…: run CMD in a mount namespace of its own in which /etc/apt is
# DIR (give it sources.list and/or sources.list.d/): what CMD reads as "the host's apt sources" is
# DIR's, and nothing of the host's apt configuration changes.
aptrepo_with_host_apt() {
    local dir=${1:?aptrepo_with_host_apt DIR CMD…}
    shift
    mkdir -p "$dir/sources.list.d"
    unshare --mount --propagation private -- /bin/sh -c 'mount --bind "$0" /etc/apt && exec "$@"' \
        "$dir" "$@"
}

# aptrepo_requests PATTERN [LOG]: print how many logged requests (of APTREPO_LOG by default) have
# a path matching the extended regular expression PATTERN.
aptrepo_requests() {
    local pattern=${1:?aptrepo_requests PATTERN [LOG]} log=${2:-${APTREPO_LOG:?no server}}
    awk '{ print $2 }' "$log" | { grep -cE -- "$pattern" || true; }
}

# aptrepo_log_reset: empty the request log of the latest server (APTREPO_LOG).
aptrepo_log_reset() {
    : >"${APTREPO_LOG:?no server}"
}
