// ucontext switch; see switch-ucontext.h.
//
// _FORTIFY_SOURCE turns longjmp into __longjmp_chk, which rejects jumps to
// another stack ("longjmp causes uninitialized stack frame").
#ifdef _FORTIFY_SOURCE
#undef _FORTIFY_SOURCE
#endif

#include "coroutine/switch-ucontext.h"

#include <cstdio>
#include <cstdlib>
#include <ucontext.h>

#include "config-host.h"
#if CONFIG_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace {

// Handed to the new context through makecontext's int arguments.
struct UcStart {
    CoUcontext *ctx;
    CoSwitchEntry *entry;
    void *arg;
    jmp_buf *back;
    void *fake_stack;  // ASan: the creator's fake stack while away
};

// Runs once on the new stack at creation: records the resume point in
// ctx->env and jumps straight back to co_uc_context_init.  The first real
// switch to the context continues after the _setjmp and calls entry.
void uc_start(unsigned hi, unsigned lo)
{
    auto *start = reinterpret_cast<UcStart *>((uintptr_t{hi} << 32) | lo);
    CoSwitchEntry *const entry = start->entry;
    void *const arg = start->arg;
#if CONFIG_ASAN
    const void *caller_bottom;
    size_t caller_size;
    __sanitizer_finish_switch_fiber(nullptr, &caller_bottom, &caller_size);
#endif
    if (!_setjmp(start->ctx->env)) {
#if CONFIG_ASAN
        __sanitizer_start_switch_fiber(nullptr, caller_bottom, caller_size);
#endif
        _longjmp(*start->back, 1);
    }
    entry(arg);
    fprintf(stderr, "co_uc_context_init: context entry function returned\n");
    abort();
}

}  // namespace

void co_uc_context_init(CoUcontext *ctx, void *stack_bottom, size_t size, CoSwitchEntry *entry,
                        void *arg)
{
    ucontext_t uc, old_uc;
    jmp_buf back;
    UcStart start{ctx, entry, arg, &back, nullptr};

    if (getcontext(&uc) != 0) {
        perror("getcontext");
        abort();
    }
    uc.uc_link = nullptr;
    uc.uc_stack.ss_sp = stack_bottom;
    uc.uc_stack.ss_size = size;
    uc.uc_stack.ss_flags = 0;
    auto p = reinterpret_cast<uintptr_t>(&start);
    makecontext(&uc, reinterpret_cast<void (*)()>(&uc_start), 2, static_cast<unsigned>(p >> 32),
                static_cast<unsigned>(p));
    if (!_setjmp(back)) {
#if CONFIG_ASAN
        __sanitizer_start_switch_fiber(&start.fake_stack, stack_bottom, size);
#endif
        swapcontext(&old_uc, &uc);  // returns through _longjmp(back)
    }
#if CONFIG_ASAN
    __sanitizer_finish_switch_fiber(start.fake_stack, nullptr, nullptr);
#endif
}

uintptr_t co_uc_switch(CoUcontext *from, CoUcontext *to, uintptr_t value)
{
    to->value = value;
    if (!_setjmp(from->env)) {
        _longjmp(to->env, 1);
    }
    return from->value;
}
