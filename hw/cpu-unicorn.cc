// CpuBackend on the Unicorn engine (2.0.x).  What Unicorn does not do for a
// PC, done here (see docs/machine.md and shared/notes/unicorn-2.0.1.md):
// - Reset: the engine is opened in 32-bit mode (a 16-bit engine cannot
//   resume at a 32-bit EIP) and runs a stub that loads 16-bit segments,
//   clears CR0.PE and jumps to F000:FFF0, the PC reset vector.
// - Real-mode INT n and exceptions never go through the IVT: the INTR hook
//   pushes FLAGS/CS/IP, clears IF/TF/AC and loads CS:IP from the IVT.
// - External interrupts: delivered the same way between runs (IF=1, real
//   mode only).  A kick must stop a run at an exact instruction boundary.
//   uc_emu_stop alone does not: 2.0.1 skips the PC sync when it leaves a
//   translation block because of a stop request, so EIP is left at the
//   start of an earlier (chained) block and resuming there re-executes
//   port I/O.  So kick() only sets a flag; a UC_HOOK_BLOCK hook, called at
//   the start of every block before any of its instructions, sees the flag,
//   records the block's address and stops; run() then sets EIP to it.
// - Triple fault: Unicorn hands every interrupt and exception to the INTR
//   hook instead of vectoring, so the escalation (an entry the IDT cannot
//   deliver raises #GP, then #DF, then the CPU shuts down) is done here; a
//   shutdown is a system reset (or the end of the VM under -no-reboot).
#include <unicorn/unicorn.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstring>

#include "hw/cpu.h"
#include "hw/machine-int.h"
#include "util/bql.h"
#include "util/error.h"

namespace {

constexpr uint64_t kStubAddr = 0x1000;
constexpr uint32_t kResetCs = 0xF000, kResetIp = 0xFFF0;  // the PC reset vector
constexpr uint64_t kNever = ~0ull;
constexpr uint32_t kFlagsTF = 1u << 8, kFlagsIF = 1u << 9, kFlagsAC = 1u << 18;

// 32-bit stub at kStubAddr: lgdt; jmp 08:pm16; (16-bit) load 10h into the
// data segments; clear CR0.PE; jmp 0000:102C (real mode); zero the data
// segments (selector and base, as after a PC reset); hlt.  The glue then
// loads F000:FFF0.  The run ends at a hlt rather than at an `until`
// address because Unicorn 2.0.1 flushes its whole translation cache
// (memset of a 1 GiB buffer: seconds) whenever `until` changes between
// uc_emu_start calls.  GDT at +0x40, GDTR at +0x58.
const uint8_t kResetStub[] = {
    0x0F, 0x01, 0x15, 0x58, 0x10, 0x00, 0x00,                    // lgdt [0x1058]
    0xEA, 0x0E, 0x10, 0x00, 0x00, 0x08, 0x00,                    // jmp 0x08:0x100E
    0xB8, 0x10, 0x00,                                            // mov ax, 0x10
    0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0x8E, 0xE0, 0x8E, 0xE8,  // ds es ss fs gs
    0x0F, 0x20, 0xC0,                                            // mov eax, cr0
    0x66, 0x25, 0xFE, 0xFF, 0xFF, 0x7F,                          // and eax, 0x7FFFFFFE
    0x0F, 0x22, 0xC0,                                            // mov cr0, eax
    0xEA, 0x2C, 0x10, 0x00, 0x00,                                // jmp 0x0000:0x102C
    0x31, 0xC0,                                                  // xor ax, ax
    0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0x8E, 0xE0, 0x8E, 0xE8,  // ds es ss fs gs
    0xF4,                                                        // hlt: the run ends here
};
const uint8_t kResetGdt[] = {
    0,    0,    0,    0,    0,    0,    0,    0,
    0xFF, 0xFF, 0,    0,    0,    0x9B, 0x00, 0,  // 08: 16-bit code, base 0, 64 KiB
    0xFF, 0xFF, 0,    0,    0,    0x93, 0x00, 0,  // 10: 16-bit data, base 0, 64 KiB
    0x17, 0x00, 0x40, 0x10, 0x00, 0x00,           // GDTR: limit 23, base 0x1040
};

class UnicornCpu final : public CpuBackend {
  public:
    explicit UnicornCpu(Machine *m) : m_(m) {}
    ~UnicornCpu() override { close(); }

    bool reset(Error **errp) override;
    Exit run() override;
    void kick() override;
    void clear_kick() override { kick_pending_.store(false); }
    bool interrupts_enabled() override;
    bool inject_interrupt(int vector) override;
    void dump_state(FILE *f) override;
    void invalidate_code(uint64_t start, uint64_t end) override;

