#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine pull and prune against real registries on 127.0.0.1 (Debian's docker-registry, started by
# registry.sh, all serving one storage filled by skopeo from images umoci makes here):
# - plain HTTP: by tag, by digest, the tree equal to umoci's unpacking, the origin record, the .nspawn
#   file, a second and an overlapping pull downloading no blob already cached (counted in the registry's
#   access log), a multi-platform index with --platform, short names;
# - TLS with a self-signed certificate: refused by default, accepted with --tls-verify=false or with
#   the certificate as CA= in registries.conf;
# - htpasswd Basic auth, with and without an auth.json (REGISTRY_AUTH_FILE), and a wrong password;
# - the Bearer token flow: the registry's `auth: token:` with a JWT endpoint in Python
#   (registry-helper.py, python3-jwt), which itself wants the Basic credentials;
# - tampering: a flipped byte in a layer blob in the registry's storage, a manifest that does not match
#   the digest asked for, a registry killed mid-pull (through a throttling proxy) and the next pull
#   resuming the kept part with a Range request; never a half machine, no temporary in the store, only
#   verified blobs in the cache;
# - prune: unreferenced blobs go, those of existing machines stay.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}
# The distribution's python3 (python3-jwt, python3-cryptography), not another one first in PATH.
PY=/usr/bin/python3

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

tap_require umoci skopeo docker-registry htpasswd openssl curl sha256sum $PY
$PY -c 'import jwt, cryptography' 2>/dev/null || skip "python3-jwt or python3-cryptography missing"

