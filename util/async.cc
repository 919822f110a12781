// AioContext lifetime, bottom halves, timers, coroutine scheduling, deferred
// calls and in-flight accounting.  The polling half lives in aio-posix.cc.
#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "util/aio-int.h"

namespace {
AioContext *g_main_ctx;
std::once_flag g_main_once;
thread_local AioContext *t_current_ctx;
}  // namespace

static void co_schedule_bh_cb(void *opaque);
static void install_reschedule_hook(void);

AioContext *aio_context_new(void)
{
    install_reschedule_hook();
    AioContext *ctx = new AioContext;
    ctx->owner.store(std::this_thread::get_id());
    aio_context_init_events(ctx);
    ctx->co_schedule_bh = aio_bh_new(ctx, co_schedule_bh_cb, ctx);
    return ctx;
}

void aio_context_ref(AioContext *ctx) { ctx->refcnt.fetch_add(1); }

void aio_context_unref(AioContext *ctx)
{
    if (ctx->refcnt.fetch_sub(1) != 1) {
        return;
    }
    assert(ctx->in_flight.load() == 0);
    for (AioContext::EngineSlot &e : ctx->aio_engines) {
        if (e.state) {
            e.destroy(e.state);  // removes its fd handler and timer
            e.state = nullptr;
        }
    }
    assert(ctx->timers.empty() && "free timers before their AioContext");
    qemu_bh_delete(ctx->co_schedule_bh);
    aio_context_fini_bhs(ctx);
    aio_context_fini_events(ctx);
    if (ctx->source) {
        g_source_destroy(ctx->source);
        g_source_unref(ctx->source);
    }
    delete ctx;
}

AioContext *qemu_get_aio_context(void)
{
    std::call_once(g_main_once, [] { g_main_ctx = aio_context_new(); });
    return g_main_ctx;
}

AioContext *qemu_get_current_aio_context(void)
{
    return t_current_ctx ? t_current_ctx : qemu_get_aio_context();
}

void qemu_set_current_aio_context(AioContext *ctx)
{
    t_current_ctx = ctx;
    if (ctx) {
        ctx->owner.store(std::this_thread::get_id());
    }
}

bool aio_is_owner_thread(AioContext *ctx)
{
    return ctx->owner.load(std::memory_order_relaxed) == std::this_thread::get_id();
}

// ---------------------------------------------------------------------------
// Bottom halves.  `scheduled` makes repeated schedules before a run collapse
// into one; the pending list (under bh_lock) keeps FIFO order and lets any
// thread schedule.  aio_notify only costs a syscall when the loop sleeps.

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh = new QEMUBH;
    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    return bh;
}

void qemu_bh_schedule(QEMUBH *bh)
{
    if (bh->scheduled.exchange(true)) {
        return;  // already pending: it will run once
    }
    AioContext *ctx = bh->ctx;
    {
        std::lock_guard<std::mutex> g(ctx->bh_lock);
        if (!bh->in_list) {
            bh->in_list = true;
            ctx->bh_pending.push_back(bh);
        }
    }
    aio_notify(ctx);
}

void qemu_bh_cancel(QEMUBH *bh) { bh->scheduled.store(false); }

void qemu_bh_delete(QEMUBH *bh)
{
    bh->scheduled.store(false);
    std::lock_guard<std::mutex> g(bh->ctx->bh_lock);
    if (bh->in_list) {
        bh->deleted = true;  // the dispatcher still references it
    } else {
        delete bh;
    }
}

void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh = aio_bh_new(ctx, cb, opaque);
    bh->oneshot = true;
    qemu_bh_schedule(bh);
}

bool aio_bh_pending(AioContext *ctx)
{
    std::lock_guard<std::mutex> g(ctx->bh_lock);
    return !ctx->bh_pending.empty();
}

