#!/usr/bin/env bash
# NBD throughput over a Unix socket, ours against QEMU 7.2, same run:
#
#   servers: qemu-nbd-lite and qemu-nbd, each serving the same raw file
#            (-f raw -t -e 8, default cache/aio) in the page cache;
#   clients: qemu-img-lite bench (our nbd driver) and qemu-img bench (QEMU's),
#            4 KiB reads and writes at QD32 and 1 MiB reads and writes at QD4
#            (qemu-img bench walks offsets sequentially: it has no random
#            mode), plus fio's nbd engine (libnbd) for 4 KiB random read and
#            write at QD32 and 1 MiB sequential read and write at QD4.
#
# Every client runs against every server, so the table has the issue's pair
# (qemu-img-lite bench -> qemu-nbd-lite vs qemu-img bench -> qemu-nbd) and the
# cross pairs that isolate the client (both against qemu-nbd) and the server
# (qemu-img bench or fio against each).  The machine is small and shared, so
# the servers alternate round by round (ours first in odd rounds) and each
# cell keeps the best of NBD_BENCH_ROUNDS rounds.  Ratio = ours / reference,
# higher is better.
#
# NBD_BENCH_TLS=1: the same over TLS (X.509 certificates made with certtool
# in a scratch directory, both servers with --tls-creds, the client with
# tls-creds=).  QEMU 7.2's qemu-img bench has no --object and libnbd refuses
# tls-certificates= in fio's URI, so over TLS only our client can drive the
# benchmark: the TLS tables compare the servers (qemu-nbd-lite vs qemu-nbd,
# both under qemu-img-lite bench) and our client/server pair against itself
# without TLS (the cost of TLS).
#
# Env: NBD_BENCH_FILE (default $QEMU_LITE_BUILD/nbd-bench.img),
# NBD_BENCH_SIZE_MB (256), NBD_BENCH_ROUNDS (3), NBD_BENCH_SECS (2 per fio
# run), NBD_BENCH_COUNT (4 KiB requests per bench run, 20000),
# NBD_BENCH_COUNT_1M (1 MiB requests per bench run, 500).  About 5 minutes on a
# loaded 2-vCPU machine.
set -euo pipefail
build=${QEMU_LITE_BUILD:-build}
nbd_ours=$build/qemu-nbd-lite/qemu-nbd-lite
img_ours=$build/qemu-img-lite/qemu-img-lite
file=${NBD_BENCH_FILE:-$build/nbd-bench.img}
size_mb=${NBD_BENCH_SIZE_MB:-256}
rounds=${NBD_BENCH_ROUNDS:-3}
secs=${NBD_BENCH_SECS:-2}
count=${NBD_BENCH_COUNT:-20000}
count_1m=${NBD_BENCH_COUNT_1M:-500}
tls=${NBD_BENCH_TLS:-0}

for t in "$nbd_ours" "$img_ours"; do
    [ -x "$t" ] || { echo "$t not built"; exit 1; }
done
for tool in fio qemu-nbd qemu-img; do
    command -v "$tool" >/dev/null || { echo "$tool not installed"; exit 1; }
done
have_fio=1
fio --enghelp 2>/dev/null | grep -qw nbd || have_fio=0
[ "$tls" = 1 ] && have_fio=0

