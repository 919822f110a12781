#!/usr/bin/env bash
# Crash consistency of qcow-lite under kill -9 (issue 9).
#
#   crash-consistency.sh BUILD_DIR [ITERATIONS]
#
# Each iteration creates a qcow2 image with qemu-img-lite (plain with 4 KiB
# or 64 KiB clusters, over a backing file, or written compressed), starts a
# qemu-io-lite workload of writes to distinct 64 KiB slots with a flush
# every few writes, and kills it with SIGKILL at a random moment.  Then:
#   - real `qemu-img check` must report no corruption (leaks are allowed,
#     `qemu-img-lite check -r leaks` must repair them, and real qemu-img
#     must then find the image clean);
#   - every write that completed before the last completed flush must read
#     back (real qemu-io, read -P) with its pattern;
#   - everything outside the written ranges, including the rest of the slot
#     of a write that was cut off, must still read as before (zeroes, or the
#     backing file's pattern): copy-on-write never leaks half a cluster.
# Prints one summary line and exits 0, 1 on any violation, 77 (skip) when a
# tool is missing.  The figures also go to BUILD_DIR/crash-consistency.txt.
set -u
build=${1:?usage: crash-consistency.sh BUILD_DIR [ITERATIONS]}
iters=${2:-${CRASH_ITERATIONS:-100}}
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
qemu-img create -q -f qcow2 "$dir/base.qcow2" $SIZE
qemu-io -f qcow2 -c "write -P 0xbb 0 $SIZE" "$dir/base.qcow2" >/dev/null

killed=0 completed=0 leaky=0 corrupt=0 verified=0 failures=0 writes_done=0
declare -A by_mode=()
start=$(date +%s.%N)

fail() {  # message; keeps the image for a post-mortem
    echo "FAIL iteration $i ($mode, cluster $cs): $*"
    cp "$dir/t.qcow2" "$build/crash-fail-$i.qcow2" 2>/dev/null
    cp "$dir/log" "$build/crash-fail-$i.log" 2>/dev/null
    failures=$((failures + 1))
}

# Fills cmd[], kind[], off[], len[], pat[] with one workload.
make_workload() {
    local n=0 s slot o l
    cmd=() kind=() off=() len=() pat=()
    for s in $(shuf -i 0-$((NSLOTS - 2)) -n 96); do
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
    out=$(qemu-io -r -f qcow2 "${args[@]}" "$dir/t.qcow2" 2>&1)
    if grep -q -e 'Pattern verification failed' -e 'failed:' <<<"$out"; then
        fail "data check: $(grep -m3 -e 'Pattern verification failed' -e 'failed:' <<<"$out" | tr '\n' ' ')"
    fi
}

check_image() {
    local rc
    qemu-img check -f qcow2 "$dir/t.qcow2" >"$dir/check" 2>&1
    rc=$?
    case $rc in
        0) ;;
        3)  leaky=$((leaky + 1))
            "$IMG" check -q -r leaks -f qcow2 "$dir/t.qcow2" >"$dir/repair" 2>&1
            qemu-img check -f qcow2 "$dir/t.qcow2" >"$dir/check" 2>&1 ||
                fail "qemu-img-lite check -r leaks left: $(tr '\n' ' ' <"$dir/check")" ;;
        2) corrupt=$((corrupt + 1)); fail "corruption: $(tr '\n' ' ' <"$dir/check")" ;;
        *) fail "qemu-img check exit $rc: $(tr '\n' ' ' <"$dir/check")" ;;
    esac
}

# Calibrates the kill window: one uninterrupted workload, timed.
calibrate() {
    local t0 t1
    mode=plain cs=4096
    "$IMG" create -q -f qcow2 -o cluster_size=$cs "$dir/t.qcow2" $SIZE >/dev/null 2>&1
    make_workload
    args=()
    for c in "${cmd[@]}"; do args+=(-c "$c"); done
    t0=$(date +%s%N)
    "$IO" -f qcow2 "${args[@]}" "$dir/t.qcow2" >/dev/null 2>&1
    t1=$(date +%s%N)
    window_ms=$(((t1 - t0) / 1000000))
    [ $window_ms -lt 5 ] && window_ms=5
}
calibrate

for ((i = 0; i < iters; i++)); do
    case $((i % 4)) in
        0) mode=plain cs=4096 ;;
        1) mode=backing cs=65536 ;;
        2) mode=compressed cs=65536 ;;
        3) mode=plain cs=65536 ;;
    esac
    by_mode[$mode]=$((${by_mode[$mode]:-0} + 1))
    opts=(-o cluster_size=$cs)
    basepat=0
    if [ $mode = backing ]; then
        opts+=(-b "$dir/base.qcow2" -F qcow2)
        basepat=0xbb
    fi
    rm -f "$dir/t.qcow2"
    "$IMG" create -q -f qcow2 "${opts[@]}" "$dir/t.qcow2" $SIZE >"$dir/create" 2>&1 ||
        { fail "create: $(cat "$dir/create")"; continue; }
    make_workload
    args=()
    for c in "${cmd[@]}"; do args+=(-c "$c"); done
    stdbuf -oL "$IO" -f qcow2 "${args[@]}" "$dir/t.qcow2" >"$dir/log" 2>&1 &
    pid=$!
    delay=$(((RANDOM * 32768 + RANDOM) % window_ms))
    sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
    if kill -9 $pid 2>/dev/null; then killed=$((killed + 1)); else completed=$((completed + 1)); fi
    wait $pid 2>/dev/null
    if grep -q -e 'failed' -e 'rror' "$dir/log"; then
        fail "workload error: $(grep -m2 -e failed -e rror "$dir/log" | tr '\n' ' ')"
    fi
    seen=$(grep -c -E '^(wrote|read) ' "$dir/log")
    # A flush prints nothing: count it as seen when the read after it is.
    nseen=0
    for ((j = 0, s = 0; j < ${#cmd[@]} && s < seen; j++)); do
        [ "${kind[j]}" != f ] && s=$((s + 1))
        nseen=$((j + 1))
    done
    writes_done=$((writes_done + seen))
    check_image
    verify $basepat $nseen
done

secs=$(echo "$(date +%s.%N) - $start" | bc)
summary=$(printf 'crash-consistency: %d iterations (plain %d, backing %d, compressed %d) in %.1f s (kill window %d ms): %d killed mid-workload, %d finished first; %d writes completed; %d images had leaks (repaired by qemu-img-lite check -r leaks), %d corruptions; %d regions verified; %d failures' \
    "$iters" "${by_mode[plain]:-0}" "${by_mode[backing]:-0}" "${by_mode[compressed]:-0}" "$secs" "$window_ms" \
    $killed $completed $writes_done $leaky $corrupt $verified $failures)
echo "$summary"
echo "$summary ($(date -u +%F))" >"$build/crash-consistency.txt"
[ $failures = 0 ]
