#!/usr/bin/env python3
"""Prints the error-path sweep's cases, one a line:

    id;tool;judge;event;errno;once;command

tool is img, io or nbd; judge is the image real `qemu-img check` looks at
afterwards ("-" for none); command is run in a fresh copy of the template
images with the tool's binary in front (for nbd: the image the server
exports, then the qemu-io commands a client sends).  `blkdebug:e.cfg:` in a
command is the failing node; ovlb.qcow2 is an overlay whose backing file
is blkdebug:e.cfg:base.qcow2.

The event lists per command and position are those the path passes (found
with discover mode of run.sh: an event is kept when the injected error
changes the exit code or the messages of QEMU 7.2 or of ours), so every case
exercises an error path.  `--all-events` lists every event instead, for
that discovery.
"""
import sys

ALL_EVENTS = """l1_update l1_grow_alloc_table l1_grow_write_table l1_grow_activate_table
l2_load l2_update l2_update_compressed l2_alloc_cow_read l2_alloc_write read_aio
read_backing_aio read_compressed write_aio write_compressed cow_read cow_write
reftable_load reftable_grow reftable_update refblock_load refblock_update
refblock_update_part refblock_alloc refblock_alloc_hookup refblock_alloc_write
refblock_alloc_write_blocks refblock_alloc_write_table refblock_alloc_switch_table
cluster_alloc cluster_alloc_bytes cluster_free flush_to_os flush_to_disk
pwritev_rmw_head pwritev_rmw_after_head pwritev_rmw_tail pwritev_rmw_after_tail
pwritev pwritev_zero pwritev_done empty_image_prepare l1_shrink_write_table
l1_shrink_free_l2_clusters cor_write cluster_alloc_space""".split()

BD = 'blkdebug:e.cfg:'

