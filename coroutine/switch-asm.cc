// The asm stack switch; see switch-asm.h for the contract.
//
// Frame saved on the suspended stack (lowest address first):
//   x86-64:  r15 r14 r13 r12 rbx rbp <resume address>
//   aarch64: x19..x28, x29 (fp), x30 (resume address), d8..d15
// A new context gets a synthetic frame whose resume address is the
// trampoline, which calls entry(arg) with entry/arg taken from two
// callee-saved slots.  The frame pointer slot is zero so backtraces stop.
#include "coroutine/switch-asm.h"

extern "C" void qemu_co_asm_trampoline(void);

#if defined(__x86_64__)

asm(R"(
    .text
    .globl  qemu_co_asm_switch_raw
    .hidden qemu_co_asm_switch_raw
    .type   qemu_co_asm_switch_raw, @function
    .p2align 4
qemu_co_asm_switch_raw:
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    popq    %rcx
    movq    %rdx, %rax
    jmpq    *%rcx
    .size   qemu_co_asm_switch_raw, .-qemu_co_asm_switch_raw

    .globl  qemu_co_asm_trampoline
    .hidden qemu_co_asm_trampoline
    .type   qemu_co_asm_trampoline, @function
    .p2align 4
qemu_co_asm_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %rbx, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   qemu_co_asm_trampoline, .-qemu_co_asm_trampoline
)");

enum { SLOT_ENTRY = 3, SLOT_ARG = 4, SLOT_FP = 5, SLOT_RESUME = 6, FRAME_SLOTS = 7 };

#elif defined(__aarch64__)

asm(R"(
    .text
    .globl  qemu_co_asm_switch_raw
    .hidden qemu_co_asm_switch_raw
    .type   qemu_co_asm_switch_raw, %function
    .p2align 4
qemu_co_asm_switch_raw:
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x3, sp
    str     x3, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    mov     x0, x2
    br      x30
    .size   qemu_co_asm_switch_raw, .-qemu_co_asm_switch_raw

    .globl  qemu_co_asm_trampoline
    .hidden qemu_co_asm_trampoline
    .type   qemu_co_asm_trampoline, %function
    .p2align 4
qemu_co_asm_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19
    blr     x20
    brk     #0
    .cfi_endproc
    .size   qemu_co_asm_trampoline, .-qemu_co_asm_trampoline
)");

enum { SLOT_ARG = 0, SLOT_ENTRY = 1, SLOT_FP = 10, SLOT_RESUME = 11, FRAME_SLOTS = 20 };

#else
#error "the asm coroutine switch supports x86-64 and aarch64 only; use -Dcoroutine=ucontext"
#endif

void co_asm_context_init(CoAsmContext *ctx, void *stack_bottom, size_t size, CoSwitchEntry *entry,
                         void *arg)
{
    // The frame ends 16 bytes below the 16-aligned top, so the stack pointer
    // after the restore is 16-aligned when the trampoline calls entry (the
    // ABI's alignment at a call on both architectures).
    uintptr_t top = (reinterpret_cast<uintptr_t>(stack_bottom) + size) & ~uintptr_t{15};
    auto *frame = reinterpret_cast<uintptr_t *>(top - 16) - FRAME_SLOTS;
    for (int i = 0; i < FRAME_SLOTS + 2; i++) {
        frame[i] = 0;
    }
    frame[SLOT_ENTRY] = reinterpret_cast<uintptr_t>(entry);
    frame[SLOT_ARG] = reinterpret_cast<uintptr_t>(arg);
    frame[SLOT_FP] = 0;
    frame[SLOT_RESUME] = reinterpret_cast<uintptr_t>(&qemu_co_asm_trampoline);
    ctx->sp = frame;
}