  private:
    bool open(Error **errp);
    void close();
    uint32_t reg(int id);
    void set_reg(int id, uint32_t val);
    bool real_mode() { return !(reg(UC_X86_REG_CR0) & 1); }
    bool deliver_real_mode(unsigned vector);
    bool idt_entry_ok(unsigned vector);
    void triple_fault(unsigned vector);
    bool after_hlt();
    uint32_t cs_base();

    static uint32_t on_in(uc_engine *uc, uint32_t port, int size, void *opaque);
    static void on_out(uc_engine *uc, uint32_t port, int size, uint32_t val, void *opaque);
    static uint64_t on_mmio_read(uc_engine *uc, uint64_t off, unsigned size, void *opaque);
    static void on_mmio_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t val,
                              void *opaque);
    static void on_block(uc_engine *uc, uint64_t addr, uint32_t size, void *opaque);
    static void on_intr(uc_engine *uc, uint32_t intno, void *opaque);
    static bool on_invalid(uc_engine *uc, void *opaque);
    static bool on_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t val,
                            void *opaque);

    Machine *m_;
    uc_engine *uc_ = nullptr;
    std::atomic<bool> kick_pending_{false};
    uint64_t stopped_at_ = kNever;  // linear address of the block a kick stopped before
    bool in_run_ = false;           // kicks stop run() only, never the reset stub
    bool fatal_ = false;
};

bool UnicornCpu::open(Error **errp)
{
    uc_err e = uc_open(UC_ARCH_X86, UC_MODE_32, &uc_);
    if (e != UC_ERR_OK) {
        error_setg(errp, "unicorn: %s", uc_strerror(e));
        return false;
    }
    uint8_t *ram = machine_ram_base(m_);
    uint64_t size = machine_ram_size(m_);
    uint64_t hole = MACHINE_VIRTIO_MMIO_BASE, hole_end = hole + MACHINE_VIRTIO_MMIO_SIZE;
    uc_hook h;
    if ((e = uc_mem_map_ptr(uc_, 0, hole, UC_PROT_ALL, ram)) ||
        (e = uc_mmio_map(uc_, hole, hole_end - hole, on_mmio_read, this, on_mmio_write, this)) ||
        (e = uc_mem_map_ptr(uc_, hole_end, size - hole_end, UC_PROT_ALL, ram + hole_end)) ||
        (e = uc_hook_add(uc_, &h, UC_HOOK_INSN, (void *)on_in, this, 1, 0, UC_X86_INS_IN)) ||
        (e = uc_hook_add(uc_, &h, UC_HOOK_INSN, (void *)on_out, this, 1, 0, UC_X86_INS_OUT)) ||
        (e = uc_hook_add(uc_, &h, UC_HOOK_INTR, (void *)on_intr, this, 1, 0)) ||
        (e = uc_hook_add(uc_, &h, UC_HOOK_BLOCK, (void *)on_block, this, 1, 0)) ||
        (e = uc_hook_add(uc_, &h, UC_HOOK_INSN_INVALID, (void *)on_invalid, this, 1, 0)) ||
        (e = uc_hook_add(uc_, &h, UC_HOOK_MEM_UNMAPPED, (void *)on_unmapped, this, 1, 0))) {
        error_setg(errp, "unicorn setup: %s", uc_strerror(e));
        close();
        return false;
    }
    return true;
}

void UnicornCpu::close()
{
    if (uc_) uc_close(uc_);
    uc_ = nullptr;
}

uint32_t UnicornCpu::reg(int id)
{
    uint64_t v = 0;  // large enough for any register Unicorn writes here
    uc_reg_read(uc_, id, &v);
    return (uint32_t)v;
}

void UnicornCpu::set_reg(int id, uint32_t val)
{
    uint64_t v = val;
    uc_reg_write(uc_, id, &v);
}

