#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ (deterministic).

Each seed is a small, well-formed input that gets a target past its first
validation step; libFuzzer mutates from there.  Crash reproducers found
later are added to the same directories by hand (named crash-*), and this
script never deletes them.  qcow2 seeds are made with the real qemu-img and
qemu-io when installed.
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


# ---- qcow2-image ---------------------------------------------------------
def qcow2_seeds():
    cmds = {
        'empty': [],
        'data': ['write -P 0x11 0 4k', 'write -P 0x22 64k 8k'],
        'zero': ['write -z 0 16k', 'write -P 0x33 32k 512'],
        'compressed': ['write -c -P 0x44 0 64k'],
        'discard': ['write -P 0x55 0 32k', 'discard 0 16k'],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, ios in cmds.items():
            for compat, csize in (('1.1', '512'), ('0.10', '1024')):
                img = os.path.join(tmp, 'x.qcow2')
                opts = 'compat=%s,cluster_size=%s' % (compat, csize)
                if compat == '1.1' and name == 'zero':
                    opts += ',lazy_refcounts=on'
                subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', opts, img, '256k'],
                               check=True)
                for c in ios:
                    subprocess.run(['qemu-io', '-f', 'qcow2', '-c', c, img], check=True,
                                   stdout=subprocess.DEVNULL)
                with open(img, 'rb') as f:
                    put('qcow2-image', '%s-v%s' % (name, compat), f.read())


# ---- NBD -----------------------------------------------------------------
IHAVEOPT = 0x49484156454F5054
NBDMAGIC = 0x4e42444d41474943
REP_MAGIC = 0x0003e889045565a9
REQ_MAGIC = 0x25609513
SIMPLE = 0x67446698
STRUCT = 0x668e33ef


def opt(o, payload=b''):
    return struct.pack('>QII', IHAVEOPT, o, len(payload)) + payload


def rep(o, t, payload=b''):
    return struct.pack('>QIII', REP_MAGIC, o, t, len(payload)) + payload


def req(t, cookie, off, ln, flags=0, payload=b''):
    return struct.pack('>IHHQQI', REQ_MAGIC, flags, t, cookie, off, ln) + payload


def nbd_request_seeds():
    go = struct.pack('>I', 0) + struct.pack('>HH', 1, 3)   # name "", infos NAME, BLOCK_SIZE
    meta = struct.pack('>I', 0) + struct.pack('>I', 1) + struct.pack('>I', 15) + b'base:allocation'
    hs = struct.pack('>I', 3) + opt(8) + opt(10, meta) + opt(7, go)
    put('nbd-request', 'handshake-only', hs)
    put('nbd-request', 'rw', hs + req(1, 1, 0, 512, 0, b'\x77' * 512) + req(0, 2, 0, 512) +
        req(3, 3, 0, 0) + req(2, 4, 0, 0))
    put('nbd-request', 'zero-trim-status', hs + req(6, 1, 4096, 8192, 1) + req(4, 2, 0, 4096) +
        req(7, 3, 0, 65536) + req(5, 4, 0, 4096) + req(2, 5, 0, 0))
    put('nbd-request', 'list-info-abort', struct.pack('>I', 3) + opt(3) + opt(6, go) +
        opt(9, meta) + opt(2))
    put('nbd-request', 'export-name', struct.pack('>I', 1) + opt(1, b'') + req(0, 9, 0, 4096))
    put('nbd-request', 'bad-request', hs + req(0, 1, 1 << 40, 512) + req(99, 2, 0, 1) +
        req(1, 3, 0, 1 << 26))