if [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" != $((size_mb << 20)) ]; then
    echo "writing ${size_mb} MiB of random data to $file"
    dd if=/dev/urandom of="$file" bs=1M count="$size_mb" status=none
fi
cat "$file" >/dev/null  # into the page cache

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

# TLS: one CA, a server and a client certificate (as the iotests make them).
tls_server_args=()
tls_client_args=()
if [ "$tls" = 1 ]; then
    command -v certtool >/dev/null || { echo "certtool not installed (gnutls-bin)"; exit 1; }
    TEST_DIR=$dir
    _require_command() { :; }
    _notrun() { echo "$*"; exit 1; }
    # shellcheck source=../tests/qemu-iotests-lite/common.tls
    . "$(dirname "$0")/../tests/qemu-iotests-lite/common.tls"
    tls_init
    tls_ca ca
    tls_server ca server
    tls_client ca client
    tls_server_args=(--object "tls-creds-x509,id=tls0,endpoint=server,dir=$TLS_DIR/server"
                     --tls-creds=tls0)
    tls_client_args=(--object "tls-creds-x509,id=tls0,endpoint=client,dir=$TLS_DIR/client")
fi

start_server() {  # binary
    "$1" -f raw -t -e 8 -k "$dir/nbd.sock" "${tls_server_args[@]}" "$file" 2>"$dir/server.log" &
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

server_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

# img_bench TOOL COUNT SIZE DEPTH [-w] -> "req/s client-us/req server-us/req"
# CPU time per request (user + system) is much less sensitive to the load of
# a shared machine than throughput: it is printed as a second table.
img_bench() {
    local tool=$1 n=$2 sz=$3 qd=$4 out t cpu s0 s1
    shift 4
    s0=$(server_ticks)
    local target=(-f raw "$(uri)")
    if [ "$tls" = 1 ]; then
        target=("${tls_client_args[@]}" --image-opts
                "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$dir/nbd.sock,file.tls-creds=tls0")
    fi
    out=$(/usr/bin/time -f "cpu %U %S" "$tool" bench -c "$n" -d "$qd" -s "$sz" "$@" \
          "${target[@]}" 2>&1) || true
    s1=$(server_ticks)
    t=$(sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p' <<<"$out")
    cpu=$(sed -n 's/^cpu \([0-9.]*\) \([0-9.]*\)$/\1 \2/p' <<<"$out")
    awk -v c="$n" -v t="$t" -v cpu="$cpu" -v st="$((s1 - s0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(cpu, u, " ")
        if (t > 0) printf "%.0f %.1f %.1f", c / t, (u[1] + u[2]) * 1e6 / c, st * 1e6 / hz / c
        else print "0 0 0" }'
}

# Workloads: label|unit|how to run it with client $1 (img tools only)
img_cases=("read 4k QD32|req/s|$count 4k 32" "write 4k QD32|req/s|$count 4k 32 -w"
           "read 1M QD4|MiB/s|$count_1m 1M 4" "write 1M QD4|MiB/s|$count_1m 1M 4 -w")
fio_cases=("randread 4k QD32|KiB/s|randread 4k 32" "randwrite 4k QD32|KiB/s|randwrite 4k 32"
           "read 1M QD4|KiB/s|read 1M 4" "write 1M QD4|KiB/s|write 1M 4")

declare -A best
keep_best() {  # key value: highest
    local old=${best[$1]:-0}
    best[$1]=$(awk -v a="$old" -v b="$2" 'BEGIN { print (b > a) ? b : a }')
}
keep_least() {  # key value: lowest non-zero
    local old=${best[$1]:-0}
    best[$1]=$(awk -v a="$old" -v b="$2" 'BEGIN { print (a == 0 || (b > 0 && b < a)) ? b : a }')
}

run_server_round() {  # srv-label
    local srv=$1 c i spec thr ccpu scpu
    local clients="ref ours"
    [ "$tls" = 1 ] && clients=ours  # qemu-img 7.2 bench has no --object
    for c in $clients; do
        local tool=qemu-img
        [ $c = ours ] && tool=$img_ours
        for i in "${!img_cases[@]}"; do
            spec=${img_cases[$i]##*|}
            # shellcheck disable=SC2086
            read -r thr ccpu scpu <<<"$(img_bench "$tool" $spec)"
            keep_best "img,$c,$srv,$i" "$thr"
            keep_least "ccpu,$c,$srv,$i" "$ccpu"
            keep_least "scpu,$c,$srv,$i" "$scpu"
        done
    done
    [ $have_fio = 1 ] || return 0
    for i in "${!fio_cases[@]}"; do
        spec=${fio_cases[$i]##*|}
        # shellcheck disable=SC2086
        keep_best "fio,$srv,$i" "$(fio_bw $spec)"
    done
}

for ((r = 1; r <= rounds; r++)); do
    order="ours ref"
    [ $((r % 2)) = 0 ] && order="ref ours"
    for s in $order; do
        if [ $s = ref ]; then start_server "$(command -v qemu-nbd)"; else start_server "$nbd_ours"; fi
        run_server_round $s
        stop_server
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# req/s of 1 MiB requests -> MiB/s is the same number
row() {  # label unit ref ours
    printf '  %-28s %12s %12s %7s\n' "$1 ($2)" "$3" "$4" "$(ratio "$4" "$3")"
}
header() {  # title ref-col ours-col
    echo
    echo "$1"
    printf '  %-28s %12s %12s %7s\n' "workload" "$2" "$3" "ratio"
}
img_table() {  # title refcol ourscol ref-client ref-server ours-client ours-server
    local i label unit
    header "$1" "$2" "$3"
    for i in "${!img_cases[@]}"; do
        label=${img_cases[$i]%%|*}
        unit=${img_cases[$i]#*|}; unit=${unit%%|*}
        row "$label" "$unit" "${best[img,$4,$5,$i]}" "${best[img,$6,$7,$i]}"
    done
}

if [ "$tls" = 1 ]; then
    echo "machine: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "TLS (X.509, GnuTLS $(certtool --version | sed -n '1s/.* //p')); file: $file (${size_mb} MiB," \
         "page cache); best of $rounds rounds; $count 4k / $count_1m 1M requests per bench run"
    img_table "server over TLS: qemu-img-lite bench -> qemu-nbd-lite vs -> qemu-nbd" \
        "qemu-nbd" "qemu-nbd-lite" ours ref ours ours
    echo
    echo "CPU time per request in microseconds over TLS (least over the rounds; ratio ="
    echo "qemu-nbd / qemu-nbd-lite, higher is better); client: qemu-img-lite bench"
    printf '  %-20s %9s %9s %6s   %9s\n' "workload" "qemu-nbd" "nbd-lite" "ratio" "client"
    for i in "${!img_cases[@]}"; do
        s_ref=${best[scpu,ours,ref,$i]}; s_ours=${best[scpu,ours,ours,$i]}
        printf '  %-20s %9s %9s %6s   %9s\n' "${img_cases[$i]%%|*}" "$s_ref" "$s_ours" \
            "$(ratio "$s_ref" "$s_ours")" "${best[ccpu,ours,ours,$i]}"
    done
    exit 0
fi
echo "machine: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "file: $file (${size_mb} MiB, page cache); best of $rounds rounds; ${secs}s per fio run;" \
     "$count 4k / $count_1m 1M requests per bench run"
img_table "qemu-img-lite bench -> qemu-nbd-lite  vs  qemu-img bench -> qemu-nbd" \
    "QEMU/QEMU" "lite/lite" ref ref ours ours
img_table "client: qemu-img-lite bench vs qemu-img bench, both -> qemu-nbd" \
    "qemu-img" "qemu-img-lite" ref ref ours ref
img_table "server: qemu-img bench -> qemu-nbd-lite vs -> qemu-nbd" \
    "qemu-nbd" "qemu-nbd-lite" ref ref ref ours
img_table "client on our server: qemu-img-lite bench vs qemu-img bench, both -> qemu-nbd-lite" \
    "qemu-img" "qemu-img-lite" ref ours ours ours
echo
echo "CPU time per request in microseconds (user + system, least over the rounds; lower is"
echo "better; ratio = reference / ours, higher is better): clients measured against qemu-nbd,"
echo "servers measured with qemu-img bench as the client"
printf '  %-20s %9s %9s %6s   %9s %9s %6s\n' "workload" "qemu-img" "img-lite" "ratio" \
    "qemu-nbd" "nbd-lite" "ratio"
for i in "${!img_cases[@]}"; do
    c_ref=${best[ccpu,ref,ref,$i]}; c_ours=${best[ccpu,ours,ref,$i]}
    s_ref=${best[scpu,ref,ref,$i]}; s_ours=${best[scpu,ref,ours,$i]}
    printf '  %-20s %9s %9s %6s   %9s %9s %6s\n' "${img_cases[$i]%%|*}" "$c_ref" "$c_ours" \
        "$(ratio "$c_ref" "$c_ours")" "$s_ref" "$s_ours" "$(ratio "$s_ref" "$s_ours")"
done
if [ $have_fio = 1 ]; then
    header "server: fio (libnbd) -> qemu-nbd-lite vs -> qemu-nbd" "qemu-nbd" "qemu-nbd-lite"
    for i in "${!fio_cases[@]}"; do
        label=${fio_cases[$i]%%|*}
        row "fio $label" "KiB/s" "${best[fio,ref,$i]}" "${best[fio,ours,$i]}"
    done
else
    echo; echo "fio has no nbd engine: fio rows not run"
fi
