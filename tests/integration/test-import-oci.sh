#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mkmachine import-oci end to end, on the outer machine, with images made at test time by umoci and
# skopeo (no binary fixtures):
# - a multi-layer image with whiteouts, opaque directories, hardlinks within and across layers, type
#   replacements, xattrs, odd modes and devices, imported from a layout (by tag and by digest), an
#   oci-archive and a docker-archive, with uncompressed, gzip and zstd layers; each tree must equal
#   umoci's own unpacking of the image field by field (manifest.py);
# - a multi-platform index (--platform, and the error listing the platforms);
# - tampered and hostile images: refused with a message, exit != 0, nothing installed, no temporary
#   left in the store.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

tap_require umoci skopeo python3 setfattr sha256sum

work=$(mktemp -d /var/tmp/test-import-oci.XXXXXX)
trap 'rm -rf "$work"' EXIT
store=$work/store
cache=$work/cache
mkdir -p "$store" "$cache" "$work/nspawn"
# import-oci writes the image's settings as NAME.nspawn: here, not into the machine's /etc.
export MKMACHINE_NSPAWN_DIR=$work/nspawn MKMACHINE_NETWORK_DIR=$work/network

mkm() { "$MKMACHINE" --image-root="$store" --cache-dir="$cache" -q "$@"; }
manifest() { python3 "$here/manifest.py" "$1"; }

