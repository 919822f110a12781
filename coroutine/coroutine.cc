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

void co_thread_state_adopt(CoThreadState *state)
{
    tls_state = state;
}

void co_fatal(const char *where, const char *what)
{
    fprintf(stderr, "%s: %s\n", where, what);
    fflush(stderr);
    abort();
}

Coroutine *qemu_coroutine_create_sized(CoroutineEntry *entry, void *opaque,
                                       size_t stack_size)
{
    CoThreadState *ts = co_thread_state();
    size_t size = stack_size ? co_stack_round_size(stack_size) : co_stack_default_size();
    Coroutine *co = co_pool_take(ts, size);
    if (!co) {
        co = co_backend_new(size);
        co->owner = ts;
        ts->stacks_mapped++;
    }
    co->entry = entry;
    co->opaque = opaque;
    co->terminated = false;
    co->aio_context = nullptr;
    return co;
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    return qemu_coroutine_create_sized(entry, opaque, 0);
}

// Enters @co, then every coroutine it (transitively) woke, in wake order,
// each from this same frame so wakers' stacks stay shallow.
void qemu_coroutine_enter(Coroutine *co)
{
    CoThreadState *ts = co_thread_state();
    Coroutine *const running = ts->current;
    Coroutine *const self = running ? running : ts->leader;

    if (co->wake_queued) {
        co_fatal("qemu_coroutine_enter", "entering a coroutine already woken from a CoQueue");
    }
    co->wake_next = nullptr;
    Coroutine *pending = co;
    while (pending) {
        Coroutine *to = pending;
        pending = to->wake_next;
        to->wake_next = nullptr;
        to->wake_queued = false;
        check_enterable(to);

        to->caller = self;
        ts->current = to;
        CoroutineAction action = co_backend_switch(self, to, CO_ACTION_ENTER);
        ts->current = running;

        if (to->wake_head) {
            to->wake_tail->wake_next = pending;
            pending = to->wake_head;
            to->wake_head = to->wake_tail = nullptr;
        }
        if (action == CO_ACTION_TERMINATE) {
            co_pool_give(ts, to);
        }
    }
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
    Coroutine *to = self->caller;
    self->caller = nullptr;
    co_backend_switch(self, to, CO_ACTION_YIELD);
}

void co_run_entry(Coroutine *co)
{
    co->entry(co->opaque);
    co->terminated = true;
    Coroutine *to = co->caller;
    co->caller = nullptr;
    co_backend_switch(co, to, CO_ACTION_TERMINATE);
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

Coroutine *qemu_coroutine_self(void)
{
    return co_thread_state()->current;
}

bool qemu_in_coroutine(void)
{
    return co_thread_state()->current != nullptr;
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return co->caller != nullptr;
}

bool qemu_coroutine_terminated(Coroutine *co)
{
    return co->terminated;
}

size_t qemu_coroutine_stack_size(Coroutine *co)
{
    return co->stack.size;
}

size_t qemu_coroutine_default_stack_size(void)
{
    return co_stack_default_size();
}

AioContext *qemu_coroutine_get_aio_context(Coroutine *co)
{
    return co->aio_context;
}

void qemu_coroutine_set_aio_context(Coroutine *co, AioContext *ctx)
{
    co->aio_context = ctx;
}

uint64_t qemu_coroutine_stats_stacks_mapped(void)
{
    return co_thread_state()->stacks_mapped;
}

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
