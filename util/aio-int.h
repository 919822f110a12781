// Private to util/: the AioContext structure shared by async.cc (BHs,
// timers, coroutine scheduling, deferred calls), aio-posix.cc (epoll fd
// handlers, aio_poll) and aio-gsource.cc.  Not part of the public interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "util/aio.h"

struct AioHandler {
    int fd;
    IOHandler *io_read;
    IOHandler *io_write;
    void *opaque;
    bool deleted;  // removed while the handler list was being walked
};

struct QEMUBH {
    AioContext *ctx;
    QEMUBHFunc *cb;
    void *opaque;
    std::atomic<bool> scheduled{false};
    bool in_list = false;  // on ctx->bh_pending; guarded by ctx->bh_lock
    bool deleted = false;  // qemu_bh_delete while in_list: freed by dispatch
    bool oneshot = false;
};

struct QEMUTimer {
    AioContext *ctx;
    QEMUTimerCB *cb;
    void *opaque;
    bool pending = false;
    std::multimap<int64_t, QEMUTimer *>::iterator pos;
};

struct AioDeferredCall {
    void (*fn)(void *);
    void *opaque;
};

struct AioContext {
    std::atomic<int> refcnt{1};
    std::atomic<std::thread::id> owner;  // the thread that runs aio_poll

    // Polling.  notify_me is set while aio_poll may block: only then does
    // aio_notify write the eventfd (saves a syscall per BH in the loop).
    int epfd = -1;
    int notify_fd = -1;
    std::atomic<bool> notify_me{false};
    std::atomic<bool> notified{false};
    bool release_bql = false;

    // fd handlers.  Removal while walking only marks; freed when idle.
    std::unordered_map<int, AioHandler *> handlers;
    std::vector<AioHandler *> deleted_handlers;
    int walking_handlers = 0;

    // Bottom halves scheduled since the last dispatch, in order.
    std::mutex bh_lock;
    std::vector<QEMUBH *> bh_pending;

    // Timers ordered by deadline (ties in arming order).
    std::multimap<int64_t, QEMUTimer *> timers;

    // Coroutines to enter on the next iteration (aio_co_schedule).
    std::mutex co_lock;
    std::vector<Coroutine *> co_scheduled;
    QEMUBH *co_schedule_bh = nullptr;

    std::vector<AioDeferredCall> deferred;
    std::atomic<unsigned> in_flight{0};
    GSource *source = nullptr;

    // Per-context state of the AIO engines (util/aio-native.cc,
    // aio-io-uring.cc): created on first use in the owner thread, destroyed
    // by aio_context_unref before the fd handlers are checked.
    struct EngineSlot {
        void *state = nullptr;
        void (*destroy)(void *state) = nullptr;
    };
    EngineSlot aio_engines[2];
    unsigned aio_max_batch = 0;  // aio_context_set_aio_max_batch
};

// async.cc
bool aio_bh_pending(AioContext *ctx);
bool aio_bh_poll(AioContext *ctx);                // runs scheduled BHs; true if any ran
bool aio_run_timers(AioContext *ctx);             // runs expired timers
int64_t aio_compute_timeout_ns(AioContext *ctx);  // -1: no deadline
bool aio_run_deferred(AioContext *ctx);
void aio_context_init_events(AioContext *ctx);  // aio-posix.cc
void aio_context_fini_events(AioContext *ctx);  // aio-posix.cc
void aio_context_fini_bhs(AioContext *ctx);     // async.cc
bool aio_dispatch_ready(AioContext *ctx, int timeout_ms_for_gsource);
bool aio_is_owner_thread(AioContext *ctx);
