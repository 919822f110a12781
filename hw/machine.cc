// The machine: guest RAM, I/O-port and MMIO region dispatch, interrupt lines,
// stop/exit/reset requests.  State is guarded by the BQL except the request
// flags, which other threads read without it.
#include "hw/machine-int.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "util/bql.h"
#include "util/error.h"

namespace {

struct IoRegion {
    uint64_t base;
    uint64_t len;
    const MemoryRegionOps *ops;
    void *opaque;
    std::string name;
};

constexpr int kNumIrqs = 16;

}  // namespace

struct Machine {
    uint8_t *ram = nullptr;
    uint64_t ram_size = 0;
    std::vector<IoRegion> pio;
    std::vector<IoRegion> mmio;
    Pic *pic = nullptr;
    std::vector<std::function<void()>> owned;  // machine_own, released in reverse
    int irq_level[kNumIrqs] = {};
    MachineIrqObserver *irq_observer = nullptr;
    void *irq_observer_opaque = nullptr;
    MachineNotifyFn *cpu_kick = nullptr;
    void *cpu_kick_opaque = nullptr;
    MachineNotifyFn *event_notify = nullptr;
    void *event_notify_opaque = nullptr;
    bool no_reboot = false;
    std::atomic<bool> exit_requested{false};
    std::atomic<int> exit_status{0};
    std::atomic<bool> stopped{false};
    std::atomic<bool> reset_requested{false};
    std::mutex dma_lock;  // dma_ranges: devices note from any thread, the vCPU takes
    std::vector<MachineRange> dma_ranges;
};

Machine *machine_new(uint64_t ram_size, Error **errp)
{
    if (ram_size < (1u << 20) || ram_size > (3ull << 30) || ram_size % 4096) {
        error_setg(errp, "RAM size must be a multiple of 4 KiB between 1 MiB and 3 GiB");
        return nullptr;
    }
    void *p = mmap(nullptr, ram_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        error_setg_errno(errp, errno, "cannot allocate %" PRIu64 " bytes of guest RAM", ram_size);
        return nullptr;
    }
    Machine *m = new Machine;
    m->ram = static_cast<uint8_t *>(p);
    m->ram_size = ram_size;
    m->pic = pic_new(m);
    return m;
}

void machine_free(Machine *m)
{
    if (!m) return;
    for (auto it = m->owned.rbegin(); it != m->owned.rend(); ++it)
        (*it)();
    pic_free(m->pic);
    munmap(m->ram, m->ram_size);
    delete m;
}

void machine_own(Machine *m, std::function<void()> release)
{
    m->owned.push_back(std::move(release));
}

uint8_t *machine_ram_base(Machine *m) { return m->ram; }
Pic *machine_pic(Machine *m) { return m->pic; }

static void add_region(std::vector<IoRegion> &v, uint64_t base, uint64_t len,
                       const MemoryRegionOps *ops, void *opaque, const char *name)
{
    for (const IoRegion &r : v) {
        if (base < r.base + r.len && r.base < base + len) {
            fprintf(stderr, "%s: region %s [0x%" PRIx64 ", +0x%" PRIx64 ") overlaps %s\n",
                    error_get_progname(), name, base, len, r.name.c_str());
            abort();
        }
    }
    v.push_back(IoRegion{base, len, ops, opaque, name});
}

void machine_register_pio(Machine *m, uint16_t base, uint16_t len, const MemoryRegionOps *ops,
                          void *opaque, const char *name)
{
    add_region(m->pio, base, len, ops, opaque, name);
}

void machine_register_mmio(Machine *m, uint64_t base, uint64_t len, const MemoryRegionOps *ops,
                           void *opaque, const char *name)
{
    add_region(m->mmio, base, len, ops, opaque, name);
}

static const IoRegion *find_region(const std::vector<IoRegion> &v, uint64_t addr)
{
    for (const IoRegion &r : v) {
        if (addr >= r.base && addr - r.base < r.len) return &r;
    }
    return nullptr;
}

static uint64_t size_mask(unsigned size) { return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1; }

uint64_t machine_pio_read(Machine *m, uint16_t port, unsigned size)
{
    BQL_ASSERT_LOCKED();
    const IoRegion *r = find_region(m->pio, port);
    uint64_t val = size_mask(size);
    if (r && r->ops->read) {
        val = r->ops->read(r->opaque, port - r->base, size) & size_mask(size);
    } else {
        qemu_log_mask(LOG_UNIMP, "unassigned port read 0x%04x size %u\n", port, size);
    }
    qemu_log_mask(LOG_IOPORT, "in%c 0x%04x -> 0x%" PRIx64 "\n", "bw?l"[(size - 1) & 3], port, val);
    return val;
}

void machine_pio_write(Machine *m, uint16_t port, uint64_t val, unsigned size)
{
    BQL_ASSERT_LOCKED();
    val &= size_mask(size);
    qemu_log_mask(LOG_IOPORT, "out%c 0x%04x <- 0x%" PRIx64 "\n", "bw?l"[(size - 1) & 3], port, val);
    const IoRegion *r = find_region(m->pio, port);
    if (r && r->ops->write) {
        r->ops->write(r->opaque, port - r->base, val, size);
    } else {
        qemu_log_mask(LOG_UNIMP, "unassigned port write 0x%04x <- 0x%" PRIx64 "\n", port, val);
    }
}

uint64_t machine_mmio_read(Machine *m, uint64_t addr, unsigned size)
{
    BQL_ASSERT_LOCKED();
    const IoRegion *r = find_region(m->mmio, addr);
    if (r && r->ops->read) {
        return r->ops->read(r->opaque, addr - r->base, size) & size_mask(size);
    }
    qemu_log_mask(LOG_UNIMP, "unassigned mmio read 0x%" PRIx64 " size %u\n", addr, size);
    return size_mask(size);
}

