// Creation, trampoline and deletion for the stack-switching backends (asm
// and ucontext); the switch primitives are picked in coroutine-backend-int.h.
#include "coroutine/coroutine-int.h"

namespace {

[[noreturn]] void switched_trampoline(void *arg)
{
    auto *co = static_cast<Coroutine *>(arg);
    co_asan_after_switch(co, CO_ACTION_ENTER);
    co_run_entry(co);
    co_fatal("coroutine", "a stack-switched coroutine left co_run_entry");
}

}  // namespace

const char *qemu_coroutine_backend_name(void) { return CO_BACKEND_NAME; }

Coroutine *co_backend_new(size_t stack_size)
{
    auto *co = new CoroutineSwitched;
    co_stack_alloc(&co->stack, stack_size);
    co_asan_set_stack(co);
    co_ctx_init(&co->ctx, co->stack.bottom, co->stack.size, switched_trampoline, co);
    return co;
}

Coroutine *co_backend_new_leader(void) { return new CoroutineSwitched; }

void co_backend_delete(Coroutine *co)
{
    co_stack_free(&co->stack);
    delete co_switched(co);
}
