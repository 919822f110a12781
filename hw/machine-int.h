// Private to hw/ and qemu-system-lite: the pieces of the machine that the
// CPU glue, the PIC and the board setup share.  Devices use hw/machine.h.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/machine.h"

struct Pic;

// PIC pair (hw/pic.cc).  All calls with the BQL held.
Pic *pic_new(Machine *m);
void pic_free(Pic *pic);
void pic_set_irq(Pic *pic, int irq, int level);
// The INTR line to the CPU: an unmasked request above the in-service level.
bool pic_has_interrupt(const Pic *pic);
// Interrupt acknowledge cycle: returns the vector (spurious 7/15 if none).
int pic_acknowledge(Pic *pic);
// Called by the PIC when INTR may have changed.
void machine_pic_output_changed(Machine *m);
Pic *machine_pic(Machine *m);

// Wake-ups.  The CPU glue registers a kick (make the vCPU re-check its
// state: interrupt, stop, exit); the main loop registers a notifier (exit or
// stop requested).  Both are called with the BQL held and must not block.
typedef void MachineNotifyFn(void *opaque);
void machine_set_cpu_kick(Machine *m, MachineNotifyFn *fn, void *opaque);
void machine_set_event_notifier(Machine *m, MachineNotifyFn *fn, void *opaque);

// Guest reset (port 0xCF9, 0x64 <- 0xFE, triple fault).  With no_reboot the
// machine exits with status 0 like QEMU -no-reboot; otherwise the vCPU resets.
void machine_set_no_reboot(Machine *m, bool no_reboot);
void machine_request_reset(Machine *m);
// True (and clears the request) when the vCPU must reset itself.
bool machine_take_reset_request(Machine *m);

// Guest RAM that devices wrote (or may write) behind the vCPU's back:
// machine_ram_ptr and machine_dma_write note the range and, while a vCPU is
// attached, kick it.  The vCPU thread takes the ranges between runs and
// drops translated code for them (CpuBackend::invalidate_code), as QEMU
// invalidates TBs on DMA: a boot loader that executes a sector it just
// read over code it ran before (an MBR reading the VBR to 0x7C00) must not
// run the old translation.  Thread-safe.
struct MachineRange {
    uint64_t start, end;
};
void machine_take_dma_ranges(Machine *m, std::vector<MachineRange> *out);

// Host pointer to all of guest RAM (for the CPU glue's memory map).
uint8_t *machine_ram_base(Machine *m);
