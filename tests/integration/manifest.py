#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints a manifest of a directory tree, one line per file, with everything an import must keep:
type, mode, numeric owner, size, mtime (ns), device numbers, symlink target, hardlink group, every
extended attribute (ACLs and security.capability included), and whether a file is sparse. Two trees
with the same manifest are the same for a machine. Usage: manifest.py [--mtime-seconds] DIR
(--mtime-seconds: for archives whose writer drops sub-second times, as bsdtar does for entries it
writes without a pax header)"""

import hashlib
import os
import stat
import sys


def describe(root, rel, groups, seconds):
    path = os.path.join(root, rel)
    st = os.lstat(path)
    fields = [repr(rel), oct(st.st_mode), str(st.st_uid), str(st.st_gid)]
    if stat.S_ISREG(st.st_mode):
        fields.append('size=%d' % st.st_size)
        fields.append('sparse=%s' % (st.st_blocks * 512 < st.st_size // 2))
        with open(path, 'rb') as f:
            fields.append('sha256=' + hashlib.sha256(f.read()).hexdigest())
        if st.st_nlink > 1:
            # Named by the first path (in sorted order) of the group.
            fields.append('link=' + repr(groups.setdefault((st.st_dev, st.st_ino), rel)))
    if not stat.S_ISLNK(st.st_mode):
        fields.append('mtime=%d' % (st.st_mtime_ns // 1000000000 if seconds else st.st_mtime_ns))
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        fields.append('rdev=%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    if stat.S_ISLNK(st.st_mode):
        fields.append('target=' + repr(os.readlink(path)))
    for x in sorted(os.listxattr(path, follow_symlinks=False)):
        if x != 'trusted.mkmachine.origin':
            fields.append('%s=%s' % (x, os.getxattr(path, x, follow_symlinks=False).hex()))
    return ' '.join(fields)


def main():
    seconds = sys.argv[1] == '--mtime-seconds'
    root = sys.argv[2] if seconds else sys.argv[1]
    paths = ['.']
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            paths.append(os.path.relpath(os.path.join(dirpath, name), root))
    groups = {}
    for rel in sorted(paths):
        print(describe(root, rel, groups, seconds))


if __name__ == '__main__':
    main()
