#!/usr/bin/env bash
# qemu-system-lite against QEMU 7.2's qemu-system-x86_64 -accel tcg (SeaBIOS)
# on the GRUB 2 workload of the boot tests (tests/boot/mkbootdisk.sh grub:
# read a file, sha256sum --check 256 KiB, ls, halt), same raw disk on IDE,
# -m 64M, serial console to a file.  Time = process start to power-off
# (the workload ends with GRUB's halt), runs interleaved ours/QEMU, best of
# BOOT_BENCH_RUNS (5) each; ratio = QEMU time / our time (>= 1.0: we are at
# least as fast).  Figures and profile: docs/performance.md "Boot".
set -euo pipefail
build=${QEMU_LITE_BUILD:-build}
ours=$build/qemu-system-lite/qemu-system-lite
runs=${BOOT_BENCH_RUNS:-5}
src=$(cd "$(dirname "$0")/../tests/boot" && pwd)

[ -x "$ours" ] || { echo "qemu-system-lite not built ($ours)"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/boot-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rc=0
BOOT_SRC=$src "$src/mkbootdisk.sh" grub "$tmp/disk.raw" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 77 ] && { echo "boot bench skipped: GRUB tools not installed"; exit 0; }
[ "$rc" -eq 0 ] || { echo "building the GRUB disk failed"; exit 1; }

# boot_secs TOOL... -> wall seconds of one boot to power-off
boot_secs() {
    local start end
    start=$(date +%s.%N)
    timeout 120 "$@" -m 64M -display none -no-reboot -serial "file:$tmp/serial.log" \
        -drive "file=$tmp/disk.raw,format=raw,if=ide" </dev/null >/dev/null 2>&1 ||
        { echo "boot failed: $*" >&2; exit 1; }
    end=$(date +%s.%N)
    grep -qF "grub: halting" "$tmp/serial.log" || { echo "workload incomplete: $*" >&2; exit 1; }
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}

ref=() lite=()
for ((i = 0; i < runs; i++)); do
    ref+=("$(boot_secs qemu-system-x86_64 -accel tcg)")
    lite+=("$(boot_secs "$ours")")
done
r=$(printf '%s\n' "${ref[@]}" | sort -g | head -n1)
l=$(printf '%s\n' "${lite[@]}" | sort -g | head -n1)
printf '| %-40s | %12s | %16s | %6s |\n' "workload (best of $runs, s)" "QEMU TCG" "qemu-system-lite" "ratio"
printf '|%s|%s|%s|%s|\n' "------------------------------------------" "-------------:" \
    "-----------------:" "-------:"
printf '| %-40s | %12s | %16s | %5.2fx |\n' "GRUB boot: cat, sha256 256 KiB, ls, halt" "$r" "$l" \
    "$(awk -v r="$r" -v l="$l" 'BEGIN { print r / l }')"
