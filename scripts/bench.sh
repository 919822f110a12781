#!/usr/bin/env bash
# `make bench`: runs every bench/run-*.sh in name order against the build in
# $QEMU_LITE_BUILD (default build/).  Each script prints its own table with
# ratios against the reference tool measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
export QEMU_LITE_BUILD=${QEMU_LITE_BUILD:-$PWD/build}
status=0
for s in bench/run-*.sh; do
    [ -f "$s" ] || continue
    echo "=== ${s#bench/} ==="
    bash "$s" || { echo "${s#bench/}: FAILED"; status=1; }
    echo
done
exit $status
