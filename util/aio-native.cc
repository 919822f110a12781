// aio=native: Linux AIO through libaio.  One io context per AioContext;
// completions signal an eventfd that the AioContext watches.  Requests
// queued during a loop iteration are handed to the kernel by one io_submit
// at the end of the iteration (a deferred call), so completions that start
// new requests are batched too.  Requests beyond the ring size wait in the
// queue until completions free slots; callers never see EAGAIN.
#include <libaio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "util/aio-backend-int.h"

namespace {

constexpr int kNativeSlot = 0;
constexpr int64_t kRetryNs = 1000000;  // io_submit EAGAIN with nothing in flight

thread_local AioBackendStats native_stats;

struct NativeEngine : AioEngine {
    io_context_t io = nullptr;
    std::vector<struct iocb> iocbs;
    std::vector<struct iocb *> iocb_ptrs;
};

// The completion ring the kernel maps into our address space (fs/aio.c).
// Reading it directly saves an io_getevents syscall per completion batch.
struct KernelAioRing {
    unsigned id;
    unsigned nr;
    unsigned head;
    unsigned tail;
    unsigned magic;
    unsigned compat_features;
    unsigned incompat_features;
    unsigned header_length;
    struct io_event events[];
};
constexpr unsigned kAioRingMagic = 0xa10a10a1;

unsigned reap_user_ring(KernelAioRing *ring, struct io_event *out, unsigned max)
{
    unsigned head = ring->head;
    unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    unsigned n = 0;
    while (head != tail && n < max) {
        out[n++] = ring->events[head];
        head = (head + 1) % ring->nr;
    }
    __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    return n;
}

unsigned reap_events(NativeEngine *n, struct io_event *out, unsigned max)
{
    auto *ring = reinterpret_cast<KernelAioRing *>(n->io);
    if (ring->magic == kAioRingMagic && ring->incompat_features == 0) {
        return reap_user_ring(ring, out, max);
    }
    struct timespec zero = {0, 0};
    int got = io_getevents(n->io, 0, max, out, &zero);
    return got > 0 ? (unsigned)got : 0;
}

unsigned native_reap(AioEngine *e, AioEngineCompletion *out, unsigned max)
{
    struct io_event evs[64];
    unsigned got = reap_events(static_cast<NativeEngine *>(e), evs, std::min(max, 64u));
    for (unsigned i = 0; i < got; i++) {
        out[i] = {static_cast<AioEngineReq *>(evs[i].data), (long)evs[i].res};
    }
    return got;
}

// Fills iocbs for up to @max queued requests without dequeuing them.
unsigned prepare_iocbs(NativeEngine *n, unsigned max)
{
    unsigned cnt = 0;
    for (AioEngineReq *r = aio_engine_peek(n); r && cnt < max; r = r->next, cnt++) {
        struct iocb *cb = &n->iocbs[cnt];
        if (r->op == AioOp::Read) {
            io_prep_preadv(cb, r->fd, r->iov, r->iovcnt, (long long)(r->offset + r->done));
        } else {
            io_prep_pwritev(cb, r->fd, r->iov, r->iovcnt, (long long)(r->offset + r->done));
        }
        io_set_eventfd(cb, n->efd);
        cb->data = r;
        n->iocb_ptrs[cnt] = cb;
    }
    return cnt;
}

void native_flush(void *opaque)
{
    auto *n = static_cast<NativeEngine *>(opaque);
    while (aio_engine_peek(n) && n->in_kernel < n->depth) {
        unsigned cnt = prepare_iocbs(n, aio_engine_batch_len(n, n->depth - n->in_kernel));
        int ret = io_submit(n->io, cnt, n->iocb_ptrs.data());
        aio_engine_count_submit(n, ret > 0 ? (unsigned)ret : 0);
        if (ret == -EAGAIN) {
            // Kernel out of resources: completions will retry; with none in
            // flight, a timer does.
            if (n->in_kernel == 0) {
                aio_engine_retry_later(n, kRetryNs);
            }
            break;
        }
        if (ret < 0) {
            // The first iocb was refused (bad fd, misaligned O_DIRECT...).
            AioEngineReq *r = aio_engine_peek(n);
            aio_engine_pop(n);
            aio_engine_fail(n, r, ret);
            continue;
        }
        for (int i = 0; i < ret; i++) {
            aio_engine_pop(n);
        }
        n->in_kernel += (unsigned)ret;
    }
}

void native_destroy(void *opaque)
{
    auto *n = static_cast<NativeEngine *>(opaque);
    aio_engine_stop(n);
    io_destroy(n->io);
    delete n;
}

AioEngine *native_create(AioContext *ctx)
{
    auto *n = new NativeEngine;
    aio_engine_init(n, ctx, kNativeSlot, &native_stats, native_flush, native_reap);
    int ret = io_setup((int)n->depth, &n->io);
    int efd = ret < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ret < 0 || efd < 0) {
        int err = ret < 0 ? -ret : errno;
        static std::once_flag warned;
        std::call_once(warned, [err] {
            warn_report("aio=native: failed to create linux AIO context: %s; "
                        "using the thread pool",
                        strerror(err));
        });
        if (ret >= 0) {
            io_destroy(n->io);
        }
        delete n;
        return nullptr;
    }
    n->iocbs.resize(n->depth);
    n->iocb_ptrs.resize(n->depth);
    aio_engine_start(n, efd);
    return n;
}

}  // namespace

bool aio_native_available(Error **errp)
{
    static std::once_flag once;
    static int probe_err;
    std::call_once(once, [] {
        io_context_t io = nullptr;
        probe_err = io_setup(1, &io);
        if (probe_err == 0) {
            io_destroy(io);
        }
    });
    if (probe_err < 0) {
        error_setg(errp, "Unable to use native AIO: failed to create linux AIO context: %s",
                   strerror(-probe_err));
        return false;
    }
    return true;
}

int coroutine_fn aio_native_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op,
                                      unsigned max_batch)
{
    // Linux AIO has no usable fdatasync on most filesystems (QEMU too sends
    // flushes to the thread pool).
    if (op == AioOp::Flush) {
        return aio_threads_co_submit(fd, offset, qiov, op);
    }
    static const AioEngineOps ops = {kNativeSlot, native_create, native_destroy};
    return aio_engine_co_submit(&ops, fd, offset, qiov, op, max_batch);
}

AioBackendStats aio_native_stats(void) { return native_stats; }