work=$(mktemp -d /var/tmp/test-pull.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
store=$work/store
cache=$work/cache
mkdir -p "$store" "$cache" "$work/nspawn"
export MKMACHINE_NSPAWN_DIR=$work/nspawn MKMACHINE_NETWORK_DIR=$work/network MKMACHINE_RETRY_DELAY_MS=50
export MKMACHINE_REGISTRIES_CONF=$work/registries.conf CONTAINERS_REGISTRIES_CONF=$work/containers.conf
# No credentials of the host's.
export REGISTRY_AUTH_FILE=$work/no-auth.json
unset XDG_RUNTIME_DIR

# shellcheck source=tests/integration/registry.sh
. "$here/registry.sh"
mkm() { "$MKMACHINE" --image-root="$store" --cache-dir="$cache" -q "$@"; }
manifest() { python3 "$here/manifest.py" "$1"; }
store_listing() { (cd "$store" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Every file in a cache is a complete blob whose content hashes to its name (parts of interrupted
# downloads are dot files).
cache_verified() {
    local dir=$1/blobs/sha256 f
    [ -d "$dir" ] || return 0
    for f in "$dir"/*; do
        [ -e "$f" ] || continue
        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "# bad blob $f"; return 1; }
    done
}

expect_failure() {
    local what=$1 pattern=$2 before after rc=0
    shift 2
    before=$(store_listing)
    "$@" 2>"$work/err" >/dev/null || rc=$?
    after=$(store_listing)
    if [ "$rc" != 0 ] && grep -q -- "$pattern" "$work/err" && [ "$before" = "$after" ]; then
        ok "$what: refused ($(head -c 300 "$work/err" | tr '\n' ' '))"
    else
        not_ok "$what: rc=$rc store '$before' -> '$after' stderr: $(cat "$work/err")"
    fi
}

# registry NAME PORT [OPTION…]: registry_start() in $work/NAME on 127.0.0.1:PORT, serving $work/storage
# unless an option says otherwise (a later --storage wins).
registry() {
    local name=$1 port=$2
    shift 2
    registry_start --storage "$work/storage" "$@" "$work/$name" "$port"
    pids+=("$REGISTRY_PID")
}

# blob_gets LOG: how many blob downloads a registry served.
blob_gets() { grep -c '"GET /v2/[^ ]*/blobs/sha256:' "$1" || true; }

# --- Images: made by umoci, pushed by skopeo -----------------------------------------------------
img=$work/img
cd "$work"
umoci init --layout "$img"
umoci new --image "$img:base"
umoci unpack --image "$img:base" b >/dev/null
# (A /usr, or the pull adds one for systemd-nspawn and the tree differs from umoci's.)
mkdir -p b/rootfs/etc b/rootfs/bin b/rootfs/srv b/rootfs/usr
printf 'hello\n' >b/rootfs/etc/hostname
printf 'gone\n' >b/rootfs/etc/gone
printf '#!/bin/sh\necho hi\n' >b/rootfs/bin/app
chmod 755 b/rootfs/bin/app
umoci repack --image "$img:l1" b >/dev/null
rm -rf b
umoci unpack --image "$img:l1" b >/dev/null
rm b/rootfs/etc/gone
printf 'two\n' >b/rootfs/srv/two
umoci repack --image "$img:v1" b >/dev/null
umoci config --image "$img:v1" --config.entrypoint /bin/app --config.cmd serve --config.env GREETING=hi \
    --config.workingdir /srv >/dev/null
# v2: v1 plus one layer (an overlapping image).
rm -rf b
umoci unpack --image "$img:v1" b >/dev/null
printf 'three\n' >b/rootfs/srv/three
umoci repack --image "$img:v2" b >/dev/null
# big: one layer of incompressible data, for the interrupted download.
rm -rf b
umoci unpack --image "$img:base" b >/dev/null
head -c 24M /dev/urandom >b/rootfs/big
umoci repack --image "$img:big" b >/dev/null
umoci config --image "$img:big" --config.cmd /big >/dev/null
rm -rf b

umoci unpack --image "$img:v1" ref >/dev/null
manifest ref/rootfs >"$work/ref.manifest"
umoci unpack --image "$img:v2" ref2 >/dev/null
manifest ref2/rootfs >"$work/ref2.manifest"

# A multi-platform index: v1 for amd64, v2 (its config made arm64) for arm64/v8.
$PY - "$img" <<'EOF'
import hashlib, json, os, sys
img = sys.argv[1]
def blob(d):
    return os.path.join(img, "blobs", "sha256", d.split(":")[1])
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(img, "blobs", "sha256", d), "wb").write(data)
    return "sha256:" + d, len(data)
index = json.load(open(os.path.join(img, "index.json")))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
m2 = json.load(open(blob(by_tag["v2"]["digest"])))
c2 = json.load(open(blob(m2["config"]["digest"])))
c2["architecture"] = "arm64"
c2["variant"] = "v8"
m2["config"]["digest"], m2["config"]["size"] = put(json.dumps(c2).encode())
md, ms = put(json.dumps(m2).encode())
entries = [dict(by_tag["v1"], platform={"os": "linux", "architecture": "amd64"}),
           {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]
for e in entries:
    e.pop("annotations", None)
multi = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
d, s = put(json.dumps(multi).encode())
index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s,
                           "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(index, open(os.path.join(img, "index.json"), "w"))
EOF

P1=$(free_port)
registry plain "$P1"
for t in v1 v2 big; do
    skopeo copy -q --dest-tls-verify=false "oci:$img:$t" "docker://127.0.0.1:$P1/test/app:$t"
done
skopeo copy -q --all --dest-tls-verify=false "oci:$img:multi" "docker://127.0.0.1:$P1/test/multi:latest"
R=127.0.0.1:$P1
ok "registry on $R filled by skopeo"

# --- Plain HTTP ---------------------------------------------------------------------------------
expect_failure "plain HTTP without --tls-verify=false" "TLS failed.*--tls-verify=false" \
    mkm pull "$R/test/app:v1" v1
check "pull by tag (--tls-verify=false allows plain HTTP)" mkm --tls-verify=false pull "$R/test/app:v1" v1
if manifest "$store/v1" | diff -u "$work/ref.manifest" - >"$work/diff"; then
    ok "the tree equals umoci's unpacking of the image"
else
    not_ok "tree differs from umoci's: $(head -c 2000 "$work/diff")"
fi
mdigest=$(skopeo inspect --raw --tls-verify=false "docker://$R/test/app:v1" | sha256sum | cut -d' ' -f1)
mkm --json show v1 >"$work/show.json"
check "origin: type registry, reference, registry, manifest digest, platform, every blob" $PY -c '
import json, sys
o = json.load(open(sys.argv[1]))["origin"]
assert o["type"] == "registry", o
assert o["reference"] == sys.argv[2] + "/test/app:v1" and o["registry"] == sys.argv[2], o
assert o["manifest_digest"] == "sha256:" + sys.argv[3], o
assert o["platform"] == "linux/amd64", o
assert len(o["blobs"]) == 4 and "sha256:" + sys.argv[3] in o["blobs"], o   # manifest, config, 2 layers
assert o["exec"]["parameters"] == ["/bin/app", "serve"], o' "$work/show.json" "$R" "$mdigest"
check ".nspawn: the entrypoint runs (Boot=no, Parameters=, Environment=, WorkingDirectory=)" \
    grep -qzP '(?s)Boot=no\nParameters=/bin/app serve\n.*Environment=GREETING=hi.*WorkingDirectory=/srv' \
    "$work/nspawn/v1.nspawn"

n=$(blob_gets "$work/plain/log")
check "a second pull of the same image" mkm --tls-verify=false pull "$R/test/app:v1" v1again
check "... downloads no blob (registry log: $n blob GETs before and after)" \
    test "$(blob_gets "$work/plain/log")" = "$n"
check "pull by digest" mkm --tls-verify=false pull "$R/test/app@sha256:$mdigest" bydigest
check "... also from the cache alone" test "$(blob_gets "$work/plain/log")" = "$n"
manifest "$store/bydigest" | diff -q "$work/ref.manifest" - >/dev/null && ok "by digest: same tree" ||
    not_ok "by digest: tree differs"
check "an overlapping image (v2 = v1 + a layer), user options win" \
    mkm --tls-verify=false pull "$R/test/app:v2" v2 --env GREETING=user --port 8080:80
check "... downloads only its config and new layer" test "$(blob_gets "$work/plain/log")" = $((n + 2))
manifest "$store/v2" | diff -q "$work/ref2.manifest" - >/dev/null && ok "v2: same tree as umoci's" ||
    not_ok "v2: tree differs"
check ".nspawn of v2: the user's environment and port, the image's command" \
    grep -qzP '(?s)Parameters=/bin/app serve\nEnvironment=GREETING=user.*Port=tcp:8080:80' "$work/nspawn/v2.nspawn"
check "the default machine name is the repository's last component" \
    mkm --tls-verify=false pull "$R/test/app:v1"
check "... 'app'" test -d "$store/app"

# --- Multi-platform index -----------------------------------------------------------------------
check "multi-platform index: the host's platform" mkm --tls-verify=false pull "$R/test/multi" multi
check "... is v1's tree" bash -c "$(declare -f manifest); here=$here; manifest $store/multi | diff -q $work/ref.manifest -"
check "--platform=linux/arm64 picks the arm64 manifest" \
    mkm --tls-verify=false --platform=linux/arm64 pull "$R/test/multi" multiarm
check "... platform recorded" bash -c "$MKMACHINE --image-root=$store show multiarm | grep -q 'Platform: linux/arm64/v8'"
expect_failure "no image for the platform: the error lists those there are" "linux/amd64, linux/arm64/v8" \
    mkm --tls-verify=false --platform=linux/s390x pull "$R/test/multi" nope

# --- Short names --------------------------------------------------------------------------------
expect_failure "a short name without search registries" "short name.*give the full reference" \
    mkm --tls-verify=false pull test/app:v1 short
printf 'unqualified-search-registries = ["%s"]\n' "$R" >"$work/containers.conf"
check "a short name through unqualified-search-registries" mkm --tls-verify=false pull test/app:v1 short
printf 'unqualified-search-registries = ["127.0.0.1:1", "%s"]\n' "$R" >"$work/containers.conf"
check "... the next search registry when the first fails" mkm --tls-verify=false pull test/app:v1 short2
check "... recorded with the registry that had it" \
    bash -c "$MKMACHINE --image-root=$store show short2 | grep -q 'Reference: $R/test/app:v1'"
rm "$work/containers.conf"
expect_failure "an invalid reference" "Invalid image reference" mkm pull "$R/Test/App" x

# --- TLS with a certificate of its own ----------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
P2=$(free_port)
registry tls "$P2" --tls "$work/tls.crt" "$work/tls.key"
T=127.0.0.1:$P2
expect_failure "self-signed TLS without opt-in" "TLS failed.*CA=" mkm pull "$T/test/app:v1" tls1
check "self-signed TLS with --tls-verify=false" mkm --tls-verify=false pull "$T/test/app:v1" tls1
printf '# test\n[Registry %s]\nCA=%s\n' "$T" "$work/tls.crt" >"$work/registries.conf"
check "self-signed TLS with CA= in registries.conf" mkm pull "$T/test/app:v1" tls2
printf '[Registry %s]\nTLSVerify=maybe\n' "$T" >"$work/registries.conf"
expect_failure "a bad registries.conf names file and line" "registries.conf:2" mkm pull "$T/test/app:v1" x
printf '[Registry %s]\nTLSVerify=no\n' "$R" >"$work/registries.conf"
check "plain HTTP allowed per registry by TLSVerify=no" mkm pull "$R/test/app:v1" perreg
rm "$work/registries.conf"

# --- Basic auth (htpasswd) ----------------------------------------------------------------------
P3=$(free_port)
registry_start --storage "$work/storage" "$work/basic" "$P3" alice s3cret
pids+=("$REGISTRY_PID")
B=127.0.0.1:$P3
expect_failure "Basic auth without credentials" "requires a user name and password.*podman login" \
    mkm --tls-verify=false pull "$B/test/app:v1" basic
registry_auth_json "$work/auth.json" "$B" alice wrong
expect_failure "Basic auth with a wrong password" "refused the credentials" \
    env REGISTRY_AUTH_FILE="$work/auth.json" "$MKMACHINE" --image-root="$store" --cache-dir="$cache" -q \
    --tls-verify=false pull "$B/test/app:v1" basic
registry_auth_json "$work/auth.json" "$B" alice s3cret
check "Basic auth with credentials from auth.json (REGISTRY_AUTH_FILE)" \
    env REGISTRY_AUTH_FILE="$work/auth.json" "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-basic" \
    -q --tls-verify=false pull "$B/test/app:v1" basic
check "... blobs came from that registry" test "$(blob_gets "$work/basic/log")" -ge 3
printf '{"auths": ' >"$work/auth.json"
expect_failure "a malformed auth.json is named" "auth.json: malformed" \
    env REGISTRY_AUTH_FILE="$work/auth.json" "$MKMACHINE" --image-root="$store" -q --tls-verify=false \
    pull "$B/test/app:v1" basic2

# --- Bearer tokens ------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/token.key" -out "$work/token.crt" -days 2 \
    -subj /CN=token-issuer 2>/dev/null
P4=$(free_port)
P5=$(free_port)
$PY "$here/registry-helper.py" token "$P5" "$work/token.crt" "$work/token.key" bob pw test-issuer \
    test-service "$work/token-endpoint.log" &
pids+=($!)
registry token "$P4" --token "http://127.0.0.1:$P5/token" test-service test-issuer "$work/token.crt"
K=127.0.0.1:$P4
expect_failure "Bearer flow without credentials" "refused anonymous access" \
    mkm --tls-verify=false pull "$K/test/app:v1" bearer
registry_auth_json "$work/auth.json" "$K" bob pw
check "Bearer flow: token with Basic credentials, then the pull" \
    env REGISTRY_AUTH_FILE="$work/auth.json" "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-token" \
    -q --tls-verify=false pull "$K/test/app:v1" bearer
if grep -q 'scope=repository%3Atest%2Fapp%3Apull.* Basic' "$work/token-endpoint.log"; then
    ok "... the token endpoint saw Basic credentials for repository:test/app:pull"
else
    not_ok "... the token endpoint saw no Basic credentials for repository:test/app:pull: $(cat "$work/token-endpoint.log")"
fi
manifest "$store/bearer" | diff -q "$work/ref.manifest" - >/dev/null && ok "bearer: same tree" ||
    not_ok "bearer: tree differs"

# --- Tampering, on a copy of the storage --------------------------------------------------------
cp -a "$work/storage" "$work/storage-bad"
P6=$(free_port)
registry bad "$P6" --storage "$work/storage-bad"
X=127.0.0.1:$P6
layer=$(skopeo inspect --raw --tls-verify=false "docker://$X/test/app:v1" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["layers"][1]["digest"].split(":")[1])')
data=$work/storage-bad/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data
# Inverted, not overwritten: a byte that happened to be 0xff already would change nothing.
$PY -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 0xff]))' \
    "$data"
expect_failure "a layer blob with a flipped byte in the registry" "does not match its SHA256 digest" \
    "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-bad" -q --tls-verify=false pull "$X/test/app:v1" bad
check "... no temporary left in the store" test -z "$(find "$store" -maxdepth 1 -name '.#*')"
check "... the cache holds only verified blobs" cache_verified "$work/cache-bad"
check "... and not the bad layer" test ! -e "$work/cache-bad/blobs/sha256/$layer"
check "... nor a part of it" test -z "$(find "$work/cache-bad" -name ".$layer.part")"

mdata=$work/storage-bad/docker/registry/v2/blobs/sha256/${mdigest:0:2}/$mdigest/data
printf ' ' >>"$mdata"
expect_failure "a manifest that does not match the digest asked for" "damaged or tampered with" \
    "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-bad" -q --tls-verify=false \
    pull "$X/test/app@sha256:$mdigest" bad
expect_failure "a manifest that does not match the registry's digest of the tag" "tampered with" \
    "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-bad" -q --tls-verify=false pull "$X/test/app:v1" bad
check "... the cache holds only verified blobs" cache_verified "$work/cache-bad"

# --- A registry killed mid-pull -----------------------------------------------------------------
P7=$(free_port)
$PY "$here/registry-helper.py" proxy "$P7" "$P1" "$work/proxy.log" 4000000 &
proxy=$!
pids+=("$proxy")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P7/v2/" && break; sleep 0.1; done
big=$(skopeo inspect --raw --tls-verify=false "docker://$R/test/app:big" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"].split(":")[1])')
part=$work/cache-kill/blobs/sha256/.$big.part
"$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-kill" -q --tls-verify=false \
    pull "127.0.0.1:$P7/test/app:big" big 2>"$work/kill.err" &
pull=$!
for _ in $(seq 200); do
    [ "$(stat -c %s "$part" 2>/dev/null || echo 0)" -gt 2000000 ] && break
    sleep 0.05
done
kill -9 "$proxy"
rc=0
wait "$pull" || rc=$?
if [ "$rc" != 0 ] && [ ! -e "$store/big" ]; then
    ok "registry killed mid-pull: refused after retries ($(head -c 200 "$work/kill.err" | tr '\n' ' '))"
else
    not_ok "registry killed mid-pull: rc=$rc $(cat "$work/kill.err")"
fi
kept=$(stat -c %s "$part" 2>/dev/null || echo 0)
check "... a part of $kept bytes is kept for the next pull" test "$kept" -gt 0
check "... no temporary left in the store" test -z "$(find "$store" -maxdepth 1 -name '.#*')"
check "... the cache holds only verified blobs" cache_verified "$work/cache-kill"
$PY "$here/registry-helper.py" proxy "$P7" "$P1" "$work/proxy.log" &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P7/v2/" && break; sleep 0.1; done
check "the next pull completes" "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-kill" -q \
    --tls-verify=false pull "127.0.0.1:$P7/test/app:big" big
check "... resuming the part with a Range request" grep -q "blobs/sha256:$big bytes=$kept- " "$work/proxy.log"
check "... the layer is complete and verified" cache_verified "$work/cache-kill"
check "... its content is right" cmp -s "$store/big/big" <(umoci unpack --image "$img:big" "$work/bigref" \
    >/dev/null && cat "$work/bigref/rootfs/big")
check "... and no part is left" test ! -e "$part"

# --- Transient errors: every manifest and blob answered with 503 once -------------------------------
P8=$(free_port)
$PY "$here/registry-helper.py" proxy "$P8" "$P1" "$work/flaky.log" 0 flaky &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P8/v2/" && break; sleep 0.1; done
check "HTTP 503 once for every manifest and blob: retried with back-off, the pull completes" \
    "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-flaky" -q --tls-verify=false \
    pull "127.0.0.1:$P8/test/app:v2" flaky
check "... after 503s for the manifest, the config and the layers" \
    test "$(grep -c ' 503$' "$work/flaky.log")" = 5
manifest "$store/flaky" | diff -q "$work/ref2.manifest" - >/dev/null && ok "flaky: same tree" ||
    not_ok "flaky: tree differs"

# --- A registry that trickles: every download has a deadline ---------------------------------------
P9=$(free_port)
$PY "$here/registry-helper.py" proxy "$P9" "$P1" "$work/trickle.log" 0 trickle &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P9/v2/" && break; sleep 0.1; done
start=$(date +%s)
expect_failure "a layer at 5 bytes/s: cut off at the deadline (MKMACHINE_DOWNLOAD_TIMEOUT=2)" \
    "not done within the deadline of 2 s" \
    env MKMACHINE_DOWNLOAD_TIMEOUT=2 "$MKMACHINE" --image-root="$store" --cache-dir="$work/cache-trickle" -q \
    --tls-verify=false pull "127.0.0.1:$P9/test/app:big" trickle
took=$(($(date +%s) - start))
check "... within seconds, retries included (${took} s)" test "$took" -lt 40
check "... no machine and no temporary in the store" test -z "$(find "$store" -maxdepth 1 -name '*trickle*')"

# --- import-oci writes the image's settings too -------------------------------------------------
check "import-oci of the same image" mkm import-oci "$img:v1" imported
check ".nspawn after import-oci: Boot=no and the entrypoint" \
    grep -qzP 'Boot=no\nParameters=/bin/app serve\n' "$work/nspawn/imported.nspawn"

# --- prune --------------------------------------------------------------------------------------
v2only=$(skopeo inspect --raw --tls-verify=false "docker://$R/test/app:v2" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["layers"][2]["digest"].split(":")[1])')
armconfig=$($MKMACHINE --image-root="$store" --json show multiarm |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["origin"]["config_digest"].split(":")[1])')
touch "$cache/blobs/sha256/$(printf 'stray' | sha256sum | cut -d' ' -f1)"
check "prune with every machine there" mkm prune
check "... keeps the blobs of existing machines" test -e "$cache/blobs/sha256/$v2only" -a \
    -e "$cache/blobs/sha256/$armconfig" -a -e "$cache/blobs/sha256/$mdigest"
check "... removes a blob no machine uses" test ! -e "$cache/blobs/sha256/$(printf 'stray' | sha256sum | cut -d' ' -f1)"
# (flaky is v2 too, from another cache: its record keeps v2's blobs as well.)
mkm remove v2
mkm remove flaky
mkm remove multiarm
"$MKMACHINE" --image-root="$store" --cache-dir="$cache" --json prune >"$work/prune.json"
check "prune after removing v2, flaky and multiarm removes their own blobs" $PY -c '
import json, sys
p = json.load(open(sys.argv[1]))
assert "sha256:" + sys.argv[2] in p["removed"] and "sha256:" + sys.argv[3] in p["removed"], p
assert "sha256:" + sys.argv[4] not in p["removed"], p' "$work/prune.json" "$v2only" "$armconfig" "$mdigest"
check "... and keeps v1's (still used by other machines)" test -e "$cache/blobs/sha256/$mdigest"
check "... the cache holds only verified blobs" cache_verified "$cache"
check "a pull after prune works (downloads again what is gone)" mkm --tls-verify=false pull "$R/test/app:v2" v2
manifest "$store/v2" | diff -q "$work/ref2.manifest" - >/dev/null && ok "v2 again: same tree" ||
    not_ok "v2 again: tree differs"

tap_done
