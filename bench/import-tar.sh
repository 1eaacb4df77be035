#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark (not a test): mkmachine import-tar against GNU tar and bsdtar extracting the same archive
# of a real bookworm minbase+systemd root file system into a fresh directory, interleaved in one run;
# uncompressed, gzip and zstd; once on a RAM-backed ext4 (a loop file on /dev/shm: CPU work shows)
# and once on the disk. Reports min/median wall time of RUNS runs and peak RSS, and the floors: the
# decompressor alone (zcat, igzip, zstd) and cp -a of the tree. Writes bench/RESULTS.md.
#
# Usage: bench/import-tar.sh [RUNS]   (as root; builds a release mkmachine in build-bench/)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
runs=${1:-5}
work=${BENCH_DIR:-/var/tmp/mkmachine-bench}
ram=/dev/shm/mkmachine-bench
cache=${MKMACHINE_TEST_CACHE:-/var/cache/mkmachine-tests}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for tool in mmdebstrap bsdtar zstd gzip python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool (run tests/install-deps.sh)" >&2; exit 1; }
done

cleanup() {
    umount "$ram/mnt" 2>/dev/null || true
    rm -rf "$ram"
}
trap cleanup EXIT

mkmachine=$(bench_build "$src")

# The input: the test host harness' cached guest tree if there is one, else a fresh mmdebstrap.
mkdir -p "$ram" "$work"
tarball=$(find "$cache" -maxdepth 1 -name 'guest-*.tar' 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ]; then
    sources=$(find /etc/apt/sources.list.d -name '*.sources' | sort | head -n 1)
    [ -n "$sources" ] || sources=/etc/apt/sources.list
    tarball=$work/rootfs.tar
    [ -e "$tarball" ] || mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2 \
        bookworm "$tarball" "$sources"
fi
cp "$tarball" "$ram/rootfs.tar"
gzip -6 -c "$ram/rootfs.tar" >"$ram/rootfs.tar.gz"
zstd -q -3 -c "$ram/rootfs.tar" >"$ram/rootfs.tar.zst"

bench_ram_ext4 "$ram" 3G

igzip=$(command -v igzip || true)

python3 - "$runs" "$mkmachine" "$ram" "$work" "${igzip:-}" "$src/bench/RESULTS.md" "$*" <<'PYEOF'
import os, shutil, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(sys.argv[-2]))
from results import write_section  # noqa: E402

runs, mkmachine, ram, disk, igzip, results, args = sys.argv[1:8]
runs = int(runs)
inputs = {k: os.path.join(ram, 'rootfs.' + k) for k in ('tar', 'tar.gz', 'tar.zst')}

