// The Unicorn vCPU glue (hw/cpu-unicorn.cc, hw/cpu.cc) on tiny real-mode
// programs: software INT through the IVT returns with iret to the right
// place, kicks (from the vCPU's own I/O exits and from another thread)
// stop a run at an exact instruction, so no port write is ever repeated, and
// an interrupt due at `sti; hlt` wakes the hlt, a triple fault resets, and
// code a device DMAs over translated code runs as written, code the guest
// stores over (another block, and the running block itself) runs as
// written, and Unicorn's per-store page bookkeeping is replaced by ours.
// The "BIOS" is a 512-byte image whose reset vector jumps to 0000:7C00.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "hw/cpu.h"
#include "hw/machine-int.h"
#include "hw/pc.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/bql.h"
#include "util/error.h"

namespace {

struct PortLog {
    Machine *m = nullptr;
    std::vector<uint32_t> values;
    bool kick_on_write = false;
    bool raise_irq0_on_write = false;
    bool dma_code_on_write = false;
};

void log_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    PortLog *log = static_cast<PortLog *>(opaque);
    log->values.push_back((uint32_t)val);
    // A device changing the PIC output from inside an I/O exit kicks the
    // vCPU synchronously, in the vCPU thread.
    if (log->kick_on_write) machine_pic_output_changed(log->m);
    if (log->raise_irq0_on_write) machine_set_irq(log->m, 0, 1);  // kicks the vCPU too
    if (log->dma_code_on_write) {
        // A device overwrites the routine at 0x7D00 (as a disk read into
        // memory that held code): mov al, 2; ret.
        const uint8_t routine[] = {0xB0, 0x02, 0xC3};
        machine_dma_write(log->m, 0x7D00, routine, sizeof(routine));
    }
}

const MemoryRegionOps kLogOps = {nullptr, log_write};

// Reset vector F000:FFF0 -> jmp 0000:7C00; the rest of the image is hlt.
void load_test_bios(Machine *m)
{
    uint8_t bios[512];
    memset(bios, 0xF4, sizeof(bios));
    const uint8_t jmp[] = {0xEA, 0x00, 0x7C, 0x00, 0x00};
    memcpy(bios + 0x1F0, jmp, sizeof(jmp));
    ErrorPtr err;
    assert_true(pc_load_bios(m, bios, sizeof(bios), &err));
}

