#!/usr/bin/env bash
# Builds a raw disk booting a real boot loader from Debian's packages (never
# checked-in binaries):  mkbootdisk.sh LOADER OUT.raw
#   grub      GRUB 2 i386-pc: boot.img in the MBR, core.img (grub-mkimage,
#             every module it needs built in) in the post-MBR gap, an msdos
#             partition (sfdisk) holding ext4 made by mkfs.ext4 -d at its
#             offset: no loop device, no mount.  grub.cfg reads a file,
#             checks a SHA-256 (sha256sum --check), lists /data, halts.
#   extlinux  EXTLINUX 6.04: syslinux's mbr.bin, an ext4 partition made the
#             same way; `extlinux --install` needs the file system mounted,
#             so the partition is loop-mounted for that one step (root).
#   syslinux  SYSLINUX 6.04 on a FAT superfloppy (mkfs.fat, syslinux
#             --install through mtools: no mount).
# Every loader prints its lines on the serial console and ends with a
# power-off: GRUB `halt` (ACPI, APM fallback), SYSLINUX/EXTLINUX
# poweroff.c32 (APM).  The expected lines: bootloader-test.sh.
set -euo pipefail
loader=$1 out=$2
src=${BOOT_SRC:-$(cd "$(dirname "$0")" && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkbootdisk.XXXXXX")
mnt=
cleanup() {
    if [ -n "$mnt" ] && mountpoint -q "$mnt"; then umount "$mnt"; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

SYSLINUX_MODULES=/usr/lib/syslinux/modules/bios
DISK_MIB=32
PART_START=2048  # sectors: leaves the 1 MiB post-MBR gap for GRUB's core.img

need() {
    for c in "$@"; do
        command -v "$c" >/dev/null || { echo "SKIP: $c not installed" >&2; exit 77; }
    done
}

# The files every loader reads: a text file and 256 KiB of a fixed pattern.
make_data() {  # DIR
    mkdir -p "$1"
    echo "hello from the boot disk" > "$1/hello.txt"
    python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(19).randbytes(256 * 1024))' \
        > "$1/big.bin"
}

# An msdos label with one bootable Linux partition at PART_START, and an
# ext4 file system made from DIR at that offset.
make_ext4_disk() {  # DIR
    truncate -s ${DISK_MIB}M "$out"
    printf 'label: dos\nstart=%d, type=83, bootable\n' $PART_START | sfdisk -q "$out"
    local kib=$(((DISK_MIB * 2048 - PART_START) / 2))
    mkfs.ext4 -q -F -d "$1" -E offset=$((PART_START * 512)) "$out" ${kib}k
}

case $loader in
grub)
    need grub-mkimage sfdisk mkfs.ext4
    [ -f /usr/lib/grub/i386-pc/boot.img ] || { echo "SKIP: grub-pc-bin not installed" >&2; exit 77; }
    root=$tmp/root
    make_data "$root/data"
    (cd "$root/data" && sha256sum big.bin | sed 's| big.bin| /data/big.bin|') > "$root/data/SHA256SUMS"
    mkdir -p "$root/boot/grub"
    cp "$src/grub.cfg" "$root/boot/grub/grub.cfg"
    cat > "$tmp/early.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
terminfo serial_com0 dumb
set root=(hd0,msdos1)
set prefix=(hd0,msdos1)/boot/grub
configfile /boot/grub/grub.cfg
CFG
    grub-mkimage -O i386-pc -o "$tmp/core.img" -c "$tmp/early.cfg" -p '(hd0,msdos1)/boot/grub' \
        biosdisk part_msdos ext2 serial terminfo normal configfile echo cat ls hashsum gcry_sha256 \
        halt
    make_ext4_disk "$root"
    # boot.img's code (not the partition table) into the MBR; core.img from
    # LBA 1, where boot.img looks for it (grub-mkimage sets diskboot.img's
    # block list for that place).
    dd if=/usr/lib/grub/i386-pc/boot.img of="$out" bs=440 count=1 conv=notrunc status=none
    [ $(($(stat -c %s "$tmp/core.img") / 512)) -lt $((PART_START - 1)) ] || { echo "core.img too big" >&2; exit 1; }
    dd if="$tmp/core.img" of="$out" bs=512 seek=1 conv=notrunc status=none
    ;;
extlinux)
    need extlinux sfdisk mkfs.ext4 mount
    root=$tmp/root
    make_data "$root/data"
    mkdir -p "$root/boot/extlinux"
    cp "$src/extlinux.conf" "$root/boot/extlinux/extlinux.conf"
    cp $SYSLINUX_MODULES/poweroff.c32 $SYSLINUX_MODULES/libcom32.c32 "$root/boot/extlinux/"
    make_ext4_disk "$root"
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$out" bs=440 count=1 conv=notrunc status=none
    mnt=$tmp/mnt
    mkdir "$mnt"
    mount -o loop,offset=$((PART_START * 512)) "$out" "$mnt" 2>/dev/null ||
        { echo "SKIP: cannot loop-mount the ext4 partition (extlinux --install needs it mounted)" >&2; exit 77; }
    extlinux --install "$mnt/boot/extlinux" 2>/dev/null
    umount "$mnt"
    ;;
syslinux)
    need syslinux mkfs.fat mcopy mmd
    make_data "$tmp/data"
    mkfs.fat -C "$out" $((DISK_MIB * 1024)) >/dev/null
    syslinux --install "$out"
    mcopy -i "$out" "$src/syslinux-poweroff.cfg" ::syslinux.cfg
    mcopy -i "$out" $SYSLINUX_MODULES/poweroff.c32 $SYSLINUX_MODULES/libcom32.c32 ::
    mmd -i "$out" ::data
    mcopy -i "$out" "$tmp/data/hello.txt" "$tmp/data/big.bin" ::data/
    ;;
*) echo "unknown loader $loader" >&2; exit 1 ;;
esac
