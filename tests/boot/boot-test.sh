#!/usr/bin/env bash
# One boot test: boot-test.sh GUEST IF IMAGE
#   GUEST  hello (mbr-hello.asm) | loader (loader.asm) | syslinux (a FAT
#          image made with mkfs.fat + syslinux --install, chaining to hello)
#   IF     ide | virtio
#   IMAGE  raw | qcow2 | qcow2-backing (qcow2 overlay over a raw base) |
#          nbd (raw served by qemu-nbd-lite on a unix socket) |
#          rbd (raw in the Ceph cluster of RBD_CONF, -drive file=rbd:...;
#          tests/rbd/run.sh runs these)
# Builds the image with nasm (and the reference qemu-img for qcow2), boots
# it in qemu-system-lite with the serial console in a file, compares that
# with GUEST.out and, after a loader run, checks the guest's writes from the
# host.  Env: QEMU_SYSTEM, QEMU_NBD (built binaries); BOOT_SRC (this dir).
set -euo pipefail
guest=$1 iface=$2 image=$3
src=${BOOT_SRC:-$(cd "$(dirname "$0")" && pwd)}
: "${QEMU_SYSTEM:?}"

work=$(mktemp -d "${TMPDIR:-/tmp}/boot-test.XXXXXX")
nbd_pid=
rbd_image=
cleanup() {
    [ -n "$nbd_pid" ] && kill "$nbd_pid" 2>/dev/null && wait "$nbd_pid" 2>/dev/null
    [ -n "$rbd_image" ] && timeout 60 rbd -c "$RBD_CONF" rm "rbd/$rbd_image" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

make_raw() {  # -> $work/disk.raw
    case $guest in
    hello)
        nasm -f bin -i "$src/" -o "$work/boot.bin" "$src/mbr-hello.asm"
        python3 "$src/mkimage.py" "$work/disk.raw" "$work/boot.bin" 1 ;;
    loader)
        nasm -f bin -i "$src/" -o "$work/boot.bin" "$src/loader.asm"
        python3 "$src/mkimage.py" "$work/disk.raw" "$work/boot.bin" 2 --pattern ;;
    syslinux)
        command -v syslinux >/dev/null || { echo "SKIP: syslinux not installed"; exit 77; }
        nasm -f bin -i "$src/" -o "$work/hello.bs" "$src/mbr-hello.asm"
        mkfs.fat -C "$work/disk.raw" 16384 >/dev/null
        syslinux --install "$work/disk.raw"
        mcopy -i "$work/disk.raw" "$src/syslinux.cfg" ::syslinux.cfg
        mcopy -i "$work/disk.raw" "$work/hello.bs" ::hello.bs ;;
    *) fail "unknown guest $guest" ;;
    esac
}

drive=
make_image() {
    make_raw
    case $image in
    raw) drive="file=$work/disk.raw,format=raw" ;;
    qcow2)
        qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
        drive="file=$work/disk.qcow2,format=qcow2" ;;
    qcow2-backing)
        cp "$work/disk.raw" "$work/base.orig"
        qemu-img create -q -f qcow2 -b "$work/disk.raw" -F raw "$work/disk.qcow2"
        drive="file=$work/disk.qcow2,format=qcow2" ;;
    nbd)
        : "${QEMU_NBD:?}"
        "$QEMU_NBD" -f raw -k "$work/nbd.sock" "$work/disk.raw" &
        nbd_pid=$!
        for _ in $(seq 100); do [ -S "$work/nbd.sock" ] && break; sleep 0.05; done
        drive="driver=nbd,server.type=unix,server.path=$work/nbd.sock" ;;
    rbd)
        : "${RBD_CONF:?}"
        rbd_image=boot-$$
        qemu-img convert -f raw -O raw "$work/disk.raw" "rbd:rbd/$rbd_image:conf=$RBD_CONF"
        drive="file=rbd:rbd/$rbd_image:conf=$RBD_CONF,format=raw" ;;
    *) fail "unknown image type $image" ;;
    esac
}

# The loader wrote 17 sectors at LBA 1024 (16 with AH=43h, 1 with AH=03h):
# dword i holds 0x57000000 + i.
check_guest_writes() {
    local flat=$work/disk.raw
    if [ "$image" = qcow2 ] || [ "$image" = qcow2-backing ]; then
        qemu-img check -q "$work/disk.qcow2" || fail "qemu-img check found errors"
        flat=$work/flat.raw
        qemu-img convert -O raw "$work/disk.qcow2" "$flat"
    elif [ "$image" = rbd ]; then
        flat=$work/flat.raw
        qemu-img convert -f raw -O raw "rbd:rbd/$rbd_image:conf=$RBD_CONF" "$flat"
    fi
    python3 - "$flat" <<'PY' || fail "guest writes not found on the image"
import struct, sys
data = open(sys.argv[1], "rb").read()
got = struct.unpack_from("<2176I", data, 1024 * 512)
sys.exit(0 if list(got) == [0x57000000 + i for i in range(2176)] else 1)
PY
    if [ "$image" = qcow2-backing ]; then
        cmp -s "$work/disk.raw" "$work/base.orig" || fail "the guest wrote into the backing file"
    fi
}

make_image
rc=0
timeout 60 "$QEMU_SYSTEM" -m 32M -display none -no-reboot -serial "file:$work/serial.log" \
    -drive "$drive,if=$iface" 2>"$work/stderr.log" || rc=$?
# Volatile parts: the frontend's name and SYSLINUX's version banner.
sed -i -E 's/ \((virtio-blk|ide)\)\.\.\./ (IF).../; s/^SYSLINUX [0-9.]+ EDD [0-9-]+ /SYSLINUX VERSION /' \
    "$work/serial.log"
if ! diff -u "$src/$guest.out" "$work/serial.log"; then
    cat "$work/stderr.log" >&2
    fail "serial output differs from $guest.out"
fi
# Status 0 written to the exit device: exit code (0 << 1) | 1.
[ "$rc" -eq 1 ] || { cat "$work/stderr.log" >&2; fail "exit code $rc, expected 1"; }
grep -v "^WARNING\|^  " "$work/stderr.log" >&2 || true
[ "$guest" = loader ] && check_guest_writes
echo "PASS: $guest on $iface ($image)"
