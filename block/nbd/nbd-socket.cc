// Socket setup and the coroutine channel; see nbd-socket.h.
#include "block/nbd/nbd-socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "block/nbd/nbd-tls-int.h"
#include "util/aio.h"

std::string NbdAddress::to_string() const
{
    if (is_unix) return path;
    return host + ":" + port;
}

int nbd_socket_set_nonblock(int fd, bool nonblock)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    fl = nonblock ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static bool unix_sockaddr(const std::string &path, struct sockaddr_un *sun, Error **errp)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (path.size() >= sizeof(sun->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path.c_str());
        return false;
    }
    memcpy(sun->sun_path, path.c_str(), path.size() + 1);
    return true;
}

static int connect_unix(const NbdAddress &addr, Error **errp)
{
    struct sockaddr_un sun;
    if (!unix_sockaddr(addr.path, &sun, errp)) return -EINVAL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create socket");
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int err = errno;
        error_setg_errno(errp, err, "Failed to connect to '%s'", addr.path.c_str());
        close(fd);
        return -err;
    }
    return fd;
}

// Tries each resolved address in turn, like QEMU's inet_connect.
static int connect_inet(const NbdAddress &addr, Error **errp)
{
    struct addrinfo hints = {}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(addr.host.c_str(), addr.port.c_str(), &hints, &res);
    if (rc != 0) {
        error_setg(errp, "address resolution failed for %s:%s: %s", addr.host.c_str(),
                   addr.port.c_str(), gai_strerror(rc));
        return -EINVAL;
    }
    int err = ECONNREFUSED;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, err, "Failed to connect to '%s:%s'", addr.host.c_str(),
                         addr.port.c_str());
        return -err;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int nbd_socket_connect(const NbdAddress &addr, Error **errp)
{
    return addr.is_unix ? connect_unix(addr, errp) : connect_inet(addr, errp);
}

static int listen_unix(const NbdAddress &addr, int backlog, Error **errp)
{
    struct sockaddr_un sun;
    if (!unix_sockaddr(addr.path, &sun, errp)) return -EINVAL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create Unix socket");
        return -errno;
    }
    unlink(addr.path.c_str());
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, backlog) < 0) {
        int err = errno;
        error_setg_errno(errp, err, "Failed to bind socket to %s", addr.path.c_str());
        close(fd);
        return -err;
    }
    return fd;
}

static int listen_inet(const NbdAddress &addr, int backlog, Error **errp)
{
    struct addrinfo hints = {}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    const char *host = addr.host.empty() ? nullptr : addr.host.c_str();
    int rc = getaddrinfo(host, addr.port.c_str(), &hints, &res);
    if (rc != 0) {
        error_setg(errp, "address resolution failed for %s:%s: %s", addr.host.c_str(),
                   addr.port.c_str(), gai_strerror(rc));
        return -EINVAL;
    }
    int fd = -1, err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, err, "Failed to bind socket");
        return -err;
    }
    return fd;
}

int nbd_socket_listen(const NbdAddress &addr, int backlog, Error **errp)
{
    return addr.is_unix ? listen_unix(addr, backlog, errp) : listen_inet(addr, backlog, errp);
}

// ---- channel ---------------------------------------------------------------------

static void channel_readable(void *opaque);
static void channel_writable(void *opaque);

// The fd handler is registered lazily: a coroutine that finds the socket
// would block registers interest and yields; when it is woken the
// registration stays, because the reader (and usually the writer) is back
// waiting after one message.  Only an event that finds nobody waiting drops
// it.  In steady state that saves two epoll_ctl calls per wait.
static void channel_update_handler(NbdChannel *ch)
{
    if (ch->fd < 0) return;
    bool want_read = ch->read_waiter != nullptr, want_write = ch->write_waiter != nullptr;
    if (want_read == ch->polling_read && want_write == ch->polling_write) return;
    ch->polling_read = want_read;
    ch->polling_write = want_write;
    aio_set_fd_handler(ch->ctx, ch->fd, want_read ? channel_readable : nullptr,
                       want_write ? channel_writable : nullptr, ch);
}

static void channel_readable(void *opaque)
{
    NbdChannel *ch = (NbdChannel *)opaque;
    Coroutine *co = ch->read_waiter;
    ch->read_waiter = nullptr;
    if (co) {
        qemu_coroutine_enter(co);
    } else {
        channel_update_handler(ch);
    }
}

static void channel_writable(void *opaque)
{
    NbdChannel *ch = (NbdChannel *)opaque;
    Coroutine *co = ch->write_waiter;
    ch->write_waiter = nullptr;
    if (co) {
        qemu_coroutine_enter(co);
    } else {
        channel_update_handler(ch);
    }
}