void machine_mmio_write(Machine *m, uint64_t addr, uint64_t val, unsigned size)
{
    BQL_ASSERT_LOCKED();
    const IoRegion *r = find_region(m->mmio, addr);
    if (r && r->ops->write) {
        r->ops->write(r->opaque, addr - r->base, val & size_mask(size), size);
        return;
    }
    qemu_log_mask(LOG_UNIMP, "unassigned mmio write 0x%" PRIx64 " <- 0x%" PRIx64 "\n", addr, val);
}

uint64_t machine_ram_size(const Machine *m) { return m->ram_size; }

bool machine_ram_range_ok(const Machine *m, uint64_t gpa, uint64_t len)
{
    return gpa <= m->ram_size && len <= m->ram_size - gpa;
}

// A device may write [gpa, gpa + len): the vCPU must not keep code
// translated from it.  Kicks the vCPU when the first range is noted, so
// that it invalidates before the guest can see the request complete.
static void note_dma(Machine *m, uint64_t gpa, uint64_t len)
{
    uint64_t start = gpa, end = gpa + len;
    bool first;
    {
        std::lock_guard<std::mutex> g(m->dma_lock);
        std::vector<MachineRange> &r = m->dma_ranges;
        first = r.empty();
        if (!first && start <= r.back().end && end >= r.back().start) {
            r.back().start = std::min(r.back().start, start);
            r.back().end = std::max(r.back().end, end);
        } else if (r.size() >= 64) {  // many small ones: one range over all
            for (const MachineRange &x : r) {
                start = std::min(start, x.start);
                end = std::max(end, x.end);
            }
            r.assign(1, MachineRange{start, end});
        } else {
            r.push_back(MachineRange{start, end});
        }
    }
    if (first && m->cpu_kick) m->cpu_kick(m->cpu_kick_opaque);
}

void machine_take_dma_ranges(Machine *m, std::vector<MachineRange> *out)
{
    std::lock_guard<std::mutex> g(m->dma_lock);
    out->swap(m->dma_ranges);
    m->dma_ranges.clear();
}

void *machine_ram_ptr(Machine *m, uint64_t gpa, uint64_t len)
{
    if (!machine_ram_range_ok(m, gpa, len)) return nullptr;
    if (m->cpu_kick) note_dma(m, gpa, len);
    return m->ram + gpa;
}

bool machine_dma_read(Machine *m, uint64_t gpa, void *buf, uint64_t len)
{
    if (!machine_ram_range_ok(m, gpa, len)) return false;
    memcpy(buf, m->ram + gpa, len);
    return true;
}

bool machine_dma_write(Machine *m, uint64_t gpa, const void *buf, uint64_t len)
{
    if (!machine_ram_range_ok(m, gpa, len)) return false;
    memcpy(m->ram + gpa, buf, len);
    if (m->cpu_kick) note_dma(m, gpa, len);
    return true;
}

void machine_set_irq(Machine *m, int irq, int level)
{
    BQL_ASSERT_LOCKED();
    if (irq < 0 || irq >= kNumIrqs) abort();
    level = level ? 1 : 0;
    if (m->irq_level[irq] == level) return;
    m->irq_level[irq] = level;
    TRACE("machine_set_irq", "irq %d level %d", irq, level);
    pic_set_irq(m->pic, irq, level);
    if (m->irq_observer) m->irq_observer(m->irq_observer_opaque, irq, level);
}

int machine_get_irq(const Machine *m, int irq)
{
    return irq >= 0 && irq < kNumIrqs ? m->irq_level[irq] : 0;
}

void machine_set_irq_observer(Machine *m, MachineIrqObserver *cb, void *opaque)
{
    m->irq_observer = cb;
    m->irq_observer_opaque = opaque;
}

void machine_set_cpu_kick(Machine *m, MachineNotifyFn *fn, void *opaque)
{
    m->cpu_kick = fn;
    m->cpu_kick_opaque = opaque;
}

void machine_set_event_notifier(Machine *m, MachineNotifyFn *fn, void *opaque)
{
    m->event_notify = fn;
    m->event_notify_opaque = opaque;
}

static void kick_all(Machine *m)
{
    if (m->cpu_kick) m->cpu_kick(m->cpu_kick_opaque);
    if (m->event_notify) m->event_notify(m->event_notify_opaque);
}

void machine_pic_output_changed(Machine *m)
{
    if (m->cpu_kick) m->cpu_kick(m->cpu_kick_opaque);
}

void machine_request_stop(Machine *m, const char *reason)
{
    if (m->stopped.exchange(true)) return;
    fprintf(stderr, "%s: VM stopped: %s\n", error_get_progname(), reason);
    kick_all(m);
}

bool machine_is_stopped(const Machine *m) { return m->stopped.load(); }

void machine_resume(Machine *m)
{
    if (m->stopped.exchange(false)) kick_all(m);
}

void machine_request_exit(Machine *m, int status)
{
    if (m->exit_requested.load()) return;  // the first request wins
    m->exit_status.store(status);
    m->exit_requested.store(true);
    kick_all(m);
}

bool machine_exit_requested(const Machine *m, int *status)
{
    if (!m->exit_requested.load()) return false;
    if (status) *status = m->exit_status.load();
    return true;
}

void machine_set_no_reboot(Machine *m, bool no_reboot) { m->no_reboot = no_reboot; }

void machine_request_reset(Machine *m)
{
    qemu_log_mask(LOG_CPU_RESET, "guest requested a system reset\n");
    if (m->no_reboot) {
        machine_request_exit(m, 0);
        return;
    }
    m->reset_requested.store(true);
    kick_all(m);
}

bool machine_take_reset_request(Machine *m) { return m->reset_requested.exchange(false); }
