// isa-debug-exit at 0x501: a guest write of V ends the VM with exit status
// (V << 1) | 1, so a guest can never fake a clean exit 0 (QEMU's semantics).
#include "hw/machine.h"
#include "hw/pc.h"

static void debug_exit_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    Machine *m = static_cast<Machine *>(opaque);
    TRACE("debug_exit", "value 0x%x", (unsigned)val);
    machine_request_exit(m, (int)(((val & 0xFF) << 1) | 1));
}

static const MemoryRegionOps kDebugExitOps = {nullptr, debug_exit_write};

void debug_exit_create(Machine *m)
{
    machine_register_pio(m, MACHINE_EXIT_PORT, 2, &kDebugExitOps, m, "isa-debug-exit");
}