// Detaches @bh from the pending list; returns true if it should run now.
// Freed here if it was deleted (or is a oneshot that will not run).
static bool bh_take(QEMUBH *bh, std::mutex &lock)
{
    std::lock_guard<std::mutex> g(lock);
    bh->in_list = false;
    bool run = bh->scheduled.exchange(false) && !bh->deleted;
    if (bh->deleted || (bh->oneshot && !run)) {
        delete bh;
        return false;
    }
    return run;
}

bool aio_bh_poll(AioContext *ctx)
{
    std::vector<QEMUBH *> batch;
    {
        std::lock_guard<std::mutex> g(ctx->bh_lock);
        batch.swap(ctx->bh_pending);
    }
    bool progress = false;
    for (QEMUBH *bh : batch) {
        if (!bh_take(bh, ctx->bh_lock)) {
            continue;
        }
        bool oneshot = bh->oneshot;
        bh->cb(bh->opaque);  // may delete or reschedule bh
        if (oneshot) {
            delete bh;
        }
        progress = true;
    }
    return progress;
}

void aio_context_fini_bhs(AioContext *ctx)
{
    std::lock_guard<std::mutex> g(ctx->bh_lock);
    for (QEMUBH *bh : ctx->bh_pending) {
        if (bh->oneshot || bh->deleted) {
            delete bh;
        } else {
            bh->in_list = false;
        }
    }
    ctx->bh_pending.clear();
}

// ---------------------------------------------------------------------------
// Timers: owner thread only.

int64_t qemu_clock_get_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUTimerCB *cb, void *opaque)
{
    QEMUTimer *t = new QEMUTimer;
    t->ctx = ctx;
    t->cb = cb;
    t->opaque = opaque;
    return t;
}

void timer_del(QEMUTimer *t)
{
    if (t->pending) {
        t->ctx->timers.erase(t->pos);
        t->pending = false;
    }
}

void timer_mod_ns(QEMUTimer *t, int64_t expire_ns)
{
    timer_del(t);
    t->pos = t->ctx->timers.emplace(expire_ns, t);
    t->pending = true;
}

bool timer_pending(QEMUTimer *t) { return t->pending; }

void timer_free(QEMUTimer *t)
{
    if (t) {
        timer_del(t);
        delete t;
    }
}

bool aio_run_timers(AioContext *ctx)
{
    if (ctx->timers.empty()) {
        return false;
    }
    int64_t now = qemu_clock_get_ns();
    // Bounded by the count at entry: a callback that re-arms its timer in
    // the past runs again next iteration instead of starving the loop.
    size_t budget = ctx->timers.size();
    bool progress = false;
    while (budget-- && !ctx->timers.empty() && ctx->timers.begin()->first <= now) {
        QEMUTimer *t = ctx->timers.begin()->second;
        ctx->timers.erase(ctx->timers.begin());
        t->pending = false;
        t->cb(t->opaque);  // may re-arm or free t
        progress = true;
    }
    return progress;
}

int64_t aio_compute_timeout_ns(AioContext *ctx)
{
    if (ctx->timers.empty()) {
        return -1;
    }
    int64_t d = ctx->timers.begin()->first - qemu_clock_get_ns();
    return d < 0 ? 0 : d;
}

// ---------------------------------------------------------------------------
// Coroutines.

static void co_schedule_bh_cb(void *opaque)
{
    AioContext *ctx = static_cast<AioContext *>(opaque);
    std::vector<Coroutine *> batch;
    {
        std::lock_guard<std::mutex> g(ctx->co_lock);
        batch.swap(ctx->co_scheduled);
    }
    for (Coroutine *co : batch) {
        qemu_coroutine_set_aio_context(co, ctx);
        qemu_coroutine_enter(co);
    }
}

void aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    qemu_coroutine_set_aio_context(co, ctx);
    {
        std::lock_guard<std::mutex> g(ctx->co_lock);
        ctx->co_scheduled.push_back(co);
    }
    qemu_bh_schedule(ctx->co_schedule_bh);
}

