#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark (not a test): OCI images, side by side in one run on a RAM-backed ext4 (a loop file on
# /dev/shm), interleaved, min / median of RUNS runs and peak RSS:
#   - mkmachine import-oci against umoci unpack, on the same 2-layer gzip image of a bookworm
#     minbase+systemd root file system (layer 1: all but /usr/share, layer 2: /usr/share);
#   - mkmachine pull from a local registry (Debian's docker-registry on 127.0.0.1, plain HTTP) against
#     skopeo copy to an OCI layout followed by umoci unpack, both with nothing cached.
# The trees are compared (tests/integration/manifest.py): a speed-up of a different tree would mean
# nothing. Writes the section "# OCI benchmark" of bench/RESULTS.md.
#
# Usage: bench/oci.sh [RUNS]   (as root; builds a release mkmachine in build-bench/, or uses
#        $MKMACHINE)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
runs=${1:-3}
ram=/dev/shm/mkmachine-bench-oci
cache=${MKMACHINE_TEST_CACHE:-/var/cache/mkmachine-tests}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for tool in umoci skopeo docker-registry python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool (run tests/install-deps.sh)" >&2; exit 1; }
done

registry_pid=
cleanup() {
    if [ -n "$registry_pid" ]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true     # its files must be closed before the umount
    fi
    umount "$ram/mnt" 2>/dev/null || true
    rm -rf "$ram"
}
trap cleanup EXIT

mkmachine=${MKMACHINE:-$(bench_build "$src")}
bench_ram_ext4 "$ram" 6G
m=$ram/mnt

# The input: the test host harness' cached guest tree if there is one, else a fresh mmdebstrap.
tarball=$(find "$cache" -maxdepth 1 -name 'guest-*.tar' 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ]; then
    sources=$(find /etc/apt/sources.list.d -name '*.sources' | sort | head -n 1)
    [ -n "$sources" ] || sources=/etc/apt/sources.list
    tarball=$m/rootfs.tar
    mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2 bookworm "$tarball" \
        "$sources"
fi
mkdir -p "$m/rootfs"
tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$tarball" -C "$m/rootfs"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$m/rootfs" --exclude=./usr/share -cf "$m/layer1.tar" .
tar --numeric-owner --xattrs --xattrs-include='*' -C "$m/rootfs" -cf "$m/layer2.tar" ./usr/share
gzip -6 -n -k "$m/layer1.tar" "$m/layer2.tar"

# The layout, written by hand: what a registry image looks like (gzip layers, OCI media types).
python3 - "$m" <<'PYEOF'
import hashlib, json, os, sys
m = sys.argv[1]
lay = os.path.join(m, 'layout')
os.makedirs(os.path.join(lay, 'blobs', 'sha256'))

def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(lay, 'blobs', 'sha256', d), 'wb') as f:
        f.write(data)
    return 'sha256:' + d, len(data)

def file_digest(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return 'sha256:' + h.hexdigest()

layers, diff_ids = [], []
for n in ('layer1', 'layer2'):
    data = open(os.path.join(m, n + '.tar.gz'), 'rb').read()
    d, size = blob(data)
    layers.append({'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest': d, 'size': size})
    diff_ids.append(file_digest(os.path.join(m, n + '.tar')))
config = {'architecture': 'amd64', 'os': 'linux',
          'config': {'Cmd': ['/sbin/init'], 'Env': ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']},
          'rootfs': {'type': 'layers', 'diff_ids': diff_ids}}
cd, cs = blob(json.dumps(config).encode())
manifest = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
            'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': cd, 'size': cs},
            'layers': layers}
md, ms = blob(json.dumps(manifest).encode())
index = {'schemaVersion': 2, 'manifests': [{'mediaType': 'application/vnd.oci.image.manifest.v1+json',
         'digest': md, 'size': ms, 'annotations': {'org.opencontainers.image.ref.name': 'bench'}}]}
with open(os.path.join(lay, 'index.json'), 'w') as f:
    json.dump(index, f)
with open(os.path.join(lay, 'oci-layout'), 'w') as f:
    json.dump({'imageLayoutVersion': '1.0.0'}, f)
PYEOF
rm -rf "$m/rootfs" "$m"/layer?.tar "$m"/layer?.tar.gz

# A registry, if this mkmachine can pull.
registry=""
if "$mkmachine" --help 2>/dev/null | grep -q '^ *pull '; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$m/registry"
    cat >"$m/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $m/registry/data
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$m/registry/config.yml" >"$m/registry/log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
        sleep 0.1
    done
    skopeo copy -q --dest-tls-verify=false "oci:$m/layout:bench" "docker://127.0.0.1:$port/bench:latest"
    registry=127.0.0.1:$port
fi

python3 - "$runs" "$mkmachine" "$m" "$registry" "$src/bench/RESULTS.md" "$*" <<'PYEOF'
import os, shutil, statistics, subprocess, sys, time

src_bench = os.path.dirname(sys.argv[5])
sys.path.insert(0, src_bench)
from results import write_section  # noqa: E402

