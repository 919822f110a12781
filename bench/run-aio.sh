#!/usr/bin/env bash
# AIO engines: 4 KiB random O_DIRECT reads at QD1 and QD32 from a 1 GiB file
# of real (written) data, through each of our backends (aio-bench, driving
# coroutines like the block layer does) next to fio (libaio, io_uring) on
# the same file for the same duration; then submission syscalls counted by
# strace for us and for QEMU 7.2's `qemu-img bench -i native`.
#
# Env: AIO_BENCH_FILE (default $QEMU_LITE_BUILD/aio-bench.img, kept between
# runs), AIO_BENCH_SIZE_MB (1024), AIO_BENCH_SECS (5 per run),
# AIO_BENCH_COUNT (requests for the syscall comparison, 20000).
set -euo pipefail
build=${QEMU_LITE_BUILD:-build}
bin=$build/bench/aio-bench
file=${AIO_BENCH_FILE:-$build/aio-bench.img}
size_mb=${AIO_BENCH_SIZE_MB:-1024}
secs=${AIO_BENCH_SECS:-5}
count=${AIO_BENCH_COUNT:-20000}

[ -x "$bin" ] || { echo "aio-bench not built ($bin)"; exit 1; }
for tool in fio qemu-img strace; do
    command -v "$tool" >/dev/null || { echo "$tool not installed"; exit 1; }
done

# Real data, written once: fallocated or sparse extents would let the
# filesystem answer reads without touching the device.
if [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" != $((size_mb << 20)) ]; then
    echo "writing ${size_mb} MiB of random data to $file"
    dd if=/dev/urandom of="$file" bs=1M count="$size_mb" oflag=direct status=none
fi

fio_iops() {  # ENGINE QD [fio options] -> IOPS (terse v3 field 8: read IOPS)
    fio --name=aio --filename="$file" --ioengine="$1" --iodepth="$2" --direct=1 \
        --rw=randread --bs=4k --runtime="$secs" --time_based --norandommap \
        --output-format=terse --terse-version=3 "${@:3}" | cut -d';' -f8
}

ours() {  # BACKEND QD [extra args] -> aio-bench key=value line
    local b=$1 qd=$2
    shift 2
    "$bin" -i "$b" -d "$qd" -s 4096 "$@" "$file"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "machine: $(nproc) CPUs, $(uname -r), file $file (${size_mb} MiB), ${secs}s per run"
printf '%-22s %4s %10s %10s %12s %14s\n' run qd IOPS reqs/call "vs fio-libaio" "vs fio-io_uring"
for qd in 1 32; do
    ref_aio=$(fio_iops libaio "$qd")
    ref_uring=$(fio_iops io_uring "$qd")
    printf '%-22s %4s %10s %10s %12s %14s\n' "fio libaio" "$qd" "$ref_aio" - 1.00 \
        "$(ratio "$ref_aio" "$ref_uring")"
    printf '%-22s %4s %10s %10s %12s %14s\n' "fio io_uring" "$qd" "$ref_uring" - \
        "$(ratio "$ref_uring" "$ref_aio")" 1.00
    if [ "$qd" -gt 1 ]; then
        # fio submits each I/O alone by default; this row lets it batch too.
        batched=$(fio_iops libaio "$qd" --iodepth_batch_submit="$qd" \
            --iodepth_batch_complete_max="$qd")
        printf '%-22s %4s %10s %10s %12s %14s\n' "fio libaio batch=$qd" "$qd" "$batched" - \
            "$(ratio "$batched" "$ref_aio")" "$(ratio "$batched" "$ref_uring")"
    fi
    for b in native io_uring threads; do
        line=$(ours "$b" "$qd" -t "$secs") || { echo "aio=$b: failed"; continue; }
        iops=$(field iops <<<"$line")
        printf '%-22s %4s %10s %10s %12s %14s\n' "qemu-lite aio=$b" "$qd" "$iops" \
            "$(field reqs_per_submit <<<"$line")" "$(ratio "$iops" "$ref_aio")" \
            "$(ratio "$iops" "$ref_uring")"
    done
done

# Same request stream for both: $count sequential 4 KiB O_DIRECT reads at
# QD32 (qemu-img bench's default pattern).
echo
echo "submission syscalls for $count reads at QD32 (strace -c -f):"
count_calls() {  # SYSCALL CMD... -> calls of SYSCALL
    strace -f -c -e trace="$1" -o /tmp/aio-bench-strace.$$ "${@:2}" >/dev/null
    awk -v s="$1" '$NF == s { print $4 }' /tmp/aio-bench-strace.$$ | head -1
}
ref_cmd=(qemu-img bench -f raw -d 32 -c "$count" -s 4096 -t none -i native "$file")
ref_calls=$(count_calls io_submit "${ref_cmd[@]}")
our_calls=$(count_calls io_submit "$bin" -i native -d 32 -c "$count" --seq "$file")
uring_calls=$(count_calls io_uring_enter "$bin" -i io_uring -d 32 -c "$count" --seq "$file")
rm -f /tmp/aio-bench-strace.$$
ref_secs=$("${ref_cmd[@]}" | sed -n 's/Run completed in \([0-9.]*\) seconds./\1/p')
our_secs=$("$bin" -i native -d 32 -c "$count" --seq "$file" | field secs)
printf '%-34s %12s %10s %8s\n' run "submit calls" reqs/call seconds
printf '%-34s %12s %10s %8s\n' "qemu-img bench -i native (7.2)" "${ref_calls:-0}" \
    "$(ratio "$count" "${ref_calls:-0}")" "$ref_secs"
printf '%-34s %12s %10s %8s\n' "qemu-lite aio-bench -i native" "${our_calls:-0}" \
    "$(ratio "$count" "${our_calls:-0}")" "$our_secs"
printf '%-34s %12s %10s %8s\n' "qemu-lite aio-bench -i io_uring" "${uring_calls:-0}" \
    "$(ratio "$count" "${uring_calls:-0}")" -
echo "io_submit calls, qemu-img / ours: $(ratio "${ref_calls:-0}" "${our_calls:-0}")x fewer;" \
    "time ours / qemu-img: $(ratio "$our_secs" "$ref_secs")"
