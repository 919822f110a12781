// Portable coroutine logic: per-thread state, create/enter/yield/terminate,
// state checks and queries.  The register/stack switch itself is the
// backend's (co_backend_switch); see coroutine-int.h.
#include "coroutine/coroutine.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "coroutine/coroutine-int.h"

namespace {

// initial-exec: the library is built -fPIC (static_library default), where
// thread_local would otherwise go through __tls_get_addr on every access.
[[gnu::tls_model("initial-exec")]] thread_local CoThreadState *tls_state;

// Owns the state of a thread that created it; destroyed at thread exit.
struct OwnedState {
    CoThreadState *state = nullptr;
    ~OwnedState() { delete state; }
};
thread_local OwnedState tls_owned;

std::atomic<CoroutineRescheduleHook *> reschedule_hook;

[[gnu::noinline]] CoThreadState *thread_state_init(void)
{
    auto *ts = new CoThreadState;
    ts->leader = co_backend_new_leader();
    ts->leader->is_leader = true;
    ts->leader->owner = ts;
    ts->default_stack_size = co_stack_default_size();
    tls_owned.state = ts;
    tls_state = ts;
    return ts;
}

void check_enterable(Coroutine *co)
{
    if (co->terminated) {
        co_fatal("qemu_coroutine_enter", "entering a terminated coroutine");
    }
    if (co->caller) {
        co_fatal("qemu_coroutine_enter", "Co-routine re-entered recursively");
    }
}

}  // namespace

CoThreadState::~CoThreadState()
{
    co_pool_drain(this);
    co_backend_delete(leader);
}

CoThreadState *co_thread_state(void)
{
    CoThreadState *ts = tls_state;
    return ts ? ts : thread_state_init();
}

void co_thread_state_adopt(CoThreadState *state) { tls_state = state; }

void co_fatal(const char *where, const char *what)
{
    fprintf(stderr, "%s: %s\n", where, what);
    fflush(stderr);
    abort();
}

// Pool miss: another size in the pool, or a new stack.
[[gnu::noinline]] static Coroutine *co_new(CoThreadState *ts, size_t size)
{
    Coroutine *co = co_pool_take_sized(ts, size);
    if (!co) {
        co = co_backend_new(size);
        co->owner = ts;
        ts->stacks_mapped++;
    }
    return co;
}

// The pool's head is the likeliest fit (see coroutine-pool.cc).
static inline Coroutine *co_create(CoThreadState *ts, size_t size, CoroutineEntry *entry,
                                   void *opaque)
{
    Coroutine *co = ts->pool_head;
    if (co && co->stack.size == size) [[likely]] {
        co_pool_unlink(ts, co);
    } else {
        co = co_new(ts, size);
    }
    co->entry = entry;
    co->opaque = opaque;
    co->terminated = false;
    co->aio_context = nullptr;
    return co;
}

Coroutine *qemu_coroutine_create_sized(CoroutineEntry *entry, void *opaque, size_t stack_size)
{
    CoThreadState *ts = co_thread_state();
    size_t size = stack_size ? co_stack_round_size(stack_size) : ts->default_stack_size;
    return co_create(ts, size, entry, opaque);
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    CoThreadState *ts = co_thread_state();
    return co_create(ts, ts->default_stack_size, entry, opaque);
}

// Every switch is the last thing its function does, and everything the
// switch implies (the running coroutine, the caller link, who runs next,
// the pool) is settled before it by the side that switches away.  Nothing
// runs on the resumed side after the switch returns, so without ASan the
// compiler turns the switch into a tail call: the asm backend then resumes
// the other side's caller with a jump and no `ret` pairs with the wrong
// `call`, which would cost a return-stack misprediction on each side of
// every enter+yield round trip.  With ASan, co_backend_switch runs the
// fiber hook after the switch and the calls stay ordinary ones.

// Enters @co on behalf of whatever runs now (a coroutine or plain code).
void qemu_coroutine_enter(Coroutine *co)
{
    CoThreadState *ts = co_thread_state();
    Coroutine *self = ts->current ? ts->current : ts->leader;

    if (co->wake_queued) {
        co_fatal("qemu_coroutine_enter", "entering a coroutine already woken from a CoQueue");
    }
    check_enterable(co);
    co->caller = self;
    ts->current = co;
    co_backend_switch(self, co, CO_ACTION_ENTER);
}

