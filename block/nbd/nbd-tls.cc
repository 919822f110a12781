// The NBD channel's TLS layer; see nbd-tls-int.h for the buffering model.
#include "block/nbd/nbd-tls-int.h"

#include <sys/socket.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

constexpr size_t TLS_IN_SIZE = 256 * 1024;
// Flush the output buffer once a message's records reach this much.
constexpr size_t TLS_OUT_FLUSH = 1024 * 1024;
// TLS's largest record payload: a message is cut into records this size.
constexpr size_t TLS_RECORD = 16384;

struct NbdTlsState {
    TlsSession *session = nullptr;
    std::unique_ptr<uint8_t[]> in;  // ciphertext read-ahead: [in_pos, in_len) unread
    size_t in_pos = 0, in_len = 0;
    std::vector<uint8_t> stage;  // plaintext gathered into one record
    std::vector<uint8_t> out;    // ciphertext not sent yet: [out_pos, out.size())
    size_t out_pos = 0;
    bool flushing = false;     // a coroutine is sending out (may be parked)
    bool established = false;  // handshake and peer checks passed

    ~NbdTlsState() { tls_session_free(session); }
};

namespace {

ssize_t tls_pull(void *opaque, void *buf, size_t len)
{
    NbdChannel *ch = (NbdChannel *)opaque;
    NbdTlsState *t = ch->tls;
    if (t->in_pos == t->in_len) {
        ssize_t n;
        do {
            n = recv(ch->fd, t->in.get(), TLS_IN_SIZE, 0);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return n == 0 ? 0 : -errno;
        t->in_pos = 0;
        t->in_len = size_t(n);
    }
    size_t n = std::min(len, t->in_len - t->in_pos);
    memcpy(buf, t->in.get() + t->in_pos, n);
    t->in_pos += n;
    return ssize_t(n);
}

// Never blocks: records queue up until a flush.
ssize_t tls_push(void *opaque, const void *buf, size_t len)
{
    NbdTlsState *t = ((NbdChannel *)opaque)->tls;
    const uint8_t *p = (const uint8_t *)buf;
    t->out.insert(t->out.end(), p, p + len);
    return ssize_t(len);
}

void out_consumed(NbdTlsState *t, size_t n)
{
    t->out_pos += n;
    if (t->out_pos == t->out.size()) {
        t->out.clear();  // keeps the capacity for the next message
        t->out_pos = 0;
    }
}

// One non-blocking send of what is queued: 0 when all went out, -EAGAIN
// when some is left, -EIO on error.
int try_flush(NbdChannel *ch)
{
    NbdTlsState *t = ch->tls;
    while (t->out_pos < t->out.size()) {
        ssize_t n =
            send(ch->fd, t->out.data() + t->out_pos, t->out.size() - t->out_pos, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EIO;
        }
        out_consumed(t, size_t(n));
    }
    return 0;
}

int coroutine_fn flush(NbdChannel *ch)
{
    NbdTlsState *t = ch->tls;
    t->flushing = true;
    int ret;
    while ((ret = try_flush(ch)) == -EAGAIN) {
        if (ch->dead) break;
        nbd_channel_wait(ch, true);
    }
    t->flushing = false;
    return ch->dead ? -EIO : ret;
}

}  // namespace

int coroutine_fn nbd_channel_starttls(NbdChannel *ch, TlsCreds *creds, const char *hostname,
                                      const char *authz_id, TlsEndpoint endpoint, Error **errp)
{
    auto *t = new NbdTlsState;
    t->in = std::make_unique<uint8_t[]>(TLS_IN_SIZE);
    // Bytes that arrived behind the STARTTLS exchange already belong to the
    // TLS stream (a client may send its hello without waiting).
    t->in_len = ch->rlen - ch->rpos;
    memcpy(t->in.get(), ch->rbuf.get() + ch->rpos, t->in_len);
    ch->rpos = ch->rlen = 0;
    ch->tls = t;
    TlsTransport tr = {tls_pull, tls_push, ch};
    t->session = tls_session_new(creds, hostname, authz_id, endpoint, tr, errp);
    if (!t->session) return -EINVAL;
    for (;;) {
        int r = tls_session_handshake(t->session, errp);
        if (flush(ch) < 0 && r >= 0) {
            error_setg(errp, "TLS handshake failed: the connection was lost");
            return -EIO;
        }
        if (r == 1) {
            t->established = true;
            return 0;
        }
        if (r < 0) return -EIO;
        if (t->in_pos == t->in_len) nbd_channel_wait(ch, false);
        if (ch->dead) {
            error_setg(errp, "TLS handshake failed: the connection was shut down");
            return -EIO;
        }
    }
}

ssize_t nbd_tls_read(NbdChannel *ch, void *buf, size_t len)
{
    NbdTlsState *t = ch->tls;
    ssize_t n;
    // GnuTLS may stop after a non-data record with ciphertext still in our
    // buffer: only an empty buffer means waiting for the socket.
    do {
        n = tls_session_read(t->session, buf, len);
    } while (n == -EAGAIN && t->in_pos < t->in_len);
    // A peer that closes without close_notify: the NBD framing already
    // tells a clean end (between messages) from a truncated message.
    if (n == -ECONNRESET) n = 0;
    if (t->out_pos < t->out.size() && !t->flushing) try_flush(ch);
    return n;
}

// Encrypts one record's worth of plaintext into the output buffer.
static int encrypt(NbdChannel *ch, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = tls_session_write(ch->tls->session, p, len);
        if (n <= 0) return -EIO;  // the push side never blocks: no EAGAIN
        p += n;
        len -= size_t(n);
    }
    return 0;
}

// A message is a header and a payload in separate iovecs: records are cut
// across them at full size, so a 4 KiB read reply is one record rather than
// a tiny header record and a data record (half the AEAD calls and framing).
// Pieces that already fill a record are encrypted in place, not copied.
int coroutine_fn nbd_tls_writev(NbdChannel *ch, struct iovec *iov, int niov)
{
    NbdTlsState *t = ch->tls;
    std::vector<uint8_t> &stage = t->stage;
    stage.clear();
    for (int i = 0; i < niov; i++) {
        const uint8_t *p = (const uint8_t *)iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            if (ch->dead) return -EIO;
            size_t n;
            if (stage.empty() && left >= TLS_RECORD) {
                n = left / TLS_RECORD * TLS_RECORD;
                if (encrypt(ch, p, n) < 0) return -EIO;
            } else {
                n = std::min(left, TLS_RECORD - stage.size());
                stage.insert(stage.end(), p, p + n);
                if (stage.size() == TLS_RECORD) {
                    if (encrypt(ch, stage.data(), stage.size()) < 0) return -EIO;
                    stage.clear();
                }
            }
            p += n;
            left -= n;
            if (t->out.size() - t->out_pos >= TLS_OUT_FLUSH && flush(ch) < 0) return -EIO;
        }
    }
    if (!stage.empty() && encrypt(ch, stage.data(), stage.size()) < 0) return -EIO;
    stage.clear();
    return flush(ch);
}

void nbd_tls_close(NbdChannel *ch)
{
    NbdTlsState *t = ch->tls;
    if (!t) return;
    if (t->established && !ch->dead && !t->flushing) {
        tls_session_bye(t->session);
        try_flush(ch);
    }
    delete t;
    ch->tls = nullptr;
}
