// Internals shared by the portable coroutine code (coroutine.cc,
// coroutine-pool.cc, co-queue.cc, co-lock.cc) and the switch backends
// (coroutine-stack-switch.cc for asm and ucontext, coroutine-thread.cc).
#pragma once

#include <cstdint>

#include "config-host.h"
#include "coroutine/coroutine.h"
#include "coroutine/stack.h"

// Why a switch happened; the value a backend switch returns to the side
// that is resumed.
enum CoroutineAction : uintptr_t {
    CO_ACTION_ENTER = 1,
    CO_ACTION_YIELD = 2,
    CO_ACTION_TERMINATE = 3,
};

struct CoThreadState;

// Each backend allocates a larger object with Coroutine as its first base
// and its saved context after it.
struct Coroutine {
    CoroutineEntry *entry = nullptr;
    void *opaque = nullptr;
    // Whoever entered us; non-null exactly while we are in the chain of
    // running coroutines (qemu_coroutine_entered).  Control goes back to it
    // when we yield or terminate with nothing left to wake.
    Coroutine *caller = nullptr;
    // Coroutines woken by us (CoQueue) while running, to be entered after we
    // yield or terminate, then those still pending from the coroutine that
    // handed control to us (see co_next_after).  Both are empty whenever we
    // are not running.
    Coroutine *wake_head = nullptr;
    Coroutine *wake_tail = nullptr;
    Coroutine *pending = nullptr;
    Coroutine *wake_next = nullptr;  // link in a wake or pending list
    bool wake_queued = false;        // on some coroutine's wake list
    // Pool links (only while terminated and pooled).
    Coroutine *pool_prev = nullptr;
    Coroutine *pool_next = nullptr;
    AioContext *aio_context = nullptr;
    CoThreadState *owner = nullptr;  // thread that created us
    CoStack stack;                   // empty for a thread's leader
    bool terminated = false;
    bool is_leader = false;
    // ASan: the stack ASan should see while this context runs.  For the
    // leader (the thread's own stack) it is learned on the first switch.
    const void *asan_bottom = nullptr;
    size_t asan_size = 0;
    void *asan_fake_stack = nullptr;  // ours, saved while switched away
};

// Per-thread state.  On the thread backend, coroutine threads adopt the
// state of the thread that created them (co_thread_state_adopt) so that
// "per thread" keeps meaning the logical thread the coroutines belong to.
struct CoThreadState {
    Coroutine *current = nullptr;    // running coroutine, null in plain code
    Coroutine *leader = nullptr;     // stands for the thread's plain code
    Coroutine *pool_head = nullptr;  // most recently terminated first
    Coroutine *pool_tail = nullptr;
    unsigned pool_count = 0;
    uint64_t stacks_mapped = 0;
    size_t default_stack_size = 0;  // co_stack_default_size(), read once
    ~CoThreadState();
};

CoThreadState *co_thread_state(void);
void co_thread_state_adopt(CoThreadState *state);

// Backend interface (one implementation is linked).
Coroutine *co_backend_new(size_t stack_size);  // maps the stack, ready to start
Coroutine *co_backend_new_leader(void);
void co_backend_delete(Coroutine *co);
// co_backend_switch(from, to, action): saves @from, resumes @to, and
// returns the action of whoever resumes @from later.  Defined inline by the
// stack-switching backends (it is on the enter/yield fast path).

// Backends' trampolines call this once: runs the current entry, marks the
// coroutine terminated, puts it in the pool and switches to whoever runs
// next (co_next_after); when the pooled coroutine is entered again, runs
// its new entry the same way.  Returns only when the backend says the
// coroutine will not run again (co_backend_runs_again: pool eviction on
// the thread backend).
void co_run_entry(Coroutine *co);

// Pool: most recently terminated first.  Taking the head (in
// qemu_coroutine_create) and giving are inline: they are on every create
// and terminate.  The search for a stack size, the eviction of the oldest
// and the drain are in coroutine-pool.cc.
constexpr unsigned CO_POOL_MAX = 128;
Coroutine *co_pool_take_sized(CoThreadState *ts, size_t stack_size);  // null: none
void co_pool_evict_oldest(CoThreadState *ts);
void co_pool_drain(CoThreadState *ts);

static inline void co_pool_unlink(CoThreadState *ts, Coroutine *co)
{
    (co->pool_prev ? co->pool_prev->pool_next : ts->pool_head) = co->pool_next;
    (co->pool_next ? co->pool_next->pool_prev : ts->pool_tail) = co->pool_prev;
    co->pool_prev = co->pool_next = nullptr;
    ts->pool_count--;
}

static inline void co_pool_give(CoThreadState *ts, Coroutine *co)
{
    if (ts->pool_count == CO_POOL_MAX) [[unlikely]] {
        co_pool_evict_oldest(ts);
    }
    co->pool_prev = nullptr;
    co->pool_next = ts->pool_head;
    (ts->pool_head ? ts->pool_head->pool_prev : ts->pool_tail) = co;
    ts->pool_head = co;
    ts->pool_count++;
}

// Prints "<where>: <what>" and aborts: misuse that would corrupt stacks.
[[noreturn]] void co_fatal(const char *where, const char *what);

// Wakes @co the CoQueue way: queued on the running coroutine, or entered at
// once from plain code.
void co_wake(Coroutine *co);

// A waiter in a CoQueue; lives on the waiting coroutine's stack.
struct CoWaitRecord {
    Coroutine *co = nullptr;
    CoWaitRecord *next = nullptr;
    bool writer = false;    // CoRwlock: waits for exclusive access
    bool dequeued = false;  // set by whoever wakes it
};

// CoQueue primitives for the locks (co-queue.cc).
void co_queue_push(CoQueue *q, CoWaitRecord *rec);
CoWaitRecord *co_queue_pop(CoQueue *q);  // null when empty; marks dequeued
// Parks the running coroutine on @q until co_queue_pop + co_wake.
void coroutine_fn co_queue_park(CoQueue *q, CoWaitRecord *rec, const char *who);

#include "coroutine/coroutine-backend-int.h"
