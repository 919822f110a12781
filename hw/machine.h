// The PC-like machine as devices see it: guest RAM, the I/O-port and MMIO
// buses, interrupt lines.  Every address is documented in docs/machine.md.
//
// Threads and locks: bus dispatch (pio/mmio callbacks) runs with the BQL
// held, either in the vCPU thread (I/O exit) or in the qtest thread.
// Devices complete block requests from coroutines in the main loop, also
// under the BQL (the main loop holds it outside epoll_wait).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

struct Machine;
struct Error;

// Fixed layout (see docs/machine.md).
enum : uint64_t {
    MACHINE_BIOS_BASE = 0xF0000,         // 64 KiB BIOS image (reset vector at F000:FFF0)
    MACHINE_VIRTIO_MMIO_BASE = 0xD0000,  // virtio-mmio register window (4 KiB), real-mode reachable
    MACHINE_VIRTIO_MMIO_SIZE = 0x1000,
};
enum : uint16_t {
    MACHINE_SERIAL_PORT = 0x3F8,   // 16550 UART, IRQ 4
    MACHINE_IDE_CMD_PORT = 0x1F0,  // primary channel command block, IRQ 14
    MACHINE_IDE_CTL_PORT = 0x3F6,  // device control / alt status
    MACHINE_BMDMA_PORT = 0xC000,   // bus-master DMA registers (8 bytes, primary)
    MACHINE_EXIT_PORT = 0x501,     // isa-debug-exit: exit status (val << 1) | 1
    MACHINE_PIC_MASTER = 0x20,
    MACHINE_PIC_SLAVE = 0xA0,
};
enum : int {
    MACHINE_IRQ_TIMER = 0,
    MACHINE_IRQ_SERIAL = 4,
    MACHINE_IRQ_VIRTIO = 11,
    MACHINE_IRQ_IDE = 14,
};

// Lifecycle (qemu-system-lite, qtest-lite and unit tests).  machine_new maps
// @ram_size bytes of zeroed guest RAM and creates the buses and the PIC; no
// devices and no CPU.  machine_free unregisters everything (devices first
// must have stopped using the machine).
Machine *machine_new(uint64_t ram_size, Error **errp);
void machine_free(Machine *m);

// Hands a device's state to the machine: @release runs in machine_free, in
// reverse order of registration, so board devices created with the machine
// (PIO-only, no BlockBackend) die with it instead of leaking.
void machine_own(Machine *m, std::function<void()> release);

struct MemoryRegionOps {
    // @addr is relative to the region base; @size is 1, 2, 4 or 8.
    uint64_t (*read)(void *opaque, uint64_t addr, unsigned size);
    void (*write)(void *opaque, uint64_t addr, uint64_t val, unsigned size);
};

void machine_register_pio(Machine *m, uint16_t base, uint16_t len, const MemoryRegionOps *ops,
                          void *opaque, const char *name);
void machine_register_mmio(Machine *m, uint64_t base, uint64_t len, const MemoryRegionOps *ops,
                           void *opaque, const char *name);

// Bus dispatch (used by the CPU glue and qtest).  Unclaimed reads return all
// ones; unclaimed writes are ignored (logged with -d unimp).
uint64_t machine_pio_read(Machine *m, uint16_t port, unsigned size);
void machine_pio_write(Machine *m, uint16_t port, uint64_t val, unsigned size);
uint64_t machine_mmio_read(Machine *m, uint64_t addr, unsigned size);
void machine_mmio_write(Machine *m, uint64_t addr, uint64_t val, unsigned size);

// Guest RAM access for DMA.  Guest addresses are untrusted: these check the
// whole range and return false (touching nothing) if any byte is outside RAM.
uint64_t machine_ram_size(const Machine *m);
bool machine_ram_range_ok(const Machine *m, uint64_t gpa, uint64_t len);
// Host pointer for [gpa, gpa+len) or nullptr if the range is not all RAM.
void *machine_ram_ptr(Machine *m, uint64_t gpa, uint64_t len);
bool machine_dma_read(Machine *m, uint64_t gpa, void *buf, uint64_t len);
bool machine_dma_write(Machine *m, uint64_t gpa, const void *buf, uint64_t len);

// Interrupt lines into the PIC (level-triggered semantics; edge devices
// pulse).  Thread-safe with the BQL held; wakes a halted vCPU.
void machine_set_irq(Machine *m, int irq, int level);

// Observer of interrupt line changes (qtest-lite irq_intercept); called
// with the BQL held from machine_set_irq.  One observer; null removes it.
typedef void MachineIrqObserver(void *opaque, int irq, int level);
void machine_set_irq_observer(Machine *m, MachineIrqObserver *cb, void *opaque);
// Current level of an input line as last set by machine_set_irq.
int machine_get_irq(const Machine *m, int irq);

// Requests the VM to stop (werror=stop / rerror=stop) or exit.  Both may be
// called from any thread with the BQL held; they wake the main loop and a
// halted vCPU.  A stopped VM stays paused (the vCPU does not run) until
// machine_resume; exit ends qemu-system-lite with @status.
void machine_request_stop(Machine *m, const char *reason);
void machine_request_exit(Machine *m, int status);
bool machine_is_stopped(const Machine *m);
void machine_resume(Machine *m);
// True once machine_request_exit was called; *status gets its argument.
bool machine_exit_requested(const Machine *m, int *status);

// Debug logging (-d CATEGORIES), QEMU's qemu_log_mask: messages go to stderr.
enum : unsigned {
    LOG_GUEST_ERROR = 1u << 0,  // "guest_errors": the guest misprogrammed a device
    LOG_UNIMP = 1u << 1,        // "unimp": unimplemented register or feature, unclaimed port
    LOG_INT = 1u << 2,          // "int": interrupts and exceptions delivered to the guest
    LOG_CPU_RESET = 1u << 3,    // "cpu_reset": vCPU reset and final state
    LOG_IOPORT = 1u << 4,       // "ioport": every port access (slow)
};
extern unsigned qemu_loglevel;
static inline bool qemu_loglevel_mask(unsigned mask) { return (qemu_loglevel & mask) != 0; }
void qemu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define qemu_log_mask(mask, ...)                             \
    do {                                                     \
        if (qemu_loglevel_mask(mask)) qemu_log(__VA_ARGS__); \
    } while (0)
// Parses "-d guest_errors,unimp,..." ("help" lists them); false on an unknown name.
bool qemu_log_parse(const char *categories, unsigned *mask);

// Device tracing (-trace PATTERN): true when @event matches a pattern.
// Patterns are globs ("virtio_blk_*"); -trace may be given several times.
void trace_enable_pattern(const char *pattern);
bool trace_event_enabled(const char *event);
void trace_printf(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define TRACE(event, ...)                                                 \
    do {                                                                  \
        if (trace_event_enabled(event)) trace_printf(event, __VA_ARGS__); \
    } while (0)
