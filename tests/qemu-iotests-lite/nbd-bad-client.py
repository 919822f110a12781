# Sends malformed NBD requests to the server on the Unix socket argv[1], one
# fresh connection per case, and prints how the server answered.  Used by
# iotests-lite 304; the answers a conforming server may choose between
# (EINVAL or ENOSPC past the end, an error or a disconnect for garbage) are
# printed as one class so the real qemu-nbd gives the same output.
import socket
import struct
import sys

path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(10)
    hdr = recvn(s, 18)
    assert hdr[:16] == b'NBDMAGICIHAVEOPT'
    s.sendall(struct.pack('>I', 3))  # fixed newstyle, no zeroes
    opt(s, 8, b'')                    # STRUCTURED_REPLY
    rep = optreply(s)
    name = b''
    opt(s, 7, struct.pack('>I', 0) + struct.pack('>H', 0))  # GO ''
    size = None
    while True:
        o, t, data = optreply(s)
        if t == 3 and struct.unpack('>H', data[:2])[0] == 0:
            size, flags = struct.unpack('>QH', data[2:12])
        if t == 1: break
    return s, size, flags
def recvn(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
def opt(s, o, data):
    s.sendall(b'IHAVEOPT' + struct.pack('>II', o, len(data)) + data)
def optreply(s):
    h = recvn(s, 20)
    magic, o, t, ln = struct.unpack('>QIII', h)
    return o, t, recvn(s, ln)
def req(s, typ, off, ln, flags=0, cookie=1, magic=0x25609513, payload=b''):
    s.sendall(struct.pack('>IHHQQI', magic, flags, typ, cookie, off, ln) + payload)
def read_reply(s):
    m = struct.unpack('>I', recvn(s, 4))[0]
    if m == 0x67446698:  # simple
        err, cookie = struct.unpack('>IQ', recvn(s, 12))
        return 'simple error=%d' % err
    flags, typ, cookie, ln = struct.unpack('>HHQI', recvn(s, 16))
    data = recvn(s, ln)
    if typ >= 0x8000:
        err = struct.unpack('>I', data[:4])[0]
        return 'structured error chunk error=%d' % err
    return 'structured chunk type=%d' % typ
def case(name, fn):
    s, size, flags = conn()
    try:
        out = fn(s, size)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        out = 'disconnected'
    except socket.timeout:
        out = 'TIMEOUT (server hung)'
    if name in REFUSED and (out == 'disconnected' or 'error=22' in out):
        out = 'refused (EINVAL or disconnect)'
    print('%s: %s' % (name, out))
    s.close()
REFUSED = ('write of 64 MiB announced', 'bad request magic')
case('read past the end', lambda s, size: (req(s, 0, size - 512, 1024), read_reply(s))[1])
case('read at offset 2^63', lambda s, size: (req(s, 0, 1 << 63, 512), read_reply(s))[1])
case('write past the end', lambda s, size: (req(s, 1, size, 512, payload=b'x' * 512), read_reply(s))[1]
     .replace('error=28', 'error=22'))
case('zero-length read', lambda s, size: (req(s, 0, 0, 0), read_reply(s))[1])
case('unknown command 99', lambda s, size: (req(s, 99, 0, 512), read_reply(s))[1])
case('unknown flag bit on read', lambda s, size: (req(s, 0, 0, 512, flags=0x8000), read_reply(s))[1])
case('trim past the end', lambda s, size: (req(s, 4, size - 512, 4096), read_reply(s))[1])
case('block status without the context', lambda s, size: (req(s, 7, 0, 512), read_reply(s))[1])
case('read of 64 MiB (over the 32 MiB limit)', lambda s, size: (req(s, 0, 0, 64 << 20), read_reply(s))[1])
case('write of 64 MiB announced', lambda s, size: (req(s, 1, 0, 64 << 20), read_reply(s))[1])
case('bad request magic', lambda s, size: (req(s, 0, 0, 512, magic=0x12345678), read_reply(s))[1])
case('truncated request then close', lambda s, size: (s.sendall(b'\x25\x60\x95\x13\x00'), s.shutdown(socket.SHUT_WR), read_reply(s))[2])
case('write with short payload then close', lambda s, size: (req(s, 1, 0, 4096, payload=b'y' * 100), s.shutdown(socket.SHUT_WR), read_reply(s))[2])
# after all that, a well-behaved client still gets served
case('good read afterwards', lambda s, size: (req(s, 0, 0, 512), read_reply(s))[1])
