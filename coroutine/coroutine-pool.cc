// The per-thread pool of terminated coroutines.  Reusing a coroutine keeps
// its stack mapping and its backend context (the trampoline loops to run the
// next entry), so creating from the pool makes no system call.  The pool is
// bounded; when full, the oldest entry is destroyed so the one that just
// terminated stays queryable (qemu_coroutine_terminated) until reused.
#include "coroutine/coroutine-int.h"

// Searched when the head does not fit: only callers asking for a
// non-default stack size mix sizes in one pool.
Coroutine *co_pool_take_sized(CoThreadState *ts, size_t stack_size)
{
    for (Coroutine *co = ts->pool_head; co; co = co->pool_next) {
        if (co->stack.size == stack_size) {
            co_pool_unlink(ts, co);
            return co;
        }
    }
    return nullptr;
}

void co_pool_evict_oldest(CoThreadState *ts)
{
    Coroutine *oldest = ts->pool_tail;
    co_pool_unlink(ts, oldest);
    co_backend_delete(oldest);
}

void co_pool_drain(CoThreadState *ts)
{
    while (Coroutine *co = ts->pool_head) {
        co_pool_unlink(ts, co);
        co_backend_delete(co);
    }
}
