// The vCPU behind a small interface: a backend runs guest code (Unicorn
// today; KVM could implement the same five calls) and the generic vCPU thread
// (hw/cpu.cc) decides when to run, halt, take interrupts, stop and reset.
#pragma once

#include <cstdint>
#include <cstdio>

struct Machine;
struct Error;

class CpuBackend {
  public:
    enum class Exit { Halted, Kicked, Error };

    virtual ~CpuBackend() = default;
    // PC reset state: real mode, executing at F000:FFF0 next.
    virtual bool reset(Error **errp) = 0;
    // Runs guest code in the calling thread (without the BQL) until the
    // guest executes hlt, kick() is called, or the CPU fails.  Port and
    // MMIO accesses take the BQL around the machine's bus dispatch.
    virtual Exit run() = 0;
    // Any thread: make a run() in progress (or the next one) return soon.
    virtual void kick() = 0;
    // Forgets earlier kicks; called by the vCPU thread before it looks at
    // the machine state, so a kick that follows the look is not lost.
    virtual void clear_kick() = 0;
    // Between runs: can an external interrupt be delivered now?
    virtual bool interrupts_enabled() = 0;
    // Between runs: delivers external interrupt @vector (IRQ acknowledged).
    virtual bool inject_interrupt(int vector) = 0;
    virtual void dump_state(FILE *f) = 0;
    // Between runs: guest RAM [start, end) was written by a device (DMA);
    // an engine that caches translated code drops what came from there.
    // Hardware virtualization has nothing to do (the default).
    virtual void invalidate_code(uint64_t, uint64_t) {}
};

CpuBackend *cpu_unicorn_new(Machine *m, Error **errp);

// The vCPU thread.  vcpu_start resets the CPU and starts running; the thread
// ends when the machine exit is requested (or on a CPU error, which requests
// exit status 1).  vcpu_join waits for it and frees it.
struct VCpu;
VCpu *vcpu_start(Machine *m, CpuBackend *backend);
void vcpu_join(VCpu *vcpu);