def run(cmd, cleanup=None, stdin=None):
    """Wall time and peak RSS (KiB) of one run."""
    t = time.perf_counter()
    out = subprocess.run(['/usr/bin/time', '-f', '%M'] + cmd, stdin=stdin, stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit('failed: %s\n%s' % (' '.join(cmd), out.stderr.decode()))
    rss = int(out.stderr.decode().strip().splitlines()[-1])
    if cleanup:
        cleanup()
    return wall, rss

def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d

def tools(base, fmt):
    dst = os.path.join(base, 'dst')
    store = os.path.join(base, 'store')
    os.makedirs(store, exist_ok=True)
    inp = inputs[fmt]
    clean = lambda: (shutil.rmtree(dst, ignore_errors=True),
                     subprocess.run([mkmachine, '--image-root=' + store, 'remove', 'bench'],
                                    stderr=subprocess.DEVNULL))
    return [
        ('mkmachine', lambda: ([mkmachine, '--image-root=' + store, '-q', 'import-tar', inp, 'bench'], clean)),
        ('GNU tar', lambda: (['tar', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '-xpf',
                              inp, '-C', fresh(dst)], clean)),
        ('bsdtar', lambda: (['bsdtar', '--numeric-owner', '--xattrs', '--acls', '-xpf', inp, '-C', fresh(dst)],
                            clean)),
    ]

def floors(base, fmt):
    f = []
    inp = inputs[fmt]
    if fmt == 'tar.gz':
        f.append(('zcat', ['sh', '-c', 'gzip -dc < %s > /dev/null' % inp]))
        if igzip:
            f.append(('igzip -dc', ['sh', '-c', '%s -dc < %s > /dev/null' % (igzip, inp)]))
    if fmt == 'tar.zst':
        f.append(('zstd -dc', ['sh', '-c', 'zstd -qdc < %s > /dev/null' % inp]))
    return f

def measure(base):
    rows = []
    # The tree cp -a copies: one extraction of the archive on the same file system. cp -a runs
    # interleaved with the others, so that it meets the same state of writeback (on the slow disk the
    # dirty pages of earlier runs are what everyone waits for).
    tree = fresh(os.path.join(base, 'tree'))
    subprocess.run(['tar', '--numeric-owner', '--xattrs', '--xattrs-include=*', '-xpf', inputs['tar'], '-C', tree],
                   check=True)
    cpdst = os.path.join(base, 'cp')
    cp = []
    for fmt in inputs:
        ts = tools(base, fmt)
        if fmt == 'tar':
            ts.append(('cp -a', lambda: (['cp', '-a', tree, cpdst], lambda: shutil.rmtree(cpdst))))
        res = {name: [] for name, _ in ts}
        for _ in range(runs):
            for name, make in ts:                   # interleaved
                cmd, clean = make()
                res[name].append(run(cmd, clean))
        fl = [(name, [run(cmd) for _ in range(runs)]) for name, cmd in floors(base, fmt)]
        if fmt == 'tar':
            cp = res.pop('cp -a')
        rows.append((fmt, res, fl))
    shutil.rmtree(tree)
    return rows, cp

def stat(samples):
    walls = [w for w, _ in samples]
    return min(walls), statistics.median(walls), max(r for _, r in samples) / 1024

out = []
size = os.path.getsize(inputs['tar'])
out.append('# import-tar benchmark\n')
out.append('Made by `bench/import-tar.sh %s` on %s (%d cores), %s. Input: a bookworm minbase+systemd,dbus '
           'root file system from mmdebstrap, %.0f MB uncompressed (gzip -6: %.0f MB, zstd -3: %.0f MB). '
           'Inputs are read from /dev/shm. Every number is min / median wall time of %d runs, interleaved, '
           'and the peak RSS of the worst run. Ratios are the median of the faster of GNU tar and bsdtar '
           'divided by mkmachine\'s median (>1: mkmachine is faster).\n' % (
               args, time.strftime('%Y-%m-%d'), os.cpu_count(), os.uname().release, size / 1e6,
               os.path.getsize(inputs['tar.gz']) / 1e6, os.path.getsize(inputs['tar.zst']) / 1e6, runs))
for label, base in (('RAM-backed ext4 (loop file on /dev/shm)', os.path.join(ram, 'mnt')),
                    ('VM disk (ext4)', disk)):
    os.makedirs(base, exist_ok=True)
    rows, cp = measure(base)
    out.append('\n## %s\n' % label)
    out.append('| input | mkmachine | GNU tar | bsdtar | speed-up vs faster | floor | mkmachine / floor |')
    out.append('|---|---|---|---|---|---|---|')
    cp_min, cp_med, _ = stat(cp)
    for fmt, res, fl in rows:
        m = stat(res['mkmachine']); g = stat(res['GNU tar']); b = stat(res['bsdtar'])
        best = min(g[1], b[1])
        floor_parts = ['cp -a %.2f' % cp_med] + ['%s %.2f' % (n, stat(s)[1]) for n, s in fl]
        floor = max([cp_med] + [stat(s)[1] for n, s in fl if n != 'zcat'])
        cell = lambda s: '%.2f / %.2f s, %.0f MB' % s
        out.append('| %s | %s | %s | %s | **%.2f×** | %.2f s (%s) | %.2f |' % (
            fmt, cell(m), cell(g), cell(b), best / m[1], floor, ', '.join(floor_parts), m[1] / floor))
    out.append('')
out.append('Floor: the slower of `cp -a` of the extracted tree and decompression alone to /dev/null (for gzip '
           'the ISA-L inflate `igzip`, when installed, which is what mkmachine uses; zlib\'s `zcat` shown for '
           'reference).\n')
text = '\n'.join(out)
print(text)
write_section(results, '# import-tar benchmark', text)
PYEOF
