#!/usr/bin/env python3
"""Appends one cluster to a qcow2 image and gives it refcount 1 in the
first refcount block: real `qemu-img check` then reports one leaked
cluster.  For the error-path sweep's `check -r leaks` cases."""
import os
import struct
import sys

path = sys.argv[1]
with open(path, 'r+b') as f:
    h = f.read(104)
    cluster_bits = struct.unpack('>I', h[20:24])[0]
    rt_off = struct.unpack('>Q', h[48:56])[0]
    order = struct.unpack('>I', h[96:100])[0] if struct.unpack('>I', h[4:8])[0] >= 3 else 4
    assert order == 4, 'only 16-bit refcounts'
    cs = 1 << cluster_bits
    size = os.path.getsize(path)
    idx = (size + cs - 1) // cs
    f.truncate((idx + 1) * cs)
    f.seek(rt_off)
    rb = struct.unpack('>Q', f.read(8))[0]
    assert idx < cs // 2, 'the first refcount block covers it'
    f.seek(rb + 2 * idx)
    f.write(struct.pack('>H', 1))
