#!/usr/bin/env bash
# rbd against QEMU 7.2's rbd driver, same run, same throwaway cluster
# (tests/rbd/cluster.sh: one mon, one memstore OSD on 127.0.0.1, in a
# scratch folder; stopped by PID on exit):
#
#   qemu-img-lite bench vs qemu-img bench, -f raw -t none, on a pre-filled
#   256 MiB image: 4 KiB reads at QD32 (sequential), 4 KiB writes at QD32
#   with a step of 8 KiB (-S 8192: librbd merges adjacent in-flight writes,
#   which inflates sequential 4 KiB write figures), 1 MiB reads and writes
#   at QD4;
#   convert of a 1 GiB qcow2 holding 128 MiB of data (16 MiB runs every
#   128 MiB) to a new rbd image (-O raw -W) and of that rbd image back to
#   qcow2;
#   librbd's own `rbd bench` (4 KiB random writes and reads, 32 threads) as
#   the ceiling.
#
# The tools alternate within each round (ours first in odd rounds); each
# cell keeps the best of RBD_BENCH_ROUNDS (3).  Ratio = reference time /
# ours (higher is better for ours; 1.00x = equal).  About 3-4 minutes.
# Env: RBD_BENCH_COUNT (4 KiB requests per bench run, 20000),
# RBD_BENCH_COUNT_1M (1 MiB requests, 200), RBD_BENCH_ROUNDS.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${QEMU_LITE_BUILD:-build}
img_ours=$build/qemu-img-lite/qemu-img-lite
rounds=${RBD_BENCH_ROUNDS:-3}
count=${RBD_BENCH_COUNT:-20000}
count_1m=${RBD_BENCH_COUNT_1M:-200}

[ -x "$img_ours" ] || { echo "$img_ours not built"; exit 1; }
for b in ceph-mon ceph-osd rbd qemu-img; do
    command -v "$b" >/dev/null || { echo "rbd bench: SKIP: $b not installed"; exit 0; }
done
grep -q '^#define CONFIG_RBD 1' "$build/config-host.h" ||
    { echo "rbd bench: SKIP: built without librbd"; exit 0; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/rbd-bench.XXXXXX")
trap 'tests/rbd/cluster.sh stop "$dir"; rm -rf "$dir"' EXIT
timeout 180 tests/rbd/cluster.sh start "$dir" || { echo "cluster did not start"; exit 1; }
conf=$dir/ceph.conf
R="rbd -c $conf"
img="rbd:rbd/bench:conf=$conf"

# Seconds of a command (wall clock), or "fail".
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >"$dir/out.log" 2>&1 || { echo fail; return; }
    t1=$(date +%s.%N)
    awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }'
}
best() {  # current best, new value -> min
    if [ "$1" = "" ] || [ "$1" = fail ]; then echo "$2"; return; fi
    [ "$2" = fail ] && { echo "$1"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { print (b < a) ? b : a }'
}

echo "preparing: 256 MiB rbd image (filled), 1 GiB qcow2 with 128 MiB of data"
qemu-img create -q -f raw "$img" 256M
qemu-img bench -f raw -t none -w -d 4 -c 256 -s 1M "$img" >/dev/null
src=$dir/src.qcow2
qemu-img create -q -f qcow2 "$src" 1G
for i in 0 1 2 3 4 5 6 7; do
    qemu-io -f qcow2 -c "write -P $((i + 1)) $((i * 128))M 16M" "$src" >/dev/null
done

declare -A T
rows=("4k-read:-d 32 -c $count -s 4096"
      "4k-write:-w -d 32 -c $count -s 4096 -S 8192"
      "1m-read:-d 4 -c $count_1m -s 1M"
      "1m-write:-w -d 4 -c $count_1m -s 1M")
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then order="ours ref"; else order="ref ours"; fi
    for row in "${rows[@]}"; do
        name=${row%%:*} args=${row#*:}
        for who in $order; do
            if [ $who = ours ]; then tool=$img_ours; else tool=qemu-img; fi
            # shellcheck disable=SC2086
            t=$(timed $tool bench -f raw -t none $args "$img")
            T[$name-$who]=$(best "${T[$name-$who]:-}" "$t")
        done
    done
    for who in $order; do
        if [ $who = ours ]; then tool=$img_ours; else tool=qemu-img; fi
        $R rm --no-progress rbd/conv >/dev/null 2>&1
        t=$(timed $tool convert -W -f qcow2 -O raw "$src" "rbd:rbd/conv:conf=$conf")
        T[conv-to-$who]=$(best "${T[conv-to-$who]:-}" "$t")
        rm -f "$dir/back.qcow2"
        t=$(timed $tool convert -f raw -O qcow2 "rbd:rbd/conv:conf=$conf" "$dir/back.qcow2")
        T[conv-from-$who]=$(best "${T[conv-from-$who]:-}" "$t")
    done
    qemu-img compare -q -f qcow2 -F qcow2 "$src" "$dir/back.qcow2" ||
        echo "round $r: converted image differs!"
done

iops() {  # count, seconds
    [ "$2" = fail ] && { echo "fail"; return; }
    awk -v n="$1" -v t="$2" 'BEGIN { printf "%d", n / t }'
}
ratio() {  # ours, ref (seconds): ref / ours
    if [ "$1" = fail ] || [ "$2" = fail ]; then echo "-"; return; fi
    awk -v o="$1" -v r="$2" 'BEGIN { printf "%.2fx", r / o }'
}
printf '\n%-42s %14s %14s %8s\n' "rbd (best of $rounds)" "qemu-lite" "QEMU 7.2" "ratio"
for row in "${rows[@]}"; do
    name=${row%%:*}
    case $name in 4k-*) n=$count ;; *) n=$count_1m ;; esac
    o=${T[$name-ours]} q=${T[$name-ref]}
    label=$(echo "bench $name (${row#*:})" | sed 's/ -s [0-9KM]*//; s/ -c [0-9]*//')
    printf '%-42s %9s IOPS %9s IOPS %8s\n' "$label" "$(iops "$n" "$o")" "$(iops "$n" "$q")" \
        "$(ratio "$o" "$q")"
done
for c in to from; do
    o=${T[conv-$c-ours]} q=${T[conv-$c-ref]}
    label="convert 1G qcow2 (128M data) $c rbd"
    printf '%-42s %12.2f s %12.2f s %8s\n' "$label" "$o" "$q" "$(ratio "$o" "$q")"
done

echo
echo "ceiling: librbd's rbd bench (4 KiB, 32 threads, 80 MiB, random)"
for t in write read; do
    $R bench --io-type $t --io-size 4K --io-threads 32 --io-total 80M --io-pattern rand rbd/bench \
        2>&1 | awk -v t=$t '/elapsed:/ { for (i = 1; i < NF; i++) if ($i == "ops/sec:") printf "  rbd bench %-5s %d IOPS\n", t, $(i + 1) }'
done
