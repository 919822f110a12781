// Per-backend entry points behind util/aio-backend.h's dispatch.
#pragma once

#include "util/aio-backend.h"

int coroutine_fn aio_threads_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);
AioBackendStats aio_threads_stats(void);

bool aio_native_available(Error **errp);
int coroutine_fn aio_native_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);
AioBackendStats aio_native_stats(void);

bool aio_io_uring_available(Error **errp);
int coroutine_fn aio_io_uring_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op);
AioBackendStats aio_io_uring_stats(void);