// Large socket buffers let a 1 MiB reply or write payload go out in one
// sendmsg instead of five wake-ups of the sender (Unix sockets charge the
// sender's buffer); the kernel caps the value at net.core.wmem_max.
static void channel_tune_socket(int fd)
{
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

void nbd_channel_init(NbdChannel *ch, int fd, AioContext *ctx)
{
    ch->fd = fd;
    ch->ctx = ctx;
    ch->dead = false;
    ch->rpos = ch->rlen = 0;
    if (!ch->rbuf) ch->rbuf = std::make_unique<uint8_t[]>(NBD_CHANNEL_RBUF_SIZE);
    qemu_co_mutex_init(&ch->send_lock);
    nbd_socket_set_nonblock(fd, true);
    channel_tune_socket(fd);
}

// Parks the current coroutine until the fd is ready in the given direction.
void coroutine_fn nbd_channel_wait(NbdChannel *ch, bool for_write)
{
    Coroutine *self = qemu_coroutine_self();
    assert(self);
    if (for_write) {
        assert(!ch->write_waiter);
        ch->write_waiter = self;
    } else {
        assert(!ch->read_waiter);
        ch->read_waiter = self;
    }
    channel_update_handler(ch);
    qemu_coroutine_yield();
}

// Advances @iov/@niov past @n consumed bytes.
static void iov_consume(struct iovec **iov, int *niov, size_t n)
{
    while (*niov > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*niov)--;
    }
    if (*niov > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

// Copies read-ahead bytes into @iov; returns how many.
static size_t drain_read_ahead(NbdChannel *ch, struct iovec **iov, int *niov)
{
    size_t total = 0;
    while (*niov > 0 && ch->rpos < ch->rlen) {
        size_t n = std::min((*iov)->iov_len, ch->rlen - ch->rpos);
        memcpy((*iov)->iov_base, ch->rbuf.get() + ch->rpos, n);
        ch->rpos += n;
        total += n;
        iov_consume(iov, niov, n);
    }
    return total;
}

static size_t iov_total(const struct iovec *iov, int niov)
{
    size_t t = 0;
    for (int i = 0; i < niov; i++)
        t += iov[i].iov_len;
    return t;
}

// Reads exactly what @iov describes.  Small reads (headers, 4 KiB payloads)
// go through the read-ahead buffer, so one recv serves several messages;
// large ones land straight in the caller's buffers.
static int coroutine_fn channel_recv(NbdChannel *ch, struct iovec *iov, int niov, bool *eof_clean)
{
    size_t done = 0;
    if (eof_clean) *eof_clean = false;
    iov_consume(&iov, &niov, 0);  // a zero-length read must not look like EOF
    while (niov > 0) {
        if (ch->dead) return -EIO;
        done += drain_read_ahead(ch, &iov, &niov);
        if (niov == 0) break;
        bool buffered = iov_total(iov, niov) < NBD_CHANNEL_RBUF_SIZE / 2;
        ssize_t n;
        if (ch->tls) {
            // Plaintext comes out one record (<= 16 KiB) per call; large
            // reads are decrypted straight into the caller's buffer.
            n = buffered ? nbd_tls_read(ch, ch->rbuf.get(), NBD_CHANNEL_RBUF_SIZE)
                         : nbd_tls_read(ch, iov[0].iov_base, iov[0].iov_len);
            if (n < 0) {
                errno = int(-n);
                n = -1;
            }
        } else if (buffered) {
            n = recv(ch->fd, ch->rbuf.get(), NBD_CHANNEL_RBUF_SIZE, 0);
        } else {
            struct msghdr msg = {};
            msg.msg_iov = iov;
            msg.msg_iovlen = size_t(niov < IOV_MAX ? niov : IOV_MAX);
            n = recvmsg(ch->fd, &msg, 0);
        }
        if (n > 0) {
            if (buffered) {
                ch->rpos = 0;
                ch->rlen = size_t(n);
            } else {
                done += size_t(n);
                iov_consume(&iov, &niov, size_t(n));
            }
        } else if (n == 0) {
            if (eof_clean && done == 0) *eof_clean = true;
            return -ECONNRESET;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            nbd_channel_wait(ch, false);
        } else if (errno != EINTR) {
            return errno == ECONNRESET ? -ECONNRESET : -EIO;
        }
    }
    return 0;
}

int coroutine_fn nbd_channel_read(NbdChannel *ch, void *buf, size_t len, bool *eof_clean)
{
    struct iovec iov = {buf, len};
    return channel_recv(ch, &iov, 1, eof_clean);
}

int coroutine_fn nbd_channel_readv(NbdChannel *ch, struct iovec *iov, int niov)
{
    return channel_recv(ch, iov, niov, nullptr);
}

int coroutine_fn nbd_channel_writev(NbdChannel *ch, struct iovec *iov, int niov)
{
    if (ch->tls) return nbd_tls_writev(ch, iov, niov);
    while (niov > 0) {
        if (ch->dead) return -EIO;
        struct msghdr msg = {};
        msg.msg_iov = iov;
        msg.msg_iovlen = size_t(niov < IOV_MAX ? niov : IOV_MAX);
        ssize_t n = sendmsg(ch->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                nbd_channel_wait(ch, true);
                continue;
            }
            if (errno == EINTR) continue;
            return -EIO;
        }
        iov_consume(&iov, &niov, size_t(n));
    }
    return 0;
}

int coroutine_fn nbd_channel_write(NbdChannel *ch, const void *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    return nbd_channel_writev(ch, &iov, 1);
}

void nbd_channel_shutdown(NbdChannel *ch)
{
    if (ch->fd < 0) return;
    ch->dead = true;
    shutdown(ch->fd, SHUT_RDWR);
    // Waiters wake with -EIO: re-enter them now rather than waiting for the
    // HUP event, so in-flight requests fail promptly.
    Coroutine *r = ch->read_waiter, *w = ch->write_waiter;
    ch->read_waiter = ch->write_waiter = nullptr;
    channel_update_handler(ch);
    if (r) aio_co_wake(r);
    if (w) aio_co_wake(w);
}

void nbd_channel_close(NbdChannel *ch)
{
    if (ch->fd < 0) return;
    assert(!ch->read_waiter && !ch->write_waiter);
    nbd_tls_close(ch);
    aio_set_fd_handler(ch->ctx, ch->fd, nullptr, nullptr, nullptr);
    ch->polling_read = ch->polling_write = false;
    close(ch->fd);
    ch->fd = -1;
    ch->dead = true;
}

NbdChannel::~NbdChannel()
{
    if (fd >= 0) nbd_channel_close(this);
}
