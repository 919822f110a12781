// The configured backend's context type and switch, inline so that
// qemu_coroutine_enter/yield call the low-level switch directly.  Included
// at the end of coroutine-int.h.  The two stack-switching backends (asm and
// ucontext) differ only in the context type and two primitives chosen here;
// their creation, trampoline and deletion are shared in
// coroutine-stack-switch.cc.  The thread backend is coroutine-thread.cc.
#pragma once

#include "coroutine/co-sanitizer-int.h"

#if defined(CONFIG_COROUTINE_ASM) || defined(CONFIG_COROUTINE_UCONTEXT)

#if defined(CONFIG_COROUTINE_ASM)
#include "coroutine/switch-asm.h"
using CoSwitchContext = CoAsmContext;
#define CO_BACKEND_NAME "asm"
#define co_ctx_init co_asm_context_init
#define co_ctx_switch co_asm_switch
#else
#include "coroutine/switch-ucontext.h"
using CoSwitchContext = CoUcontext;
#define CO_BACKEND_NAME "ucontext"
#define co_ctx_init co_uc_context_init
#define co_ctx_switch co_uc_switch
#endif

struct CoroutineSwitched : Coroutine {
    CoSwitchContext ctx;
};

static inline CoroutineSwitched *co_switched(Coroutine *co)
{
    return static_cast<CoroutineSwitched *>(co);
}

static inline CoroutineAction co_backend_switch(Coroutine *from, Coroutine *to,
                                                CoroutineAction action)
{
    co_asan_before_switch(from, to, action);
    uintptr_t ret = co_ctx_switch(&co_switched(from)->ctx, &co_switched(to)->ctx, action);
    co_asan_after_switch(from, ret);
    return static_cast<CoroutineAction>(ret);
}

// A pooled stack-switched coroutine is only ever resumed to run again; it
// is deleted without being resumed.
static inline bool co_backend_runs_again(Coroutine *) { return true; }

#else
// Thread backend: the hand-off is slow anyway, so it stays out of line.
CoroutineAction co_backend_switch(Coroutine *from, Coroutine *to, CoroutineAction action);
// False once the pool evicted @co: its thread must leave co_run_entry.
bool co_backend_runs_again(Coroutine *co);
#endif
