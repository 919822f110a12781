#!/usr/bin/env bash
# Runs QEMU 7.2's own bash qemu-iotests (../shared/qemu-iotests-7.2, not part
# of this tree) against build/'s tools, as a user who links them under QEMU's
# names would:
#
#   scripts/qemu-iotests.sh               # qcow2, raw and nbd: every listed test
#   scripts/qemu-iotests.sh qcow2 046 077 # one format, just these tests
#
# Prints each format's summary line and last "N passed, N failed"; exits 0
# only when every test run passed.  Without the suite it says so and exits 0.
#
# Environment: QEMU_LITE_BUILD (default <repo>/build), QEMU_IOTESTS_DIR (the
# suite), IOTESTS_JOBS / IOTESTS_TEST_TIMEOUT (passed to the suite's runner).
set -uo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The suite sits next to the checkout; a git worktree also looks next to the
# main checkout it belongs to.
find_suite() {
    local d common
    if [ -n "${QEMU_IOTESTS_DIR:-}" ]; then
        echo "$QEMU_IOTESTS_DIR"; return
    fi
    d=$REPO_DIR/../shared/qemu-iotests-7.2
    if [ ! -x "$d/run-iotests.sh" ]; then
        common=$(git -C "$REPO_DIR" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)
        [ -n "$common" ] && [ -x "$common/../../shared/qemu-iotests-7.2/run-iotests.sh" ] &&
            d=$common/../../shared/qemu-iotests-7.2
    fi
    echo "$d"
}

SUITE=$(find_suite)
if [ ! -x "$SUITE/run-iotests.sh" ]; then
    echo "qemu-iotests: $SUITE is absent, skipping QEMU's iotests"
    exit 0
fi
SUITE=$(cd "$SUITE" && pwd)

BUILD_DIR=${QEMU_LITE_BUILD:-$REPO_DIR/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac

# Tests 197 and 215 refuse a scratch path with anything but [-_a-zA-Z0-9/].
base=${TMPDIR:-/tmp}
[[ $base =~ ^[-_a-zA-Z0-9/]+$ ]] || base=/tmp
scratch=$(mktemp -d "$base/qemu-lite-iotests-XXXXXX") || exit 1

# QEMU's names, so that the tools print "qemu-img:" etc. as QEMU does.
mkdir -p "$scratch/bin"
for t in img io nbd; do
    ln -s "$BUILD_DIR/qemu-$t-lite/qemu-$t-lite" "$scratch/bin/qemu-$t"
done

if [ $# -gt 0 ]; then
    runs=("$*")
else
    runs=(qcow2 raw nbd)
fi

passed=0
failed=0
for run in "${runs[@]}"; do
    read -ra args <<<"$run"
    fmt=${args[0]}
    log=$scratch/$fmt.log
    (cd "$SUITE" && TMPDIR=$scratch \
        QEMU_IMG_PROG=$scratch/bin/qemu-img QEMU_IO_PROG=$scratch/bin/qemu-io \
        QEMU_NBD_PROG=$scratch/bin/qemu-nbd IOTESTS_QUIET=1 \
        ./run-iotests.sh "${args[@]}") >"$log" 2>&1 </dev/null
    line=$(grep -E "^qemu-iotests $fmt: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n1)
    if [ -z "$line" ]; then
        tail -n 5 "$log"
        line="qemu-iotests $fmt: 0 passed, 1 failed (runner error, log $log)"
        p=0; f=1
    else
        p=$(sed -E 's/^[^:]*: ([0-9]+) passed.*/\1/' <<<"$line")
        f=$(sed -E 's/^[^,]*, ([0-9]+) failed.*/\1/' <<<"$line")
        # The runner names the folder that keeps check.log just before.
        [ "$f" -gt 0 ] && grep -B1 -E "^qemu-iotests $fmt:" "$log" | head -n1
    fi
    echo "$line"
    passed=$((passed + p))
    failed=$((failed + f))
done

if [ "$failed" -eq 0 ]; then
    rm -rf "$scratch"
else
    echo "qemu-iotests: logs kept in $scratch"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
