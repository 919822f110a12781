// Per-backend entry points behind util/aio-backend.h's dispatch, and the
// request queue shared by the two kernel engines (libaio, io_uring).
#pragma once

#include <sys/uio.h>

#include "util/aio-backend.h"

int coroutine_fn aio_threads_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);
AioBackendStats aio_threads_stats(void);

bool aio_native_available(Error **errp);
int coroutine_fn aio_native_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);
AioBackendStats aio_native_stats(void);

bool aio_io_uring_available(Error **errp);
int coroutine_fn aio_io_uring_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);
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
    size_t done = 0;               // bytes completed by earlier rounds
    size_t cur_len = 0;            // bytes asked for in the current round
    const struct iovec *iov = nullptr;  // the current round's vector
    int iovcnt = 0;
    QEMUIOVector tail;             // backing store of iov after a partial round
    int ret = 0;
    AioEngineReq *next = nullptr;  // in AioEngine::pending
};

// Engine-independent state; each engine embeds it first.
struct AioEngine {
    AioContext *ctx;
    int slot;                     // index in AioContext::aio_engines
    AioBackendStats *stats;       // the owner thread's counters
    void (*flush)(void *engine);  // submits pending requests (deferred call)
    unsigned depth;               // requests in the kernel at most
    unsigned in_kernel = 0;
    AioEngineReq *pending_head = nullptr;
    AioEngineReq *pending_tail = nullptr;
    unsigned pending_len = 0;
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
                                      QEMUIOVector *qiov, AioOp op);

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
