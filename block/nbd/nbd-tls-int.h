// TLS at the NBD channel level: after STARTTLS both sides call
// nbd_channel_starttls() and from then on nbd_channel_read/readv/writev
// move plaintext through the session, so the protocol code (handshake,
// structured replies, block status, multi-conn) is the same with and
// without TLS.
//
// The session's transport is buffered both ways, which is what keeps TLS
// cheap per request: ciphertext is read with one recv of up to 256 KiB and
// handed to GnuTLS from that buffer (GnuTLS alone would issue two reads
// per 16 KiB record), and the records of one message are encrypted into an
// output buffer that leaves in one send (GnuTLS alone sends each record
// separately).  The writer (under send_lock) flushes the output buffer;
// records GnuTLS produces while reading (alerts, key updates) are flushed
// by the reader when no writer is busy, or by the next writer.
#pragma once

#include <sys/uio.h>

#include "block/nbd/nbd-socket.h"
#include "crypto/crypto.h"

// Upgrades @ch in place (call right after the STARTTLS ACK was sent or
// received).  Runs the handshake and the peer checks; on failure errp says
// why ("TLS handshake failed: ...", "Certificate does not match the
// hostname ...", "TLS x509 authz check for ... is denied") and the channel
// must be closed.
int coroutine_fn nbd_channel_starttls(NbdChannel *ch, TlsCreds *creds, const char *hostname,
                                      const char *authz_id, TlsEndpoint endpoint, Error **errp);

// ---- hooks for nbd-socket.cc ----------------------------------------------------
// Non-blocking record read: >0 bytes, 0 end of stream, -EAGAIN (wait for
// the fd), -ECONNRESET, -EIO.
ssize_t nbd_tls_read(NbdChannel *ch, void *buf, size_t len);
// Encrypts and sends all of @iov (waits for the fd as needed); 0 or -EIO.
int coroutine_fn nbd_tls_writev(NbdChannel *ch, struct iovec *iov, int niov);
// Sends close_notify best effort and frees the session.
void nbd_tls_close(NbdChannel *ch);
