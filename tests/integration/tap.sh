#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP helpers for the integration tests (source it): ok, not_ok, check WHAT CMD…, tap_done, skip WHY,
# tap_require TOOL….

tap_n=0
tap_failed=0

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }

# check WHAT CMD…: one test point, passing if CMD succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# Prints the plan and fails if any test point failed.
tap_done() {
    echo "1..$tap_n"
    [ "$tap_failed" = 0 ]
}

# skip WHY: skips the whole test (exit 77), or bails out if MKMACHINE_MUST_WORK=1 (CI: nothing may skip).
skip() {
    if [ "${MKMACHINE_MUST_WORK:-0}" = 1 ]; then
        echo "Bail out! $* (and MKMACHINE_MUST_WORK=1)"
        exit 1
    fi
    echo "1..0 # SKIP $*"
    exit 77
}

# tap_require TOOL…: skips unless running as root with every TOOL (a command or a path) at hand.
tap_require() {
    local tool
    [ "$(id -u)" = 0 ] || skip "needs root"
    for tool in "$@"; do
        command -v "$tool" >/dev/null || skip "$tool missing"
    done
}

# Text with terminal controls, as a hostile image, archive or server would send it: ESC[2J (clear the
# screen), ESC]0;title BEL (set the window title) and a CR; and the form mkmachine must print instead.
# shellcheck disable=SC2034 # for the tests that source this
tap_hostile=$'\e[2J\e]0;title\a\r'
tap_hostile_escaped='\x1b[2J\x1b]0;title\a\r'

# no_raw_controls FILE: FILE holds no ESC, BEL or CR byte, and the escaped form of $tap_hostile.
no_raw_controls() {
    python3 - "$1" "$tap_hostile_escaped" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
assert not any(c in data for c in b"\x1b\x07\r"), data
assert sys.argv[2].encode() in data, data
EOF
}
