#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What the integration tests build once and keep (test-host tarballs, real .debs) lives in
# $MKMACHINE_TEST_CACHE (default /var/cache/mkmachine-tests). Source it; set -euo pipefail compatible.

test_cache_dir() { echo "${MKMACHINE_TEST_CACHE:-/var/cache/mkmachine-tests}"; }

# test_cache_build PATH LOCK BUILDER ARG…: prints PATH, building it first if it is missing: under
# the flock LOCK (another test may be building it: wait for it, then look again), "BUILDER TMP ARG…"
# must create TMP (a file or a directory next to PATH), which is then renamed to PATH. A failed or
# killed build never leaves anything under the name PATH. BUILDER logs to stderr only.
test_cache_build() {
    local path=${1:?test_cache_build PATH LOCK BUILDER ARG…} lock=${2:?} fd tmp
    shift 2
    if [ -e "$path" ]; then
        echo "$path"
        return 0
    fi
    mkdir -p "$(dirname "$path")"
    exec {fd}>>"$lock"
    if ! flock -w 1800 "$fd"; then
        exec {fd}>&-
        echo "timed out waiting for the lock on $lock" >&2
        return 1
    fi
    if [ -e "$path" ]; then
        exec {fd}>&-
        echo "$path"
        return 0
    fi
    tmp="$(dirname "$path")/.tmp-$$-$(basename "$path")"
    rm -rf "$tmp"
    if "$1" "$tmp" "${@:2}" && [ -e "$tmp" ] && mv -T "$tmp" "$path"; then
        exec {fd}>&-
        echo "$path"
        return 0
    fi
    rm -rf "$tmp"
    exec {fd}>&-
    return 1
}
