// asm backend: the hand-written switch of switch-asm.cc.
#include "coroutine/coroutine-int.h"
#include "coroutine/switch-asm.h"

namespace {

CoroutineAsm *as_asm(Coroutine *co)
{
    return static_cast<CoroutineAsm *>(co);
}

[[noreturn]] void asm_trampoline(void *arg)
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
    return "asm";
}

Coroutine *co_backend_new(size_t stack_size)
{
    auto *co = new CoroutineAsm;
    co_stack_alloc(&co->stack, stack_size);
    co_asan_set_stack(co);
    co_asm_context_init(&co->ctx, co->stack.bottom, co->stack.size, asm_trampoline, co);
    return co;
}

Coroutine *co_backend_new_leader(void)
{
    return new CoroutineAsm;
}

void co_backend_delete(Coroutine *co)
{
    co_stack_free(&co->stack);
    delete as_asm(co);
}
