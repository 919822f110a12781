// aio=io_uring through liburing, with the contract of aio=native: one ring
// per AioContext, completions signalled through a registered eventfd, one
// io_uring_enter per loop iteration for everything queued in it, requests
// beyond the ring size queued, partial completions resubmitted.  Flushes go
// through the ring too (IORING_OP_FSYNC with DATASYNC).
#include <algorithm>
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
constexpr int64_t kRetryNs = 1000000;  // io_uring_enter refused: try again

thread_local AioBackendStats uring_stats;

struct UringEngine : AioEngine {
    struct io_uring ring;
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

unsigned uring_reap(AioEngine *e, AioEngineCompletion *out, unsigned max)
{
    auto *u = static_cast<UringEngine *>(e);
    struct io_uring_cqe *cqes[64];
    unsigned got = io_uring_peek_batch_cqe(&u->ring, cqes, std::min(max, 64u));
    for (unsigned i = 0; i < got; i++) {
        out[i] = {static_cast<AioEngineReq *>(io_uring_cqe_get_data(cqes[i])), cqes[i]->res};
    }
    io_uring_cq_advance(&u->ring, got);
    return got;
}

void prep_sqe(struct io_uring_sqe *sqe, AioEngineReq *r)
{
    uint64_t off = r->offset + r->done;
    switch (r->op) {
    case AioOp::Read: io_uring_prep_readv(sqe, r->fd, r->iov, (unsigned)r->iovcnt, off); break;
    case AioOp::Write: io_uring_prep_writev(sqe, r->fd, r->iov, (unsigned)r->iovcnt, off); break;
    case AioOp::Flush: io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC); break;
    }
    io_uring_sqe_set_data(sqe, r);
}

// One io_uring_enter for the SQEs in the ring; false when the kernel left
// some there (-EAGAIN/-EBUSY): completions or the retry timer submit them.
bool uring_submit(UringEngine *u, unsigned queued)
{
    if (io_uring_sq_ready(&u->ring) == 0) {
        return true;
    }
    int ret = io_uring_submit(&u->ring);
    aio_engine_count_submit(u, queued);
    if (ret < 0 || io_uring_sq_ready(&u->ring) > 0) {
        aio_engine_retry_later(u, kRetryNs);
        return false;
    }
    return true;
}

void uring_flush(void *opaque)
{
    auto *u = static_cast<UringEngine *>(opaque);
    while (aio_engine_peek(u) && u->in_kernel < u->depth) {
        unsigned want = aio_engine_batch_len(u, u->depth - u->in_kernel);
        unsigned queued = 0;
        struct io_uring_sqe *sqe;
        while (queued < want && (sqe = io_uring_get_sqe(&u->ring))) {
            prep_sqe(sqe, aio_engine_peek(u));
            aio_engine_pop(u);
            u->in_kernel++;
            queued++;
        }
        if (!uring_submit(u, queued) || queued == 0) {
            return;
        }
    }
    uring_submit(u, 0);  // SQEs left in the ring by a refused submission
}

void uring_destroy(void *opaque)
{
    auto *u = static_cast<UringEngine *>(opaque);
    aio_engine_stop(u);
    io_uring_queue_exit(&u->ring);
    delete u;
}

AioEngine *uring_create(AioContext *ctx)
{
    auto *u = new UringEngine;
    aio_engine_init(u, ctx, kUringSlot, &uring_stats, uring_flush, uring_reap);
    int efd = -1;
    int ret = uring_init(u->depth, &u->ring);
    if (ret == 0) {
        efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ret = efd < 0 ? -errno : io_uring_register_eventfd(&u->ring, efd);
        if (ret < 0) {
            io_uring_queue_exit(&u->ring);
            if (efd >= 0) {
                close(efd);
            }
        }
    }
    if (ret < 0) {
        static std::once_flag warned;
        std::call_once(warned, [ret] {
            warn_report("aio=io_uring: failed to init linux io_uring ring: %s; "
                        "using the thread pool",
                        strerror(-ret));
        });
        delete u;
        return nullptr;
    }
    aio_engine_start(u, efd);
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

int coroutine_fn aio_io_uring_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op,
                                        unsigned max_batch)
{
    static const AioEngineOps ops = {kUringSlot, uring_create, uring_destroy};
    return aio_engine_co_submit(&ops, fd, offset, qiov, op, max_batch);
}

AioBackendStats aio_io_uring_stats(void) { return uring_stats; }

#else  // !CONFIG_LINUX_IO_URING

bool aio_io_uring_available(Error **errp)
{
    error_setg(errp, "Unable to use io_uring: this build has no liburing support");
    return false;
}

int coroutine_fn aio_io_uring_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op,
                                        unsigned max_batch)
{
    (void)max_batch;
    return aio_threads_co_submit(fd, offset, qiov, op);
}

AioBackendStats aio_io_uring_stats(void) { return {}; }

#endif
