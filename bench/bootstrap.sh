#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark (not a test): a bookworm minbase + systemd,dbus tree from the Debian mirror this
# machine's apt uses, side by side in one run: mkmachine bookworm, mmdebstrap, debootstrap; cold
# (empty caches) and warm (packages already downloaded, each tool with its own best caching), on a
# RAM-backed ext4 (a loop file on /dev/shm). min / median of RUNS runs, peak RSS, packages, bytes
# downloaded. Appends to bench/RESULTS.md.
#
# Usage: bench/bootstrap.sh [RUNS]   (as root; builds a release mkmachine in build-bench/)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
runs=${1:-3}
ram=/dev/shm/mkmachine-bench-bootstrap
include=systemd,systemd-sysv,dbus,iproute2,ca-certificates

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for tool in mmdebstrap debootstrap python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool (run tests/install-deps.sh)" >&2; exit 1; }
done

sources=$(find /etc/apt/sources.list.d -name '*.sources' | sort | head -n 1)
[ -n "$sources" ] || sources=/etc/apt/sources.list
# debootstrap wants the mirror's URL: the first one of the host's sources (never written down here).
mirror=$(awk '/^URIs:/ { print $2; exit } /^deb / { print $2; exit }' "$sources")
# The security archive, as mkmachine finds it: the host's entry for bookworm-security, else beside.
security=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'BEGIN { RS = ""; FS = "\n" }
    { u = ""; ok = 0
      for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, a, " "); u = a[2] }
          if ($i ~ /^Suites:.*[[:space:]]bookworm-security([[:space:]]|$)/) ok = 1
      }
      if (ok && u != "") { print u; exit } }' || true)
[ -n "$security" ] || security=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed 's/\[[^]]*\]//' | awk '$1 == "deb" && $3 == "bookworm-security" { print $2; exit }' || true)
[ -n "$security" ] || security=${mirror%/}-security

cleanup() {
    umount "$ram/mnt" 2>/dev/null || true
    rm -rf "$ram"
}
trap cleanup EXIT

mkmachine=$(bench_build "$src")

bench_ram_ext4 "$ram" 6G

python3 - "$runs" "$mkmachine" "$ram/mnt" "$sources" "$mirror" "$security" "$include" "$src/bench/RESULTS.md" \
    "$*" <<'PYEOF'
import os, shutil, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(sys.argv[-2]))
from results import write_section  # noqa: E402

runs, mkmachine, base, sources, mirror, security, include, results, args = sys.argv[1:10]
runs = int(runs)
caches = {t: os.path.join(base, 'cache-' + t) for t in ('mkmachine', 'mmdebstrap', 'debootstrap')}

