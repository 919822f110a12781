// qemu-lite coroutines: the public interface of the coroutine/ library.
//
// Model (as in QEMU): a coroutine owns a stack and runs only when entered.
// It gives control back to whoever entered it when it yields or terminates,
// and continues where it left off when entered again.  Every coroutine runs
// on the thread that created it; coroutines of one thread never race.
//
// Entering from inside another coroutine nests: the inner coroutine's yield
// returns to the outer one.  Entering a coroutine that is running (anywhere
// in the current nesting chain) or that has terminated aborts the process
// with a message, because either is a logic error that would corrupt stacks.
#pragma once

#include <cstddef>
#include <cstdint>

// Coroutine markers, checked by scripts/coroutine-check.py (run by make
// check) over the clang AST: a function not marked coroutine_fn or
// coroutine_mixed_fn must not call a coroutine_fn one directly.
//  coroutine_fn:       may only be called from coroutine context (it may yield).
//  coroutine_mixed_fn: callable from both; it checks qemu_in_coroutine() and
//                      only then calls coroutine_fn functions.
//  no_coroutine_fn:    must not be called from coroutine context (it polls
//                      the event loop or blocks); documentation for now.
// Under gcc the markers are empty; clang records them as annotations.
#ifdef __clang__
#define coroutine_fn __attribute__((annotate("coroutine_fn")))
#define coroutine_mixed_fn __attribute__((annotate("coroutine_mixed_fn")))
#define no_coroutine_fn __attribute__((annotate("no_coroutine_fn")))
#else
#define coroutine_fn
#define coroutine_mixed_fn
#define no_coroutine_fn
#endif

struct Coroutine;
struct AioContext;  // from util/; stored here so util/ can wake coroutines.

typedef void coroutine_fn CoroutineEntry(void *opaque);

// Creation.  The stack is mmap'd with a PROT_NONE guard page below it.
// Default size: 1 MiB, or QEMU_LITE_COROUTINE_STACK_SIZE (bytes, K/M suffix
// allowed) from the environment.  Terminated coroutines return to a bounded
// per-thread pool; creating one from the pool makes no syscall.
Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);
Coroutine *qemu_coroutine_create_sized(CoroutineEntry *entry, void *opaque, size_t stack_size);

// Runs @co until it yields or terminates.  Callable from plain code and from
// coroutines (nesting).  Aborts if @co is running or terminated.
void qemu_coroutine_enter(Coroutine *co);
// Enters @co only if it is not already running (no-op otherwise).
void qemu_coroutine_enter_if_inactive(Coroutine *co);

// Gives control back to the enterer.  Must be called in a coroutine.
void coroutine_fn qemu_coroutine_yield(void);

// The current coroutine, or nullptr in plain (non-coroutine) context.
Coroutine *qemu_coroutine_self(void);
bool qemu_in_coroutine(void);

// State queries.  entered: currently running (in the chain of entered
// coroutines).  terminated: the entry function returned; valid until the
// pool hands the object out again from qemu_coroutine_create().
bool qemu_coroutine_entered(Coroutine *co);
bool qemu_coroutine_terminated(Coroutine *co);

// The AioContext a coroutine belongs to (set by util/ when it schedules or
// enters it through a context); nullptr if never set.
AioContext *qemu_coroutine_get_aio_context(Coroutine *co);
void qemu_coroutine_set_aio_context(Coroutine *co, AioContext *ctx);

// Name of the compiled-in switch backend: "asm", "ucontext" or "thread".
const char *qemu_coroutine_backend_name(void);

// Usable stack bytes of @co (the request rounded up to whole pages), and the
// size qemu_coroutine_create() uses (1 MiB or the environment's).
size_t qemu_coroutine_stack_size(Coroutine *co);
size_t qemu_coroutine_default_stack_size(void);

// Pool statistics, for tests: stacks mapped by this thread so far.
uint64_t qemu_coroutine_stats_stacks_mapped(void);

// ---------------------------------------------------------------------------
// Synchronisation.  Single-thread, FIFO-fair.  A woken coroutine does not run
// inside the waker: it is queued on the waker (when the waker is a coroutine)
// and entered right after the waker yields or terminates, or entered at once
// when the waker is plain code.  This keeps wakers' stacks shallow and needs
// no event loop.

struct CoWaitRecord;

struct CoQueue {
    CoWaitRecord *head = nullptr;
    CoWaitRecord *tail = nullptr;
};

void qemu_co_queue_init(CoQueue *q);
// Waits until woken by next/restart_all.  If @unlock_mutex is given it is
// released before waiting and re-taken after waking.
struct CoMutex;
void coroutine_fn qemu_co_queue_wait(CoQueue *q, CoMutex *unlock_mutex);
// Wakes the first waiter; returns false if there was none.
bool qemu_co_queue_next(CoQueue *q);
void qemu_co_queue_restart_all(CoQueue *q);
bool qemu_co_queue_empty(const CoQueue *q);

struct CoMutex {
    bool locked = false;
    Coroutine *holder = nullptr;
    CoQueue waiters;
};

void qemu_co_mutex_init(CoMutex *m);
void coroutine_fn qemu_co_mutex_lock(CoMutex *m);
void coroutine_fn qemu_co_mutex_unlock(CoMutex *m);
// Asserts the current coroutine holds @m (debug aid).
void qemu_co_mutex_assert_locked(CoMutex *m);

// Readers share, writers exclude; a waiting writer blocks new readers so
// writers are never starved.  Waiters are served in arrival order.
struct CoRwlock {
    int readers = 0;
    bool writer = false;
    int pending_writers = 0;
    CoQueue queue;
};

void qemu_co_rwlock_init(CoRwlock *l);
void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *l);
void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *l);
void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *l);

// Yields and asks to be re-entered on a later main-loop iteration.  Without
// a main loop (util/ not linked) the hook is unset and this aborts.
void coroutine_fn qemu_coroutine_yield_to_loop(void);
typedef void CoroutineRescheduleHook(Coroutine *co);
void qemu_coroutine_set_reschedule_hook(CoroutineRescheduleHook *hook);

// RAII guard for CoMutex in coroutine_fn code.
struct CoMutexGuard {
    coroutine_fn explicit CoMutexGuard(CoMutex *m) : m_(m) { qemu_co_mutex_lock(m_); }
    coroutine_fn ~CoMutexGuard() { qemu_co_mutex_unlock(m_); }
    CoMutexGuard(const CoMutexGuard &) = delete;
    CoMutexGuard &operator=(const CoMutexGuard &) = delete;

  private:
    CoMutex *m_;
};
