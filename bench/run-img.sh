#!/usr/bin/env bash
# qemu-img-lite against QEMU 7.2's qemu-img in the same run:
#  - bench: fresh qcow2 and raw images, 4 KiB requests, QD32, -t none -i native,
#    read and write (IOPS, best of the runs, higher is better);
#  - convert: a 2 GiB source laid out as in issue 21 (~40% random data in
#    1-8 MiB extents, ~10% written zeroes, rest holes), qcow2->qcow2,
#    raw->qcow2, qcow2->raw, raw->raw, qcow2->qcow2 -c, then the same with
#    copy offloading (-C) for qemu-img-lite (qemu-img without it, its
#    default) and one row with -C for both.  Method (docs/performance.md):
#    source in the page cache (warm), target deleted and `sync` before each
#    run (not timed), neither tool flushes the target (both default to
#    cache=unsafe for it), runs of the two tools in interleaved pairs, the
#    order alternating; the median wall time and the median CPU time (user +
#    system) of each tool are compared.
#
# Env: IMG_BENCH_DIR (default $QEMU_LITE_BUILD/img-bench; must support
# O_DIRECT), IMG_BENCH_SIZE_MB (convert source size, 2048), IMG_BENCH_COUNT
# (bench requests, 200000; 0 skips the bench rows), IMG_BENCH_RUNS (pairs / runs per row, 5).
set -euo pipefail
build=${QEMU_LITE_BUILD:-build}
ours=$build/qemu-img-lite/qemu-img-lite
dir=${IMG_BENCH_DIR:-$build/img-bench}
size_mb=${IMG_BENCH_SIZE_MB:-2048}
count=${IMG_BENCH_COUNT:-200000}
runs=${IMG_BENCH_RUNS:-5}

[ -x "$ours" ] || { echo "qemu-img-lite not built ($ours)"; exit 1; }
command -v qemu-img >/dev/null || { echo "qemu-img not installed"; exit 1; }
mkdir -p "$dir"
trap 'rm -f "$dir"/out.* "$dir"/b.* "$dir/time.out"' EXIT
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time (package time) not installed"; exit 1; }

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

printf '| %-40s | %12s | %14s | %6s |\n' "workload" "qemu-img" "qemu-img-lite" "ratio"
printf '|%s|%s|%s|%s|\n' "------------------------------------------" "-------------:" \
    "---------------:" "-------:"

for fmt in qcow2 raw; do
    ((count > 0)) || break   # IMG_BENCH_COUNT=0: convert rows only
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


# The convert source (the layout of issue 21's outside measurement): in
# extents of 1-8 MiB chosen with a fixed seed, ~40% random data, ~10%
# written zeroes, the rest holes.  The qcow2 source is qemu-img's
# conversion of the raw one.
make_sources() {
    local stamp="$dir/src.layout-v2-$size_mb"
    [ -f "$stamp" ] && [ -f "$dir/src.raw" ] && [ -f "$dir/src.qcow2" ] && return 0
    echo "writing a ${size_mb} MiB source (~40% data, ~10% zeroes, rest holes) to $dir"
    rm -f "$dir/src.raw" "$dir/src.qcow2" "$dir"/src.layout-*
    truncate -s "${size_mb}M" "$dir/src.raw"
    head -c 8M /dev/urandom >"$dir/chunk"
    awk -v size="$size_mb" 'BEGIN { srand(21); m = 0
        while (m < size) { len = 1 + int(rand() * 8); if (m + len > size) len = size - m
            r = rand(); print (r < 0.4 ? "d" : (r < 0.5 ? "z" : "h")), m, len; m += len } }' |
    while read -r kind m len; do
        case $kind in
        d) dd if="$dir/chunk" of="$dir/src.raw" bs=1M count="$len" seek="$m" conv=notrunc status=none ;;
        z) dd if=/dev/zero of="$dir/src.raw" bs=1M count="$len" seek="$m" conv=notrunc status=none ;;
        esac
    done
    rm -f "$dir/chunk"
    qemu-img convert -f raw -O qcow2 "$dir/src.raw" "$dir/src.qcow2"
    touch "$stamp"
}