def run(cmd):
    t = time.perf_counter()
    p = subprocess.run(['/usr/bin/time', '-f', '%M'] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit('failed: %s\n%s' % (' '.join(cmd), p.stderr.decode()[-3000:]))
    return wall, int(p.stderr.decode().strip().splitlines()[-1])

def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    return path

def count_packages(tree):
    out = subprocess.run(['chroot', tree, 'dpkg-query', '-W'], capture_output=True, text=True).stdout
    return len(out.splitlines())

def mkmachine_cmd(warm):
    if not warm:
        fresh(caches['mkmachine'])
    store = os.path.join(base, 'store')
    os.makedirs(store, exist_ok=True)
    subprocess.run([mkmachine, '--image-root=' + store, 'remove', 'bench'], stderr=subprocess.DEVNULL)
    return [mkmachine, '--image-root=' + store, '--cache-dir=' + caches['mkmachine'], '-q', 'bookworm',
            '--name=bench'], os.path.join(store, 'bench')

def mmdebstrap_cmd(warm):
    dst = fresh(os.path.join(base, 'mmdebstrap'))
    cache = caches['mmdebstrap']
    cmd = ['mmdebstrap', '--quiet', '--variant=minbase', '--include=' + include, '--mode=root']
    if warm:
        # mmdebstrap's documented way to reuse downloaded packages.
        cmd += ['--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
                '--setup-hook=sync-in %s /var/cache/apt/archives/' % cache]
    else:
        fresh(cache)
        os.makedirs(cache)
    # The suites mkmachine's recipe takes: bookworm, bookworm-updates and bookworm-security (from the
    # security archive); debootstrap takes bookworm alone.
    cmd += ['--customize-hook=sync-out /var/cache/apt/archives %s' % cache, 'bookworm', dst,
            'deb %s bookworm main' % mirror, 'deb %s bookworm-updates main' % mirror,
            'deb %s bookworm-security main' % security]
    return cmd, dst

def debootstrap_cmd(warm):
    dst = fresh(os.path.join(base, 'debootstrap'))
    cache = caches['debootstrap']
    if not warm:
        fresh(cache)
    os.makedirs(cache, exist_ok=True)
    return ['debootstrap', '--variant=minbase', '--include=' + include, '--cache-dir=' + cache,
            'bookworm', dst, mirror], dst

def package_versions(tree):
    out = subprocess.run(['chroot', tree, 'dpkg-query', '-W', '-f', '${Package} ${Version} ${db:Status-Abbrev}\n'],
                         capture_output=True, text=True).stdout
    return sorted(out.splitlines())

def dpkg_clean(tree):
    verify = subprocess.run(['chroot', tree, 'dpkg', '--verify'], capture_output=True, text=True)
    audit = subprocess.run(['chroot', tree, 'dpkg', '--audit'], capture_output=True, text=True)
    return verify.returncode == 0 and not verify.stdout and audit.returncode == 0 and not audit.stdout

tools = [('mkmachine', mkmachine_cmd), ('mmdebstrap', mmdebstrap_cmd), ('debootstrap', debootstrap_cmd)]
res = {(t, w): [] for t, _ in tools for w in (False, True)}
packages, versions, clean = {}, {}, {}
for warm in (False, True):
    for i in range(runs):
        for name, make in tools:               # interleaved
            if warm and i == 0 and not os.path.isdir(caches[name]):
                make(False)
            cmd, tree = make(warm)
            res[(name, warm)].append(run(cmd))
            packages[name] = count_packages(tree)
            if not warm:
                versions[name], clean[name] = package_versions(tree), dpkg_clean(tree)

def stat(s):
    w = [x for x, _ in s]
    return min(w), statistics.median(w), max(r for _, r in s) / 1024

out = ['# bootstrap benchmark\n',
       'Made by `bench/bootstrap.sh %s` on %s (%d cores), %s, RAM-backed ext4 (loop file on /dev/shm); '
       'bookworm minbase + %s from the Debian mirror of the host\'s apt sources (main of bookworm, '
       'bookworm-updates and bookworm-security for mkmachine and mmdebstrap; debootstrap takes one suite). min / median wall time of '
       '%d runs, interleaved, and the peak RSS of the worst run. Cold: empty caches (every package and index '
       'downloaded); warm: packages already downloaded (mkmachine: its cache; mmdebstrap: sync-in of its '
       'apt archives; debootstrap: --cache-dir). Speed-up: the other tool\'s median / mkmachine\'s.\n'
       % (args, time.strftime('%Y-%m-%d'), os.cpu_count(), os.uname().release, include, runs),
       '| tool | packages | cold | warm | cold speed-up | warm speed-up |', '|---|---|---|---|---|---|']
m_cold, m_warm = stat(res[('mkmachine', False)]), stat(res[('mkmachine', True)])
for name, _ in tools:
    c, w = stat(res[(name, False)]), stat(res[(name, True)])
    out.append('| %s | %d | %.1f / %.1f s, %.0f MB | %.1f / %.1f s, %.0f MB | %s | %s |' % (
        name, packages[name], c[0], c[1], c[2], w[0], w[1], w[2],
        '—' if name == 'mkmachine' else '**%.2f×**' % (c[1] / m_cold[1]),
        '—' if name == 'mkmachine' else '**%.2f×**' % (w[1] / m_warm[1])))
mm = stat(res[('mmdebstrap', False)])[1], stat(res[('mmdebstrap', True)])[1]
out.append('')
out.append('Targets (issue 4): cold at least 1.5× faster than mmdebstrap: %s (%.2f×); warm at least 3×: '
           '%s (%.2f×). mkmachine\'s warm run is a copy of its cached tree of the recipe (a second machine '
           'while the archive is unchanged, after fetching and verifying the InRelease); its cold run is '
           'a full install: mkmachine unpacks every package itself, in parallel while the others download, '
           'and registers it in dpkg\'s database; what dpkg then runs (preinsts, configuring, the '
           'maintainer scripts) is the bulk.' % (
               'met' if mm[0] / m_cold[1] >= 1.5 else 'not met yet', mm[0] / m_cold[1],
               'met' if mm[1] / m_warm[1] >= 3 else 'not met yet', mm[1] / m_warm[1]))
out.append('')
out.append('Same result: mkmachine\'s cold tree and mmdebstrap\'s have %s; dpkg --verify and dpkg --audit '
           'are clean in mkmachine\'s tree: %s (in mmdebstrap\'s: %s).' % (
               'the same packages, versions and states' if versions['mkmachine'] == versions['mmdebstrap']
               else 'DIFFERENT packages: %s' % ' '.join(sorted(set(versions['mkmachine']) ^
                                                               set(versions['mmdebstrap'])))[:500],
               'yes' if clean['mkmachine'] else 'NO', 'yes' if clean['mmdebstrap'] else 'no'))
text = '\n'.join(out) + '\n'
print(text)
write_section(results, '# bootstrap benchmark', text)
PYEOF