bool UnicornCpu::reset(Error **errp)
{
    close();
    if (!open(errp)) return false;
    fatal_ = false;
    uint8_t *ram = machine_ram_base(m_);
    memcpy(ram + kStubAddr, kResetStub, sizeof(kResetStub));
    static_assert(sizeof(kResetStub) <= 0x40, "the stub runs into its GDT");
    memcpy(ram + kStubAddr + 0x40, kResetGdt, sizeof(kResetGdt));
    uc_err e = uc_emu_start(uc_, kStubAddr, kNever, 0, 0);
    if (e == UC_ERR_OK && reg(UC_X86_REG_CS) == 0 &&
        reg(UC_X86_REG_EIP) == kStubAddr + sizeof(kResetStub)) {
        set_reg(UC_X86_REG_CS, kResetCs);
        set_reg(UC_X86_REG_EIP, kResetIp);
    }
    if (e != UC_ERR_OK || reg(UC_X86_REG_CS) != kResetCs || reg(UC_X86_REG_EIP) != kResetIp ||
        !real_mode()) {
        error_setg(errp, "unicorn: reset stub failed: %s", uc_strerror(e));
        return false;
    }
    memset(ram + kStubAddr, 0, 0x40 + sizeof(kResetGdt));
    uc_x86_mmr idtr{};  // the real-mode IVT at 0, 256 vectors (as after a PC reset)
    idtr.limit = 0x3FF;
    uc_reg_write(uc_, UC_X86_REG_IDTR, &idtr);
    qemu_log_mask(LOG_CPU_RESET, "vCPU reset: real mode at F000:FFF0\n");
    return true;
}

CpuBackend::Exit UnicornCpu::run()
{
    if (kick_pending_.load()) return Exit::Kicked;
    stopped_at_ = kNever;
    in_run_ = true;
    uc_err e = uc_emu_start(uc_, reg(UC_X86_REG_EIP), kNever, 0, 0);
    in_run_ = false;
    if (stopped_at_ != kNever) set_reg(UC_X86_REG_EIP, (uint32_t)(stopped_at_ - cs_base()));
    if (e != UC_ERR_OK) {
        error_report("vCPU: %s", uc_strerror(e));
        return Exit::Error;
    }
    if (fatal_) return Exit::Error;
    if (kick_pending_.load()) return Exit::Kicked;
    return after_hlt() ? Exit::Halted : Exit::Kicked;
}

void UnicornCpu::kick() { kick_pending_.store(true); }

// Base of the current code segment (GDT descriptors only: no LDT code).
uint32_t UnicornCpu::cs_base()
{
    uint32_t cs = reg(UC_X86_REG_CS);
    if (real_mode()) return cs << 4;
    uc_x86_mmr gdtr{};
    uc_reg_read(uc_, UC_X86_REG_GDTR, &gdtr);
    uint8_t d[8];
    if (uc_mem_read(uc_, gdtr.base + (cs & ~7u), d, 8) != UC_ERR_OK) return 0;
    return d[2] | d[3] << 8 | d[4] << 16 | (uint32_t)d[7] << 24;
}

// Linear address of CS:EIP-1 holds hlt: the run ended at a hlt.
bool UnicornCpu::after_hlt()
{
    uint32_t eip = reg(UC_X86_REG_EIP);
    uint64_t base = cs_base();
    uint8_t insn = 0;
    if (eip == 0 || uc_mem_read(uc_, (base + eip - 1) & 0xFFFFFFFF, &insn, 1) != UC_ERR_OK)
        return false;
    return insn == 0xF4;
}

bool UnicornCpu::interrupts_enabled() { return real_mode() && (reg(UC_X86_REG_EFLAGS) & kFlagsIF); }

bool UnicornCpu::inject_interrupt(int vector)
{
    // An interrupt due at a hlt is that hlt's wake-up: it returns after it.
    // On hardware `sti; hlt` (how the BIOS and boot loaders wait) cannot be
    // interrupted in between, STI's interrupt shadow holds the interrupt
    // until the CPU halts.  Unicorn ends a translation block after sti, so
    // a kick there stops the run with EIP at the hlt; delivered there, the
    // interrupt returned into the hlt, which then slept for good with its
    // wake-up consumed (a boot stuck in an INT 13h wait, ~1 in 600).
    uint32_t eip = reg(UC_X86_REG_EIP);
    uint8_t insn = 0;
    if (uc_mem_read(uc_, (cs_base() + eip) & 0xFFFFFFFF, &insn, 1) == UC_ERR_OK && insn == 0xF4) {
        set_reg(UC_X86_REG_EIP, eip + 1);
    }
    return deliver_real_mode(vector);
}

