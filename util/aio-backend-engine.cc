// The part of aio=native and aio=io_uring that does not depend on the kernel
// interface: per-context engine lookup, the pending queue, and what a
// completion means (finished, partial -> resubmit the rest, EOF).
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>

#include "util/aio-backend-int.h"
#include "util/aio-int.h"

static AioEngine *engine_get(const AioEngineOps *ops)
{
    Coroutine *self = qemu_coroutine_self();
    AioContext *ctx = qemu_coroutine_get_aio_context(self);
    if (!ctx) {
        // Completions must re-enter the coroutine in the context that polls
        // the engine: record it.
        ctx = qemu_get_current_aio_context();
        qemu_coroutine_set_aio_context(self, ctx);
    }
    assert(aio_is_owner_thread(ctx) && "AIO submitted from a thread that does not own the context");
    AioContext::EngineSlot &s = ctx->aio_engines[ops->slot];
    if (!s.state) {
        AioEngine *e = ops->create(ctx);
        if (!e) {
            return nullptr;
        }
        s.state = e;
        s.destroy = ops->destroy;
    }
    return static_cast<AioEngine *>(s.state);
}

AioEngineReq *aio_engine_peek(AioEngine *e) { return e->pending_head; }

void aio_engine_pop(AioEngine *e)
{
    AioEngineReq *r = e->pending_head;
    e->pending_head = r->next;
    if (!e->pending_head) {
        e->pending_tail = nullptr;
    }
    r->next = nullptr;
    e->pending_len--;
}

static void engine_push(AioEngine *e, AioEngineReq *r)
{
    r->next = nullptr;
    if (e->pending_tail) {
        e->pending_tail->next = r;
    } else {
        e->pending_head = r;
    }
    e->pending_tail = r;
    e->pending_len++;
    if (e->in_kernel + e->pending_len > e->depth) {
        e->stats->ring_full++;  // waits in the queue for a completion
    }
}

void aio_engine_req_prepare(AioEngineReq *r)
{
    size_t remaining = r->qiov->size - r->done;
    if (r->done == 0 && r->qiov->niov() <= IOV_MAX) {
        r->iov = r->qiov->iov.data();  // common case: the caller's vector as is
        r->iovcnt = r->qiov->niov();
        r->cur_len = remaining;
        return;
    }
    qemu_iovec_reset(&r->tail);
    qemu_iovec_concat(&r->tail, r->qiov, r->done, remaining);
    if (r->tail.niov() > IOV_MAX) {
        // The kernel takes IOV_MAX vectors at a time: the rest goes in a
        // later round, like a partial completion.
        r->tail.iov.resize(IOV_MAX);
        r->tail.size = 0;
        for (const iovec &v : r->tail.iov) {
            r->tail.size += v.iov_len;
        }
    }
    r->iov = r->tail.iov.data();
    r->iovcnt = r->tail.niov();
    r->cur_len = r->tail.size;
}

int coroutine_fn aio_engine_co_submit(const AioEngineOps *ops, int fd, uint64_t offset,
                                      QEMUIOVector *qiov, AioOp op, unsigned max_batch)
{
    assert(qemu_in_coroutine());
    AioEngine *e = engine_get(ops);
    if (!e) {
        return aio_threads_co_submit(fd, offset, qiov, op);
    }
    AioEngineReq r;
    r.co = qemu_coroutine_self();
    r.fd = fd;
    r.offset = offset;
    r.qiov = qiov;
    r.op = op;
    r.ret = -EINPROGRESS;
    r.max_batch = max_batch;
    aio_engine_req_prepare(&r);
    e->stats->requests++;
    aio_context_inc_in_flight(e->ctx);
    engine_push(e, &r);
    // Everything queued during this loop iteration goes in one syscall.
    aio_defer_call(e->ctx, e->flush, e);
    while (r.ret == -EINPROGRESS) {
        qemu_coroutine_yield();
    }
    return r.ret;
}

static void req_finish(AioEngine *e, AioEngineReq *r, int ret)
{
    r->ret = ret;
    aio_context_dec_in_flight(e->ctx);
    aio_co_wake(r->co);
}

