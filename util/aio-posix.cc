// The polling half of AioContext: epoll fd handlers, the notify eventfd and
// aio_poll.  One iteration = deferred calls, (maybe block), fd handlers,
// BHs, timers, deferred calls.
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/aio-int.h"
#include "util/bql.h"
#include "util/error.h"

static void die_errno(const char *what)
{
    error_report("%s: %s", what, strerror(errno));
    abort();
}

void aio_context_init_events(AioContext *ctx)
{
    ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ctx->epfd < 0) {
        die_errno("epoll_create1");
    }
    ctx->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ctx->notify_fd < 0) {
        die_errno("eventfd");
    }
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // nullptr marks the notifier
    if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, ctx->notify_fd, &ev) < 0) {
        die_errno("epoll_ctl");
    }
}

void aio_context_fini_events(AioContext *ctx)
{
    assert(ctx->handlers.empty() && "remove fd handlers before freeing the AioContext");
    for (AioHandler *h : ctx->deleted_handlers) {
        delete h;
    }
    ctx->deleted_handlers.clear();
    close(ctx->notify_fd);
    close(ctx->epfd);
}

void aio_notify(AioContext *ctx)
{
    // Pairs with the fence in aio_poll after setting notify_me: either the
    // poller sees our BH/coroutine before sleeping, or we see notify_me.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ctx->notify_me.load(std::memory_order_relaxed) && !ctx->notified.exchange(true)) {
        uint64_t one = 1;
        ssize_t r = write(ctx->notify_fd, &one, sizeof(one));
        (void)r;  // EAGAIN: counter saturated, already readable
    }
}

static void notify_accept(AioContext *ctx)
{
    uint64_t v;
    // Drain first, then re-arm: clearing `notified` before the read let a
    // notifier's write land in between and be consumed while `notified`
    // stayed true, so every later aio_notify skipped its write and the loop
    // slept on pending BHs (test-aio-notify).  A notifier that still sees
    // true here scheduled its BH before this point: aio_bh_poll runs it.
    ssize_t r = read(ctx->notify_fd, &v, sizeof(v));
    (void)r;
    ctx->notified.store(false);
}

void aio_context_set_release_bql(AioContext *ctx, bool release) { ctx->release_bql = release; }

static uint32_t handler_events(IOHandler *io_read, IOHandler *io_write)
{
    return (io_read ? uint32_t(EPOLLIN | EPOLLRDHUP) : 0u) | (io_write ? uint32_t(EPOLLOUT) : 0u);
}

static void handler_remove(AioContext *ctx, AioHandler *h)
{
    // The fd may already be closed by the caller: ignore EBADF/ENOENT.
    epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, h->fd, nullptr);
    ctx->handlers.erase(h->fd);
    if (ctx->walking_handlers) {
        h->deleted = true;  // an epoll_event of this walk may point to it
        ctx->deleted_handlers.push_back(h);
    } else {
        delete h;
    }
}

void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read, IOHandler *io_write,
                        void *opaque)
{
    auto it = ctx->handlers.find(fd);
    AioHandler *h = it == ctx->handlers.end() ? nullptr : it->second;
    if (!io_read && !io_write) {
        if (h) {
            handler_remove(ctx, h);
        }
        return;
    }
    bool is_new = !h;
    if (is_new) {
        h = new AioHandler{fd, nullptr, nullptr, nullptr, false};
        ctx->handlers[fd] = h;
    }
    h->io_read = io_read;
    h->io_write = io_write;
    h->opaque = opaque;
    struct epoll_event ev = {};
    ev.events = handler_events(io_read, io_write);
    ev.data.ptr = h;
    if (epoll_ctl(ctx->epfd, is_new ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) < 0) {
        die_errno("aio_set_fd_handler: epoll_ctl");
    }
}

// Runs the handlers of the ready events; true if a user handler ran.
static bool dispatch_events(AioContext *ctx, struct epoll_event *evs, int n)
{
    bool progress = false;
    ctx->walking_handlers++;
    for (int i = 0; i < n; i++) {
        AioHandler *h = static_cast<AioHandler *>(evs[i].data.ptr);
        if (!h) {
            notify_accept(ctx);
            continue;
        }
        uint32_t e = evs[i].events;
        if (!h->deleted && h->io_read && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
            h->io_read(h->opaque);
            progress = true;
        }
        if (!h->deleted && h->io_write && (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
            h->io_write(h->opaque);
            progress = true;
        }
    }
    if (--ctx->walking_handlers == 0) {
        for (AioHandler *h : ctx->deleted_handlers) {
            delete h;
        }
        ctx->deleted_handlers.clear();
    }
    return progress;
}

// epoll_wait with nanosecond timeouts where the kernel has epoll_pwait2.
static int wait_events(AioContext *ctx, struct epoll_event *evs, int max, int64_t timeout_ns)
{
    static std::atomic<bool> no_pwait2{false};
    int n;
    // Not do/while: a `continue` there would test the loop condition with
    // errno == ENOSYS and leave the loop instead of retrying with epoll_wait
    // (kernels before 5.11, valgrind).
    for (;;) {
        if (timeout_ns > 0 && !no_pwait2.load(std::memory_order_relaxed)) {
            struct timespec ts = {time_t(timeout_ns / 1000000000), long(timeout_ns % 1000000000)};
            n = epoll_pwait2(ctx->epfd, evs, max, &ts, nullptr);
            if (n < 0 && errno == ENOSYS) {
                no_pwait2.store(true);
                continue;
            }
        } else {
            int ms = timeout_ns < 0 ? -1 : int((timeout_ns + 999999) / 1000000);
            n = epoll_wait(ctx->epfd, evs, max, ms);
        }
        if (n >= 0 || errno != EINTR) {
            break;
        }
    }
    if (n < 0) {
        die_errno("epoll_wait");
    }
    return n;
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    assert(!qemu_in_coroutine() && "aio_poll from a coroutine would deadlock");
    bool progress = aio_run_deferred(ctx);  // submissions made before polling
    int64_t timeout = (blocking && !progress) ? aio_compute_timeout_ns(ctx) : 0;
    if (timeout != 0) {
        ctx->notify_me.store(true, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (aio_bh_pending(ctx)) {
            timeout = 0;
        }
    }
    bool drop_bql = timeout != 0 && ctx->release_bql && bql_locked();
    if (drop_bql) {
        bql_unlock();
    }
    struct epoll_event evs[128];
    int n = wait_events(ctx, evs, 128, timeout);
    if (drop_bql) {
        bql_lock();
    }
    ctx->notify_me.store(false, std::memory_order_relaxed);

    progress |= dispatch_events(ctx, evs, n);
    progress |= aio_bh_poll(ctx);
    progress |= aio_run_timers(ctx);
    progress |= aio_run_deferred(ctx);
    return progress;
}
