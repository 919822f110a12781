// ASan fiber annotations for the stack-switching backends (asm, ucontext).
// ASan must be told before every switch which stack will run next
// (start_switch_fiber) and, once there, that the switch finished
// (finish_switch_fiber), or it reports false stack-buffer errors and
// mishandles fake stacks.  A terminating coroutine passes no fake-stack
// slot so ASan frees its fake stack.  Compiles to nothing without ASan.
#pragma once

#include "config-host.h"
#include "coroutine/coroutine-int.h"

#if CONFIG_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

struct CoAsanSwitch {
    void *fake_stack = nullptr;
};

static inline void co_asan_before_switch(CoAsanSwitch *sw, Coroutine *to,
                                         CoroutineAction action)
{
#if CONFIG_ASAN
    __sanitizer_start_switch_fiber(action == CO_ACTION_TERMINATE ? nullptr : &sw->fake_stack,
                                   to->asan_bottom, to->asan_size);
#else
    (void)sw, (void)to, (void)action;
#endif
}

// Runs in @self once it is running again, @resumed_by telling why.  When
// @self was just entered from plain code, the stack we came from is the
// thread's own: remember its bounds in the leader for the switch back.
static inline void co_asan_after_switch(CoAsanSwitch *sw, Coroutine *self,
                                        uintptr_t resumed_by)
{
#if CONFIG_ASAN
    const void *from_bottom;
    size_t from_size;
    __sanitizer_finish_switch_fiber(sw ? sw->fake_stack : nullptr, &from_bottom, &from_size);
    if (resumed_by == CO_ACTION_ENTER && self->caller && self->caller->is_leader) {
        self->caller->asan_bottom = from_bottom;
        self->caller->asan_size = from_size;
    }
#else
    (void)sw, (void)self, (void)resumed_by;
#endif
}

static inline void co_asan_set_stack(Coroutine *co)
{
    co->asan_bottom = co->stack.bottom;
    co->asan_size = co->stack.size;
}