void aio_engine_fail(AioEngine *e, AioEngineReq *r, int err) { req_finish(e, r, err); }

// A read that came back short: at end of file (regular files) the count is
// final; anything else (signals, device quirks) is retried for the rest.
static bool short_read_hit_eof(const AioEngineReq *r)
{
    struct stat st;
    return fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) &&
           (uint64_t)st.st_size <= r->offset + r->done;
}

void aio_engine_complete(AioEngine *e, AioEngineReq *r, long res)
{
    e->in_kernel--;
    e->stats->completions++;
    if (res == -EAGAIN || res == -EINTR) {
        e->stats->resubmits++;
        engine_push(e, r);
        return;
    }
    if (res < 0) {
        req_finish(e, r, (int)res);
        return;
    }
    r->done += (size_t)res;
    bool whole_round = (size_t)res == r->cur_len;
    if (r->op == AioOp::Flush || r->done >= r->qiov->size || res == 0 ||
        (!whole_round && r->op == AioOp::Read && short_read_hit_eof(r))) {
        req_finish(e, r, r->op == AioOp::Flush ? 0 : (int)r->done);
        return;
    }
    e->stats->resubmits++;
    aio_engine_req_prepare(r);
    engine_push(e, r);
}

void aio_engine_completions_done(AioEngine *e)
{
    if (e->pending_head) {
        // Resubmissions join the requests the woken coroutines just made.
        aio_defer_call(e->ctx, e->flush, e);
    }
}

void aio_context_set_aio_max_batch(AioContext *ctx, unsigned max_batch)
{
    ctx->aio_max_batch = max_batch;
}

static unsigned min_nonzero(unsigned a, unsigned b) { return !a ? b : !b ? a : std::min(a, b); }

unsigned aio_engine_batch_len(AioEngine *e, unsigned room)
{
    unsigned cap = e->ctx->aio_max_batch, n = 0;
    for (AioEngineReq *r = e->pending_head; r && n < room; r = r->next, n++) {
        cap = min_nonzero(cap, r->max_batch);
        if (cap && n >= cap) {
            break;
        }
    }
    return n;
}

void aio_engine_count_submit(AioEngine *e, unsigned n)
{
    e->stats->submit_syscalls++;
    e->stats->max_batch = std::max<uint64_t>(e->stats->max_batch, n);
}

// The eventfd handler of both kernel engines.
static void engine_completion_cb(void *opaque)
{
    auto *e = static_cast<AioEngine *>(opaque);
    uint64_t count;
    ssize_t r = read(e->efd, &count, sizeof(count));
    (void)r;  // EAGAIN: a previous pass already reaped everything
    constexpr unsigned kReapBatch = 64;
    AioEngineCompletion done[kReapBatch];
    unsigned got;
    while ((got = e->reap(e, done, kReapBatch)) > 0) {
        for (unsigned i = 0; i < got; i++) {
            aio_engine_complete(e, done[i].req, done[i].res);
        }
    }
    aio_engine_completions_done(e);
}

void aio_engine_init(AioEngine *e, AioContext *ctx, int slot, AioBackendStats *stats,
                     void (*flush)(void *engine),
                     unsigned (*reap)(AioEngine *, AioEngineCompletion *, unsigned))
{
    e->ctx = ctx;
    e->slot = slot;
    e->stats = stats;
    e->flush = flush;
    e->reap = reap;
    e->depth = aio_engine_ring_size();
}

void aio_engine_start(AioEngine *e, int efd)
{
    e->efd = efd;
    e->retry = aio_timer_new(e->ctx, e->flush, e);
    aio_set_fd_handler(e->ctx, efd, engine_completion_cb, nullptr, e);
}

void aio_engine_stop(AioEngine *e)
{
    aio_set_fd_handler(e->ctx, e->efd, nullptr, nullptr, nullptr);
    timer_free(e->retry);
    close(e->efd);
}

void aio_engine_retry_later(AioEngine *e, int64_t delay_ns)
{
    timer_mod_ns(e->retry, qemu_clock_get_ns() + delay_ns);
}
