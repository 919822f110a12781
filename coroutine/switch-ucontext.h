// Low-level stack switch built on ucontext + _setjmp/_longjmp (as QEMU's
// ucontext backend does).  Internal to coroutine/: the ucontext backend and
// bench/coroutine-bench use it.
//
// makecontext/swapcontext run once per stack, when the context is created;
// every later switch is _setjmp + _longjmp, which save and restore the
// registers without the sigprocmask system call that swapcontext makes.
#pragma once

#include <csetjmp>
#include <cstddef>
#include <cstdint>

#include "coroutine/switch-asm.h"  // CoSwitchEntry

struct CoUcontext {
    jmp_buf env;
    uintptr_t value = 0;  // passed by the switch that resumes this context
};

// Makes @ctx start at @entry(@arg) on [bottom, bottom + size) the first
// time it is switched to.  @entry must never return.
void co_uc_context_init(CoUcontext *ctx, void *stack_bottom, size_t size, CoSwitchEntry *entry,
                        void *arg);

// Saves the running context into @from and resumes @to; returns the value
// passed by whoever later switches back to @from.
uintptr_t co_uc_switch(CoUcontext *from, CoUcontext *to, uintptr_t value);
