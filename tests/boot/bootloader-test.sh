#!/usr/bin/env bash
# One real-boot-loader test: bootloader-test.sh LOADER IF IMAGE
#   LOADER  grub | extlinux | syslinux (disk built by mkbootdisk.sh from the
#           Debian packages at test time)
#   IF      ide | virtio
#   IMAGE   raw | qcow2 | nbd (raw served by qemu-nbd-lite on a unix socket)
# Boots with -no-reboot and the serial console in a file, then requires the
# loader's lines (files read, SHA-256 checked, directory listed) and the end
# by power-off: exit status 0 from ACPI/APM, not the exit device, a reset or
# the timeout.  Env: QEMU_SYSTEM, QEMU_NBD (built binaries); BOOT_SRC.
set -euo pipefail
loader=$1 iface=$2 image=$3
src=${BOOT_SRC:-$(cd "$(dirname "$0")" && pwd)}
: "${QEMU_SYSTEM:?}"

work=$(mktemp -d "${TMPDIR:-/tmp}/bootloader-test.XXXXXX")
nbd_pid=
cleanup() {
    [ -n "$nbd_pid" ] && kill "$nbd_pid" 2>/dev/null && wait "$nbd_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

rc=0
BOOT_SRC=$src "$src/mkbootdisk.sh" "$loader" "$work/disk.raw" || rc=$?
[ "$rc" -eq 77 ] && exit 77
[ "$rc" -eq 0 ] || fail "building the $loader disk"

case $image in
raw) drive="file=$work/disk.raw,format=raw" ;;
qcow2)
    qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
    drive="file=$work/disk.qcow2,format=qcow2" ;;
nbd)
    : "${QEMU_NBD:?}"
    "$QEMU_NBD" -f raw -k "$work/nbd.sock" "$work/disk.raw" &
    nbd_pid=$!
    for _ in $(seq 100); do [ -S "$work/nbd.sock" ] && break; sleep 0.05; done
    drive="driver=nbd,server.type=unix,server.path=$work/nbd.sock" ;;
*) fail "unknown image type $image" ;;
esac

case $loader in
grub) expect=("grub: config read" "hello from the boot disk" "/data/big.bin: OK"
              "SHA256SUMS big.bin hello.txt" "grub: halting") ;;
extlinux) expect=("SYSLINUX 6" "extlinux: config read from ext4" "hello from the boot disk") ;;
syslinux) expect=("SYSLINUX 6" "syslinux: config read from FAT" "hello from the boot disk") ;;
*) fail "unknown loader $loader" ;;
esac

rc=0
start=$(date +%s.%N)
timeout 100 "$QEMU_SYSTEM" -m 64M -display none -no-reboot -serial "file:$work/serial.log" \
    -drive "$drive,if=$iface" </dev/null 2>"$work/stderr.log" || rc=$?
end=$(date +%s.%N)
show() { cat -v "$work/serial.log" >&2; cat "$work/stderr.log" >&2; }
for line in "${expect[@]}"; do
    grep -qF -- "$line" "$work/serial.log" || { show; fail "no '$line' on the serial console"; }
done
if grep -qiE "error|failed|not present" "$work/serial.log"; then show; fail "the loader reported an error"; fi
[ "$rc" -eq 124 ] && { show; fail "timed out: the guest never powered off"; }
[ "$rc" -eq 0 ] || { show; fail "exit code $rc, expected 0 (power-off)"; }
if [ "$image" = qcow2 ]; then qemu-img check -q "$work/disk.qcow2" || fail "qemu-img check"; fi
awk -v l="$loader" -v i="$iface" -v f="$image" -v s="$start" -v e="$end" \
    'BEGIN { printf "PASS: %s on %s (%s), powered off after %.2f s\n", l, i, f, e - s }'
