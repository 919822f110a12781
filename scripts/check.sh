#!/usr/bin/env bash
# Runs qemu-lite's test layers and prints one summary line at the end:
#   N passed, N failed
# Modes: all (default build + other coroutine backends + iotests + ASan + fuzz),
#        asan (ASan+UBSan build: unit tests + quick iotests + error paths), unit,
#        iotests, error-paths, lint (coroutine_fn checker, Error ownership check,
#        format-check), rbd (a throwaway Ceph cluster + the -rbd iotests,
#        tests/rbd/run.sh), ssh (tests/ssh: own sshd, iotests-lite -ssh).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
passed=0
failed=0
failures=()

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export MESON_TESTTHREADS=${MESON_TESTTHREADS:-2}

# Adds the Ok/Fail counts from a `meson test` log to the totals.
count_meson() {
    local log=$1 label=$2 ok fail
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -n1)
    fail=$(awk '/^(Fail|Unexpected Pass|Timeout):/ {s += $NF} END {print s + 0}' "$log")
    ok=${ok:-0}
    if [ -z "$(grep -E '^Ok:' "$log")" ]; then
        fail=$((fail + 1))   # meson itself failed before running tests
    fi
    passed=$((passed + ok))
    failed=$((failed + fail))
    [ "$fail" -gt 0 ] && failures+=("$label")
    echo "== $label: $ok passed, $fail failed"
}

# Adds the "N passed, N failed" line an iotests-lite run prints.
count_iotests() {
    local log=$1 label=$2 line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1)
    if [ -z "$line" ]; then p=0; f=1; else
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -gt 0 ] && failures+=("$label")
    echo "== $label: $p passed, $f failed"
}

setup_build() {  # dir, meson args...
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
    fi
}

run_unit() {  # build dir, label, extra meson test args
    local dir=$1 label=$2; shift 2
    local log; log=$(mktemp)
    meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$log" | grep -E '^ *[0-9]+/[0-9]+ |FAIL|ERROR' || true
    count_meson "$log" "$label"
    rm -f "$log"
}

run_iotests() {  # label, build dir, check args...
    local label=$1 dir=$2; shift 2
    local log; log=$(mktemp)
    if [ -x tests/qemu-iotests-lite/check ]; then
        QEMU_LITE_BUILD=$PWD/$dir tests/qemu-iotests-lite/check "$@" 2>&1 | tee "$log"
        count_iotests "$log" "$label"
    fi
    rm -f "$log"
}

# Error-path sweep (tests/error-paths): injected EIO/ENOSPC in every tool.
run_error_paths() {  # label, build dir
    local label=$1 dir=$2 log; log=$(mktemp)
    tests/error-paths/run.sh "$dir" 2>&1 | tee "$log"
    count_iotests "$log" "$label"
    rm -f "$log"
}

# tests/ssh: a private sshd and ssh-agent, the iotests-lite group `ssh` under
# -ssh (our ssh driver, and interop with QEMU 7.2's), stopped by PID.
run_ssh() {  # label, build dir
    local label=$1 dir=$2 log; log=$(mktemp)
    tests/ssh/run.sh "$dir" 2>&1 | tee "$log"
    count_iotests "$log" "$label"
    rm -f "$log"
}

unit_default() { run_unit build "unit (coroutine=asm)"; }

unit_backends() {
    local b
    for b in ucontext thread; do
        if setup_build "build-$b" "-Dcoroutine=$b" && ninja -C "build-$b" coroutine-tests >/dev/null; then
            run_unit "build-$b" "unit (coroutine=$b)" --no-rebuild --suite coroutine
        else
            failed=$((failed + 1)); failures+=("build coroutine=$b")
        fi
    done
}

iotests_all() {
    local fmt
    for fmt in raw qcow2 nbd; do
        run_iotests "iotests-lite -$fmt" build "-$fmt" -g quick
    done
}

asan() {
    if setup_build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
        -Dcpp_args=-fno-sanitize-recover=undefined && ninja -C build-asan >/dev/null; then
        run_unit build-asan "unit (ASan+UBSan)" --no-rebuild
        run_iotests "iotests-lite -raw (ASan+UBSan)" build-asan -raw -g quick
        run_iotests "iotests-lite -qcow2 (ASan+UBSan)" build-asan -qcow2 -g quick
        EP_SAMPLE=3 run_error_paths "error-paths (ASan+UBSan, every 3rd case)" build-asan
    else
        failed=$((failed + 1)); failures+=("ASan build")
    fi
}

# The rbd driver against a real single-node Ceph cluster that the layer
# starts and stops itself (tests/rbd/run.sh); its start-up counts here.
rbd_layer() {
    local log; log=$(mktemp)
    tests/rbd/run.sh build 2>&1 | tee "$log"
    count_iotests "$log" "rbd (Ceph cluster)"
    rm -f "$log"
}

# libFuzzer targets under ASan+UBSan (each replays its corpus, then explores).
fuzz() {
    local log; log=$(mktemp)
    FUZZ_SECONDS=${FUZZ_SECONDS:-30} ./scripts/fuzz.sh 2>&1 | tee "$log"
    count_iotests "$log" "fuzz (ASan+UBSan)"
    rm -f "$log"
}

# The coroutine_fn checker over the tree (libclang; see docs/architecture.md),
# the Error ownership check (scripts/error-check.sh), each with its own test on
# a planted violation, and format-check.
lint() {
    local log; log=$(mktemp)
    tests/lint/test-coroutine-check.sh 2>&1 | tee "$log"
    count_iotests "$log" "coroutine-check test"
    if /usr/bin/python3 scripts/coroutine-check.py -j 2 build 2>&1 | tee "$log"; then
        passed=$((passed + 1)); echo "== coroutine-check: 1 passed, 0 failed"
    else
        failed=$((failed + 1)); failures+=("coroutine-check"); echo "== coroutine-check: 0 passed, 1 failed"
    fi
    tests/lint/test-error-check.sh 2>&1 | tee "$log"
    count_iotests "$log" "error-check test"
    if scripts/error-check.sh; then
        passed=$((passed + 1)); echo "== error-check: 1 passed, 0 failed"
    else
        failed=$((failed + 1)); failures+=("error-check"); echo "== error-check: 0 passed, 1 failed"
    fi
    rm -f "$log"
    if make -s format-check; then
        passed=$((passed + 1)); echo "== format-check: 1 passed, 0 failed"
    else
        failed=$((failed + 1)); failures+=("format-check"); echo "== format-check: 0 passed, 1 failed"
    fi
}

case $mode in
    all) unit_default; unit_backends; iotests_all; rbd_layer; run_ssh ssh build; run_error_paths error-paths build; lint; asan; fuzz ;;
    lint) lint ;;
    fuzz) fuzz ;;
    asan) asan ;;
    unit) unit_default; unit_backends ;;
    iotests) iotests_all ;;
    error-paths) run_error_paths error-paths build ;;
    rbd) rbd_layer ;;
    ssh) run_ssh ssh build ;;
    *) echo "usage: $0 [all|asan|unit|iotests|error-paths|lint|fuzz|rbd|ssh]" >&2; exit 2 ;;
esac

if [ ${#failures[@]} -gt 0 ]; then
    echo "failed groups: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
