// Small PC board pieces: the firmware info port our BIOS reads its
// configuration from, the reset ports (0xCF9, fast A20/reset 0x92), the
// POST code port, and BIOS loading.  The keyboard controller (also a reset
// and A20 source) is hw/i8042.cc, the ACPI power-off registers hw/acpi-pm.cc.
#include <cstring>
#include <ctime>

#include "hw/machine-int.h"
#include "hw/pc.h"
#include "util/error.h"

namespace {

struct PcMisc {
    Machine *m;
    int boot_if;
    uint64_t boot_sectors;
    uint16_t key = 0;
    uint8_t port92 = 0x02;  // A20 always enabled
    uint8_t rcr = 0;        // 0xCF9: the kept reset-type bit
};

uint32_t ticks_since_midnight()
{
    time_t now = time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);  // UTC, as the RTC (QEMU's default -rtc base=utc)
    uint32_t secs = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return (uint32_t)((uint64_t)secs * 1193180 / 65536);
}

uint64_t fw_info_read(void *opaque, uint64_t, unsigned)
{
    PcMisc *p = static_cast<PcMisc *>(opaque);
    switch (p->key) {
    case FW_INFO_SIGNATURE: return FW_INFO_SIGNATURE_VALUE;
    case FW_INFO_RAM_KIB: return machine_ram_size(p->m) >> 10;
    case FW_INFO_BOOT_IF: return p->boot_if;
    case FW_INFO_TICKS: return ticks_since_midnight();
    case FW_INFO_BOOT_SECTORS_LO: return (uint32_t)p->boot_sectors;
    case FW_INFO_BOOT_SECTORS_HI: return (uint32_t)(p->boot_sectors >> 32);
    default: return 0;
    }
}

void fw_info_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    static_cast<PcMisc *>(opaque)->key = val;
}

// Reset control register (PIIX3 0xCF9): bit 2 resets; bit 1 (hard reset
// type) is kept and reads back, as QEMU's.
uint64_t reset_cf9_read(void *opaque, uint64_t, unsigned)
{
    return static_cast<PcMisc *>(opaque)->rcr;
}

void reset_cf9_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    PcMisc *p = static_cast<PcMisc *>(opaque);
    if (val & 0x04) {
        machine_request_reset(p->m);
        return;
    }
    p->rcr = val & 0x02;
}

uint64_t port92_read(void *opaque, uint64_t, unsigned)
{
    return static_cast<PcMisc *>(opaque)->port92;
}

void port92_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    PcMisc *p = static_cast<PcMisc *>(opaque);
    p->port92 = (val & 0xFE) | 0x02;  // A20 cannot be disabled: RAM is linear
    if (val & 0x01) machine_request_reset(p->m);
}

void post_write(void *, uint64_t, uint64_t val, unsigned)
{
    TRACE("pc_post_code", "0x%02x", (unsigned)(val & 0xFF));
}

const MemoryRegionOps kFwInfoOps = {fw_info_read, fw_info_write};
const MemoryRegionOps kResetOps = {reset_cf9_read, reset_cf9_write};
const MemoryRegionOps kPort92Ops = {port92_read, port92_write};
const MemoryRegionOps kPostOps = {nullptr, post_write};

}  // namespace

void pc_misc_create(Machine *m, int boot_if, uint64_t boot_sectors)
{
    PcMisc *p = new PcMisc{m, boot_if, boot_sectors};
    machine_own(m, [p] { delete p; });
    machine_register_pio(m, PC_FW_INFO_PORT, 4, &kFwInfoOps, p, "fw-info");
    machine_register_pio(m, PC_RESET_PORT, 1, &kResetOps, p, "reset-control");
    machine_register_pio(m, 0x92, 1, &kPort92Ops, p, "port92");
    machine_register_pio(m, PC_POST_PORT, 1, &kPostOps, p, "post");
    i8042_create(m);
    rtc_create(m);
    acpi_pm_create(m);
}

bool pc_load_bios(Machine *m, const void *image, size_t size, Error **errp)
{
    if (size == 0 || size % 512 || size > 128 * 1024) {
        error_setg(errp, "BIOS image size %zu is not a multiple of 512 bytes up to 128 KiB", size);
        return false;
    }
    memcpy(machine_ram_base(m) + 0x100000 - size, image, size);
    return true;
}
