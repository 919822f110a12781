#!/usr/bin/env bash
# Crash consistency of qcow-lite under kill -9 (issue 9).
#
#   crash-consistency.sh BUILD_DIR [ITERATIONS]
#
# Each iteration takes a fresh qcow2 image made by qemu-img-lite (plain with
# 4 KiB or 64 KiB clusters, over a backing file, or written compressed),
# starts a qemu-io-lite workload of writes to distinct 64 KiB slots with a
# flush every few writes, and kills it with SIGKILL at a random moment.
# Then:
#   - real `qemu-img check` must report no corruption (leaks are allowed,
#     `qemu-img-lite check -r leaks` must repair them, and real qemu-img
#     must then find the image clean);
#   - every write that completed before the last completed flush must read
#     back (real qemu-io, read -P) with its pattern;
#   - everything outside the written ranges, including the rest of the slot
#     of a write that was cut off, must still read as before (zeroes, or the
#     backing file's pattern): copy-on-write never leaks half a cluster.
# CRASH_JOBS (default 2) iterations run side by side; each kill still hits
# one process at one random moment.  Prints one summary line and exits 0,
# 1 on any violation, 77 (skip) when a tool is missing.  The figures also
# go to BUILD_DIR/crash-consistency.txt.
#
# CRASH_LAZY=1 (crash-lazy-refcounts.sh): the images have lazy_refcounts=on,
# so a kill leaves a dirty image whose refcounts may lag; real qemu-img check
# may then report errors, and a read/write open by qemu-io-lite must repair
# it (check -r all semantics) into an image real qemu-img finds clean.
set -u
build=${1:?usage: crash-consistency.sh BUILD_DIR [ITERATIONS]}
LAZY=${CRASH_LAZY:-0}
NAME=crash-consistency
[ "$LAZY" = 1 ] && NAME=crash-lazy-refcounts
iters=${2:-${CRASH_ITERATIONS:-100}}
jobs=${CRASH_JOBS:-2}
IMG=$build/qemu-img-lite/qemu-img-lite
IO=$build/qemu-io-lite/qemu-io-lite
for t in "$IMG" "$IO"; do
    [ -x "$t" ] || { echo "SKIP: $t not built"; exit 77; }
done
for t in qemu-img qemu-io stdbuf; do
    command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done

# tmpfs when there is one: a process kill leaves the page cache intact, so
# fsync cost buys nothing here and would only slow the iterations down.
tmp=${TMPDIR:-/tmp}
[ -z "${TMPDIR:-}" ] && [ -w /dev/shm ] && tmp=/dev/shm
dir=$(mktemp -d "$tmp/crash-XXXXXX")
trap 'rm -rf "$dir"' EXIT
SIZE=$((16 << 20)) SLOT=65536 NSLOTS=256 MARK=$(((16 << 20) - 512))
MODES=(plain:4096 backing:65536 compressed:65536 plain:65536)

# One empty image per shape, made by qemu-img-lite; iterations copy them.
make_templates() {
    local m mode cs opts
    qemu-img create -q -f qcow2 "$dir/base.qcow2" $SIZE
    qemu-io -f qcow2 -c "write -P 0xbb 0 $SIZE" "$dir/base.qcow2" >/dev/null
    for m in "${MODES[@]}"; do
        mode=${m%:*} cs=${m#*:}
        opts=(-o cluster_size=$cs)
        [ "$LAZY" = 1 ] && opts+=(-o compat=1.1,lazy_refcounts=on)
        [ $mode = backing ] && opts+=(-b "$dir/base.qcow2" -F qcow2)
        "$IMG" create -q -f qcow2 "${opts[@]}" "$dir/$mode-$cs.qcow2" $SIZE >"$dir/create" 2>&1 ||
            { echo "FAIL: qemu-img-lite create: $(cat "$dir/create")"; exit 1; }
    done
}

fail() {  # message; keeps the image and log for a post-mortem
    echo "FAIL iteration $i ($mode, cluster $cs): $*"
    cp "$w/t.qcow2" "$build/crash-fail-$i.qcow2" 2>/dev/null
    cp "$w/log" "$build/crash-fail-$i.log" 2>/dev/null
    failures=$((failures + 1))
}

# Fills slots[] with @1 distinct random slots (never the marker's last one).
pick_slots() {
    local k r t
    slots=()
    for ((k = 0; k < NSLOTS - 1; k++)); do slots[k]=$k; done
    for ((k = 0; k < $1; k++)); do  # a partial Fisher-Yates shuffle
        r=$((k + RANDOM % (NSLOTS - 1 - k)))
        t=${slots[k]} slots[k]=${slots[r]} slots[r]=$t
    done
    slots=("${slots[@]:0:$1}")
}

# Fills cmd[], kind[], off[], len[], pat[] with one workload.
make_workload() {
    local n=0 s slot o l slots
    cmd=() kind=() off=() len=() pat=()
    pick_slots 96
    for s in "${slots[@]}"; do
        slot=$((s * SLOT))
        if [ "$mode" = compressed ]; then
            o=$slot l=$SLOT kind[n]=c
        else
            o=$((slot + (RANDOM % 64) * 512)) l=$(((RANDOM % 32 + 1) * 512))
            [ $((o + l)) -gt $((slot + SLOT)) ] && l=$((slot + SLOT - o))
            kind[n]=w
            [ "$mode" = plain ] && [ $((RANDOM % 8)) = 0 ] && kind[n]=z
        fi
        off[n]=$o len[n]=$l pat[n]=$((n % 250 + 1))
        case ${kind[n]} in
            w) cmd[n]="write -P ${pat[n]} $o $l" ;;
            z) cmd[n]="write -z $o $l"; pat[n]=0 ;;
            c) cmd[n]="write -c -P ${pat[n]} $o $l" ;;
        esac
        n=$((n + 1))
        if [ $((n % 6)) = 5 ]; then   # flush, then a read that proves it returned
            kind[n]=f cmd[n]=flush; n=$((n + 1))
            kind[n]=m cmd[n]="read $MARK 512"; n=$((n + 1))
        fi
    done
}

