#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what mkmachine needs, on Debian 12 or 13 (as root):
#   tests/install-deps.sh --build   building and running it (the README's first command)
#   tests/install-deps.sh           also everything its whole test suite and the benchmarks use
set -euo pipefail

mode=tests
case "${1:-}" in
    --build) mode=build ;;
    ''|--tests) ;;
    *) echo "usage: $0 [--build|--tests]" >&2; exit 2 ;;
esac

build=(
    meson ninja-build pkg-config gcc scdoc bash-completion
    libarchive-dev libmount-dev libsystemd-dev libisal-dev libjson-c-dev libssl-dev libcurl4-openssl-dev
    libnftnl-dev libmnl-dev
    # running: signatures, Debian's keys, machines
    gpgv debian-archive-keyring systemd-container ca-certificates
)
tests=(
    # a second compiler with ASan/UBSan and libFuzzer (its runtime package is named after its version)
    clang lld
    # tests: test host, archives, checks
    mmdebstrap gpg gpg-agent iproute2 nftables util-linux busybox
    libarchive-tools tar acl attr zstd xz-utils bzip2 gzip pigz isal python3 shellcheck file e2fsprogs
    # tests: OCI image fixtures
    umoci skopeo
    # tests: registries for pull (token endpoint in Python with JWT)
    docker-registry apache2-utils openssl curl python3-jwt python3-cryptography
    # tests: the Debian package
    debhelper dpkg-dev fakeroot lintian
    # benchmarks
    hyperfine time debootstrap
)

export DEBIAN_FRONTEND=noninteractive
apt-get update -q

packages=("${build[@]}")
# Where systemd's pkg-config file lives: its own package from Debian 13 on, part of systemd before.
if apt-cache show systemd-dev >/dev/null 2>&1; then
    packages+=(systemd-dev)
fi
if [ "$mode" = tests ]; then
    packages+=("${tests[@]}")
    clang_version=$(apt-cache depends clang | sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -n 1)
    if [ -z "$clang_version" ]; then
        echo "cannot tell which clang this release has" >&2
        exit 1
    fi
    packages+=("libclang-rt-$clang_version-dev")
fi
apt-get install -y -q --no-install-recommends "${packages[@]}"
