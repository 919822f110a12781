// Socket setup and the coroutine channel; see nbd-socket.h.
#include "block/nbd/nbd-socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

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

static void channel_update_handler(NbdChannel *ch);

static void channel_readable(void *opaque)
{
    NbdChannel *ch = (NbdChannel *)opaque;
    Coroutine *co = ch->read_waiter;
    ch->read_waiter = nullptr;
    channel_update_handler(ch);
    if (co) qemu_coroutine_enter(co);
}

static void channel_writable(void *opaque)
{
    NbdChannel *ch = (NbdChannel *)opaque;
    Coroutine *co = ch->write_waiter;
    ch->write_waiter = nullptr;
    channel_update_handler(ch);
    if (co) qemu_coroutine_enter(co);
}

static void channel_update_handler(NbdChannel *ch)
{
    if (ch->fd < 0) return;
    aio_set_fd_handler(ch->ctx, ch->fd, ch->read_waiter ? channel_readable : nullptr,
                       ch->write_waiter ? channel_writable : nullptr, ch);
}

void nbd_channel_init(NbdChannel *ch, int fd, AioContext *ctx)
{
    ch->fd = fd;
    ch->ctx = ctx;
    ch->dead = false;
    qemu_co_mutex_init(&ch->send_lock);
    nbd_socket_set_nonblock(fd, true);
}

// Parks the current coroutine until the fd is ready in the given direction.
static void coroutine_fn channel_wait(NbdChannel *ch, bool for_write)
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

int coroutine_fn nbd_channel_read(NbdChannel *ch, void *buf, size_t len, bool *eof_clean)
{
    size_t done = 0;
    if (eof_clean) *eof_clean = false;
    while (done < len) {
        if (ch->dead) return -EIO;
        ssize_t n = recv(ch->fd, (char *)buf + done, len - done, 0);
        if (n > 0) {
            done += size_t(n);
        } else if (n == 0) {
            if (eof_clean && done == 0) *eof_clean = true;
            return -ECONNRESET;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            channel_wait(ch, false);
        } else if (errno != EINTR) {
            return errno == ECONNRESET ? -ECONNRESET : -EIO;
        }
    }
    return 0;
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

int coroutine_fn nbd_channel_readv(NbdChannel *ch, struct iovec *iov, int niov)
{
    iov_consume(&iov, &niov, 0);  // a zero-length read must not look like EOF
    while (niov > 0) {
        if (ch->dead) return -EIO;
        struct msghdr msg = {};
        msg.msg_iov = iov;
        msg.msg_iovlen = size_t(niov < IOV_MAX ? niov : IOV_MAX);
        ssize_t n = recvmsg(ch->fd, &msg, 0);
        if (n > 0) {
            iov_consume(&iov, &niov, size_t(n));
        } else if (n == 0) {
            return -ECONNRESET;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            channel_wait(ch, false);
        } else if (errno != EINTR) {
            return -EIO;
        }
    }
    return 0;
}

int coroutine_fn nbd_channel_writev(NbdChannel *ch, struct iovec *iov, int niov)
{
    while (niov > 0) {
        if (ch->dead) return -EIO;
        struct msghdr msg = {};
        msg.msg_iov = iov;
        msg.msg_iovlen = size_t(niov < IOV_MAX ? niov : IOV_MAX);
        ssize_t n = sendmsg(ch->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                channel_wait(ch, true);
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
    aio_set_fd_handler(ch->ctx, ch->fd, nullptr, nullptr, nullptr);
    close(ch->fd);
    ch->fd = -1;
    ch->dead = true;
}

NbdChannel::~NbdChannel()
{
    if (fd >= 0) nbd_channel_close(this);
}