// Who runs when @self (running) yields or terminates.  Coroutines @self
// woke run first, in wake order, each entered on behalf of @self's caller
// (so wakers' stacks stay shallow and a waker never runs its wakees
// nested); the rest of the list travels with each one as its `pending`,
// after whatever that one wakes itself.  The caller runs once the list is
// empty.  Makes the result the running coroutine.
static inline Coroutine *co_next_after(CoThreadState *ts, Coroutine *self)
{
    Coroutine *to = self->caller;
    self->caller = nullptr;
    if (self->wake_head || self->pending) [[unlikely]] {
        Coroutine *list = self->pending;
        if (self->wake_head) {
            self->wake_tail->wake_next = list;
            list = self->wake_head;
        }
        self->wake_head = self->wake_tail = self->pending = nullptr;
        Coroutine *next = list;
        next->pending = next->wake_next;
        next->wake_next = nullptr;
        next->wake_queued = false;
        check_enterable(next);
        next->caller = to;
        to = next;
    }
    ts->current = to == ts->leader ? nullptr : to;
    return to;
}

void qemu_coroutine_enter_if_inactive(Coroutine *co)
{
    if (!qemu_coroutine_entered(co)) {
        qemu_coroutine_enter(co);
    }
}

void coroutine_fn qemu_coroutine_yield(void)
{
    CoThreadState *ts = co_thread_state();
    Coroutine *self = ts->current;
    if (!self) {
        co_fatal("qemu_coroutine_yield", "called outside a coroutine");
    }
    co_backend_switch(self, co_next_after(ts, self), CO_ACTION_YIELD);
}

// The pool may hand @co out again only after the switch below, and nothing
// else runs on this thread until then, so it can go back to the pool first.
// The loop is here and not in the backend's trampoline so that a pooled
// coroutine resumes into the next entry without a `ret` (see above).
void co_run_entry(Coroutine *co)
{
    do {
        co->entry(co->opaque);
        co->terminated = true;
        CoThreadState *ts = co_thread_state();
        Coroutine *to = co_next_after(ts, co);
        co_pool_give(ts, co);
        co_backend_switch(co, to, CO_ACTION_TERMINATE);
    } while (co_backend_runs_again(co));
}

void co_wake(Coroutine *co)
{
    Coroutine *self = co_thread_state()->current;
    if (!self) {
        qemu_coroutine_enter(co);
        return;
    }
    if (co->wake_queued) {
        co_fatal("qemu_co_queue_next", "coroutine woken twice");
    }
    co->wake_queued = true;
    co->wake_next = nullptr;
    if (self->wake_tail) {
        self->wake_tail->wake_next = co;
    } else {
        self->wake_head = co;
    }
    self->wake_tail = co;
}

Coroutine *qemu_coroutine_self(void) { return co_thread_state()->current; }

bool qemu_in_coroutine(void) { return co_thread_state()->current != nullptr; }

bool qemu_coroutine_entered(Coroutine *co) { return co->caller != nullptr; }

bool qemu_coroutine_terminated(Coroutine *co) { return co->terminated; }

size_t qemu_coroutine_stack_size(Coroutine *co) { return co->stack.size; }

size_t qemu_coroutine_default_stack_size(void) { return co_stack_default_size(); }

AioContext *qemu_coroutine_get_aio_context(Coroutine *co) { return co->aio_context; }

void qemu_coroutine_set_aio_context(Coroutine *co, AioContext *ctx) { co->aio_context = ctx; }

uint64_t qemu_coroutine_stats_stacks_mapped(void) { return co_thread_state()->stacks_mapped; }

void qemu_coroutine_set_reschedule_hook(CoroutineRescheduleHook *hook)
{
    reschedule_hook.store(hook, std::memory_order_release);
}

void coroutine_fn qemu_coroutine_yield_to_loop(void)
{
    Coroutine *self = qemu_coroutine_self();
    if (!self) {
        co_fatal("qemu_coroutine_yield_to_loop", "called outside a coroutine");
    }
    CoroutineRescheduleHook *hook = reschedule_hook.load(std::memory_order_acquire);
    if (!hook) {
        co_fatal("qemu_coroutine_yield_to_loop",
                 "no main loop installed a reschedule hook (link util/ and create an AioContext)");
    }
    hook(self);
    qemu_coroutine_yield();
}