store_listing() { (cd "$store" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '); }

expect_failure() {
    local what=$1 pattern=$2 before after rc=0
    shift 2
    before=$(store_listing)
    "$@" 2>"$work/err" >/dev/null || rc=$?
    after=$(store_listing)
    if [ "$rc" != 0 ] && grep -q -- "$pattern" "$work/err" && [ "$before" = "$after" ] &&
       [ -z "$(ls -A "$cache/oci" 2>/dev/null)" ]; then
        ok "$what: refused ($(head -c 200 "$work/err" | tr '\n' ' '))"
    else
        not_ok "$what: rc=$rc store '$before' -> '$after' stderr: $(cat "$work/err")"
    fi
}

# --- The image: three layers made by umoci ------------------------------------------------------
img=$work/img
cd "$work"
umoci init --layout "$img"
umoci new --image "$img:base"
umoci unpack --image "$img:base" b >/dev/null
r=b/rootfs
mkdir -p $r/etc $r/bin $r/opaque/sub $r/d2f/sub $r/dev $r/usr/share/doc
printf 'hello\n' >$r/etc/hostname
printf 'one\n' >$r/etc/gone
printf 'keep\n' >$r/opaque/lower
printf 'deep\n' >$r/opaque/sub/lower
printf 'x\n' >$r/d2f/sub/file
printf 'file\n' >$r/f2d
printf '#!/bin/sh\n' >$r/bin/tool
chmod 4755 $r/bin/tool
chmod 1777 $r/usr/share/doc
ln $r/etc/hostname $r/etc/hostname-link
ln -s ../etc/hostname $r/bin/hn
setfattr -n user.color -v blue $r/etc/hostname
mknod $r/dev/null c 1 3
mkfifo $r/dev/fifo
chown 1000:1001 $r/etc/gone
umoci repack --image "$img:l1" b >/dev/null
# A repack adds one layer on top of the image the bundle was unpacked from: start from l1 anew.
rm -rf b
umoci unpack --image "$img:l1" b >/dev/null

# Layer 2: delete, replace types, make an opaque directory, link across layers.
rm $r/etc/gone
rm -rf $r/opaque
mkdir -p $r/opaque
printf 'upper\n' >$r/opaque/new
rm -rf $r/d2f
printf 'now a file\n' >$r/d2f
rm $r/f2d
mkdir $r/f2d
printf 'in\n' >$r/f2d/in
ln $r/bin/tool $r/bin/tool-link
setfattr -n user.size -v large $r/usr/share/doc
umoci repack --image "$img:l2" b >/dev/null
rm -rf b
umoci unpack --image "$img:l2" b >/dev/null

# Layer 3: an entrypoint config and one more file.
printf 'three\n' >$r/etc/three
umoci repack --image "$img:l3" b >/dev/null
umoci config --image "$img:l3" --tag app --config.entrypoint /bin/tool --config.cmd arg1 \
    --config.env GREETING=hi --config.workingdir /etc --config.user 1000:1000 \
    --config.exposedports 80/tcp >/dev/null

umoci unpack --image "$img:app" ref >/dev/null
manifest ref/rootfs >"$work/ref.manifest"
# What the layers produced, as umoci sees it: the point of the test is that we agree with it.
if grep -q "'etc/gone'" "$work/ref.manifest"; then not_ok "umoci's reference has etc/gone"; else
    ok "umoci's reference has no etc/gone"; fi

compare() {
    local what=$1 name=$2
    if manifest "$store/$name" >"$work/$name.manifest" && diff -u "$work/ref.manifest" "$work/$name.manifest" \
        >"$work/$name.diff"; then
        ok "$what: tree equals umoci's unpacking field by field"
    else
        not_ok "$what: tree differs from umoci's: $(head -c 3000 "$work/$name.diff")"
    fi
}

# --- Layout directory, by tag and by digest -----------------------------------------------------
check "import from a layout by tag" mkm import-oci "$img:app" bytag
compare "layout by tag" bytag
check "whiteout removed etc/gone" test ! -e "$store/bytag/etc/gone"
check "opaque directory hides lower content" test ! -e "$store/bytag/opaque/lower"
check "directory replaced by a file" test -f "$store/bytag/d2f"
check "file replaced by a directory" test -f "$store/bytag/f2d/in"
check "hardlink across layers" test "$store/bytag/bin/tool" -ef "$store/bytag/bin/tool-link"
check "three layers" python3 -c 'import json,sys
assert json.load(open(sys.argv[1]))["origin"]["layers"] == 3' <(mkm --json show bytag)
check "no whiteout files left" test -z "$(find "$store/bytag" -name '.wh.*')"

mkm show bytag >"$work/show"
mdigest=$(python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    if m.get("annotations",{}).get("org.opencontainers.image.ref.name") == "app": print(m["digest"])' \
    "$img/index.json")
check "show names the manifest digest" grep -q "Manifest: $mdigest" "$work/show"
check "show names the platform" grep -q "Platform: linux/amd64" "$work/show"
check "show names the entrypoint" grep -q 'Runs: /bin/tool arg1 (as 1000) in /etc' "$work/show"
mkm --json show bytag >"$work/show.json"
check "origin JSON has type oci and the exec settings" python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))["origin"]
assert o["type"] == "oci" and o["source_kind"] == "oci-layout" and o["manifest_digest"] == sys.argv[2]
x = o["exec"]
assert x["boot"] is False and x["parameters"] == ["/bin/tool", "arg1"], x
assert "GREETING=hi" in x["environment"] and x["working_directory"] == "/etc" and x["user"] == "1000"
assert x["exposed_ports"] == ["80/tcp"]' "$work/show.json" "$mdigest"

check "import from a layout by digest" mkm import-oci "$img@$mdigest" bydigest
compare "layout by digest" bydigest

# --- Archives, compressions ---------------------------------------------------------------------
skopeo copy -q "oci:$img:app" "oci-archive:$work/app.oci.tar:app"
# What a killed import left behind (nobody holds its lock) goes with the next one.
mkdir -p "$cache/oci/oci-stale1/blobs"

check "import an oci-archive" mkm import-oci "$work/app.oci.tar" ociarchive
compare "oci-archive" ociarchive
check "the unpacked archive (and a stale one) was removed from the cache" test -z "$(ls -A "$cache/oci")"

skopeo copy -q "oci:$img:app" "docker-archive:$work/app.docker.tar:example/app:1"
check "import a docker-archive by tag" mkm import-oci "$work/app.docker.tar:example/app:1" dockerarchive
compare "docker-archive" dockerarchive
mkm --json show dockerarchive >"$work/show.json"
check "docker-archive recorded as such" grep -q '"source_kind": "docker-archive"' "$work/show.json"

skopeo copy -q --dest-compress-format zstd --dest-compress "oci:$img:app" "oci:$work/zstd:app"
if grep -rq 'tar+zstd' "$work/zstd/blobs"; then
    check "import zstd layers" mkm import-oci "$work/zstd:app" zstd
    compare "zstd layers" zstd
else
    not_ok "skopeo made no zstd layers"
fi
# Uncompressed OCI layers (layer.v1.tar): neither umoci 0.4 nor skopeo writes them, so rewrite the
# manifest of app with its layers decompressed (the config's diff_ids stay right).
python3 - "$img" "$mdigest" <<'EOF2'
import gzip, hashlib, json, os, sys
img, base = sys.argv[1:3]
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(img, "blobs/sha256", d), "wb").write(data)
    return "sha256:" + d, len(data)