// The real-mode interrupt sequence (Intel SDM vol. 3, 20.1.4).
bool UnicornCpu::deliver_real_mode(unsigned vector)
{
    uint32_t flags = reg(UC_X86_REG_EFLAGS), cs = reg(UC_X86_REG_CS);
    uint32_t eip = reg(UC_X86_REG_EIP), ss = reg(UC_X86_REG_SS), esp = reg(UC_X86_REG_ESP);
    uint16_t sp = esp;
    uint16_t frame[3] = {(uint16_t)flags, (uint16_t)cs, (uint16_t)eip};  // push order
    uint64_t ss_base = (uint64_t)ss << 4;
    for (int i = 0; i < 3; i++) {
        sp -= 2;
        if (uc_mem_write(uc_, ss_base + sp, &frame[i], 2) != UC_ERR_OK) return false;
    }
    uc_x86_mmr idtr{};
    uc_reg_read(uc_, UC_X86_REG_IDTR, &idtr);
    uint16_t vec[2];
    if (uc_mem_read(uc_, idtr.base + vector * 4, vec, 4) != UC_ERR_OK) return false;
    qemu_log_mask(LOG_INT, "INT 0x%02x at %04x:%04x AX=%04x FL=%04x SP=%04x -> %04x:%04x\n", vector,
                  cs, eip & 0xFFFF, reg(UC_X86_REG_AX), flags & 0xFFFF, sp, vec[1], vec[0]);
    set_reg(UC_X86_REG_EFLAGS, flags & ~(kFlagsIF | kFlagsTF | kFlagsAC));
    set_reg(UC_X86_REG_ESP, (esp & 0xFFFF0000u) | sp);
    set_reg(UC_X86_REG_CS, vec[1]);
    set_reg(UC_X86_REG_EIP, vec[0]);
    return true;
}

uint32_t UnicornCpu::on_in(uc_engine *, uint32_t port, int size, void *opaque)
{
    UnicornCpu *c = static_cast<UnicornCpu *>(opaque);
    uint32_t v;
    {
        BqlGuard bql;
        v = machine_pio_read(c->m_, port, size);
    }
    return v;
}

void UnicornCpu::on_out(uc_engine *, uint32_t port, int size, uint32_t val, void *opaque)
{
    UnicornCpu *c = static_cast<UnicornCpu *>(opaque);
    {
        BqlGuard bql;
        machine_pio_write(c->m_, port, val, size);
    }
}

uint64_t UnicornCpu::on_mmio_read(uc_engine *, uint64_t off, unsigned size, void *opaque)
{
    UnicornCpu *c = static_cast<UnicornCpu *>(opaque);
    uint64_t v;
    {
        BqlGuard bql;
        v = machine_mmio_read(c->m_, MACHINE_VIRTIO_MMIO_BASE + off, size);
    }
    return v;
}

void UnicornCpu::on_mmio_write(uc_engine *, uint64_t off, unsigned size, uint64_t val, void *opaque)
{
    UnicornCpu *c = static_cast<UnicornCpu *>(opaque);
    {
        BqlGuard bql;
        machine_mmio_write(c->m_, MACHINE_VIRTIO_MMIO_BASE + off, val, size);
    }
}

// Start of a translation block, before its first instruction: the one place
// where a stop leaves the CPU at a known instruction boundary.
void UnicornCpu::on_block(uc_engine *uc, uint64_t addr, uint32_t, void *opaque)
{
    UnicornCpu *c = static_cast<UnicornCpu *>(opaque);
    if (c->in_run_ && c->kick_pending_.load(std::memory_order_relaxed) &&
        c->stopped_at_ == kNever) {
        c->stopped_at_ = addr;
        uc_emu_stop(uc);
    }
}

// Can the IDT deliver @vector?  Real mode: its IVT entry lies within the
// IDTR limit.  Protected mode: its gate lies within the limit and is present.
bool UnicornCpu::idt_entry_ok(unsigned vector)
{
    uc_x86_mmr idtr{};
    uc_reg_read(uc_, UC_X86_REG_IDTR, &idtr);
    if (real_mode()) return vector * 4 + 3 <= idtr.limit;
    if (vector * 8 + 7 > idtr.limit) return false;
    uint8_t gate[8];
    if (uc_mem_read(uc_, idtr.base + vector * 8, gate, 8) != UC_ERR_OK) return false;
    return gate[5] & 0x80;
}

// Shutdown after a fault while delivering #DF: the board resets (QEMU's
// "Triple fault" under -d cpu_reset).
void UnicornCpu::triple_fault(unsigned vector)
{
    qemu_log_mask(LOG_CPU_RESET, "Triple fault (vector 0x%02x at %04x:%08x)\n", vector,
                  reg(UC_X86_REG_CS), reg(UC_X86_REG_EIP));
    BqlGuard bql;
    machine_request_reset(m_);
}

void UnicornCpu::on_intr(uc_engine *uc, uint32_t intno, void *opaque)
{
    UnicornCpu *c = static_cast<UnicornCpu *>(opaque);
    if (intno < 256) {
        // An entry the IDT cannot deliver raises #GP, a #GP it cannot
        // deliver #DF, and a #DF it cannot deliver shuts the CPU down.
        unsigned vector = intno;
        if (!c->idt_entry_ok(vector)) vector = 13;
        if (!c->idt_entry_ok(vector)) vector = 8;
        if (!c->idt_entry_ok(vector)) {
            c->triple_fault(intno);
            uc_emu_stop(uc);
            return;
        }
        if (c->real_mode() && c->deliver_real_mode(vector)) return;
    }
    error_report("vCPU: cannot deliver interrupt/exception %u in %s mode", intno,
                 c->real_mode() ? "real" : "protected");
    c->fatal_ = true;
    uc_emu_stop(uc);
}

