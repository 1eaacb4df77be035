#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests: make_fixture_tree DIR builds a tree with every file type, xattrs (also
# security.capability), ACLs, hardlinks, a sparse file, odd names and fixed mtimes.
make_fixture_tree() {
    local src=$1 long deep i
    mkdir -p "$src"/{etc,usr/bin,usr/sbin,var/tmp,dev,run,"odd dir"}
    printf 'hello\n' >"$src/etc/hostname"
    printf '#!/bin/sh\necho ping\n' >"$src/usr/bin/ping"
    chmod 4755 "$src/usr/bin/ping"
    # cap_net_raw+ep, as Debian's ping has it (VFS_CAP_REVISION_2).
    setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$src/usr/bin/ping"
    setfattr -n user.comment -v "a note" "$src/etc/hostname"
    printf 'x\n' >"$src/usr/sbin/sgid"
    chmod 2711 "$src/usr/sbin/sgid"
    chmod 1777 "$src/var/tmp"
    chown 1234:5678 "$src/etc/hostname"   # no such user here: must stay numeric
    ln "$src/usr/bin/ping" "$src/usr/sbin/ping-hardlink"
    ln -s ../bin/ping "$src/usr/sbin/ping-symlink"
    ln -s /does/not/exist "$src/dangling"
    mknod "$src/dev/null" c 1 3
    mknod "$src/dev/loop9" b 7 9
    mkfifo "$src/run/fifo"
    truncate -s 64M "$src/var/sparse"
    printf 'end' >>"$src/var/sparse"
    printf 'middle' | dd of="$src/var/sparse" bs=1 seek=$((32 * 1024 * 1024)) conv=notrunc status=none
    mkdir -p "$src/acl/inherit"
    setfacl -m u:4242:rwx,g:4343:r "$src/acl"
    setfacl -d -m u:4242:rx "$src/acl/inherit"
    printf 'utf8\n' >"$src/odd dir/ünïcødé ✓"
    printf 'space\n' >"$src/odd dir/ with  spaces "
    printf 'nl\n' >"$src/odd dir/new"$'\n'"line"
    printf 'dash\n' >"$src/odd dir/-rf"
    long=$(printf 'l%.0s' $(seq 1 250))
    printf 'long\n' >"$src/odd dir/$long"
    deep=$src/deep
    for i in $(seq 1 40); do deep=$deep/level$i; done
    mkdir -p "$deep" && printf 'deep\n' >"$deep/file"
    touch -h -d '2001-02-03 04:05:06.123456789' "$src/usr/sbin/ping-symlink"
    find "$src" -depth -not -type l -exec touch -d '2020-01-02 03:04:05.987654321' {} +
    touch -d '1999-12-31 23:59:59' "$src/etc/hostname"
    chmod 0755 "$src"
}