m = json.load(open(os.path.join(img, "blobs/sha256", base[7:])))
for l in m["layers"]:
    raw = gzip.decompress(open(os.path.join(img, "blobs/sha256", l["digest"][7:]), "rb").read())
    l["digest"], l["size"] = blob(raw)
    l["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
md, ms = blob(json.dumps(m).encode())
index = json.load(open(os.path.join(img, "index.json")))
index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
                           "annotations": {"org.opencontainers.image.ref.name": "plain"}})
json.dump(index, open(os.path.join(img, "index.json"), "w"))
EOF2
check "import uncompressed OCI layers" mkm import-oci "$img:plain" plain
compare "uncompressed layers" plain

# A docker-archive's layers are uncompressed tars too.
check "docker-archive layers were uncompressed" bash -c "tar -xOf '$work/app.docker.tar' manifest.json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"Layers\"][0])' |
    xargs -I{} sh -c 'tar -xOf \"$work/app.docker.tar\" {} | tar -t >/dev/null'"

# --- Multi-platform index -----------------------------------------------------------------------
umoci config --image "$img:app" --tag arm --architecture arm64 >/dev/null
python3 - "$img" <<'EOF'
import hashlib, json, os, sys
img = sys.argv[1]
index = json.load(open(os.path.join(img, "index.json")))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
def entry(tag, arch, variant=None):
    d = {k: by_tag[tag][k] for k in ("mediaType", "digest", "size")}
    d["platform"] = {"os": "linux", "architecture": arch}
    if variant:
        d["platform"]["variant"] = variant
    return d
multi = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [entry("arm", "arm64", "v8"), entry("app", "amd64")]}
data = json.dumps(multi).encode()
digest = hashlib.sha256(data).hexdigest()
open(os.path.join(img, "blobs/sha256", digest), "wb").write(data)
index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                           "digest": "sha256:" + digest, "size": len(data),
                           "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(index, open(os.path.join(img, "index.json"), "w"))
EOF
check "multi-platform index: the host's platform" mkm import-oci "$img:multi" multi
mkm show multi >"$work/show"
check "…which is linux/amd64" grep -q "Platform: linux/amd64" "$work/show"
check "multi-platform index: --platform=linux/arm64" mkm --platform=linux/arm64 import-oci "$img:multi" multiarm
mkm show multiarm >"$work/show"
check "…which is linux/arm64" grep -q "Platform: linux/arm64" "$work/show"
expect_failure "no image for the platform, the error lists the platforms" "linux/arm64/v8, linux/amd64" \
    mkm --platform=linux/s390x import-oci "$img:multi" nope
expect_failure "a single-platform image of another architecture" "not linux/s390x" \
    mkm --platform=linux/s390x import-oci "$img:app" nope
