#!/usr/bin/env python3
"""Hostile TLS peers for iotest 319 (loopback TCP only).

  nbd-tls-peer.py server MODE,... PORTFILE  fake NBD server; writes its port
                                           to PORTFILE, serves one client per
                                           MODE in turn, exits
  nbd-tls-peer.py client MODE,... PORT      fake NBD clients, one per MODE in
                                           turn, against a TLS server

Server MODEs (what happens after the client's STARTTLS):
  garbage   ACK, then bytes that are not TLS, then close
  close     ACK, then close at once (mid-handshake for the client)
  unsup     NBD_REP_ERR_UNSUP
  policy    NBD_REP_ERR_POLICY with a message
  badack    an ACK that carries a payload
Client MODEs:
  garbage   STARTTLS, then bytes that are not TLS
  close     STARTTLS, then close once the ACK is in
  half      STARTTLS, then half a TLS ClientHello record, then close
  length    STARTTLS with a payload (the server must refuse and drop)
  export    NBD_OPT_EXPORT_NAME before TLS (the server hangs up)
  list      NBD_OPT_LIST before TLS: prints the error reply it gets
"""
import os
import socket
import struct
import sys

INIT = 0x4e42444d41474943
OPTS = 0x49484156454f5054
REPLY = 0x3e889045565a9
STARTTLS, EXPORT_NAME, LIST = 5, 1, 3
ACK, ERR_UNSUP, ERR_POLICY = 1, (1 << 31) | 1, (1 << 31) | 2


def rd(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b


def listen(portfile):
    ls = socket.socket(socket.AF_INET)
    ls.bind(('127.0.0.1', 0))
    ls.listen(1)
    with open(portfile + '.tmp', 'w') as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + '.tmp', portfile)
    ls.settimeout(30)
    return ls


def fake_server(mode, ls):
    s, _ = ls.accept()
    s.sendall(struct.pack('>QQH', INIT, OPTS, 3))
    rd(s, 4)
    hdr = rd(s, 16)
    if hdr is None:
        return
    _, opt, length = struct.unpack('>QII', hdr)
    rd(s, length)
    if mode == 'unsup':
        s.sendall(struct.pack('>QIII', REPLY, opt, ERR_UNSUP, 0))
    elif mode == 'policy':
        msg = b'no TLS here'
        s.sendall(struct.pack('>QIII', REPLY, opt, ERR_POLICY, len(msg)) + msg)
    elif mode == 'badack':
        s.sendall(struct.pack('>QIII', REPLY, opt, ACK, 4) + b'abcd')
    else:
        s.sendall(struct.pack('>QIII', REPLY, opt, ACK, 0))
        if mode == 'garbage':
            s.sendall(b'this is not a TLS record\n' * 40)
    s.settimeout(5)
    try:
        s.recv(4096)  # the client's hello, or its hang-up
    except OSError:
        pass
    s.close()


def fake_client(mode, port):
    s = socket.create_connection(('127.0.0.1', port))
    s.settimeout(10)
    if rd(s, 18) is None:
        print('server hung up before greeting')
        return
    s.sendall(struct.pack('>I', 3))
    opt = {'export': EXPORT_NAME, 'list': LIST}.get(mode, STARTTLS)
    payload = b'xyz' if mode in ('length', 'export') else b''
    s.sendall(struct.pack('>QII', OPTS, opt, len(payload)) + payload)
    try:
        hdr = rd(s, 20)
    except OSError:
        hdr = None
    if hdr is None:
        print('%s: server hung up' % mode)
        return
    _, ropt, rtype, rlen = struct.unpack('>QIII', hdr)
    msg = rd(s, rlen) or b''
    if mode in ('list', 'length'):
        print('%s: reply 0x%x: %s' % (mode, rtype, msg.decode()))
        if mode == 'length':
            print('%s: server %s' % (mode, 'hung up' if not s.recv(1) else 'kept going'))
        return
    if mode == 'garbage':
        s.sendall(b'\x16\x03\x01\x00\x05hello' + b'\xff' * 300)
    elif mode == 'half':
        # A TLS 1.2 handshake record header announcing 512 bytes, and 10 of them.
        s.sendall(b'\x16\x03\x01\x02\x00' + b'\x01\x00\x01\xfc\x03\x03' + b'\x00' * 4)
    if mode == 'garbage':
        try:
            s.recv(4096)  # the server hangs up on it
        except OSError:
            pass
    s.close()
    print('%s: done' % mode)


if __name__ == '__main__':
    if sys.argv[1] == 'server':
        ls = listen(sys.argv[3])
        for m in sys.argv[2].split(','):
            fake_server(m, ls)
    else:
        for m in sys.argv[2].split(','):
            fake_client(m, int(sys.argv[3]))
        sys.stdout.flush()
