#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP helpers for the integration tests (source it): ok, not_ok, check WHAT CMD…, tap_done.

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
