#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The complete test suite, exactly as CI runs it (.ci/run calls this and nothing else):
# installs the dependencies, builds with gcc and with clang (--werror, ASan+UBSan), runs every test
# suite in both builds with integration tests forced on, then runs each fuzzer briefly under libFuzzer.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=${MKMACHINE_CI_DIR:-$src/build-ci}
fuzz_seconds=${MKMACHINE_FUZZ_SECONDS:-45}

"$src/tests/install-deps.sh"

export MKMACHINE_MUST_WORK=${MKMACHINE_MUST_WORK:-1}
# Never remove halt_on_error: without it UBSan reports and the test still passes.
export UBSAN_OPTIONS=print_stacktrace=1:print_summary=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1

for compiler in gcc clang; do
    echo "=== build and test with $compiler, ASan+UBSan"
    rm -rf "$out-$compiler"
    CC=$compiler meson setup "$out-$compiler" "$src" \
        -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C "$out-$compiler"
    meson test -C "$out-$compiler" --setup=integration --print-errorlogs --num-processes 2
done

echo "=== fuzzers (clang, libFuzzer, ${fuzz_seconds}s each)"
rm -rf "$out-fuzz"
CC=clang meson setup "$out-fuzz" "$src" -Dfuzz=true \
    -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C "$out-fuzz"
for fuzzer in "$out-fuzz"/tests/fuzz/fuzz-*; do
    if [ ! -f "$fuzzer" ] || [ ! -x "$fuzzer" ]; then
        continue
    fi
    name=$(basename "$fuzzer")
    corpus=$(mktemp -d)
    cp -r "$src/tests/fuzz/corpus/${name#fuzz-}/." "$corpus/" 2>/dev/null || true
    echo "--- $name"
    log=$(mktemp)
    if ! (cd "$corpus" && "$fuzzer" -max_total_time="$fuzz_seconds" -timeout=20 -rss_limit_mb=2048 \
            -print_final_stats=1 "$corpus" >"$log" 2>&1); then
        tail -n 80 "$log"
        echo "=== $name FAILED"
        exit 1
    fi
    tail -n 3 "$log"
    rm -rf "$corpus" "$log"
done

echo "=== all tests passed"