expect_failure "invalid --platform" "Invalid --platform" mkm --platform=amd64 import-oci "$img:app" nope
expect_failure "unknown tag" "no image tagged 'nosuch'" mkm import-oci "$img:nosuch" nope
expect_failure "existing machine" "already exists" mkm import-oci "$img:app" bytag
expect_failure "not an image" "neither an OCI image layout" mkm import-oci "$work/ref" nope

# --- Tampering ----------------------------------------------------------------------------------
# Copies of the layout with one thing changed. The layers of app, in order:
layers=$(python3 -c 'import json,sys
m = json.load(open(sys.argv[1] + "/blobs/sha256/" + sys.argv[2][7:]))
print(" ".join(l["digest"][7:] for l in m["layers"]))' "$img" "$mdigest")
last=${layers##* }
tampered() { rm -rf "$work/t"; cp -a "$img" "$work/t"; }

tampered
python3 - "$work/t/blobs/sha256/$last" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x55
open(p, "wb").write(bytes(b))
EOF
expect_failure "corrupted layer byte" "Layer 3 (sha256:$last)" mkm import-oci "$work/t:app" nope

tampered
truncate -s -10 "$work/t/blobs/sha256/$last"
expect_failure "truncated layer" "Layer 3 (sha256:$last)" mkm import-oci "$work/t:app" nope

tampered
rm "$work/t/blobs/sha256/$last"
expect_failure "missing layer blob" "Layer 3 (sha256:$last) is missing" mkm import-oci "$work/t:app" nope

tampered
rm "$work/t/blobs/sha256/$last"
mkfifo "$work/t/blobs/sha256/$last"
expect_failure "a FIFO in place of a layer" "not a regular file" timeout 20 "$MKMACHINE" --image-root="$store" \
    --cache-dir="$cache" -q import-oci "$work/t:app" nope

tampered
python3 - "$work/t" "$mdigest" <<'EOF2'
import hashlib, json, os, sys
img, base = sys.argv[1:3]
m = json.load(open(os.path.join(img, "blobs/sha256", base[7:])))
m["layers"][-1]["size"] += 1
data = json.dumps(m).encode()
d = hashlib.sha256(data).hexdigest()
open(os.path.join(img, "blobs/sha256", d), "wb").write(data)
index = json.load(open(os.path.join(img, "index.json")))
index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + d,
                           "size": len(data), "annotations": {"org.opencontainers.image.ref.name": "badsize"}})
json.dump(index, open(os.path.join(img, "index.json"), "w"))
EOF2
expect_failure "wrong size in a layer's descriptor" "Layer 3 (sha256:$last) has [0-9]* bytes, its descriptor says" \
    mkm import-oci "$work/t:badsize" nope

# A layer whose content contradicts its media type (gzip data, "uncompressed" descriptor).
tampered
python3 - "$work/t" "$mdigest" <<'EOF2'
import hashlib, json, os, sys
img, base = sys.argv[1:3]
m = json.load(open(os.path.join(img, "blobs/sha256", base[7:])))
m["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
data = json.dumps(m).encode()
d = hashlib.sha256(data).hexdigest()
open(os.path.join(img, "blobs/sha256", d), "wb").write(data)
index = json.load(open(os.path.join(img, "index.json")))
index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + d,
                           "size": len(data), "annotations": {"org.opencontainers.image.ref.name": "liar"}})
json.dump(index, open(os.path.join(img, "index.json"), "w"))
EOF2
expect_failure "layer content contradicts its media type" "gzip-compressed, but its media type says none" \
    mkm import-oci "$work/t:liar" nope

# An unpacked docker-archive with one byte of a layer changed.
rm -rf "$work/da" && mkdir "$work/da" && tar -xf "$work/app.docker.tar" -C "$work/da"
dlayer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][-1])' "$work/da/manifest.json")
python3 - "$work/da/$dlayer" <<'EOF2'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[b.index(b"three\n")] ^= 0x01      # in etc/three's data, not in a header
open(p, "wb").write(bytes(b))
EOF2
expect_failure "docker-archive layer changed" "does not match its digest" mkm import-oci "$work/da" nope
rm -rf "$work/da" && mkdir "$work/da" && tar -xf "$work/app.docker.tar" -C "$work/da"
dconfig=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Config"])' "$work/da/manifest.json")
sed -i 's/amd64/AMD64/' "$work/da/$dconfig"
expect_failure "docker-archive config changed" "does not match its digest" mkm import-oci "$work/da" nope

