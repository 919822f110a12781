// Low-level stack switch in hand-written assembly (x86-64 and aarch64).
//
// Internal to coroutine/: the asm backend and bench/coroutine-bench use it.
// A switch saves only the callee-saved registers and the stack pointer on
// the current stack, loads the target's stack pointer and resumes it with
// pop + indirect jump.  Resuming with `ret` would make the return-stack
// predictor mispredict on every switch (measured 3-4x slower), and no
// signal mask is touched, so a switch is a handful of instructions.
//
// Not saved: the x87 control word and MXCSR.  Code running in coroutines
// must not leave the floating-point environment changed across a switch.
#pragma once

#include <cstddef>
#include <cstdint>

struct CoAsmContext {
    void *sp = nullptr;  // saved stack pointer while not running
};

// Entry function of a new context; it must never return (switch away).
typedef void CoSwitchEntry(void *arg);

extern "C" uintptr_t qemu_co_asm_switch_raw(void **save_sp, void *load_sp, uintptr_t value);

// Makes @ctx start at @entry(@arg) on the stack [bottom, bottom + size)
// the first time it is switched to.
void co_asm_context_init(CoAsmContext *ctx, void *stack_bottom, size_t size, CoSwitchEntry *entry,
                         void *arg);

// Saves the running context into @from and resumes @to.  Returns the value
// passed by whoever later switches back to @from.
static inline uintptr_t co_asm_switch(CoAsmContext *from, CoAsmContext *to, uintptr_t value)
{
    return qemu_co_asm_switch_raw(&from->sp, to->sp, value);
}
