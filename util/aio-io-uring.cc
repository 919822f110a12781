// aio=io_uring through liburing, with the contract of aio=native: one ring
// per AioContext, completions signalled through a registered eventfd, one
// io_uring_enter per loop iteration for everything queued in it, requests
// beyond the ring size queued, partial completions resubmitted.  Flushes go
// through the ring too (IORING_OP_FSYNC with DATASYNC).
#include <cerrno>
#include <cstring>
#include <mutex>

#include "config-host.h"
#include "util/aio-backend-int.h"

#if CONFIG_LINUX_IO_URING

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

constexpr int kUringSlot = 1;
constexpr unsigned kReapBatch = 64;
constexpr int64_t kRetryNs = 1000000;  // io_uring_enter refused: try again

thread_local AioBackendStats uring_stats;

struct UringEngine : AioEngine {
    struct io_uring ring;
    int efd = -1;
    QEMUTimer *retry = nullptr;
};

// SUBMIT_ALL (5.18+) keeps the kernel from stopping at the first bad SQE,
// which would leave later ones unsubmitted in the ring.
int uring_init(unsigned entries, struct io_uring *ring)
{
    int ret = io_uring_queue_init(entries, ring, IORING_SETUP_SUBMIT_ALL);
    if (ret == -EINVAL) {
        ret = io_uring_queue_init(entries, ring, 0);
    }
    return ret;
}

void uring_completion_cb(void *opaque)
{
    auto *u = static_cast<UringEngine *>(opaque);
    uint64_t count;
    ssize_t r = read(u->efd, &count, sizeof(count));
    (void)r;
    struct io_uring_cqe *cqes[kReapBatch];
    unsigned got;
    while ((got = io_uring_peek_batch_cqe(&u->ring, cqes, kReapBatch)) > 0) {
        // Copied out and the ring advanced first: waking a coroutine may
        // submit more.
        void *data[kReapBatch];
        int res[kReapBatch];
        for (unsigned i = 0; i < got; i++) {
            data[i] = io_uring_cqe_get_data(cqes[i]);
            res[i] = cqes[i]->res;
        }
        io_uring_cq_advance(&u->ring, got);
        for (unsigned i = 0; i < got; i++) {
            aio_engine_complete(u, static_cast<AioEngineReq *>(data[i]), res[i]);
        }
    }
    aio_engine_completions_done(u);
}

void prep_sqe(struct io_uring_sqe *sqe, AioEngineReq *r)
{
    uint64_t off = r->offset + r->done;
    switch (r->op) {
    case AioOp::Read:
        io_uring_prep_readv(sqe, r->fd, r->iov, (unsigned)r->iovcnt, off);
        break;
    case AioOp::Write:
        io_uring_prep_writev(sqe, r->fd, r->iov, (unsigned)r->iovcnt, off);
        break;
    case AioOp::Flush:
        io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data(sqe, r);
}

void uring_flush(void *opaque)
{
    auto *u = static_cast<UringEngine *>(opaque);
    unsigned queued = 0;
    while (aio_engine_peek(u) && u->in_kernel < u->depth) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (!sqe) {
            break;
        }
        prep_sqe(sqe, aio_engine_peek(u));
        aio_engine_pop(u);
        u->in_kernel++;
        queued++;
    }
    if (io_uring_sq_ready(&u->ring) == 0) {
        return;
    }
    int ret = io_uring_submit(&u->ring);
    u->stats->submit_syscalls++;
    if (queued > u->stats->max_batch) {
        u->stats->max_batch = queued;
    }
    if (ret < 0 || io_uring_sq_ready(&u->ring) > 0) {
        // -EAGAIN/-EBUSY: the SQEs stay in the ring; completions or the
        // timer submit them again.
        timer_mod_ns(u->retry, qemu_clock_get_ns() + kRetryNs);
    }
}

void uring_destroy(void *opaque)
{
    auto *u = static_cast<UringEngine *>(opaque);
    aio_set_fd_handler(u->ctx, u->efd, nullptr, nullptr, nullptr);
    timer_free(u->retry);
    io_uring_queue_exit(&u->ring);
    close(u->efd);
    delete u;
}

AioEngine *uring_create(AioContext *ctx)
{
    auto *u = new UringEngine;
    u->ctx = ctx;
    u->slot = kUringSlot;
    u->stats = &uring_stats;
    u->flush = uring_flush;
    u->depth = aio_engine_ring_size();
    int ret = uring_init(u->depth, &u->ring);
    if (ret == 0) {
        u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ret = u->efd < 0 ? -errno : io_uring_register_eventfd(&u->ring, u->efd);
        if (ret < 0) {
            io_uring_queue_exit(&u->ring);
            if (u->efd >= 0) {
                close(u->efd);
            }
        }
    }
    if (ret < 0) {
        static std::once_flag warned;
        std::call_once(warned, [ret] {
            warn_report("aio=io_uring: failed to init linux io_uring ring: %s; "
                        "using the thread pool", strerror(-ret));
        });
        delete u;
        return nullptr;
    }
    u->retry = aio_timer_new(ctx, uring_flush, u);
    aio_set_fd_handler(ctx, u->efd, uring_completion_cb, nullptr, u);
    return u;
}

}  // namespace

bool aio_io_uring_available(Error **errp)
{
    static std::once_flag once;
    static int probe_err;
    std::call_once(once, [] {
        struct io_uring ring;
        probe_err = uring_init(2, &ring);
        if (probe_err == 0) {
            io_uring_queue_exit(&ring);
        }
    });
    if (probe_err < 0) {
        error_setg(errp, "Unable to use io_uring: failed to init linux io_uring ring: %s",
                   strerror(-probe_err));
        return false;
    }
    return true;
}

int coroutine_fn aio_io_uring_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op)
{
    static const AioEngineOps ops = {kUringSlot, uring_create, uring_destroy};
    return aio_engine_co_submit(&ops, fd, offset, qiov, op);
}

AioBackendStats aio_io_uring_stats(void)
{
    return uring_stats;
}

#else  // !CONFIG_LINUX_IO_URING

bool aio_io_uring_available(Error **errp)
{
    error_setg(errp, "Unable to use io_uring: this build has no liburing support");
    return false;
}

int coroutine_fn aio_io_uring_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op)
{
    return aio_threads_co_submit(fd, offset, qiov, op);
}

AioBackendStats aio_io_uring_stats(void)
{
    return {};
}

#endif
