// The per-thread pool of terminated coroutines.  Reusing a coroutine keeps
// its stack mapping and its backend context (the trampoline loops to run the
// next entry), so creating from the pool makes no system call.  The pool is
// bounded; when full, the oldest entry is destroyed so the one that just
// terminated stays queryable (qemu_coroutine_terminated) until reused.
#include "coroutine/coroutine-int.h"

static void pool_unlink(CoThreadState *ts, Coroutine *co)
{
    (co->pool_prev ? co->pool_prev->pool_next : ts->pool_head) = co->pool_next;
    (co->pool_next ? co->pool_next->pool_prev : ts->pool_tail) = co->pool_prev;
    co->pool_prev = co->pool_next = nullptr;
    ts->pool_count--;
}

// Most recently terminated first: its stack is the likeliest to be cached.
Coroutine *co_pool_take(CoThreadState *ts, size_t stack_size)
{
    for (Coroutine *co = ts->pool_head; co; co = co->pool_next) {
        if (co->stack.size == stack_size) {
            pool_unlink(ts, co);
            return co;
        }
    }
    return nullptr;
}

void co_pool_give(CoThreadState *ts, Coroutine *co)
{
    if (ts->pool_count == CO_POOL_MAX) {
        Coroutine *oldest = ts->pool_tail;
        pool_unlink(ts, oldest);
        co_backend_delete(oldest);
    }
    co->pool_prev = nullptr;
    co->pool_next = ts->pool_head;
    (ts->pool_head ? ts->pool_head->pool_prev : ts->pool_tail) = co;
    ts->pool_head = co;
    ts->pool_count++;
}

void co_pool_drain(CoThreadState *ts)
{
    while (Coroutine *co = ts->pool_head) {
        pool_unlink(ts, co);
        co_backend_delete(co);
    }
}
