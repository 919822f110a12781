// Per-backend entry points behind util/aio-backend.h's dispatch, and the
// request queue shared by the two kernel engines (libaio, io_uring).
#pragma once

#include <sys/uio.h>

#include "util/aio-backend.h"

int coroutine_fn aio_threads_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);
AioBackendStats aio_threads_stats(void);

bool aio_native_available(Error **errp);
int coroutine_fn aio_native_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op,
                                      unsigned max_batch);
AioBackendStats aio_native_stats(void);

bool aio_io_uring_available(Error **errp);
int coroutine_fn aio_io_uring_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op,
                                        unsigned max_batch);
AioBackendStats aio_io_uring_stats(void);

// ---------------------------------------------------------------------------
// Kernel engines.  A request lives on the stack of the coroutine that
// submitted it, which stays suspended until the request is finished, so the
// queue needs no allocation.  Only the AioContext's owner thread touches an
// engine.

struct AioEngineReq {
    Coroutine *co;
    int fd;
    uint64_t offset;
    const QEMUIOVector *qiov;
    AioOp op;
    size_t done = 0;                    // bytes completed by earlier rounds
    size_t cur_len = 0;                 // bytes asked for in the current round
    const struct iovec *iov = nullptr;  // the current round's vector
    int iovcnt = 0;
    QEMUIOVector tail;  // backing store of iov after a partial round
    int ret = 0;
    unsigned max_batch = 0;        // aio_backend_co_submit's; 0: no own limit
    AioEngineReq *next = nullptr;  // in AioEngine::pending
};

// A kernel completion copied out of the engine's ring.
struct AioEngineCompletion {
    AioEngineReq *req;
    long res;  // bytes or -errno
};

// Engine-independent state; each engine embeds it first.
struct AioEngine {
    AioContext *ctx;
    int slot;                     // index in AioContext::aio_engines
    AioBackendStats *stats;       // the owner thread's counters
    void (*flush)(void *engine);  // submits pending requests (deferred call)
    // Copies up to @max completions out of the kernel's ring and releases
    // them there (before any is acted on: waking a coroutine may submit
    // more); returns how many.
    unsigned (*reap)(AioEngine *e, AioEngineCompletion *out, unsigned max);
    unsigned depth;  // requests in the kernel at most
    unsigned in_kernel = 0;
    AioEngineReq *pending_head = nullptr;
    AioEngineReq *pending_tail = nullptr;
    unsigned pending_len = 0;
    int efd = -1;                // the kernel signals completions here
    QEMUTimer *retry = nullptr;  // flushes again after a refused submission
};

unsigned aio_engine_ring_size(void);

// How to make and free an engine of one kind, and its slot in
// AioContext::aio_engines.
struct AioEngineOps {
    int slot;
    AioEngine *(*create)(AioContext *ctx);  // nullptr when the kernel refuses
    void (*destroy)(void *engine);
};

// Submits through the engine of the calling coroutine's AioContext
// (created on first use): queues the request, arranges a flush at the end
// of the loop iteration, yields and returns the result.  Where the engine
// cannot be created, the request goes to the thread pool instead.
int coroutine_fn aio_engine_co_submit(const AioEngineOps *ops, int fd, uint64_t offset,
                                      QEMUIOVector *qiov, AioOp op, unsigned max_batch);

// Fills the engine-independent part of a new engine (ring size from
// aio_backend_set_ring_size).
void aio_engine_init(AioEngine *e, AioContext *ctx, int slot, AioBackendStats *stats,
                     void (*flush)(void *engine),
                     unsigned (*reap)(AioEngine *, AioEngineCompletion *, unsigned));
// Watches @efd (owned from now on) for completions, reaped with e->reap,
// and arms e->retry to call e->flush.  aio_engine_stop undoes it.
void aio_engine_start(AioEngine *e, int efd);
void aio_engine_stop(AioEngine *e);
// Asks for a flush in @delay_ns (the kernel refused a submission).
void aio_engine_retry_later(AioEngine *e, int64_t delay_ns);

// How many of the queued requests, from the head, go in the next
// submission syscall: at most @room, and no more than the aio-max-batch of
// the context or of any request in the batch.
unsigned aio_engine_batch_len(AioEngine *e, unsigned room);
// Accounts a submission syscall that handed @n requests to the kernel.
void aio_engine_count_submit(AioEngine *e, unsigned n);

// Head of the pending queue / removal of it (after the kernel took it).
AioEngineReq *aio_engine_peek(AioEngine *e);
void aio_engine_pop(AioEngine *e);

// Points r->iov/iovcnt/cur_len at what remains (at most IOV_MAX vectors).
void aio_engine_req_prepare(AioEngineReq *r);

// Accounts one kernel completion of @r with result @res (bytes or -errno):
// wakes the coroutine when the request is finished, else queues the rest
// again.  Call aio_engine_completions_done after a batch.
void aio_engine_complete(AioEngine *e, AioEngineReq *r, long res);
// Fails @r (never reached the kernel) with @err.
void aio_engine_fail(AioEngine *e, AioEngineReq *r, int err);
void aio_engine_completions_done(AioEngine *e);
