// AioContext: the event loop that runs coroutines, fd handlers, bottom halves
// and timers (QEMU's util/async.c + aio-posix.c).  An AioContext belongs to
// one thread: everything it dispatches runs in that thread.  Only
// aio_bh_schedule*/qemu_bh_schedule, aio_co_schedule, aio_co_wake and
// aio_notify may be called from other threads.
#pragma once

#include <cstdint>
#include <glib.h>

#include "coroutine/coroutine.h"

struct AioContext;
struct QEMUBH;
struct QEMUTimer;

typedef void IOHandler(void *opaque);
typedef void QEMUBHFunc(void *opaque);
typedef void QEMUTimerCB(void *opaque);

AioContext *aio_context_new(void);
void aio_context_ref(AioContext *ctx);
void aio_context_unref(AioContext *ctx);

// The main-thread context (created on first use) and the context of the
// calling thread (the main one unless set).
AioContext *qemu_get_aio_context(void);
AioContext *qemu_get_current_aio_context(void);
void qemu_set_current_aio_context(AioContext *ctx);

// Runs one iteration: expired timers, scheduled BHs, ready fd handlers, then
// deferred calls.  With @blocking, waits for an event first.  Returns true if
// any progress was made (a callback ran).
bool aio_poll(AioContext *ctx, bool blocking);
// Wakes a blocked aio_poll of @ctx (thread-safe).
void aio_notify(AioContext *ctx);
// When set, aio_poll releases the BQL while blocked in epoll_wait.
void aio_context_set_release_bql(AioContext *ctx, bool release);

// fd handlers: level-triggered; null callbacks remove interest; both null
// removes the handler.  Safe to call from inside any handler, including the
// handler being removed.
void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read, IOHandler *io_write,
                        void *opaque);

// Bottom halves: a BH scheduled N times before it runs runs once.
QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque);
void qemu_bh_schedule(QEMUBH *bh);
void qemu_bh_cancel(QEMUBH *bh);
void qemu_bh_delete(QEMUBH *bh);  // cancels; safe from inside its own cb
void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

// Timers on CLOCK_MONOTONIC, nanoseconds, absolute deadlines.
int64_t qemu_clock_get_ns(void);
QEMUTimer *aio_timer_new(AioContext *ctx, QEMUTimerCB *cb, void *opaque);
void timer_mod_ns(QEMUTimer *t, int64_t expire_ns);
void timer_del(QEMUTimer *t);
bool timer_pending(QEMUTimer *t);
void timer_free(QEMUTimer *t);

// Coroutines.  aio_co_schedule: enter @co from @ctx's loop on its next
// iteration (thread-safe).  aio_co_wake: re-enter @co in its own context:
// directly if called from that context's thread outside any coroutine, else
// scheduled.  aio_co_enter: like qemu_coroutine_enter, recording @ctx.
void aio_co_schedule(AioContext *ctx, Coroutine *co);
void aio_co_wake(Coroutine *co);
void aio_co_enter(AioContext *ctx, Coroutine *co);
void coroutine_fn qemu_co_sleep_ns(int64_t ns);

// Calls to run once at the end of the current loop iteration (or of the
// current synchronous section), deduplicated by (fn, opaque).  The AIO
// backends use this to turn a burst of submissions into one syscall.
void aio_defer_call(AioContext *ctx, void (*fn)(void *), void *opaque);

// In-flight accounting and drain.
void aio_context_inc_in_flight(AioContext *ctx);
void aio_context_dec_in_flight(AioContext *ctx);
unsigned aio_context_in_flight(AioContext *ctx);
void aio_drain(AioContext *ctx);  // polls until in_flight == 0

// Poll until @cond is false (QEMU's AIO_WAIT_WHILE / BDRV_POLL_WHILE).
#define AIO_WAIT_WHILE(ctx, cond)  \
    do {                           \
        while (cond)               \
            aio_poll((ctx), true); \
    } while (0)

// Runs @entry(@opaque) as a coroutine and polls @ctx until it terminates:
// the sync wrapper used by plain code (tools, tests).  If already in a
// coroutine, calls @entry directly.
void aio_run_coroutine_sync(AioContext *ctx, CoroutineEntry *entry, void *opaque);

// A GSource that dispatches @ctx from a GMainContext.
GSource *aio_get_g_source(AioContext *ctx);
