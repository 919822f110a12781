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

int coroutine_fn aio_backend_co_submit(AioBackend b, int fd, uint64_t offset,
                                       QEMUIOVector *qiov, AioOp op);

// Counters for tests and benchmarks (per calling thread's context).
struct AioBackendStats {
    uint64_t submit_syscalls = 0;
    uint64_t requests = 0;
};
AioBackendStats aio_backend_stats(AioBackend b);