void aio_co_enter(AioContext *ctx, Coroutine *co)
{
    // Only the owner thread may run ctx's coroutines, and entering from a
    // coroutine would nest stacks without bound: schedule in both cases.
    if (!aio_is_owner_thread(ctx) || qemu_in_coroutine()) {
        aio_co_schedule(ctx, co);
        return;
    }
    qemu_coroutine_set_aio_context(co, ctx);
    qemu_coroutine_enter(co);
}

void aio_co_wake(Coroutine *co)
{
    AioContext *ctx = qemu_coroutine_get_aio_context(co);
    aio_co_enter(ctx ? ctx : qemu_get_aio_context(), co);
}

static void reschedule_hook(Coroutine *co)
{
    AioContext *ctx = qemu_coroutine_get_aio_context(co);
    aio_co_schedule(ctx ? ctx : qemu_get_current_aio_context(), co);
}

static void install_reschedule_hook(void)
{
    static std::once_flag once;
    std::call_once(once, [] { qemu_coroutine_set_reschedule_hook(reschedule_hook); });
}

static void co_sleep_cb(void *opaque) { aio_co_wake(static_cast<Coroutine *>(opaque)); }

void coroutine_fn qemu_co_sleep_ns(int64_t ns)
{
    Coroutine *co = qemu_coroutine_self();
    assert(co && "qemu_co_sleep_ns outside coroutine");
    AioContext *ctx = qemu_coroutine_get_aio_context(co);
    if (!ctx) {
        ctx = qemu_get_current_aio_context();
        qemu_coroutine_set_aio_context(co, ctx);
    }
    QEMUTimer *t = aio_timer_new(ctx, co_sleep_cb, co);
    timer_mod_ns(t, qemu_clock_get_ns() + ns);
    qemu_coroutine_yield();
    timer_free(t);
}

struct SyncCo {
    CoroutineEntry *entry;
    void *opaque;
    bool done;
};

static void coroutine_fn sync_co_entry(void *opaque)
{
    SyncCo *s = static_cast<SyncCo *>(opaque);
    s->entry(s->opaque);
    s->done = true;
}

void aio_run_coroutine_sync(AioContext *ctx, CoroutineEntry *entry, void *opaque)
{
    if (qemu_in_coroutine()) {
        entry(opaque);
        return;
    }
    SyncCo s{entry, opaque, false};
    aio_co_enter(ctx, qemu_coroutine_create(sync_co_entry, &s));
    AIO_WAIT_WHILE(ctx, !s.done);
}

// ---------------------------------------------------------------------------
// Deferred calls and in-flight accounting.

void aio_defer_call(AioContext *ctx, void (*fn)(void *), void *opaque)
{
    for (const AioDeferredCall &c : ctx->deferred) {
        if (c.fn == fn && c.opaque == opaque) {
            return;
        }
    }
    ctx->deferred.push_back(AioDeferredCall{fn, opaque});
}

bool aio_run_deferred(AioContext *ctx)
{
    bool progress = false;
    // A deferred call may defer more (a submission completing inline): loop.
    while (!ctx->deferred.empty()) {
        std::vector<AioDeferredCall> batch;
        batch.swap(ctx->deferred);
        for (const AioDeferredCall &c : batch) {
            c.fn(c.opaque);
        }
        progress = true;
    }
    return progress;
}

void aio_context_inc_in_flight(AioContext *ctx) { ctx->in_flight.fetch_add(1); }

void aio_context_dec_in_flight(AioContext *ctx)
{
    unsigned old = ctx->in_flight.fetch_sub(1);
    assert(old > 0);
    if (old == 1) {
        aio_notify(ctx);  // a drainer may sleep in another thread
    }
}

unsigned aio_context_in_flight(AioContext *ctx) { return ctx->in_flight.load(); }

void aio_drain(AioContext *ctx) { AIO_WAIT_WHILE(ctx, aio_context_in_flight(ctx) > 0); }