def nbd_reply_seeds():
    hello = struct.pack('>QQH', NBDMAGIC, IHAVEOPT, 3)
    export = struct.pack('>HQH', 0, 1 << 20, 1 | 4 | 8 | 32 | 64)
    bsize = struct.pack('>HIII', 3, 1, 4096, 1 << 25)
    meta = rep(10, 4, struct.pack('>I', 1) + b'base:allocation') + rep(10, 1)
    go = rep(7, 3, export) + rep(7, 3, bsize) + rep(7, 1)
    put('nbd-reply', 'hs-full', b'\x00' + hello + rep(8, 1) + meta + go)
    put('nbd-reply', 'hs-no-structured', b'\x00' + hello + rep(8, 0x80000001) + go)
    put('nbd-reply', 'hs-error', b'\x00' + hello + rep(8, 1) + meta +
        rep(7, 0x80000006, b'no such export'))
    put('nbd-reply', 'hs-oldstyle', b'\x00' + struct.pack('>QQQI', NBDMAGIC, 0x420281861253,
                                                            1 << 20, 3) + b'\0' * 124)
    ck = [((i + 1) << 16) | i for i in range(4)]
    simple = b''.join(struct.pack('>IIQ', SIMPLE, 0, ck[i]) + (b'\x5a' * 4096 if i in (0, 3) else b'')
                      for i in (0, 2, 3))
    put('nbd-reply', 'tx-simple', b'\x01' + simple)

    def chunk(c, flags, t, payload):
        return struct.pack('>IHHQI', STRUCT, flags, t, c, len(payload)) + payload
    structured = (chunk(ck[0], 0, 1, struct.pack('>Q', 0) + b'\x11' * 2048) +
                  chunk(ck[0], 1, 2, struct.pack('>QI', 2048, 2048)) +
                  chunk(ck[1], 0, 5, struct.pack('>III', 1, 4096, 3)) +
                  chunk(ck[1], 1, 0, b'') +
                  chunk(ck[2], 1, 0x8001, struct.pack('>IH', 28, 4) + b'full') +
                  chunk(ck[3], 1, 0x8002, struct.pack('>IHQ', 5, 0, 12288)))
    put('nbd-reply', 'tx-structured', b'\x03' + structured)


# ---- devices -------------------------------------------------------------
def virtqueue_seeds():
    qsize = 16
    # RAM image starts at 0x1000: desc table, buffers at 0x1100.., avail 0x2000.
    def image(chains, indirect_tables=()):
        ram = bytearray(0x1000 + 4 + 2 * qsize)
        descs = []
        heads = []
        for chain in chains:
            heads.append(len(descs))
            for j, (addr, ln, flags) in enumerate(chain):
                nxt = len(descs) + 1 if j + 1 < len(chain) else 0
                descs.append(struct.pack('<QIHH', addr, ln, flags | (1 if j + 1 < len(chain) else 0), nxt))
        for i, d in enumerate(descs):
            ram[i * 16:i * 16 + 16] = d
        for addr, data in indirect_tables:
            ram[addr - 0x1000:addr - 0x1000 + len(data)] = data
        ram[0x1000:0x1004] = struct.pack('<HH', 0, len(heads))
        for i, h in enumerate(heads):
            ram[0x1004 + 2 * i:0x1006 + 2 * i] = struct.pack('<H', h)
        return bytes(ram)

    def hdr(t, sector):
        return struct.pack('<IIQ', t, 0, sector)

    def seed(name, chains, bufs=(), feat=0):
        ram = bytearray(image(chains))
        for addr, data in bufs:
            ram[addr - 0x1000:addr - 0x1000 + len(data)] = data
        put('virtqueue', name, struct.pack('<BH', feat, qsize) + bytes(ram))

    W = 2
    seed('read', [[(0x1100, 16, 0), (0x1200, 512, W), (0x1400, 1, W)]], [(0x1100, hdr(0, 1))])
    seed('write', [[(0x1100, 16, 0), (0x1200, 512, 0), (0x1400, 1, W)]],
         [(0x1100, hdr(1, 2)), (0x1200, b'\xab' * 512)])
    seed('flush-getid', [[(0x1100, 16, 0), (0x1400, 1, W)],
                         [(0x1120, 16, 0), (0x1200, 20, W), (0x1410, 1, W)]],
         [(0x1100, hdr(4, 0)), (0x1120, hdr(8, 0))])
    seed('discard-zeroes', [[(0x1100, 16, 0), (0x1200, 16, 0), (0x1400, 1, W)],
                            [(0x1120, 16, 0), (0x1220, 16, 0), (0x1410, 1, W)]],
         [(0x1100, hdr(11, 0)), (0x1200, struct.pack('<QII', 0, 8, 0)),
          (0x1120, hdr(13, 0)), (0x1220, struct.pack('<QII', 8, 8, 1))])
    # One indirect descriptor pointing at a 3-entry table at 0x1600.
    table = (struct.pack('<QIHH', 0x1100, 16, 1, 1) + struct.pack('<QIHH', 0x1200, 512, 3, 2) +
             struct.pack('<QIHH', 0x1400, 1, 2, 0))
    seed('indirect', [[(0x1600, 48, 4)]], [(0x1100, hdr(0, 0)), (0x1600, table)])