# (name, tool, judge, command, events); events are filled in from
# events.txt (discovery) unless --all-events.
def commands():
    c = []
    def add(name, tool, judge, cmd):
        c.append((name, tool, judge, cmd))
    for flags, tag in (('', 'm8'), ('-m 1', 'm1'), ('-W', 'W'), ('-c', 'c'), ('-c -W', 'cW')):
        add('convert-%s-src' % tag, 'img', 'dst.qcow2',
            'convert %s -n -O qcow2 %ssrc.qcow2 dst.qcow2' % (flags, BD))
        add('convert-%s-dst' % tag, 'img', 'dst.qcow2',
            'convert %s -n -O qcow2 src.qcow2 %sdst.qcow2' % (flags, BD))
        add('convert-%s-backing' % tag, 'img', 'dst.qcow2',
            'convert %s -n -O qcow2 ovlb.qcow2 dst.qcow2' % flags)
    add('convert-m8-csrc', 'img', 'dst.qcow2', 'convert -n -O qcow2 %ssrcc.qcow2 dst.qcow2' % BD)
    add('convert-m1-csrc', 'img', 'dst.qcow2', 'convert -m 1 -n -O qcow2 %ssrcc.qcow2 dst.qcow2' % BD)
    add('convert-raw-dst', 'img', '-', 'convert -n -O raw src.qcow2 %sdst.raw' % BD)
    add('convert-B-dst', 'img', 'dst.qcow2',
        'convert -n -B base.qcow2 -F qcow2 -O qcow2 ovl.qcow2 %sdst.qcow2' % BD)
    add('commit-top', 'img', 'base.qcow2', 'commit -f qcow2 %sovl.qcow2' % BD)
    add('commit-base', 'img', 'base.qcow2', 'commit -f qcow2 ovlb.qcow2')
    # The new backing file by absolute name: QEMU resolves a relative one
    # against the blkdebug: name of the image.
    add('rebase-top', 'img', 'ovl.qcow2',
        'rebase -f qcow2 -b "$PWD/nbase.qcow2" -F qcow2 %sovl.qcow2' % BD)
    add('rebase-oldbase', 'img', 'ovlb.qcow2', 'rebase -f qcow2 -b nbase.qcow2 -F qcow2 ovlb.qcow2')
    add('compare-a', 'img', '-', 'compare %ssrc.qcow2 src2.qcow2' % BD)
    add('compare-b', 'img', '-', 'compare src.qcow2 %ssrc2.qcow2' % BD)
    add('compare-backing', 'img', '-', 'compare ovlb.qcow2 ovl.qcow2')
    add('check', 'img', '-', 'check %ssrc.qcow2' % BD)
    add('check-r', 'img', 'leaky.qcow2', 'check -r leaks %sleaky.qcow2' % BD)
    add('map', 'img', '-', 'map %ssrc.qcow2' % BD)
    add('map-backing', 'img', '-', 'map ovlb.qcow2')
    add('measure', 'img', '-', 'measure -O qcow2 %ssrc.qcow2' % BD)
    add('info', 'img', '-', 'info --backing-chain ovlb.qcow2')
    add('resize-grow', 'img', 'src.qcow2', 'resize %ssrc.qcow2 64M' % BD)
    add('resize-shrink', 'img', 'src.qcow2', 'resize -f qcow2 --shrink %ssrc.qcow2 1M' % BD)
    add('snapshot-c', 'img', 'src.qcow2', 'snapshot -c s2 %ssrc.qcow2' % BD)
    add('snapshot-a', 'img', 'src.qcow2', 'snapshot -a s1 %ssrc.qcow2' % BD)
    add('snapshot-d', 'img', 'src.qcow2', 'snapshot -d s1 %ssrc.qcow2' % BD)
    add('snapshot-l', 'img', '-', 'snapshot -l %ssrc.qcow2' % BD)
    add('bench-r', 'img', '-', 'bench -c 64 -d 4 -f qcow2 %ssrc.qcow2' % BD)
    add('bench-w', 'img', 'src.qcow2', 'bench -w -c 64 -d 4 -f qcow2 %ssrc.qcow2' % BD)
    for name, io in (
            ('read', "-c 'read -P 0xa 0 64k' -c 'read -P 0xb 1M 64k'"),
            ('write', "-c 'write -P 0x5 512k 64k' -c 'write -P 0x6 1536k 4k'"),
            ('write-cow', "-c 'write -P 0x5 1028k 4k' -c flush"),
            ('write-zero', "-c 'write -z 0 128k' -c 'write -z -u 1M 64k'"),
            ('discard', "-c 'discard 0 64k' -c flush"),
            ('aio', "-c 'aio_write -P 0x7 512k 64k' -c 'aio_read 0 64k' -c aio_flush"),
            ('backing', None)):
        if io is None:
            add('io-backing', 'io', 'ovlb.qcow2',
                "-f qcow2 -c 'read 0 64k' -c 'write -P 0x5 1028k 4k' ovlb.qcow2")
            continue
        add('io-' + name, 'io', 'src.qcow2', '-f qcow2 %s %ssrc.qcow2' % (io, BD))
    for name, io in (('read', "-c 'read -P 0xa 0 64k'"),
                     ('write', "-c 'write -P 0x5 512k 64k' -c flush"),
                     ('write-zero', "-c 'write -z 0 128k'")):
        add('nbd-' + name, 'nbd', 'src.qcow2', '%ssrc.qcow2 %s' % (BD, io))
    return c


def main():
    all_events = '--all-events' in sys.argv
    events = {}
    if not all_events:
        import os
        here = os.path.dirname(os.path.abspath(__file__))
        for line in open(os.path.join(here, 'events.txt')):
            line = line.split('#')[0].split()
            if line:
                events[line[0]] = line[1:]
    for name, tool, judge, cmd in commands():
        if all_events:
            for ev in ALL_EVENTS:
                print('%s/%s-5-off;%s;%s;%s;5;off;%s' % (name, ev, tool, judge, ev, cmd))
            continue
        # EIO failing one request, ENOSPC failing every request from the
        # event on: both errnos and both modes, two cases per event.
        for ev in events.get(name, []):
            for errno, once in ((5, 'on'), (28, 'off')):
                print('%s/%s-%d-%s;%s;%s;%s;%d;%s;%s' %
                      (name, ev, errno, once, tool, judge, ev, errno, once, cmd))


main()