tampered
printf ' ' >>"$work/t/blobs/sha256/${mdigest#sha256:}"
expect_failure "manifest changed (digest and size mismatch)" "wrong size\|does not match" \
    mkm import-oci "$work/t:app" nope

tampered
python3 - "$work/t/blobs/sha256/${mdigest#sha256:}" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b'"layers"')
b[i + 1] = ord('L')       # same size, other content
open(p, "wb").write(bytes(b))
EOF
expect_failure "manifest digest mismatch" "does not match its digest" mkm import-oci "$work/t:app" nope

tampered
python3 - "$work/t/index.json" "$mdigest" <<'EOF'
import json, sys
index = json.load(open(sys.argv[1]))
for m in index["manifests"]:
    if m["digest"] == sys.argv[2]:
        m["size"] += 1
json.dump(index, open(sys.argv[1], "w"))
EOF
expect_failure "wrong size in a descriptor" "wrong size" mkm import-oci "$work/t:app" nope

tampered
python3 - "$work/t/index.json" "$mdigest" <<'EOF'
import json, sys
index = json.load(open(sys.argv[1]))
for m in index["manifests"]:
    if m["digest"] == sys.argv[2]:
        m["mediaType"] = "application/vnd.oci.image.index.v1+json"
json.dump(index, open(sys.argv[1], "w"))
EOF
expect_failure "manifest referred to as an index (CVE-2021-41190)" \
    "has a config or layers: it is (also) a manifest" mkm import-oci "$work/t:app" nope

tampered
python3 - "$work/t/index.json" "$mdigest" <<'EOF'
import json, sys
index = json.load(open(sys.argv[1]))
for m in index["manifests"]:
    if m["digest"] == sys.argv[2]:
        m["digest"] = "sha512:" + "0" * 128
json.dump(index, open(sys.argv[1], "w"))
EOF
expect_failure "another digest algorithm" "only sha256" mkm import-oci "$work/t:app" nope

# --- Hostile layers -----------------------------------------------------------------------------
# derive_image TAG EDIT [ARG…]: a new image TAG = app with the Python statements EDIT applied to its
# manifest m and config c (blob(data) stores a blob and gives its digest and size, args holds the ARGs),
# with correct digests throughout.
derive_image() {
    python3 - "$img" "$mdigest" "$@" <<'EOF'
import gzip, hashlib, json, os, sys
img, base, tag, edit = sys.argv[1:5]
args = sys.argv[5:]
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(img, "blobs/sha256", d), "wb").write(data)
    return "sha256:" + d, len(data)
def load(digest):
    return json.load(open(os.path.join(img, "blobs/sha256", digest[7:])))
m = load(base)
c = load(m["config"]["digest"])
exec(edit)
m["config"]["digest"], m["config"]["size"] = blob(json.dumps(c).encode())
md, ms = blob(json.dumps(m).encode())
index = json.load(open(os.path.join(img, "index.json")))
index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
                           "annotations": {"org.opencontainers.image.ref.name": tag}})
json.dump(index, open(os.path.join(img, "index.json"), "w"))
EOF
}

# add_layer TAG TARFILE: a new image TAG = app + the layer (gzip).
add_layer() {
    derive_image "$1" '
raw = open(args[0], "rb").read()
layer, lsize = blob(gzip.compress(raw))
c["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw).hexdigest())
m["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": lsize})
' "$2"
}

