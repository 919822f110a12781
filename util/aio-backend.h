// File I/O backends used by the block layer's file driver.  All submit
// functions are coroutine_fn: they queue the request, yield, and return the
// number of bytes transferred (which may be short: callers handle EOF) or
// -errno.  Submission is batched: requests queued in one loop iteration go
// to the kernel in one io_submit/io_uring_enter at the end of the iteration.
#pragma once

#include <cstdint>

#include "util/aio.h"
#include "util/error.h"
#include "util/iov.h"

enum class AioBackend { Threads, Native, IoUring };

enum class AioOp { Read, Write, Flush };

// Parses "threads" / "native" / "io_uring".
bool aio_backend_parse(const char *str, AioBackend *out);
const char *aio_backend_name(AioBackend b);

// Whether @b works on this kernel (io_uring may be refused).  Sets errp with
// a clear reason when not.
bool aio_backend_available(AioBackend b, Error **errp);

// @want if it works here, else aio=threads after a one-line warning saying
// why (the kernel refused io_setup / io_uring_setup).
AioBackend aio_backend_select(AioBackend want);

// @max_batch: the most requests the kernel engines hand over in one
// submission syscall while this request is among them (the file driver's
// aio-max-batch option); 0: the AioContext's aio_max_batch, and where that
// is 0 too the engine default (everything queued, up to the free ring
// slots).  aio=threads ignores it.
int coroutine_fn aio_backend_co_submit(AioBackend b, int fd, uint64_t offset, QEMUIOVector *qiov,
                                       AioOp op, unsigned max_batch = 0);

// QEMU's AioContext aio-max-batch: the most requests one submission syscall
// of the kernel engines takes in @ctx (0, the default: no limit but the
// free ring slots).  A request's own max_batch, when smaller, wins.
void aio_context_set_aio_max_batch(AioContext *ctx, unsigned max_batch);

// How aio=threads treats buffered (page-cache) I/O.  Handing a request to a
// pool worker and back costs two thread wake-ups and moves the buffer
// between CPU caches, which for data already in the page cache is dearer
// than the copy itself.
enum class AioThreadsInline {
    Off,          // every request goes to the pool (QEMU's behaviour)
    CachedReads,  // reads the page cache holds are done in the caller
                  // (preadv2 RWF_NOWAIT: never waits for the disk)
    FastWrites,   // as CachedReads, and writes run in the caller as long as
                  // they are fast: one slower than 1 ms (dirty-page
                  // throttling, reclaim) sends writes to the pool for 1 s
    All,          // writes always run in the caller.  They may block the
                  // loop (block allocation, dirty-page throttling): only
                  // for batch tools whose loop has nothing else to serve.
};
void aio_threads_set_inline(AioThreadsInline mode);
// FastWrites' "slow write" threshold (default 1 ms), and forgets a backoff
// in progress.  For tests.
void aio_threads_set_slow_write_ns(int64_t ns);

// Does what the inline mode allows of a read or write of @qiov at @offset
// on buffered @fd (never an O_DIRECT one) in the calling thread.  Returns
// the bytes done, possibly 0 or short (uncached pages, EOF, mode Off): the
// caller submits the rest; or -errno for a real I/O error.
int64_t aio_threads_try_inline(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);

// Counters for tests and benchmarks, summed over the AioContexts polled by
// the calling thread.
struct AioBackendStats {
    uint64_t submit_syscalls = 0;      // io_submit / io_uring_enter(submit) / pool jobs
    uint64_t requests = 0;             // aio_backend_co_submit calls
    uint64_t completions = 0;          // kernel completions reaped
    uint64_t resubmits = 0;            // partial or EAGAIN completions sent again
    uint64_t ring_full = 0;            // submissions that found the ring full and waited
    uint64_t max_batch = 0;            // most requests handed over in one syscall
    uint64_t inline_bytes = 0;         // aio=threads: bytes done by the caller
    uint64_t inline_write_stalls = 0;  // FastWrites: slow inline writes seen
};
AioBackendStats aio_backend_stats(AioBackend b);

// Ring size (requests in the kernel at once) of engines created from now on
// in this process; default 256.  For tests of the ring-full path.
void aio_backend_set_ring_size(unsigned entries);
