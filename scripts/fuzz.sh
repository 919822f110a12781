#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan + UBSan in build-fuzz/ and
# runs each for FUZZ_SECONDS (default 30) on its seed corpus.  New crashes are
# left as tests/fuzz/crash-<target>-* and fail the run; the seed corpora are
# replayed first, so every committed regression input is re-checked.
# Prints "N passed, N failed" (one per target) as its last line.
# FUZZ_SEED (default 1) fixes libFuzzer's seed so that a CI failure can be
# replayed exactly; long campaigns use FUZZ_SEED=0 (random) and a larger
# FUZZ_SECONDS, and their crashes become corpus inputs.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-30}
seed=${FUZZ_SEED:-1}
dir=build-fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ ! -f $dir/build.ninja ]; then
    CXX=clang++ meson setup $dir -Dfuzzing=true -Dwerror=false \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dcpp_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined' \
        >$dir.setup.log 2>&1 || { cat $dir.setup.log; echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C $dir -t targets all 2>/dev/null | grep '^fuzz-targets:' >/dev/null; then
    echo "fuzz: no targets under tests/fuzz yet"; echo "0 passed, 0 failed"; exit 0
fi
if ! ninja -C $dir fuzz-targets >$dir.build.log 2>&1; then
    tail -40 $dir.build.log; echo "0 passed, 1 failed"; exit 1
fi

passed=0 failed=0
for bin in $dir/tests/fuzz/fuzz-*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue  # not the .p object dirs
    name=${bin##*/fuzz-}
    corpus=tests/fuzz/corpus/$name
    work=$(mktemp -d)
    mkdir -p "$corpus"
    # Replay the committed corpus, then explore into a scratch copy.
    if "$bin" -runs=0 "$corpus" >"$work/replay.log" 2>&1 &&
       "$bin" -seed="$seed" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
           -artifact_prefix="tests/fuzz/crash-$name-" "$work" "$corpus" >"$work/fuzz.log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/fuzz.log" | awk '{print $2}')
        [ -z "$execs" ] && execs=$(grep -Eo '#[0-9]+' "$work/fuzz.log" | tail -n1 | tr -d '#')
        echo "fuzz $name: ok, ${execs:-?} executions in ${secs}s"
        passed=$((passed + 1))
    else
        echo "fuzz $name: FAILED"; tail -30 "$work/fuzz.log" "$work/replay.log" 2>/dev/null
        failed=$((failed + 1))
    fi
    rm -rf "$work"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