# make_tar FILE SPEC…: SPEC is type:name[:target] with type f (file), x (executable), l (symlink),
# d (directory).
make_tar() {
    python3 - "$@" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, name, *rest = spec.split(":", 2)
        i = tarfile.TarInfo(name)
        if kind == "f":
            data = (rest[0] if rest else "evil").encode()
            i.size = len(data)
            t.addfile(i, io.BytesIO(data))
        elif kind == "x":
            data = b"#!/bin/sh\n"
            i.size, i.mode = len(data), 0o755
            t.addfile(i, io.BytesIO(data))
        elif kind == "l":
            i.type, i.linkname = tarfile.SYMTYPE, rest[0]
            t.addfile(i)
        elif kind == "d":
            i.type, i.mode = tarfile.DIRTYPE, 0o755
            t.addfile(i)
EOF
}

# An empty layer changes nothing; an init makes the machine boot, busybox's does not.
make_tar "$work/empty.tar"
add_layer empty "$work/empty.tar"
check "an empty layer" mkm import-oci "$img:empty" empty
compare "empty layer on top" empty

make_tar "$work/boot.tar" "d:usr/lib/systemd" "x:usr/lib/systemd/systemd"
add_layer boot "$work/boot.tar"
check "an image with systemd" mkm import-oci "$img:boot" boot
mkm show boot >"$work/show"
check "…boots" grep -q "Runs: boots its init" "$work/show"
check "…and says so in the origin" python3 -c 'import json,sys
assert json.load(open(sys.argv[1]))["origin"]["exec"]["boot"] is True' <(mkm --json show boot)

make_tar "$work/bb.tar" "x:bin/busybox" "d:sbin" "l:sbin/init:../bin/busybox"
add_layer bb "$work/bb.tar"
check "an image with busybox's init" mkm import-oci "$img:bb" bb
mkm show bb >"$work/show"
check "…runs its command" grep -q "Runs: /bin/tool arg1" "$work/show"

# A config with neither Entrypoint nor Cmd (image-spec's minimal valid config) and no init: nothing to
# run, unless --exec or --boot says what runs.
derive_image nocmd 'c["config"].pop("Entrypoint", None); c["config"].pop("Cmd", None)'
expect_failure "no Entrypoint, no Cmd, no init" "nothing to run" mkm import-oci "$img:nocmd" nocmd
check "…with --exec -- CMD" mkm import-oci --exec "$img:nocmd" nocmd -- /bin/true arg
mkm show nocmd >"$work/show"
check "…runs that command" sh -c "grep -q 'Exec: /bin/true arg' '$work/show' &&
    grep -qx 'Boot=no' '$work/nspawn/nocmd.nspawn' && grep -qx 'Parameters=/bin/true arg' '$work/nspawn/nocmd.nspawn'"
mkm remove nocmd
check "…with --boot" mkm import-oci --boot "$img:nocmd" nocmd
check "…boots" sh -c "grep -qx 'Boot=yes' '$work/nspawn/nocmd.nspawn' &&
    ! grep -q '^Parameters=' '$work/nspawn/nocmd.nspawn'"
mkm remove nocmd

victim=$work/victim
mkdir -p "$victim"
printf 'precious\n' >"$victim/file"

make_tar "$work/h1.tar" "f:../.wh.x"
add_layer h1 "$work/h1.tar"
expect_failure "whiteout ../.wh.x" "'..'" mkm import-oci "$img:h1" nope

make_tar "$work/h2.tar" "f:etc/.wh..."
add_layer h2 "$work/h2.tar"
expect_failure "whiteout .wh... (names ..)" "invalid whiteout" mkm import-oci "$img:h2" nope

make_tar "$work/h3.tar" "l:escape:$victim" "f:escape/file:evil" "f:escape/.wh.file"
add_layer h3 "$work/h3.tar"
expect_failure "symlink then write through it" "symlink" mkm import-oci "$img:h3" nope
check "…the file behind the symlink is untouched" grep -q precious "$victim/file"