# convert_run TOOL ARGS... -> "wall cpu" seconds of one run (cpu = user +
# system of the tool).  The previous target is deleted and everything
# flushed before the clock starts, so no run pays for another's writeback;
# the sources stay in the page cache (warm).
convert_run() {
    local tool=$1
    shift
    rm -f "$dir"/out.*
    sync
    /usr/bin/time -o "$dir/time.out" -f "%e %U %S" "$tool" convert "$@" >/dev/null
    awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$dir/time.out"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

make_sources
cat "$dir/src.raw" "$dir/src.qcow2" >/dev/null   # warm cache for both tools
printf '\n| %-40s | %10s | %10s | %6s | %8s | %8s | %6s |\n' "convert (median of $runs pairs)" \
    "qemu-img s" "lite s" "wall" "qemu-img" "lite" "CPU"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "------------------------------------------" "-----------:" \
    "-----------:" "-------:" "---------:" "---------:" "-------:"
while IFS='|' read -r name ref_extra lite_extra args; do
    rw=() lw=() rc=() lc=()
    for ((i = 0; i < runs; i++)); do
        # Interleaved pairs, the order alternating so that neither tool
        # always runs second.
        for who in $( ((i % 2)) && echo "lite ref" || echo "ref lite"); do
            if [ "$who" = ref ]; then
                read -r w c < <(eval convert_run qemu-img $ref_extra $args)
                rw+=("$w"); rc+=("$c")
            else
                read -r w c < <(eval convert_run "$ours" $lite_extra $args)
                lw+=("$w"); lc+=("$c")
            fi
        done
    done
    r=$(printf '%s\n' "${rw[@]}" | median); l=$(printf '%s\n' "${lw[@]}" | median)
    rcpu=$(printf '%s\n' "${rc[@]}" | median); lcpu=$(printf '%s\n' "${lc[@]}" | median)
    printf '| %-40s | %10.3f | %10.3f | %6.2f | %8.2f | %8.2f | %6.2f |\n' "$name" "$r" "$l" \
        "$(awk -v a="$l" -v b="$r" 'BEGIN { print a / b }')" "$rcpu" "$lcpu" \
        "$(awk -v a="$lcpu" -v b="$rcpu" 'BEGIN { print (b > 0) ? a / b : 0 }')"
done <<EOF
qcow2->qcow2|||-f qcow2 -O qcow2 "$dir/src.qcow2" "$dir/out.qcow2"
raw->qcow2|||-f raw -O qcow2 "$dir/src.raw" "$dir/out.qcow2"
qcow2->raw|||-f qcow2 -O raw "$dir/src.qcow2" "$dir/out.raw"
raw->raw|||-f raw -O raw "$dir/src.raw" "$dir/out.raw"
qcow2->qcow2 -c|||-c -f qcow2 -O qcow2 "$dir/src.qcow2" "$dir/out.qcow2"
qcow2->qcow2, lite -C||-C|-f qcow2 -O qcow2 "$dir/src.qcow2" "$dir/out.qcow2"
raw->qcow2, lite -C||-C|-f raw -O qcow2 "$dir/src.raw" "$dir/out.qcow2"
qcow2->raw, lite -C||-C|-f qcow2 -O raw "$dir/src.qcow2" "$dir/out.raw"
raw->raw, lite -C||-C|-f raw -O raw "$dir/src.raw" "$dir/out.raw"
raw->qcow2, both -C|-C|-C|-f raw -O qcow2 "$dir/src.raw" "$dir/out.qcow2"
EOF
echo "bench: ratio = lite/ref IOPS, best of $runs (higher is better); convert: ratios = lite/ref wall and CPU (user+system) time, medians (lower is better)"