bool UnicornCpu::on_invalid(uc_engine *, void *opaque)
{
    UnicornCpu *c = static_cast<UnicornCpu *>(opaque);
    error_report("vCPU: invalid opcode at %04x:%08x", c->reg(UC_X86_REG_CS),
                 c->reg(UC_X86_REG_EIP));
    return false;
}

bool UnicornCpu::on_unmapped(uc_engine *, uc_mem_type type, uint64_t addr, int size, int64_t,
                             void *)
{
    error_report("vCPU: %s of %d bytes at unmapped address 0x%" PRIx64,
                 type == UC_MEM_FETCH_UNMAPPED   ? "fetch"
                 : type == UC_MEM_WRITE_UNMAPPED ? "write"
                                                 : "read",
                 size, addr);
    return false;
}

// Device DMA writes RAM through the host mapping, which TCG does not watch
// (it catches only the guest's own stores to translated pages).  The range
// is a guest-physical one; Unicorn 2.0.1 looks it up as a virtual address,
// which is the same thing for guests without paging (all we can run, see
// docs/machine.md).  The MMIO window is not RAM to Unicorn: skipped.
void UnicornCpu::invalidate_code(uint64_t start, uint64_t end)
{
    if (!uc_) return;
    const uint64_t hole = MACHINE_VIRTIO_MMIO_BASE, hole_end = hole + MACHINE_VIRTIO_MMIO_SIZE;
    if (start < hole && end > start) uc_ctl_remove_cache(uc_, start, std::min(end, hole));
    if (end > hole_end) uc_ctl_remove_cache(uc_, std::max(start, hole_end), end);
}

void UnicornCpu::dump_state(FILE *f)
{
    static const struct {
        const char *name;
        int id;
    } regs[] = {
        {"EAX", UC_X86_REG_EAX},    {"EBX", UC_X86_REG_EBX}, {"ECX", UC_X86_REG_ECX},
        {"EDX", UC_X86_REG_EDX},    {"ESI", UC_X86_REG_ESI}, {"EDI", UC_X86_REG_EDI},
        {"EBP", UC_X86_REG_EBP},    {"ESP", UC_X86_REG_ESP}, {"EIP", UC_X86_REG_EIP},
        {"EFL", UC_X86_REG_EFLAGS}, {"CS", UC_X86_REG_CS},   {"DS", UC_X86_REG_DS},
        {"ES", UC_X86_REG_ES},      {"SS", UC_X86_REG_SS},   {"CR0", UC_X86_REG_CR0},
    };
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        fprintf(f, "%s=%08x%s", regs[i].name, reg(regs[i].id), i % 5 == 4 ? "\n" : " ");
    }
}

}  // namespace

// Speed: Unicorn 2.0.1 reports every RAM page as holding translated code
// (its dirty-memory bitmaps are stubs), so every guest store takes TCG's
// "notdirty" slow path, and that path brackets its self-modifying-code check
// with page_collection_lock/unlock: a GTree plus one heap node per page,
// built and torn down on every store.  Unicorn's page locks are no-ops, so
// the collection is pure bookkeeping; nothing but page_collection_unlock
// reads it.  It was measured as 50-60% of the vCPU time of a GRUB boot
// (docs/performance.md "Boot").  Upstream Unicorn dropped the bookkeeping
// the same way (unicorn-engine/unicorn#1838).  The library calls both
// functions through its PLT, so these definitions in the executable take
// their place; if a library build binds them internally they are simply
// not used, and behaviour is unchanged either way.
extern "C" {
struct page_collection;
struct page_collection *page_collection_lock_x86_64(void *uc, uint64_t start, uint64_t end);
void page_collection_unlock_x86_64(struct page_collection *set);

__attribute__((visibility("default"))) struct page_collection *
page_collection_lock_x86_64(void *, uint64_t, uint64_t)
{
    static char token;  // never dereferenced: the unlock below ignores it
    return reinterpret_cast<struct page_collection *>(&token);
}

__attribute__((visibility("default"))) void page_collection_unlock_x86_64(struct page_collection *)
{}
}

CpuBackend *cpu_unicorn_new(Machine *m, Error **) { return new UnicornCpu(m); }