def ide_seeds():
    def tf(reg, val):       # task-file register 1..7
        return bytes([0, reg - 1, val])

    def cmd(c):
        cmds = [0x20, 0x24, 0x25, 0x27, 0x29, 0x30, 0x34, 0x35, 0x39, 0x40, 0x42, 0x90, 0x91,
                0xC4, 0xC5, 0xC6, 0xC8, 0xCA, 0xE5, 0xE7, 0xEC, 0xEA, 0xEF, 0xF8]
        return bytes([7, cmds.index(c)])
    settle, regs = b'\x06', b'\x05'
    lba = tf(2, 1) + tf(3, 8) + tf(4, 0) + tf(5, 0) + tf(6, 0xE0)
    noram = struct.pack('<H', 0)
    put('ide', 'identify', noram + tf(6, 0xA0) + cmd(0xEC) + settle + b'\x03\x40' + regs)
    put('ide', 'pio-read', noram + lba + cmd(0x20) + settle + b'\x03\x40' + regs)
    put('ide', 'pio-write', noram + lba + cmd(0x30) + settle + b'\x04\x40\x34\x12' + settle + regs)
    prd = struct.pack('<IHH', 0x2000, 512, 0x8000)
    ram = struct.pack('<H', len(prd)) + prd
    bm = b'\x02\x04' + struct.pack('<I', 0x1000)
    put('ide', 'dma-read', ram + lba + bm + cmd(0xC8) + b'\x02\x00\x09' + settle + regs)
    put('ide', 'dma-write', ram + lba + bm + cmd(0xCA) + b'\x02\x00\x01' + settle + regs)
    put('ide', 'lba48-flush', noram + lba + lba + cmd(0x24) + settle + b'\x03\x40' + cmd(0xEA) +
        settle + cmd(0xEF) + settle + regs)


def main():
    nbd_request_seeds()
    nbd_reply_seeds()
    virtqueue_seeds()
    ide_seeds()
    try:
        qcow2_seeds()
    except (OSError, subprocess.CalledProcessError) as e:
        print('qcow2 seeds skipped: %s' % e, file=sys.stderr)
    try:
        luks_seeds()
    except OSError as e:
        print('luks seeds skipped: %s' % e, file=sys.stderr)
    extl2_seeds()



# ---- luks-header -----------------------------------------------------------
def luks_seeds():
    """A LUKS header made by the real qemu-img (passphrase astrochicken, as
    the target's secret, tiny iteration counts), whole up to slot 0's key
    material and cut to the 592-byte header alone."""
    with tempfile.TemporaryDirectory() as d:
        img = os.path.join(d, 'l.luks')
        for _ in range(5):  # QEMU's PBKDF2 benchmark fails now and then
            r = subprocess.run(['qemu-img', 'create', '-f', 'luks', '--object',
                                'secret,id=sec0,data=astrochicken', '-o',
                                'key-secret=sec0,iter-time=1', img, '1M'],
                               capture_output=True)
            if r.returncode == 0:
                break
        else:
            return
        with open(img, 'rb') as f:
            data = f.read(4096 + 64 * 4000)
    put('luks-header', 'slot0', data)
    put('luks-header', 'header', data[:592])


# ---- qcow2-extl2 -----------------------------------------------------------
def extl2_seeds():
    """Flags byte (bit 0 extended, bit 1 v3, bits 2+ subcluster index), the
    descriptor and, when extended, the bitmap: one seed per subcluster state
    family, little-endian as the target's FuzzInput reads them."""
    def seed(name, flags, entry, bitmap=None):
        data = bytes([flags]) + struct.pack('<Q', entry)
        if bitmap is not None:
            data += struct.pack('<Q', bitmap)
        put('qcow2-extl2', name, data)
    seed('normal-mixed', 1 | 2 | 4 << 2, 0x8000000000050000, 0x0000003000000003)
    seed('unallocated-zero', 1 | 2 | 8 << 2, 0, 0x0000ff0000000000)
    seed('compressed', 1 | 2, 0x4000000000012345, 0)
    seed('invalid-both', 1 | 2, 0x50000, 0x0000000100000001)
    seed('standard-zero', 2, 0x50001)


if __name__ == '__main__':
    main()