make_tar "$work/h4a.tar" "l:escape:$victim"
add_layer h4a "$work/h4a.tar"
mdigest_saved=$mdigest
mdigest=$(python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    if m.get("annotations",{}).get("org.opencontainers.image.ref.name") == "h4a": print(m["digest"])' \
    "$img/index.json")
make_tar "$work/h4b.tar" "f:escape/.wh.file"
add_layer h4b "$work/h4b.tar"
mdigest=$mdigest_saved
expect_failure "whiteout through a symlink of an earlier layer" "symlink" mkm import-oci "$img:h4b" nope
check "…the file behind the symlink is untouched" grep -q precious "$victim/file"

make_tar "$work/h5.tar" "l:.:$victim"
add_layer h5 "$work/h5.tar"
expect_failure "'.' made a symlink (umoci CVE-2021-29136)" "must be a directory" mkm import-oci "$img:h5" nope

# --- Hostile config values -----------------------------------------------------------------------
# Each would add a line or a section to the trusted NAME.nspawn (uid 0 without a user namespace, the
# host's / bound inside) or be read back differently by systemd-nspawn: the image is refused, naming
# the field, and no settings file is written.
# set_config TAG KEY JSON: a new image TAG = app with config.KEY set to the JSON value.
set_config() { derive_image "$1" 'c["config"][args[0]] = json.loads(args[1])' "$2" "$3"; }
nspawn_before=$(ls -A "$work/nspawn" | sort | tr '\n' ' ')
set_config c1 WorkingDir '"/srv\n[Exec]\nPrivateUsers=no\n[Files]\nBind=/:/host"'
expect_failure "WorkingDir with newlines and new sections" "WorkingDir" mkm import-oci "$img:c1" nope
set_config c2 WorkingDir '"/srv\r[Files]\rBind=/:/host"'
expect_failure "WorkingDir with carriage returns" "WorkingDir" mkm import-oci "$img:c2" nope
set_config c3 WorkingDir '"/srv\\"'
expect_failure "WorkingDir ending in a backslash (a continuation)" "WorkingDir" mkm import-oci "$img:c3" nope
set_config c4 User '"root\nPrivateUsers=no"'
expect_failure "User with a newline" "User" mkm import-oci "$img:c4" nope
set_config c5 Env '["PATH=/bin", "X=1\nPrivateUsers=no"]'
expect_failure "Env value with a newline" "Env variable X" mkm import-oci "$img:c5" nope
set_config c6 Env '["X Y=1"]'
expect_failure "Env with an invalid name" "Env entry" mkm import-oci "$img:c6" nope
set_config c7 Cmd '["arg1", "x\u001b[2Jy"]'
expect_failure "Cmd with an escape sequence" "Cmd argument 2" mkm import-oci "$img:c7" nope
set_config c8 Cmd '["a\rCapability=all"]'
expect_failure "Cmd with a carriage return" "Cmd argument 1" mkm import-oci "$img:c8" nope
check "…and no settings file was written for any of them" \
    test "$(ls -A "$work/nspawn" | sort | tr '\n' ' ')" = "$nspawn_before"

# Untrusted text from the image reaches the terminal escaped: a refused entry name and a platform
# holding ESC[2J, ESC]0;title BEL and a CR.
hostile=$tap_hostile
make_tar "$work/h6.tar" "f:../$hostile"
add_layer h6 "$work/h6.tar"
expect_failure "entry name with terminal controls" "'\.\./" mkm import-oci "$img:h6" nope
check "…escaped in the error, no raw ESC/BEL/CR" no_raw_controls "$work/err"
derive_image bados 'c["os"] = "linux" + args[0]' "$hostile"
expect_failure "a platform with terminal controls" "linux" mkm import-oci "$img:bados" nope
check "…escaped in the error, no raw ESC/BEL/CR" no_raw_controls "$work/err"

check "no machine and no temporary left by the failures" test "$(store_listing)" = \
    "bb boot bydigest bytag dockerarchive empty multi multiarm ociarchive plain zstd "

tap_done
