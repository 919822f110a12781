// ASan fiber annotations for the stack-switching backends (asm, ucontext).
// ASan must be told before every switch which stack will run next
// (start_switch_fiber) and, once there, that the switch finished
// (finish_switch_fiber), or it reports false stack-buffer errors and
// mishandles fake stacks.  A terminating coroutine passes no fake-stack
// slot so ASan frees its fake stack.  Compiles to nothing without ASan.
#pragma once

// Included by coroutine-int.h after struct Coroutine.

#include "config-host.h"

#if CONFIG_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

static inline void co_asan_before_switch(Coroutine *from, Coroutine *to, CoroutineAction action)
{
#if CONFIG_ASAN
    // The slot lives in the Coroutine, not in the switching frame: a frame
    // local could itself sit on the fake stack that a terminating switch
    // frees.
    void **save = &from->asan_fake_stack;
    if (action == CO_ACTION_TERMINATE) {
        from->asan_fake_stack = nullptr;
        save = nullptr;
    }
    __sanitizer_start_switch_fiber(save, to->asan_bottom, to->asan_size);
#else
    (void)from, (void)to, (void)action;
#endif
}

// Runs in @self once it is running again, @resumed_by telling why.  When
// @self was just entered from plain code, the stack we came from is the
// thread's own: remember its bounds in the leader for the switch back.
static inline void co_asan_after_switch(Coroutine *self, uintptr_t resumed_by)
{
#if CONFIG_ASAN
    const void *from_bottom;
    size_t from_size;
    __sanitizer_finish_switch_fiber(self->asan_fake_stack, &from_bottom, &from_size);
    self->asan_fake_stack = nullptr;
    if (resumed_by == CO_ACTION_ENTER && self->caller && self->caller->is_leader) {
        self->caller->asan_bottom = from_bottom;
        self->caller->asan_size = from_size;
    }
#else
    (void)self, (void)resumed_by;
#endif
}

static inline void co_asan_set_stack(Coroutine *co)
{
    co->asan_bottom = co->stack.bottom;
    co->asan_size = co->stack.size;
}