// Runs @code at 0000:7C00 (plus @extra at @extra_addr) until the guest
// writes the exit port; @during runs in the test thread meanwhile.
template <typename F>
int run_guest(PortLog *log, uint16_t port, const uint8_t *code, size_t len, const uint8_t *extra,
              size_t extra_len, uint32_t extra_addr, F during)
{
    ErrorPtr err;
    Machine *m = machine_new(4 << 20, &err);
    assert_non_null(m);
    log->m = m;
    bql_lock();
    debug_exit_create(m);
    machine_register_pio(m, port, 2, &kLogOps, log, "test-log");
    load_test_bios(m);
    memcpy(machine_ram_base(m) + 0x7C00, code, len);
    if (extra) memcpy(machine_ram_base(m) + extra_addr, extra, extra_len);
    CpuBackend *cpu = cpu_unicorn_new(m, &err);
    assert_non_null(cpu);
    VCpu *vcpu = vcpu_start(m, cpu);
    bql_unlock();
    during(m);
    int status = -1;
    while (!machine_exit_requested(m, &status)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    vcpu_join(vcpu);
    delete cpu;
    machine_free(m);
    return status;
}

// int 0x30 to a handler that writes port 0x80 and irets; then the exit
// port gets 2.  A wrong frame order returns to garbage instead.
void test_int_through_ivt(void **)
{
    const uint8_t code[] = {
        0xC7, 0x06, 0xC0, 0x00, 0x00, 0x7D,  // mov word [0x30*4], 0x7D00
        0xC7, 0x06, 0xC2, 0x00, 0x00, 0x00,  // mov word [0x30*4+2], 0
        0xBC, 0x00, 0x70,                    // mov sp, 0x7000
        0xCD, 0x30,                          // int 0x30
        0xBA, 0x01, 0x05,                    // mov dx, 0x501
        0xB0, 0x02,                          // mov al, 2
        0xEE,                                // out dx, al
        0xF4,                                // hlt
    };
    const uint8_t handler[] = {
        0xB0, 0x11,  // mov al, 0x11
        0xE6, 0x80,  // out 0x80, al
        0xCF,        // iret
    };
    PortLog log;
    int status = run_guest(&log, 0x80, code, sizeof(code), handler, sizeof(handler), 0x7D00,
                           [](Machine *) {});
    assert_int_equal(status, (2 << 1) | 1);
    assert_int_equal(log.values.size(), 1);
    assert_int_equal(log.values[0], 0x11);
}

// Writes 1..3000 to port 0x90 in a loop while being kicked after every
// write (in the vCPU thread) and from this thread: the port must see each
// value exactly once, in order.
void test_kicks_are_precise(void **)
{
    const uint8_t code[] = {
        0x31, 0xC9,              // xor cx, cx
        0x41,                    // .loop: inc cx
        0x89, 0xC8,              // mov ax, cx
        0xE7, 0x90,              // out 0x90, ax
        0x81, 0xF9, 0xB8, 0x0B,  // cmp cx, 3000
        0x75, 0xF5,              // jne .loop
        0xBA, 0x01, 0x05,        // mov dx, 0x501
        0x30, 0xC0,              // xor al, al
        0xEE,                    // out dx, al
        0xF4,                    // hlt
    };
    PortLog log;
    log.kick_on_write = true;
    int status = run_guest(&log, 0x90, code, sizeof(code), nullptr, 0, 0, [](Machine *m) {
        for (int i = 0; i < 200 && !machine_exit_requested(m, nullptr); i++) {
            BqlGuard bql;
            machine_pic_output_changed(m);
        }
    });
    assert_int_equal(status, 1);
    assert_int_equal(log.values.size(), 3000);
    for (uint32_t i = 0; i < 3000; i++) {
        assert_int_equal(log.values[i], i + 1);
    }
}

// `sti; hlt` waits for an interrupt that a device raises just before it
// (here from the port write right before the sti, so the kick stops the
// run at the block after sti, with EIP at the hlt).  On hardware STI's
// interrupt shadow holds the interrupt until the hlt has executed, so it
// returns after the hlt; delivered at the hlt instead it returned into the
// hlt, which slept forever with its wake-up consumed (issue 23: boots
// stuck in the BIOS's INT 13h wait, about 1 in 600).
void test_interrupt_at_sti_hlt_wakes(void **)
{
    const uint8_t code[] = {
        0xFA,                                // cli
        0x31, 0xC0,                          // xor ax, ax
        0x8E, 0xD8,                          // mov ds, ax
        0x8E, 0xD0,                          // mov ss, ax
        0xBC, 0x00, 0x70,                    // mov sp, 0x7000
        0xC7, 0x06, 0x80, 0x00, 0x00, 0x7D,  // mov word [0x20*4], 0x7D00
        0xC7, 0x06, 0x82, 0x00, 0x00, 0x00,  // mov word [0x20*4+2], 0
        0xB0, 0x11, 0xE6, 0x20,              // PIC ICW1
        0xB0, 0x20, 0xE6, 0x21,              // ICW2: vectors 0x20-0x27
        0xB0, 0x04, 0xE6, 0x21,              // ICW3
        0xB0, 0x01, 0xE6, 0x21,              // ICW4
        0xB0, 0xFE, 0xE6, 0x21,              // unmask IRQ 0
        0xE6, 0x90,                          // out 0x90, al: the device raises IRQ 0
        0xFB,                                // sti
        0xF4,                                // hlt: woken by IRQ 0
        0xBA, 0x01, 0x05,                    // mov dx, 0x501
        0xB0, 0x02,                          // mov al, 2
        0xEE,                                // out dx, al
        0xF4,                                // hlt
    };
    const uint8_t handler[] = {
        0xB0, 0x20, 0xE6, 0x20,  // EOI
        0xCF,                    // iret
    };
    PortLog log;
    log.raise_irq0_on_write = true;
    int status =
        run_guest(&log, 0x90, code, sizeof(code), handler, sizeof(handler), 0x7D00, [](Machine *m) {
            // A guest halted for good never exits: give up after 3 s.
            for (int i = 0; i < 3000 && !machine_exit_requested(m, nullptr); i++) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            BqlGuard bql;
            machine_request_exit(m, 0x7F);
        });
    assert_int_equal(status, (2 << 1) | 1);
}

// A triple fault resets the machine: `int3` with a zero-limit IDT cannot be
// delivered, nor can the #GP and #DF that follow, so the CPU shuts down and
// the board resets it.  The second boot finds its mark in RAM (a reset keeps
// RAM) and a working IVT again (IDTR back to base 0, limit 0x3FF).
void test_triple_fault_resets(void **)
{
    const uint8_t code[] = {
        0x31, 0xC0,                                            // xor ax, ax
        0x8E, 0xD8,                                            // mov ds, ax
        0x66, 0x81, 0x3E, 0x00, 0x90, 0x53, 0x45, 0x54, 0x21,  // cmp dword [0x9000], MARK
        0x74, 0x10,                                            // je second
        0x66, 0xC7, 0x06, 0x00, 0x90, 0x53, 0x45, 0x54, 0x21,  // mov dword [0x9000], MARK
        0x0F, 0x01, 0x1E, 0x26, 0x7C,                          // lidt [zero_idtr]
        0xCC,                                                  // int3: triple fault
        0xF4,                                                  // hlt
        0xB0, 0x42,                                            // second: mov al, 0x42
        0xBA, 0x01, 0x05,                                      // mov dx, 0x501
        0xEE,                                                  // out dx, al
        0xF4,                                                  // hlt
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                    // zero_idtr: limit 0, base 0
    };
    PortLog log;
    int status = run_guest(&log, 0x90, code, sizeof(code), nullptr, 0, 0, [](Machine *m) {
        for (int i = 0; i < 5000 && !machine_exit_requested(m, nullptr); i++) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        BqlGuard bql;
        machine_request_exit(m, 0x7F);
    });
    assert_int_equal(status, (0x42 << 1) | 1);
}

// Code a device wrote by DMA over code the guest ran before is executed
// anew, not from Unicorn's stale translation (an MBR that reads the VBR to
// 0x7C00, over itself, and jumps there: EXTLINUX on virtio-blk).
void test_dma_over_code_runs_new_code(void **)
{
    const uint8_t code[] = {
        0x31, 0xC0, 0x8E, 0xD0, 0xBC, 0x00, 0x70,  // xor ax, ax; mov ss, ax; mov sp, 0x7000
        0xE8, 0xF6, 0x00,                          // call 0x7D00
        0xE6, 0x90,                                // out 0x90, al: the device rewrites 0x7D00
        0xE8, 0xF1, 0x00,                          // call 0x7D00
        0xE6, 0x90,                                // out 0x90, al
        0xBA, 0x01, 0x05, 0xB0, 0x00, 0xEE,        // exit 0
        0xF4,                                      // hlt
    };
    const uint8_t routine[] = {0xB0, 0x01, 0xC3};  // mov al, 1; ret
    PortLog log;
    log.dma_code_on_write = true;
    int status = run_guest(&log, 0x90, code, sizeof(code), routine, sizeof(routine), 0x7D00,
                           [](Machine *) {});
    assert_int_equal(status, 1);
    assert_int_equal(log.values.size(), 2);
    assert_int_equal(log.values[0], 1);
    assert_int_equal(log.values[1], 2);
}

// The guest's own stores over translated code: one into a routine run
// before (another translation block), one into the immediate of the next
// instruction of the running block (TCG's precise self-modifying-code
// path, which unlocks the page collection and restarts the block).  Both
// go through page_collection_lock/unlock, which hw/cpu-unicorn.cc replaces.
void test_guest_stores_over_code(void **)
{
    const uint8_t code[] = {
        0x31, 0xC0, 0x8E, 0xD0, 0xBC, 0x00, 0x70,  // xor ax, ax; mov ss, ax; mov sp, 0x7000
        0xE8, 0xF6, 0x00,                          // call 0x7D00 (mov al, 1; ret)
        0xE6, 0x90,                                // out 0x90, al
        0xC6, 0x06, 0x01, 0x7D, 0x02,              // mov byte [0x7D01], 2
        0xE8, 0xEC, 0x00,                          // call 0x7D00 (now mov al, 2)
        0xE6, 0x90,                                // out 0x90, al
        0xC6, 0x06, 0x1C, 0x7C, 0x03,              // mov byte [0x7C1C], 3: the next insn
        0xB0, 0x00,                                // mov al, 0 (now mov al, 3)
        0xE6, 0x90,                                // out 0x90, al
        0xBA, 0x01, 0x05, 0xB0, 0x00, 0xEE,        // exit 0
        0xF4,                                      // hlt
    };
    const uint8_t routine[] = {0xB0, 0x01, 0xC3};  // mov al, 1; ret
    PortLog log;
    int status = run_guest(&log, 0x90, code, sizeof(code), routine, sizeof(routine), 0x7D00,
                           [](Machine *) {});
    assert_int_equal(status, 1);
    assert_int_equal(log.values.size(), 3);
    assert_int_equal(log.values[0], 1);
    assert_int_equal(log.values[1], 2);
    assert_int_equal(log.values[2], 3);
}

// Unicorn 2.0.1 calls page_collection_lock/unlock through its PLT on every
// guest store; the definitions in hw/cpu-unicorn.cc must be the ones the
// dynamic linker binds (not the library's), or every store pays for a
// GTree again (docs/performance.md "Boot").
void test_store_bookkeeping_replaced(void **)
{
    for (const char *name : {"page_collection_lock_x86_64", "page_collection_unlock_x86_64"}) {
        void *sym = dlsym(RTLD_DEFAULT, name);
        assert_non_null(sym);
        Dl_info info{};
        assert_true(dladdr(sym, &info) != 0);
        assert_non_null(info.dli_fname);
        assert_null(strstr(info.dli_fname, "libunicorn"));
    }
}

}  // namespace

int main(void)
{
    error_set_progname("test-cpu-unicorn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_through_ivt),
        cmocka_unit_test(test_kicks_are_precise),
        cmocka_unit_test(test_interrupt_at_sti_hlt_wakes),
        cmocka_unit_test(test_triple_fault_resets),
        cmocka_unit_test(test_dma_over_code_runs_new_code),
        cmocka_unit_test(test_guest_stores_over_code),
        cmocka_unit_test(test_store_bookkeeping_replaced),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
