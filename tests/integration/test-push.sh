#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine push and auto-update against local registries (registry.sh), on the outer machine: a
# machine with every file type (the export test's fixture) pushed and pulled back under another name is
# the same tree with the same settings; pushing with htpasswd auth works with an auth.json and fails
# clearly without; a missing machine fails clearly. auto-update of a stopped machine: --dry-run reports
# a new tag's image and changes nothing, the update swaps the tree and records the new digest, keeping
# the previous tree hidden (not listed; removed with the machine). The restart, health and rollback
# parts need systemd and are in test-auto-update-boot.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

tap_require docker-registry htpasswd curl tar setfacl setfattr python3 umoci getfattr

work=$(mktemp -d /var/tmp/test-push.XXXXXX)
# shellcheck source=tests/integration/fixture-tree.sh
. "$here/fixture-tree.sh"
# shellcheck source=tests/integration/registry.sh
. "$here/registry.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

store=$work/store
export MKMACHINE_NSPAWN_DIR=$work/nspawn MKMACHINE_NETWORK_DIR=$work/network MKMACHINE_UNIT_DIR=$work/units REGISTRY_AUTH_FILE=$work/none.json
mkdir -p "$store"
mkm() { "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache" -q "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
origin() { getfattr --only-values -n trusted.mkmachine.origin "$store/$1" 2>/dev/null; }
field() { origin "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', ''))"; }

port=$(free_port)
registry_start "$work/reg" "$port" || skip "docker-registry does not start"
pids+=("$REGISTRY_PID")
reg=127.0.0.1:$port

make_fixture_tree "$work/src"
tar --xattrs --xattrs-include='*' --acls --numeric-owner -S --format=posix -cf "$work/src.tar" -C "$work/src" .
rm -rf "$work/src"
mkm import-tar "$work/src.tar" orig
mkm set orig --exec --env=GREETING=hello -- /usr/bin/ping -c 1 localhost
python3 "$here/manifest.py" "$store/orig" >"$work/orig.manifest"

# Push, pull back: the same tree, the same command line and environment.
check "push to a plain-HTTP registry" mkm --tls-verify=false push orig "$reg/test/orig:v1"
check "pull it back under another name" mkm --tls-verify=false pull --auto-update=registry "$reg/test/orig:v1" back
python3 "$here/manifest.py" "$store/back" >"$work/back.manifest"
check "the pulled tree is the pushed one" diff -u "$work/orig.manifest" "$work/back.manifest"
check "the command line came along" grep -qx 'Parameters=/usr/bin/ping -c 1 localhost' "$work/nspawn/back.nspawn"
check "the environment came along" grep -qx 'Environment=GREETING=hello' "$work/nspawn/back.nspawn"
check "the machine does not boot" grep -qx 'Boot=no' "$work/nspawn/back.nspawn"
check "the policy is recorded" test "$(field back auto_update)" = registry
check "push --compress=zstd" mkm --tls-verify=false --compress=zstd push orig "$reg/test/orig:zstd"
mkm --tls-verify=false pull "$reg/test/orig:zstd" backz
python3 "$here/manifest.py" "$store/backz" >"$work/backz.manifest"
check "a zstd layer comes back the same" diff -u "$work/orig.manifest" "$work/backz.manifest"

# Failures.
if mkm --tls-verify=false push nosuch "$reg/test/x:v1" 2>"$work/err"; then
    not_ok "push of a missing machine fails"
else
    check "push of a missing machine fails, naming it" grep -q "nosuch" "$work/err"
fi
if mkm --tls-verify=false push orig "$reg/test/x@sha256:$(printf '%064d' 0)" 2>"$work/err"; then
    not_ok "push to a digest is refused"
else
    check "push to a digest is refused" grep -q "no digest" "$work/err"
fi
check "--compress=xz is refused" bash -c "! '$MKMACHINE' --compress=xz push orig $reg/a:b 2>/dev/null"
check "--auto-update=local is refused by pull" bash -c "! '$MKMACHINE' --image-root='$store' \
    --auto-update=local pull $reg/test/orig:v1 x 2>/dev/null"
check "--auto-update=registry is refused by set on an import-tar machine" \
    bash -c "! '$MKMACHINE' --image-root='$store' set orig --auto-update=registry 2>/dev/null"

# With authentication: refused without credentials, works with an auth.json.
aport=$(free_port)
registry_start "$work/areg" "$aport" alice s3cret || skip "docker-registry with htpasswd does not start"
pids+=("$REGISTRY_PID")
if mkm --tls-verify=false push orig "127.0.0.1:$aport/test/orig:v1" 2>"$work/err"; then
    not_ok "push without credentials fails"
else
    check "push without credentials fails, saying what is missing" grep -q "user name and password" "$work/err"
fi
registry_auth_json "$work/auth.json" "127.0.0.1:$aport" alice s3cret
check "push with an auth.json" env REGISTRY_AUTH_FILE="$work/auth.json" "$MKMACHINE" --image-root="$store" \
    --cache-dir="$work/cache" -q --tls-verify=false push orig "127.0.0.1:$aport/test/orig:v1"
registry_auth_json "$work/bad.json" "127.0.0.1:$aport" alice wrong
if REGISTRY_AUTH_FILE=$work/bad.json mkm --tls-verify=false push orig "127.0.0.1:$aport/test/o:v1" 2>"$work/err"
then
    not_ok "push with a wrong password fails"
else
    check "push with a wrong password fails clearly" grep -q "refused the credentials" "$work/err"
fi

# auto-update of a stopped machine.
old_digest=$(field back manifest_digest)
mkm auto-update back >"$work/out"
check "nothing to do while the tag is unchanged" test "$(field back manifest_digest)" = "$old_digest"
printf 'v2\n' >"$store/orig/etc/version"
mkm --tls-verify=false push orig "$reg/test/orig:v1"
mkm auto-update --dry-run --json >"$work/dry.json"
check "--dry-run reports the pending update" python3 -c "
import json; l = json.load(open('$work/dry.json'))
assert [(e['name'], e['result']) for e in l] == [('back', 'pending')], l
assert l[0]['recorded_digest'] == '$old_digest' != l[0]['current_digest']"
check "--dry-run changes neither tree nor origin" test ! -e "$store/back/etc/version" -a \
    "$(field back manifest_digest)" = "$old_digest"
check "--dry-run leaves no temporary" test -z "$(find "$store" -maxdepth 1 -name '.#*')"
mkm auto-update --json >"$work/up.json"
check "the update is reported" python3 -c "
import json; l = json.load(open('$work/up.json')); assert l[0]['result'] == 'updated', l"
check "the tree was updated" grep -qx v2 "$store/back/etc/version"
check "the new digest is recorded" test "$(field back manifest_digest)" != "$old_digest" -a \
    "$(field back manifest_digest)" = "$(python3 -c "import json; print(json.load(open('$work/up.json'))[0]['current_digest'])")"
check "the policy survives the update" test "$(field back auto_update)" = registry
check "the previous tree is kept, hidden" test -e "$store/.#back.previous/etc/hostname" -a \
    ! -e "$store/.#back.previous/etc/version"
check "it is not listed" bash -c "! '$MKMACHINE' --image-root='$store' list 2>/dev/null | grep -q previous"
mkm remove back
check "remove takes the previous tree too" test ! -e "$store/.#back.previous"

# The policy can be set and cleared afterwards; a machine without one is left alone.
mkm set backz --auto-update=registry --health-cmd='true'
check "set records the policy and health command" test "$(field backz auto_update)/$(field backz health_cmd)" \
    = registry/true
mkm set backz --auto-update=no
mkm --json auto-update >"$work/none.json"
check "a machine without a policy is left alone" python3 -c "
import json; assert json.load(open('$work/none.json')) == []"
if mkm auto-update nosuch 2>"$work/err"; then
    not_ok "auto-update of a missing machine fails"
else
    check "auto-update of a missing machine fails, naming it" grep -q nosuch "$work/err"
fi

# --auto-update=local: import-oci's source, read again.
img=$work/layout
(
    cd "$work"
    umoci init --layout "$img"
    umoci new --image "$img:v1"
    umoci unpack --image "$img:v1" b >/dev/null
    printf 'one\n' >b/rootfs/version
    umoci repack --image "$img:v1" b >/dev/null
    umoci config --image "$img:v1" --config.entrypoint /bin/true >/dev/null
    rm -rf b
)
check "import-oci --auto-update=local" mkm --auto-update=local import-oci "$img:v1" loc
mkm --json auto-update loc >"$work/loc.json"
check "an unchanged local source is up to date" python3 -c "
import json; l = json.load(open('$work/loc.json')); assert l[0]['result'] == 'up-to-date', l"
(
    cd "$work"
    umoci unpack --image "$img:v1" b >/dev/null
    printf 'two\n' >b/rootfs/version
    umoci repack --image "$img:v1" b >/dev/null
    rm -rf b
)
mkm --json auto-update --dry-run loc >"$work/loc.json"
check "a changed local source is pending" python3 -c "
import json; l = json.load(open('$work/loc.json')); assert l[0]['result'] == 'pending', l"
check "--dry-run left the tree" grep -qx one "$store/loc/version"
mkm auto-update loc
check "the local update is applied" grep -qx two "$store/loc/version"
check "the local policy survives" test "$(field loc auto_update)" = local

tap_done
