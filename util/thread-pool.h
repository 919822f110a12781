// Thread pool for blocking syscalls (fsync, fallocate, preadv in aio=threads).
// Workers are created on demand up to a bound and never touch coroutine or
// device state: completion is delivered in the submitter's AioContext via a BH.
#pragma once

#include "util/aio.h"

typedef int ThreadPoolFunc(void *opaque);  // runs in a worker; returns >= 0 or -errno
typedef void ThreadPoolCompletion(void *opaque, int ret);
struct ThreadPoolRequest;

// Submits @func; @cb runs in @ctx's thread with func's return value, or with
// -ECANCELED if cancelled before a worker picked it up.
ThreadPoolRequest *thread_pool_submit_aio(AioContext *ctx, ThreadPoolFunc *func, void *arg,
                                          ThreadPoolCompletion *cb, void *opaque);
// Cancels a request still queued (returns true); a running request completes normally.
bool thread_pool_cancel(ThreadPoolRequest *req);
// Runs @func in a worker and yields until it is done.
int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg);

void thread_pool_set_max_workers(int n);
// Idle workers exit after this long (default 10 s); for tests.
void thread_pool_set_idle_timeout_ms(int ms);
// Live worker threads (for tests).
int thread_pool_num_workers(void);
