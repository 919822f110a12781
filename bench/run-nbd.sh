#!/usr/bin/env bash
# NBD server throughput: qemu-nbd-lite against QEMU 7.2's qemu-nbd, each
# serving the same raw file over a Unix socket, driven by the same clients in
# the same run: fio's nbd engine (libnbd) for 4 KiB random read/write at QD32
# and 1 MiB sequential read/write at QD4, and QEMU's `qemu-img bench`
# (4 KiB QD32 read and write).  Prints a table with ours/reference ratios.
# The same pairs with our client (qemu-img-lite bench) are listed once
# qemu-img-lite grows `bench`.
#
# Env: NBD_BENCH_FILE (default $QEMU_LITE_BUILD/nbd-bench.img), NBD_BENCH_SIZE_MB
# (256), NBD_BENCH_SECS (3 per fio run), NBD_BENCH_COUNT (qemu-img bench
# requests, 50000).
set -euo pipefail
build=${QEMU_LITE_BUILD:-build}
ours=$build/qemu-nbd-lite/qemu-nbd-lite
file=${NBD_BENCH_FILE:-$build/nbd-bench.img}
size_mb=${NBD_BENCH_SIZE_MB:-256}
secs=${NBD_BENCH_SECS:-3}
count=${NBD_BENCH_COUNT:-50000}

[ -x "$ours" ] || { echo "qemu-nbd-lite not built ($ours)"; exit 1; }
for tool in fio qemu-nbd qemu-img; do
    command -v "$tool" >/dev/null || { echo "$tool not installed"; exit 1; }
done
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "fio has no nbd engine"; exit 1; }

if [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" != $((size_mb << 20)) ]; then
    echo "writing ${size_mb} MiB of random data to $file"
    dd if=/dev/urandom of="$file" bs=1M count="$size_mb" status=none
fi

dir=$(mktemp -d)
server_pid=
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    rm -f "$dir/nbd.sock"
}
trap 'stop_server; rm -rf "$dir"' EXIT

start_server() {  # binary
    "$1" -f raw -t -e 8 -k "$dir/nbd.sock" "$file" 2>"$dir/server.log" &
    server_pid=$!
    for ((i = 0; i < 200; i++)); do [ -S "$dir/nbd.sock" ] && return 0; sleep 0.05; done
    echo "server $1 did not start:"; cat "$dir/server.log"; exit 1
}

uri() { echo "nbd+unix:///?socket=$dir/nbd.sock"; }

# fio RW BS QD -> KiB/s (terse v3: field 7 read bw, field 48 write bw)
fio_bw() {
    local rw=$1 bs=$2 qd=$3 field=7
    case $rw in *write) field=48 ;; esac
    fio --name=nbd --ioengine=nbd --uri="$(uri)" --rw="$rw" --bs="$bs" --iodepth="$qd" \
        --size="${size_mb}M" --runtime="$secs" --time_based --norandommap \
        --output-format=terse --terse-version=3 2>/dev/null | tail -n1 | cut -d';' -f"$field"
}

# qemu-img bench [-w] -> requests per second
img_bench() {
    local out t
    out=$(qemu-img bench -f raw -c "$count" -d 32 -s 4k "$@" "$(uri)" 2>&1)
    t=$(sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p' <<<"$out")
    awk -v c="$count" -v t="$t" 'BEGIN { if (t > 0) printf "%.0f", c / t; else print 0 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

declare -A res
cases=("fio randread 4k QD32" "fio randwrite 4k QD32" "fio read 1M QD4" "fio write 1M QD4"
       "qemu-img bench read 4k QD32" "qemu-img bench write 4k QD32")
run_all() {  # label
    res[$1,0]=$(fio_bw randread 4k 32)
    res[$1,1]=$(fio_bw randwrite 4k 32)
    res[$1,2]=$(fio_bw read 1M 4)
    res[$1,3]=$(fio_bw write 1M 4)
    res[$1,4]=$(img_bench)
    res[$1,5]=$(img_bench -w)
}

for s in ref ours; do
    if [ $s = ref ]; then start_server "$(command -v qemu-nbd)"; else start_server "$ours"; fi
    run_all $s
    stop_server
done

echo "machine: $(nproc) CPUs, $(uname -r), $file (${size_mb} MiB, page cache), ${secs}s per fio run"
printf '%-30s %14s %14s %8s\n' "client / workload" "qemu-nbd" "qemu-nbd-lite" "ratio"
for i in "${!cases[@]}"; do
    unit="KiB/s"
    [ "$i" -ge 4 ] && unit="req/s"
    printf '%-30s %14s %14s %8s\n' "${cases[$i]} ($unit)" "${res[ref,$i]}" "${res[ours,$i]}" \
        "$(ratio "${res[ours,$i]}" "${res[ref,$i]}")"
done
echo "qemu-img-lite bench (our client) x both servers: not run (qemu-img-lite has no bench yet)"