runs, mkmachine, m, registry, results, args = sys.argv[1:7]
runs = int(runs)
manifest_py = os.path.join(os.path.dirname(src_bench), 'tests', 'integration', 'manifest.py')
store = os.path.join(m, 'store')
cache = os.path.join(m, 'cache')
layout = os.path.join(m, 'layout')

def run(cmds):
    """Runs the commands one after the other; wall time of all, the largest peak RSS (KiB)."""
    rss = 0
    t = time.perf_counter()
    for cmd in cmds:
        p = subprocess.run(['/usr/bin/time', '-f', '%M'] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        if p.returncode != 0:
            sys.exit('failed: %s\n%s' % (' '.join(cmd), p.stderr.decode()[-3000:]))
        rss = max(rss, int(p.stderr.decode().strip().splitlines()[-1]))
    return time.perf_counter() - t, rss

def fresh(*paths):
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)

def mk(*a):
    return [mkmachine, '-q', '--image-root=' + store, '--cache-dir=' + cache] + list(a)

def mkmachine_import():
    fresh(os.path.join(store, 'bench'))
    return [mk('import-oci', layout + ':bench', 'bench')], os.path.join(store, 'bench')

def umoci_unpack():
    fresh(os.path.join(m, 'bundle'))
    return [['umoci', 'unpack', '--image', layout + ':bench', os.path.join(m, 'bundle')]], \
        os.path.join(m, 'bundle', 'rootfs')

def mkmachine_pull():
    fresh(os.path.join(store, 'pulled'), cache)
    return [mk('pull', '--tls-verify=false', registry + '/bench:latest', 'pulled')], \
        os.path.join(store, 'pulled')

def skopeo_umoci():
    fresh(os.path.join(m, 'copied'), os.path.join(m, 'bundle2'))
    return [['skopeo', 'copy', '-q', '--src-tls-verify=false', 'docker://%s/bench:latest' % registry,
             'oci:%s:bench' % os.path.join(m, 'copied')],
            ['umoci', 'unpack', '--image', os.path.join(m, 'copied') + ':bench', os.path.join(m, 'bundle2')]], \
        os.path.join(m, 'bundle2', 'rootfs')

groups = [('import', [('mkmachine import-oci', mkmachine_import), ('umoci unpack', umoci_unpack)])]
if registry:
    groups.append(('pull', [('mkmachine pull', mkmachine_pull), ('skopeo copy + umoci unpack', skopeo_umoci)]))

def tree_manifest(path):
    return subprocess.run(['python3', manifest_py, path], capture_output=True, check=True).stdout

res, same = {}, {}
for group, tools in groups:
    trees = {}
    for i in range(runs):
        for name, make in tools:        # interleaved
            cmds, tree = make()
            res.setdefault(name, []).append(run(cmds))
            trees[name] = tree
    a, b = (tree_manifest(trees[name]) for name, _ in tools)
    same[group] = a == b

def stat(s):
    w = [x for x, _ in s]
    return min(w), statistics.median(w), max(r for _, r in s) / 1024

out = ['# OCI benchmark\n',
       'Made by `bench/oci.sh %s` on %s (%d cores), %s, RAM-backed ext4 (loop file on /dev/shm). Image: a '
       'bookworm minbase+systemd root file system in 2 gzip layers (all but /usr/share; /usr/share), as an '
       'OCI layout and, for the pull, in Debian\'s docker-registry on 127.0.0.1 (plain HTTP). min / median '
       'wall time of %d runs, interleaved; peak RSS of the worst run. Pulls start with nothing cached. '
       'Speed-up: the other tool\'s median / mkmachine\'s.\n' % (args, time.strftime('%Y-%m-%d'),
                                                               os.cpu_count(), os.uname().release, runs),
       '| what | tool | time | peak RSS | speed-up | same tree |', '|---|---|---|---|---|---|']
for group, tools in groups:
    ours = stat(res[tools[0][0]])
    for name, _ in tools:
        s = stat(res[name])
        out.append('| %s | %s | %.2f / %.2f s | %.0f MB | %s | %s |' % (
            group, name, s[0], s[1], s[2], '—' if name == tools[0][0] else '**%.2f×**' % (s[1] / ours[1]),
            'yes' if same[group] else '**no**'))
imp = stat(res['umoci unpack'])[1] / stat(res['mkmachine import-oci'])[1]
line = ('Targets (issue 6): import ≥ 3× faster than umoci unpack: %s (%.2f×); peak RSS under 64 MB: %s'
        % ('met' if imp >= 3 else 'not met', imp,
           'met' if all(stat(res[n])[2] < 64 for n in res if n.startswith('mkmachine')) else 'not met'))
if registry:
    pull = stat(res['skopeo copy + umoci unpack'])[1] / stat(res['mkmachine pull'])[1]
    line += '; pull ≥ 1.5× faster than skopeo + umoci: %s (%.2f×)' % ('met' if pull >= 1.5 else 'not met', pull)
else:
    line += '; pull: not measured (this mkmachine has no pull)'
out += ['', line + '.']
text = '\n'.join(out) + '\n'
print(text)
write_section(results, '# OCI benchmark', text)
PYEOF
