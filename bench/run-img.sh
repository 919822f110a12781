#!/usr/bin/env bash
# qemu-img-lite against QEMU 7.2's qemu-img in the same run:
#  - bench: fresh qcow2 and raw images, 4 KiB requests, QD32, -t none -i native,
#    read and write (IOPS, higher is better);
#  - convert: a partially filled image (every 4th MiB written, random data)
#    qcow2->qcow2, raw->qcow2, qcow2->raw and qcow2->qcow2 -c (seconds, lower
#    is better).  Neither tool flushes the target (both default to
#    cache=unsafe for the target), so like is compared with like.
# Runs of the two tools are interleaved and the best of IMG_BENCH_RUNS is kept
# (the machine is shared and noisy).
#
# Env: IMG_BENCH_DIR (default $QEMU_LITE_BUILD/img-bench; must support
# O_DIRECT), IMG_BENCH_SIZE_MB (convert source size, 2048), IMG_BENCH_COUNT
# (bench requests, 200000), IMG_BENCH_RUNS (3).
set -euo pipefail
build=${QEMU_LITE_BUILD:-build}
ours=$build/qemu-img-lite/qemu-img-lite
dir=${IMG_BENCH_DIR:-$build/img-bench}
size_mb=${IMG_BENCH_SIZE_MB:-2048}
count=${IMG_BENCH_COUNT:-200000}
runs=${IMG_BENCH_RUNS:-3}

[ -x "$ours" ] || { echo "qemu-img-lite not built ($ours)"; exit 1; }
command -v qemu-img >/dev/null || { echo "qemu-img not installed"; exit 1; }
mkdir -p "$dir"
trap 'rm -f "$dir"/out.* "$dir"/b.*' EXIT

best() { sort -g | head -n1; }
bestmax() { sort -g | tail -n1; }

# bench_iops TOOL FMT RW -> requests per second of one run
bench_iops() {
    local tool=$1 fmt=$2 rw=$3 w=
    [ "$rw" = write ] && w=-w
    rm -f "$dir/b.$fmt"
    qemu-img create -q -f "$fmt" "$dir/b.$fmt" 1G
    local secs
    secs=$("$tool" bench -f "$fmt" -c "$count" -d 32 -s 4k -t none -i native $w \
        "$dir/b.$fmt" | sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
    awk -v c="$count" -v s="$secs" 'BEGIN { printf "%.0f\n", c / s }'
}

# The convert source: every 4th MiB filled with random data.
make_sources() {
    [ -f "$dir/src.raw" ] && [ "$(stat -c %s "$dir/src.raw")" = $((size_mb << 20)) ] &&
        [ -f "$dir/src.qcow2" ] && return 0
    echo "writing a ${size_mb} MiB source, 25% allocated, to $dir"
    rm -f "$dir/src.raw"
    truncate -s "${size_mb}M" "$dir/src.raw"
    head -c 1M /dev/urandom >"$dir/chunk"
    for ((m = 0; m < size_mb; m += 4)); do
        dd if="$dir/chunk" of="$dir/src.raw" bs=1M seek=$m conv=notrunc status=none
    done
    qemu-img convert -f raw -O qcow2 "$dir/src.raw" "$dir/src.qcow2"
}

# convert_secs TOOL ARGS... -> wall seconds of one run
convert_secs() {
    local tool=$1
    shift
    rm -f "$dir"/out.*
    local t0 t1
    t0=$(date +%s.%N)
    "$tool" convert "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

printf '| %-40s | %12s | %14s | %6s |\n' "workload" "qemu-img" "qemu-img-lite" "ratio"
printf '|%s|%s|%s|%s|\n' "------------------------------------------" "-------------:" \
    "---------------:" "-------:"

for fmt in qcow2 raw; do
    for rw in read write; do
        ref=() lite=()
        for ((i = 0; i < runs; i++)); do
            ref+=("$(bench_iops qemu-img "$fmt" "$rw")")
            lite+=("$(bench_iops "$ours" "$fmt" "$rw")")
        done
        r=$(printf '%s\n' "${ref[@]}" | bestmax)
        l=$(printf '%s\n' "${lite[@]}" | bestmax)
        printf '| %-40s | %12s | %14s | %6.2f |\n' "bench $fmt 4k QD32 $rw (IOPS)" "$r" "$l" \
            "$(awk -v a="$l" -v b="$r" 'BEGIN { print a / b }')"
    done
done

make_sources
while IFS='|' read -r name args; do
    ref=() lite=()
    for ((i = 0; i < runs; i++)); do
        # shellcheck disable=SC2086
        ref+=("$(eval convert_secs qemu-img $args)")
        # shellcheck disable=SC2086
        lite+=("$(eval convert_secs "$ours" $args)")
    done
    r=$(printf '%s\n' "${ref[@]}" | best)
    l=$(printf '%s\n' "${lite[@]}" | best)
    printf '| %-40s | %12s | %14s | %6.2f |\n' "convert $name (s)" "$r" "$l" \
        "$(awk -v a="$l" -v b="$r" 'BEGIN { print a / b }')"
done <<EOF
qcow2->qcow2|-f qcow2 -O qcow2 "$dir/src.qcow2" "$dir/out.qcow2"
raw->qcow2|-f raw -O qcow2 "$dir/src.raw" "$dir/out.qcow2"
qcow2->raw|-f qcow2 -O raw "$dir/src.qcow2" "$dir/out.raw"
qcow2->qcow2 -c|-c -f qcow2 -O qcow2 "$dir/src.qcow2" "$dir/out.qcow2"
EOF
echo "bench: ratio = lite/ref IOPS (higher is better); convert: ratio = lite/ref time (lower is better)"
