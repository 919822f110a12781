// ACPI fixed-hardware power management registers, as the FADT in our BIOS
// (hw/firmware/bios-acpi.asm) describes them: the PM1a event block
// (PM1_STS, PM1_EN), the PM1a control block (SCI_EN, SLP_TYP, SLP_EN) and
// the 24-bit PM timer at 3.579545 MHz.  Writing SLP_EN with the _S5 sleep
// type (0, as QEMU's PIIX4 DSDT) powers the machine off: the VM exits with
// status 0 through the usual drain/flush/close path.  The APM BIOS
// (bios-apm.asm) powers off through the same register, like SeaBIOS.
#include <ctime>

#include "hw/machine.h"
#include "hw/pc.h"

namespace {

struct AcpiPm {
    Machine *m;
    uint16_t pm1_en = 0;
    uint16_t pm1_cnt = ACPI_PM1_CNT_SCI_EN;  // no SMI_CMD: always in ACPI mode
    struct timespec start {};
};

uint64_t evt_read(void *opaque, uint64_t addr, unsigned)
{
    AcpiPm *p = static_cast<AcpiPm *>(opaque);
    // PM1_STS (0-1): no status event is ever raised (no SCI); PM1_EN (2-3).
    // The bus masks the value to the access size.
    return ((uint32_t)p->pm1_en << 16) >> (addr * 8);
}

void evt_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    AcpiPm *p = static_cast<AcpiPm *>(opaque);
    // Byte-wise so that any access width lands on the right register.
    for (unsigned i = 0; i < size && addr + i < ACPI_PM1_EVT_LEN; i++) {
        uint8_t b = val >> (8 * i);
        unsigned off = addr + i;
        if (off == 2) p->pm1_en = (p->pm1_en & 0xFF00) | b;
        if (off == 3) p->pm1_en = (p->pm1_en & 0x00FF) | b << 8;
        // PM1_STS bits are write-one-to-clear and none is ever set.
    }
}

uint64_t cnt_read(void *opaque, uint64_t addr, unsigned)
{
    return (uint32_t) static_cast<AcpiPm *>(opaque)->pm1_cnt >> (addr * 8);
}

void cnt_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    AcpiPm *p = static_cast<AcpiPm *>(opaque);
    uint16_t v = p->pm1_cnt;
    if (addr == 0)
        v = size >= 2 ? (uint16_t)val : (uint16_t)((v & 0xFF00) | (val & 0xFF));
    else
        v = (uint16_t)((v & 0x00FF) | (val & 0xFF) << 8);
    // SLP_EN is write-only; SCI_EN stays set (there is no legacy mode to go back to).
    p->pm1_cnt = (v & ~ACPI_PM1_CNT_SLP_EN) | ACPI_PM1_CNT_SCI_EN;
    if (!(v & ACPI_PM1_CNT_SLP_EN)) return;
    unsigned typ = (v >> ACPI_PM1_CNT_SLP_TYP_SHIFT) & 7;
    TRACE("acpi_pm1_sleep", "SLP_TYP %u", typ);
    if (typ == ACPI_SLP_TYP_S5) {
        machine_request_exit(p->m, 0);
        return;
    }
    qemu_log_mask(LOG_UNIMP, "acpi: sleep type %u is not supported (only S5, soft off)\n", typ);
}

uint64_t tmr_read(void *opaque, uint64_t addr, unsigned)
{
    AcpiPm *p = static_cast<AcpiPm *>(opaque);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t ns =
        (uint64_t)(now.tv_sec - p->start.tv_sec) * 1000000000ull + now.tv_nsec - p->start.tv_nsec;
    uint64_t ticks = (unsigned __int128)ns * ACPI_PM_TIMER_HZ / 1000000000ull;
    uint32_t v = ticks & 0xFFFFFF;  // 24-bit counter (FADT flag TMR_VAL_EXT clear)
    return v >> (addr * 8);
}

void ignore_write(void *, uint64_t, uint64_t, unsigned) {}

const MemoryRegionOps kEvtOps = {evt_read, evt_write};
const MemoryRegionOps kCntOps = {cnt_read, cnt_write};
const MemoryRegionOps kTmrOps = {tmr_read, ignore_write};

}  // namespace

void acpi_pm_create(Machine *m)
{
    AcpiPm *p = new AcpiPm{m};
    machine_own(m, [p] { delete p; });
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    machine_register_pio(m, ACPI_PM1A_EVT_PORT, ACPI_PM1_EVT_LEN, &kEvtOps, p, "acpi-pm1a-evt");
    machine_register_pio(m, ACPI_PM1A_CNT_PORT, ACPI_PM1_CNT_LEN, &kCntOps, p, "acpi-pm1a-cnt");
    machine_register_pio(m, ACPI_PM_TMR_PORT, ACPI_PM_TMR_LEN, &kTmrOps, p, "acpi-pm-tmr");
}