# Real qemu-io reads; any pattern mismatch is a violation.
verify() {  # base pattern, number of commands whose output was seen
    local basepat=$1 seen=$2 j k args=() lastmark=-1 touched=()
    for ((j = 0; j < seen; j++)); do [ "${kind[j]}" = m ] && lastmark=$j; done
    for ((j = 0; j < ${#cmd[@]} && j <= seen; j++)); do
        case ${kind[j]} in f | m) continue ;; esac
        local slot=$((off[j] / SLOT * SLOT)) end=$((off[j] + len[j]))
        touched[slot / SLOT]=1
        if [ $j -lt "$lastmark" ]; then
            args+=(-c "read -P ${pat[j]} ${off[j]} ${len[j]}")
        fi
        [ "${off[j]}" -gt $slot ] && args+=(-c "read -P $basepat $slot $((off[j] - slot))")
        [ $end -lt $((slot + SLOT)) ] && args+=(-c "read -P $basepat $end $((slot + SLOT - end))")
    done
    for ((k = 0; k < 4; k++)); do  # a few slots nobody wrote
        j=$((RANDOM % (NSLOTS - 1)))
        [ -z "${touched[j]:-}" ] && args+=(-c "read -P $basepat $((j * SLOT)) $SLOT")
    done
    [ ${#args[@]} = 0 ] && return 0
    verified=$((verified + ${#args[@]} / 2))
    local out
    out=$(qemu-io -r -f qcow2 "${args[@]}" "$w/t.qcow2" 2>&1)
    if [[ $out == *'Pattern verification failed'* || $out == *'failed:'* ]]; then
        fail "data check: $(grep -m3 -e 'Pattern verification failed' -e 'failed:' <<<"$out" | tr '\n' ' ')"
    fi
}

# Lazy refcounts: errors in a dirty image are expected; the read/write open
# must repair them.
repair_on_open() {
    local rc
    qemu-img check -f qcow2 "$w/t.qcow2" >"$w/check" 2>&1
    rc=$?
    [ $rc = 0 ] && return 0
    grep -q 'refcount=' "$w/check" && dirty=$((dirty + 1))
    "$IO" -f qcow2 -c "read 0 512" "$w/t.qcow2" >"$w/repair" 2>&1 ||
        fail "repair on open failed: $(tr '\n' ' ' <"$w/repair")"
}

check_image() {
    local rc
    [ "$LAZY" = 1 ] && repair_on_open
    qemu-img check -f qcow2 "$w/t.qcow2" >"$w/check" 2>&1
    rc=$?
    case $rc in
        0) ;;
        3)  leaky=$((leaky + 1))
            "$IMG" check -q -r leaks -f qcow2 "$w/t.qcow2" >"$w/repair" 2>&1
            qemu-img check -f qcow2 "$w/t.qcow2" >"$w/check" 2>&1 ||
                fail "qemu-img-lite check -r leaks left: $(tr '\n' ' ' <"$w/check")" ;;
        2) corrupt=$((corrupt + 1)); fail "corruption: $(tr '\n' ' ' <"$w/check")" ;;
        *) fail "qemu-img check exit $rc: $(tr '\n' ' ' <"$w/check")" ;;
    esac
}

# Calibrates the kill window: 3/4 of the longest of `jobs` uninterrupted
# workloads run side by side, as the iterations will run (most kills land
# mid-workload, some runs finish and close the image normally).
calibrate() {
    local k t t0 c args=() w=$dir
    mode=plain cs=4096
    make_workload
    for c in "${cmd[@]}"; do args+=(-c "$c"); done
    t0=$(date +%s%N)
    for ((k = 0; k < jobs; k++)); do
        cp "$dir/plain-4096.qcow2" "$dir/cal$k.qcow2"
        { "$IO" -f qcow2 "${args[@]}" "$dir/cal$k.qcow2" >/dev/null 2>&1; date +%s%N >"$dir/cal$k"; } &
    done
    wait
    window_ms=5
    for ((k = 0; k < jobs; k++)); do
        t=$((($(cat "$dir/cal$k") - t0) / 1000000))
        [ $((t * 3 / 4)) -gt $window_ms ] && window_ms=$((t * 3 / 4))
    done
}

# Starts the workload, kills it at a random moment; sets nseen to the
# number of commands whose completion the log proves.
run_and_kill() {
    local c args=() pid delay seen j s
    for c in "${cmd[@]}"; do args+=(-c "$c"); done
    # The parent creates the log: a kill that lands before the child has
    # opened it must find it empty, not holding the previous iteration's
    # output (which would claim flushes this workload never made).
    : >"$w/log"
    stdbuf -oL "$IO" -f qcow2 "${args[@]}" "$w/t.qcow2" >>"$w/log" 2>&1 &
    pid=$!
    delay=$(((RANDOM * 32768 + RANDOM) % win))
    # read -t on a FIFO nobody writes: a sleep without a process to start.
    local secs
    printf -v secs %d.%03d $((delay / 1000)) $((delay % 1000))
    read -r -t "$secs" -u $never
    # The window follows the machine's load: it widens a little after each
    # kill and narrows more after each run that finished first, which
    # settles with about 3 kills in 4 landing mid-workload.
    if kill -9 $pid 2>/dev/null; then
        killed=$((killed + 1)) win=$((win * 21 / 20 + 1))
        [ $win -gt 10000 ] && win=10000  # a hung workload is killed anyway
    else
        completed=$((completed + 1)) win=$((win * 17 / 20 + 1))
    fi
    wait $pid 2>/dev/null
    local lines line errors=()
    mapfile -t lines <"$w/log"
    seen=0
    for line in "${lines[@]}"; do
        case $line in
            'wrote '*) seen=$((seen + 1)) writes_done=$((writes_done + 1)) ;;
            'read '*) seen=$((seen + 1)) ;;
            *failed* | *rror*) errors+=("$line") ;;
        esac
    done
    [ ${#errors[@]} = 0 ] || fail "workload error: ${errors[*]:0:2}"
    # A flush prints nothing: count it as seen when the read after it is.
    nseen=0
    for ((j = 0, s = 0; j < ${#cmd[@]} && s < seen; j++)); do
        [ "${kind[j]}" != f ] && s=$((s + 1))
        nseen=$((j + 1))
    done
}

# Iterations first, first + jobs, ... in their own directory; the counters
# go to $w/stats.
worker() {
    local first=$1 m basepat
    w=$dir/w$first
    mkdir -p "$w"
    mkfifo "$w/never"
    exec {never}<>"$w/never"
    killed=0 completed=0 leaky=0 corrupt=0 verified=0 failures=0 writes_done=0 dirty=0
    local nplain=0 nbacking=0 ncompressed=0 win=$window_ms
    for ((i = first; i < iters; i += jobs)); do
        m=${MODES[i % 4]} mode=${m%:*} cs=${m#*:}
        eval "n$mode=\$((n$mode + 1))"
        basepat=0
        [ $mode = backing ] && basepat=0xbb
        cp "$dir/$mode-$cs.qcow2" "$w/t.qcow2"
        make_workload
        run_and_kill
        check_image
        verify $basepat $nseen
    done
    echo "$killed $completed $leaky $corrupt $verified $failures $writes_done" \
         "$nplain $nbacking $ncompressed $win $dirty" >"$w/stats"
}

start=$(date +%s.%N)
make_templates
calibrate
for ((k = 0; k < jobs && k < iters; k++)); do worker $k & done
wait
sum=(0 0 0 0 0 0 0 0 0 0 0 0) nw=0
for ((k = 0; k < jobs && k < iters; k++)); do
    read -r -a st <"$dir/w$k/stats" || st=(0 0 0 0 0 1 0 0 0 0 0 0)
    for ((x = 0; x < 12; x++)); do sum[x]=$((sum[x] + st[x])); done
    nw=$((nw + 1))
done
secs=$(echo "$(date +%s.%N) - $start" | bc)
lazy=
[ "$LAZY" = 1 ] && lazy=" (lazy refcounts: ${sum[11]} dirty images with refcount errors repaired on open)"
summary=$(printf "$NAME"': %d iterations (plain %d, backing %d, compressed %d; %d at a time) in %.1f s (kill window %d ms calibrated, %d ms at the end): %d killed mid-workload, %d finished first; %d writes completed; %d images had leaks (repaired by qemu-img-lite check -r leaks), %d corruptions; %d regions verified; %d failures' \
    "$iters" "${sum[7]}" "${sum[8]}" "${sum[9]}" "$jobs" "$secs" "$window_ms" $((sum[10] / nw)) \
    "${sum[0]}" "${sum[1]}" "${sum[6]}" "${sum[2]}" "${sum[3]}" "${sum[4]}" "${sum[5]}")$lazy
echo "$summary"
echo "$summary ($(date -u +%F))" >"$build/$NAME.txt"
[ "${sum[5]}" = 0 ]
