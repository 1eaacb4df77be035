#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# An OCI image runs: a small busybox-based image (made here with umoci, entrypoint a shell loop that
# also starts busybox httpd on port 80) is imported from an oci-archive by mkmachine inside a nested
# systemd test host with --port=tcp:7777:80 --start, on the default private network, and runs through
# systemd-nspawn@.service with the environment and working directory the import recorded from the
# image config; the outer machine gets its page from the test host's 7777, and machined lists it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/testhost.sh
. "$here/testhost.sh"

MKMACHINE=${MKMACHINE:?set MKMACHINE to the mkmachine binary}

# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

th_require
for tool in umoci skopeo python3 busybox curl; do
    if ! command -v "$tool" >/dev/null; then
        if [ "${MKMACHINE_MUST_WORK:-0}" = 1 ]; then
            echo "Bail out! $tool missing (and MKMACHINE_MUST_WORK=1)"
            exit 1
        fi
        echo "1..0 # SKIP $tool missing"
        exit 77
    fi
done

work=$(mktemp -d /var/tmp/test-import-oci-boot.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- The image: busybox with the libraries it needs, and a loop as its entrypoint -----------------
img=$work/img
cd "$work"
umoci init --layout "$img"
umoci new --image "$img:base"
umoci unpack --image "$img:base" b >/dev/null
r=b/rootfs
mkdir -p "$r/bin" "$r/srv/data" "$r/tmp"
chmod 1777 "$r/tmp"
bb=$(command -v busybox)
cp "$bb" "$r/bin/busybox"
for lib in $(ldd "$bb" | grep -o '/[^ ]*'); do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
done
ln -s busybox "$r/bin/sh"
umoci repack --image "$img:app" b >/dev/null
# shellcheck disable=SC2016 # expanded by the image's shell
umoci config --image "$img:app" --config.entrypoint /bin/sh --config.entrypoint -c \
    --config.cmd '/bin/busybox httpd -p 80 -h /srv/data; echo "$GREETING from $(/bin/busybox pwd)" >/srv/data/ran; i=0; while :; do i=$((i + 1)); echo $i >/srv/data/ticks; /bin/busybox sleep 0.2; done' \
    --config.env GREETING=hello-oci --config.workingdir /srv >/dev/null
skopeo copy -q "oci:$img:app" "oci-archive:$work/app.oci.tar:app"

# A second image whose command line and environment hold every byte systemd-nspawn's word splitting
# could get wrong: quotes of both kinds, backslashes (also at the end), tabs, '$', '%', spaces and an
# empty word. Its entrypoint writes each argument and variable into a file; it is started the way a
# user starts it (machinectl start: systemd-nspawn@.service reading the .nspawn mkmachine wrote), and
# must see each byte as the image gives it.
q_args=('a"b' "c'd" 'e\f' $'tab\there' '$HOME' '%i' 'sp  ace' 'x\' "'\"'" '' 'a\"b' '\\' ';' '#x')
q_env=("Q1=it's \"quoted\"" 'Q2=back\slash\\ end\' $'Q3=tab\t$X%i ;' 'Q4=')
umoci repack --image "$img:quoting" b >/dev/null
python3 - "$img" quoting "${q_args[@]}" -- "${q_env[@]}" <<'EOF'
import hashlib, json, os, sys
img, tag = sys.argv[1:3]
rest = sys.argv[3:]
sep = rest.index("--")
args, env = rest[:sep], rest[sep + 1:]
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(img, "blobs/sha256", d), "wb").write(data)
    return "sha256:" + d, len(data)
def load(digest):
    return json.load(open(os.path.join(img, "blobs/sha256", digest[7:])))
index = json.load(open(os.path.join(img, "index.json")))
desc = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
m = load(desc["digest"])
c = load(m["config"]["digest"])
c["config"]["Entrypoint"] = ["/bin/sh", "-c",
    'for a; do printf "[%s]\\n" "$a"; done >/srv/q.tmp; '
    'printf "<%s>\\n" "$Q1" "$Q2" "$Q3" "$Q4" >>/srv/q.tmp; /bin/busybox mv /srv/q.tmp /srv/q.out', "sh"]
c["config"]["Cmd"] = args
c["config"]["Env"] = env
c["config"].pop("WorkingDir", None)
m["config"]["digest"], m["config"]["size"] = blob(json.dumps(c).encode())
desc["digest"], desc["size"] = blob(json.dumps(m).encode())
json.dump(index, open(os.path.join(img, "index.json"), "w"))
EOF
skopeo copy -q "oci:$img:quoting" "oci-archive:$work/quoting.oci.tar:quoting"
{
    for a in "${q_args[@]}"; do printf '[%s]\n' "$a"; done
    for e in "${q_env[@]}"; do printf '<%s>\n' "${e#*=}"; done
} >"$work/quoting.expected"

# --- Inside the test host -----------------------------------------------------------------------
th_build_trees
th_start importoci

th_copy_in "$MKMACHINE" /usr/local/bin/mkmachine
th_copy_in "$work/app.oci.tar" /root/app.oci.tar
export ASAN_OPTIONS UBSAN_OPTIONS

# As the README has it: imported with a port forward and started, on the default private network.
if th_run mkmachine -q import-oci /root/app.oci.tar:app loop --port=tcp:7777:80 --start 2>&1; then
    ok "mkmachine import-oci /root/app.oci.tar:app loop --port=tcp:7777:80 --start"
else
    not_ok "mkmachine import-oci /root/app.oci.tar:app loop --port=tcp:7777:80 --start"
fi
check "machinectl list-images shows the machine" \
    sh -c "nsenter -t '$TH_LEADER' -a machinectl list-images --no-legend | grep -q '^loop '"

# What the import recorded from the image config.
th_run mkmachine --json show loop >"$work/show.json"
mapfile -t nspawn_args < <(python3 - "$work/show.json" <<'EOF'
import json, sys
x = json.load(open(sys.argv[1]))["origin"]["exec"]
assert x["boot"] is False, x
for e in x.get("environment", []):
    print("--setenv=" + e)
if "working_directory" in x:
    print("--chdir=" + x["working_directory"])
print("--")
for p in x["parameters"]:
    print(p.replace("\n", " "))
EOF
)
check "the import recorded an entrypoint to run" test "${#nspawn_args[@]}" -gt 2
check "the image had no /usr: the import added an empty one, and says so" sh -c \
    "[ -d '$TH_ROOT/var/lib/machines/loop/usr' ] && grep -q '\"added_usr\": true' '$work/show.json'"

if th_wait_for 30 test -s /var/lib/machines/loop/srv/data/ran; then
    ok "the entrypoint runs through systemd-nspawn@loop.service (it writes its greeting)"
else
    not_ok "the entrypoint runs through systemd-nspawn@loop.service (it writes its greeting)"
    th_run journalctl -q -u systemd-nspawn@loop --no-pager 2>&1 | sed 's/^/#   /'
fi
check "…with the image's Env and WorkingDir" \
    grep -qx "hello-oci from /srv" "$TH_ROOT/var/lib/machines/loop/srv/data/ran"
first=$(cat "$TH_ROOT/var/lib/machines/loop/srv/data/ticks" 2>/dev/null || echo 0)
check "…and keeps running (the loop counts)" \
    th_wait_for 20 sh -c "[ \"\$(cat /var/lib/machines/loop/srv/data/ticks)\" -gt $((first + 3)) ]"
check "machined lists the running machine" \
    th_wait_for 10 sh -c "machinectl list --no-legend | grep -q '^loop '"
if curl -s --retry 30 --retry-delay 1 --retry-all-errors -m 5 "http://$TH_ADDR_INNER:7777/ran" >"$work/page" 2>&1 &&
    grep -qx "hello-oci from /srv" "$work/page"; then
    ok "the outer machine gets the entrypoint's page from the test host's 7777 (httpd on 80 inside)"
else
    not_ok "no page on $TH_ADDR_INNER:7777: $(cat "$work/page"); $(th_run journalctl -q -u systemd-nspawn@loop \
        --no-pager 2>&1 | tail -20)"
fi
if th_run mkmachine remove loop 2>"$TH_ROOT/tmp/err"; then
    not_ok "mkmachine remove of the running machine must fail"
else
    check "mkmachine remove of the running machine is refused as in use" grep -q "in use" "$TH_ROOT/tmp/err"
fi

# 'machinectl terminate' returns while the unit still stops; a remove right after it waits for the
# stop instead of calling the machine in use. A slow ExecStopPost= holds the unit in "deactivating"
# long enough to be sure the remove meets it there.
th_run mkdir -p /run/systemd/system/systemd-nspawn@loop.service.d
th_run sh -c 'printf "[Service]\nExecStopPost=/bin/sleep 3\n" \
    >/run/systemd/system/systemd-nspawn@loop.service.d/slow-stop.conf && systemctl daemon-reload'
th_run machinectl terminate loop
check "after machinectl terminate the unit is still stopping" \
    sh -c "[ \"\$(nsenter -t '$TH_LEADER' -a systemctl is-active systemd-nspawn@loop)\" = deactivating ]"
if th_run mkmachine remove loop 2>"$TH_ROOT/tmp/err"; then
    ok "mkmachine remove right after machinectl terminate waits for the stop"
else
    not_ok "mkmachine remove right after machinectl terminate: $(cat "$TH_ROOT/tmp/err")"
fi
check "…and the machine is gone: unit stopped, no image" \
    sh -c "[ \"\$(nsenter -t '$TH_LEADER' -a systemctl is-active systemd-nspawn@loop)\" != deactivating ] &&
           [ -z \"\$(ls -A '$TH_ROOT/var/lib/machines')\" ]"
th_run rm -r /run/systemd/system/systemd-nspawn@loop.service.d
th_run systemctl daemon-reload

# --- The quoting image, through the real unit -----------------------------------------------------
th_copy_in "$work/quoting.oci.tar" /root/quoting.oci.tar
if th_run mkmachine -q import-oci /root/quoting.oci.tar:quoting quoting 2>&1; then
    ok "import-oci of an image with quotes, backslashes, tabs, \$ and % in Cmd and Env"
else
    not_ok "import-oci of an image with quotes, backslashes, tabs, \$ and % in Cmd and Env"
fi
th_run sh -c 'cat /etc/systemd/nspawn/quoting.nspawn' | sed 's/^/#   /'
th_run machinectl start quoting
if th_wait_for 30 test -s /var/lib/machines/quoting/srv/q.out; then
    if cmp -s "$work/quoting.expected" "$TH_ROOT/var/lib/machines/quoting/srv/q.out"; then
        ok "systemd-nspawn@quoting.service runs the entrypoint with every byte of Cmd and Env as given"
    else
        not_ok "systemd-nspawn@quoting.service runs the entrypoint with every byte of Cmd and Env as given"
        diff "$work/quoting.expected" "$TH_ROOT/var/lib/machines/quoting/srv/q.out" | sed 's/^/#   /' || true
    fi
else
    not_ok "systemd-nspawn@quoting.service runs the entrypoint with every byte of Cmd and Env as given"
    th_run journalctl -q -u systemd-nspawn@quoting --no-pager 2>&1 | tail -20 | sed 's/^/#   /'
fi
check "systemd-nspawn logged no syntax warning for the settings file" \
    sh -c "! nsenter -t '$TH_LEADER' -a journalctl -q -u systemd-nspawn@quoting --no-pager |
        grep -Ei 'invalid syntax|ignoring'"
th_run mkmachine --json show quoting >"$work/quoting.json"
check "mkmachine show reads back the command and environment as systemd-nspawn does" \
    python3 - "$work/quoting.json" "${q_args[@]}" -- "${q_env[@]}" <<'EOF'
import json, sys
x = json.load(open(sys.argv[1]))["settings"]
rest = sys.argv[2:]
sep = rest.index("--")
assert x["exec"][4:] == rest[:sep], x["exec"]
assert x["environment"] == rest[sep + 1:], x["environment"]
EOF
th_wait_for 30 sh -c "! machinectl list --no-legend | grep -q '^quoting '" || true
th_run mkmachine remove --force quoting

th_stop
tap_done
