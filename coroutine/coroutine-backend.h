// The configured backend's context type and switch, inline so that
// qemu_coroutine_enter/yield call the low-level switch directly.  Included
// at the end of coroutine-int.h; the rest of each backend (creation,
// trampoline, deletion) is in coroutine-<backend>.cc.
#pragma once

#include "coroutine/co-sanitizer.h"

#if defined(CONFIG_COROUTINE_ASM)
#include "coroutine/switch-asm.h"

struct CoroutineAsm : Coroutine {
    CoAsmContext ctx;
};

static inline CoroutineAction co_backend_switch(Coroutine *from, Coroutine *to,
                                                CoroutineAction action)
{
    co_asan_before_switch(from, to, action);
    uintptr_t ret = co_asm_switch(&static_cast<CoroutineAsm *>(from)->ctx,
                                  &static_cast<CoroutineAsm *>(to)->ctx, action);
    co_asan_after_switch(from, ret);
    return static_cast<CoroutineAction>(ret);
}

#elif defined(CONFIG_COROUTINE_UCONTEXT)
#include "coroutine/switch-ucontext.h"

struct CoroutineUcontext : Coroutine {
    CoUcontext ctx;
};

static inline CoroutineAction co_backend_switch(Coroutine *from, Coroutine *to,
                                                CoroutineAction action)
{
    co_asan_before_switch(from, to, action);
    uintptr_t ret = co_uc_switch(&static_cast<CoroutineUcontext *>(from)->ctx,
                                 &static_cast<CoroutineUcontext *>(to)->ctx, action);
    co_asan_after_switch(from, ret);
    return static_cast<CoroutineAction>(ret);
}

#else
// Thread backend: the hand-off is slow anyway, so it stays out of line.
CoroutineAction co_backend_switch(Coroutine *from, Coroutine *to, CoroutineAction action);
#endif
