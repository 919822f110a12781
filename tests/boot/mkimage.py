#!/usr/bin/env python3
"""Builds a raw boot-test disk: BOOT.bin at LBA 0 and, for the loader test,
the data pattern loader.asm checks (the dword at byte offset B holds B / 4)
over LBA 16..527.  Usage: mkimage.py OUT BOOT.bin SIZE_MIB [--pattern]"""
import struct
import sys


def main():
    out, boot, size_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pattern = "--pattern" in sys.argv[4:]
    with open(boot, "rb") as f:
        code = f.read()
    with open(out, "wb") as f:
        f.truncate(size_mib << 20)
        f.write(code)
        if pattern:
            start, count = 16 * 512, 512 * 512
            f.seek(start)
            f.write(struct.pack("<%dI" % (count // 4),
                                *range(start // 4, (start + count) // 4)))


if __name__ == "__main__":
    main()
