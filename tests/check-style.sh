#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Enforces .editorconfig on the tracked sources, the direction of includes between the layers and that
# the library logs at debug level only, and runs shellcheck on the shell scripts. TAP output.
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
# The layers, lowest first. A layer's sources may include headers of its own layer and of the layers
# listed as below it, nothing else: basic/ knows nothing of mkmachine, lib/ nothing of its front ends,
# and the front ends (the tool, the helpers' mains) nothing of each other.
layer_of() {  # layer_of PATH: the layer a tracked path belongs to, or nothing
    case $1 in
        mkmachine/basic/*) echo basic ;;
        mkmachine/lib/*) echo lib ;;
        mkmachine/tool/*) echo tool ;;
        machined-helpers/*) echo helpers ;;
    esac
}
may_include() {  # may_include FROM TO
    [ "$1" = "$2" ] && return 0
    case $1:$2 in
        lib:basic | tool:basic | tool:lib | helpers:basic | helpers:lib) return 0 ;;
    esac
    return 1
}
include_direction() {
    local f layer line name dir target tl bad=0
    local -A header=()
    # Where each header name lives, looked up in the order of the include path (basic, lib, ...).
    for f in $c_files; do
        case $f in
            mkmachine/basic/*.h | mkmachine/lib/*.h | mkmachine/tool/*.h | machined-helpers/*.h)
                name=${f##*/}
                [ -n "${header[$name]:-}" ] || header[$name]=$f ;;
        esac
    done
    for f in $c_files; do
        layer=$(layer_of "$f")
        [ -n "$layer" ] || continue
        dir=$(dirname "$f")
        while IFS= read -r line; do
            name=${line#*\"}
            name=${name%%\"*}
            # As the compiler looks: next to the including file first, then in the layers' directories.
            if [ -e "$dir/$name" ] && [ "$name" = "${name##*/}" ]; then
                target=$dir/$name
            elif [ -e "$dir/$name" ]; then
                target=$(realpath -m --relative-to=. "$dir/$name")
            else
                target=${header[${name##*/}]:-}
            fi
            [ -n "$target" ] || continue
            tl=$(layer_of "$target")
            [ -n "$tl" ] || continue
            if ! may_include "$layer" "$tl"; then
                echo "$f: includes $target ($layer must not include $tl)"
                bad=1
            fi
        done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
    done
    return $bad
}
# The library returns errors and leaves logging them to the front ends (mkmachine/basic/error-util.h):
# log_debug() at most. log.c and log.h define the rest.
library_logs_debug_only() {
    local f lib=()
    for f in $c_files; do
        case $f in
            mkmachine/basic/log.[ch]) ;;
            mkmachine/basic/* | mkmachine/lib/*) lib+=("$f") ;;
        esac
    done
    # Not in comment lines (those starting with /* or *), which may show how a front end does it.
    ! grep -nE '\<(log_(error|warning|notice|info)(_errno)?|log_oom|log_full(_errno)?|printl)[[:space:]]*\(' \
        "${lib[@]}" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*)'
}
run_shellcheck() {
    command -v shellcheck >/dev/null || { echo "shellcheck missing"; return 1; }
    # shellcheck disable=SC2086
    shellcheck -x -S warning $sh_files
}

echo "1..7"
check "C sources indent with spaces" no_tabs
check "no trailing white space" no_trailing_ws
check "C lines fit in 109 columns" line_length
check "files end with a newline" final_newline
check "includes go from front ends to lib to basic only" include_direction
check "the library logs at debug level only" library_logs_debug_only
check "shellcheck" run_shellcheck
exit $fail
