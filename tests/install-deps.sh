#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs everything needed to build mkmachine and run its whole test suite on Debian 12 (as root).
set -euo pipefail

packages=(
    # build
    meson ninja-build pkg-config gcc clang lld libclang-rt-14-dev scdoc bash-completion
    libarchive-dev libmount-dev libsystemd-dev zlib1g-dev libisal-dev libjson-c-dev libssl-dev libcurl4-openssl-dev
    libacl1-dev libzstd-dev liblzma-dev libbz2-dev libnftnl-dev libmnl-dev
    # tests: test host, archives, checks
    mmdebstrap gpg gpg-agent gpgv debian-archive-keyring systemd-container iproute2 nftables util-linux busybox
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
apt-get install -y -q --no-install-recommends "${packages[@]}"
