#!/usr/bin/env bash
# The rbd layer of `make check`: starts a throwaway single-node Ceph cluster
# (tests/rbd/cluster.sh) in a scratch folder, runs the iotests-lite group
# `rbd` against it (create/info/errors, I/O patterns, convert both ways,
# allocation, snapshots, resize, interop with QEMU's rbd driver, qemu-nbd),
# boots qemu-system-lite from an rbd image (IDE and virtio), runs the
# destructive outage test (649) last, and stops the cluster by PID on any
# exit.  Prints "N passed, N failed" last, like the other layers; the
# cluster's start-up is part of the layer's time.
#
#   tests/rbd/run.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac

for b in ceph-mon ceph-osd ceph rbd; do
    if ! command -v "$b" >/dev/null; then
        echo "rbd: SKIP: $b not installed (scripts/install-deps.sh installs ceph-mon ceph-osd ceph-common)"
        echo "0 passed, 0 failed"
        exit 0
    fi
done
if ! grep -q '^#define CONFIG_RBD 1' "$build/config-host.h" 2>/dev/null; then
    echo "rbd: SKIP: qemu-lite built without librbd (librbd-dev/librados-dev missing at meson setup)"
    echo "0 passed, 0 failed"
    exit 0
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/rbd-cluster.XXXXXX")
cleanup() {
    tests/rbd/cluster.sh stop "$dir"
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
count() {  # log: adds its "N passed, N failed"
    local line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n1)
    if [ -z "$line" ]; then p=0; f=1; else
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
    fi
    passed=$((passed + p)); failed=$((failed + f))
}

t0=$(date +%s)
if ! timeout 180 tests/rbd/cluster.sh start "$dir"; then
    echo "rbd: the test cluster did not start; logs:"
    tail -n 20 "$dir"/log/*.log 2>/dev/null
    echo "0 passed, 1 failed"
    exit 1
fi
echo "rbd: cluster up in $(($(date +%s) - t0)) s ($dir)"
export RBD_CONF=$dir/ceph.conf RBD_CLUSTER_DIR=$dir
log=$dir/check.log

QEMU_LITE_BUILD=$build tests/qemu-iotests-lite/check -rbd -g rbd 2>&1 | tee "$log"
count "$log"

for iface in ide virtio; do
    if QEMU_SYSTEM=$build/qemu-system-lite/qemu-system-lite BOOT_SRC=$PWD/tests/boot \
        timeout 120 tests/boot/boot-test.sh loader "$iface" rbd; then
        passed=$((passed + 1))
    else
        echo "FAIL: boot from rbd ($iface)"
        failed=$((failed + 1))
    fi
done

# Destructive: stops the cluster's daemons.
QEMU_LITE_BUILD=$build tests/qemu-iotests-lite/check -rbd 649 2>&1 | tee "$log"
count "$log"

echo "rbd: layer took $(($(date +%s) - t0)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
