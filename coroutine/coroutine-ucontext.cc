// ucontext backend: makecontext once per stack, _setjmp/_longjmp switches
// (switch-ucontext.cc).  Portable to any glibc/musl target.
#include "coroutine/coroutine-int.h"
#include "coroutine/switch-ucontext.h"

namespace {

CoroutineUcontext *as_uc(Coroutine *co)
{
    return static_cast<CoroutineUcontext *>(co);
}

[[noreturn]] void uc_trampoline(void *arg)
{
    auto *co = static_cast<Coroutine *>(arg);
    co_asan_after_switch(co, CO_ACTION_ENTER);
    for (;;) {
        co_run_entry(co);
    }
}

}  // namespace

const char *qemu_coroutine_backend_name(void)
{
    return "ucontext";
}

Coroutine *co_backend_new(size_t stack_size)
{
    auto *co = new CoroutineUcontext;
    co_stack_alloc(&co->stack, stack_size);
    co_asan_set_stack(co);
    co_uc_context_init(&co->ctx, co->stack.bottom, co->stack.size, uc_trampoline, co);
    return co;
}

Coroutine *co_backend_new_leader(void)
{
    return new CoroutineUcontext;
}

void co_backend_delete(Coroutine *co)
{
    co_stack_free(&co->stack);
    delete as_uc(co);
}
