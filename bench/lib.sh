#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the benchmarks (source it).

# bench_build SRC: a release build of mkmachine in SRC/build-bench; prints the binary's path.
bench_build() {
    rm -rf "$1/build-bench"
    meson setup "$1/build-bench" "$1" --buildtype=release -Dtests=false >/dev/null
    ninja -C "$1/build-bench" >/dev/null
    echo "$1/build-bench/mkmachine/tool/mkmachine"
}

# bench_ram_ext4 DIR SIZE: a fresh ext4 in a file in DIR (on /dev/shm: RAM-backed), mounted on
# DIR/mnt. Where CPU work shows: the VM's own disk makes every tool equal (see shared/baselines.md).
bench_ram_ext4() {
    mkdir -p "$1/mnt"
    truncate -s "$2" "$1/fs.img"
    mkfs.ext4 -q -F "$1/fs.img"
    mount -o loop "$1/fs.img" "$1/mnt"
}
