// Socket addresses and the coroutine byte channel NBD runs over.
//
// NbdChannel wraps one non-blocking stream socket registered with an
// AioContext.  At most one coroutine reads and (under send_lock) one writes at
// a time; each parks itself on the fd handler when the socket would block and
// is re-entered from it.  shutdown() wakes both with an error, so no request
// can hang on a dead peer.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "coroutine/coroutine.h"
#include "util/error.h"

struct AioContext;
struct NbdTlsState;

struct NbdAddress {
    bool is_unix = false;
    std::string path;  // unix
    std::string host;  // inet
    std::string port;  // inet, decimal
    std::string to_string() const;
};

// Blocking connect (the handshake follows immediately anyway); returns an fd
// in blocking mode or -errno with errp set ("Failed to connect to '...': ...").
int nbd_socket_connect(const NbdAddress &addr, Error **errp);
// Creates a listening socket; unlinks a stale unix socket path first.
int nbd_socket_listen(const NbdAddress &addr, int backlog, Error **errp);
int nbd_socket_set_nonblock(int fd, bool nonblock);

// Read-ahead buffer: reads smaller than half of it are served from it.
constexpr size_t NBD_CHANNEL_RBUF_SIZE = 64 * 1024;

struct NbdChannel {
    int fd = -1;
    AioContext *ctx = nullptr;
    Coroutine *read_waiter = nullptr;
    Coroutine *write_waiter = nullptr;
    bool dead = false;                // shut down: every further I/O fails with -EIO
    CoMutex send_lock;                // serialises whole messages from concurrent senders
    bool polling_read = false;        // fd handler registered for reading
    bool polling_write = false;       // ... and for writing
    std::unique_ptr<uint8_t[]> rbuf;  // read-ahead: bytes [rpos, rlen) not consumed yet
    size_t rpos = 0, rlen = 0;
    NbdTlsState *tls = nullptr;  // set by nbd_channel_starttls (nbd-tls-int.h)

    NbdChannel() = default;
    NbdChannel(const NbdChannel &) = delete;
    NbdChannel &operator=(const NbdChannel &) = delete;
    ~NbdChannel();
};

// Takes ownership of @fd (made non-blocking).
void nbd_channel_init(NbdChannel *ch, int fd, AioContext *ctx);
// Reads exactly @len bytes.  0 on success; -EIO on error; -ECONNRESET if the
// peer closed (@len bytes not all read).  *eof_clean is set when the peer
// closed before the first byte (a clean disconnect between messages).
int coroutine_fn nbd_channel_read(NbdChannel *ch, void *buf, size_t len, bool *eof_clean = nullptr);
// Reads exactly the bytes @iov describes (same errors as nbd_channel_read).
// @iov is modified.
int coroutine_fn nbd_channel_readv(NbdChannel *ch, struct iovec *iov, int niov);
// Writes all of @iov; 0 or -EIO.  Callers sending a whole message hold
// send_lock around it.  @iov is modified.
int coroutine_fn nbd_channel_writev(NbdChannel *ch, struct iovec *iov, int niov);
int coroutine_fn nbd_channel_write(NbdChannel *ch, const void *buf, size_t len);
// Parks the current coroutine until the fd is ready for reading or writing
// (for the TLS layer, which does its own socket I/O).
void coroutine_fn nbd_channel_wait(NbdChannel *ch, bool for_write);
// Marks the channel dead, shuts the socket down and wakes any waiter; safe
// from any context in the channel's thread, repeatedly.
void nbd_channel_shutdown(NbdChannel *ch);
// Unregisters and closes the fd (no waiter may remain).
void nbd_channel_close(NbdChannel *ch);
