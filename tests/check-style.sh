#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Enforces .editorconfig on the tracked sources and runs shellcheck on the shell scripts. TAP output.
set -uo pipefail

cd "${MKMACHINE_SOURCE_ROOT:-$(dirname "$0")/..}" || exit 1

n=0
fail=0
check() {  # check DESCRIPTION COMMAND…: one TAP line
    local desc=$1
    shift
    n=$((n + 1))
    local out
    if out=$("$@" 2>&1); then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        printf '%s\n' "$out" | sed 's/^/# /' | head -n 40
        fail=1
    fi
}

files() {  # tracked and untracked-but-not-ignored files matching the patterns
    git ls-files --cached --others --exclude-standard -- "$@" 2>/dev/null
}

c_files=$(files '*.c' '*.h')
sh_files=$(files '*.sh' '.ci/run')

no_tabs() { ! grep -nP '\t' $c_files; }
no_trailing_ws() { ! grep -nE '[[:space:]]+$' $c_files $sh_files; }
line_length() { ! awk 'length($0) > 109 { print FILENAME ":" FNR ": " length($0) " columns" }' $c_files | grep .; }
final_newline() {
    local f bad=0
    for f in $c_files $sh_files; do
        [ -s "$f" ] && [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" != '\n' ] && { echo "$f: no final newline"; bad=1; }
    done
    return $bad
}
run_shellcheck() {
    command -v shellcheck >/dev/null || { echo "shellcheck missing"; return 1; }
    # shellcheck disable=SC2086
    shellcheck -x -S warning $sh_files
}

echo "1..5"
check "C sources indent with spaces" no_tabs
check "no trailing white space" no_trailing_ws
check "C lines fit in 109 columns" line_length
check "files end with a newline" final_newline
check "shellcheck" run_shellcheck
exit $fail
