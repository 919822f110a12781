#!/usr/bin/env python3
"""Writes a Bochs "growing" redolog image (the layout QEMU's bochs driver reads).

    bochs-image.py OUT [key=value ...]

Header keys (defaults in brackets): version [2] (1 or 2, or any number for a
bad header), disk [1M] (bytes), extent [4096], bitmap [512] (bytes of each
extent's bitmap), catalog [enough for disk], header [512], magic, type,
subtype (the name fields).  data=SECTOR:COUNT:BYTE marks COUNT sectors from
SECTOR present, filled with BYTE (hex); extents get blocks in order of first
use.  entries=N writes only the first N catalog entries (for a catalog
size too large to write).  absent=SECTOR:COUNT clears the bitmap bits of sectors of an extent
that already has a block (the sectors stay in the file but read as zeroes).
"""
import struct
import sys


def num(v):
    v = v.strip()
    mult = {'k': 1 << 10, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
    if v[-1] in mult:
        return int(v[:-1], 0) * mult[v[-1]]
    return int(v, 0)


def main():
    out = sys.argv[1]
    o = {'version': '2', 'disk': '1M', 'extent': '4096', 'bitmap': '512', 'header': '512',
         'magic': 'Bochs Virtual HD Image', 'type': 'Redolog', 'subtype': 'Growing'}
    data, absent = [], []
    for a in sys.argv[2:]:
        k, v = a.split('=', 1)
        if k == 'data':
            s, c, b = v.split(':')
            data.append((num(s), num(c), int(b, 16)))
        elif k == 'absent':
            s, c = v.split(':')
            absent.append((num(s), num(c)))
        else:
            o[k] = v
    disk, extent, bitmap = num(o['disk']), num(o['extent']), num(o['bitmap'])
    version = {'1': 0x10000, '2': 0x20000}.get(o['version']) or num(o['version'])
    header = num(o['header'])
    per_extent = extent // 512  # 0 for a bad extent size: no data then
    catalog = num(o['catalog']) if 'catalog' in o else -(-disk // 512 // max(per_extent, 1))

    hdr = bytearray(max(header, 512))  # the catalog starts at 'header'
    hdr[0:32] = o['magic'].encode().ljust(32, b'\0')[:32]
    hdr[32:48] = o['type'].encode().ljust(16, b'\0')[:16]
    hdr[48:64] = o['subtype'].encode().ljust(16, b'\0')[:16]
    struct.pack_into('<IIIII', hdr, 64, version, header, catalog, bitmap, extent)
    if version == 0x10000:
        struct.pack_into('<Q', hdr, 84, disk)
    else:
        struct.pack_into('<IQ', hdr, 84, 0, disk)

    entries = [0xffffffff] * (num(o['entries']) if 'entries' in o else catalog)
    bitmap_blocks = 1 + (bitmap - 1) // 512
    block_size = 512 * (bitmap_blocks + per_extent)
    blocks = []  # bytearray per allocated extent block

    def block_of(sector):
        e = sector // per_extent
        if entries[e] == 0xffffffff:
            entries[e] = len(blocks)
            blocks.append(bytearray(block_size))
        return blocks[entries[e]], sector % per_extent

    for start, count, byte in data:
        for sec in range(start, start + count):
            blk, i = block_of(sec)
            blk[i // 8] |= 1 << (i % 8)
            pos = 512 * (bitmap_blocks + i)
            blk[pos:pos + 512] = bytes([byte]) * 512
    for start, count in absent:
        for sec in range(start, start + count):
            blk, i = block_of(sec)
            blk[i // 8] &= ~(1 << (i % 8)) & 0xff

    with open(out, 'wb') as f:
        f.write(hdr)
        f.seek(header)
        f.write(struct.pack('<%dI' % len(entries), *entries))
        for blk in blocks:
            f.write(blk)
        if not blocks:
            f.write(bytes(512 * 3))  # QEMU's sample empty image has a tail too


main()
