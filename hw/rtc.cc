// MC146818 CMOS RTC, as far as firmware and boot loaders read it: index
// port 0x70 (bit 7: NMI mask, ignored), data port 0x71.  The clock
// registers follow the host's clock in UTC (QEMU's default -rtc base=utc)
// plus an offset the guest sets by writing them; BCD or binary and
// 12/24-hour as status register B says.  No update-in-progress window, no
// periodic, alarm or update interrupts (IRQ 8 is never raised).  CMOS RAM
// holds the memory sizes QEMU's pc machine stores there.
#include <cstring>
#include <ctime>

#include "hw/machine.h"
#include "hw/pc.h"

namespace {

enum : uint8_t {
    REG_SEC = 0x00,
    REG_MIN = 0x02,
    REG_HOUR = 0x04,
    REG_WDAY = 0x06,
    REG_MDAY = 0x07,
    REG_MON = 0x08,
    REG_YEAR = 0x09,
    REG_A = 0x0A,
    REG_B = 0x0B,
    REG_C = 0x0C,
    REG_D = 0x0D,
    REG_CENTURY = 0x32,
    B_24H = 0x02,
    B_BINARY = 0x04,
};

struct Rtc {
    Machine *m;
    uint8_t index = 0;
    uint8_t ram[128] = {};
    time_t offset = 0;  // guest time - host time, from guest writes
};

struct tm now_tm(const Rtc *r)
{
    time_t t = time(nullptr) + r->offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm;
}

uint8_t to_guest(const Rtc *r, int v)
{
    return (r->ram[REG_B] & B_BINARY) ? v : (uint8_t)((v / 10) << 4 | (v % 10));
}

int from_guest(const Rtc *r, uint8_t v)
{
    return (r->ram[REG_B] & B_BINARY) ? v : (v >> 4) * 10 + (v & 0x0F);
}

uint8_t hour_to_guest(const Rtc *r, int h)
{
    if (r->ram[REG_B] & B_24H) return to_guest(r, h);
    int h12 = h % 12 == 0 ? 12 : h % 12;
    return to_guest(r, h12) | (h >= 12 ? 0x80 : 0);
}

int hour_from_guest(const Rtc *r, uint8_t v)
{
    if (r->ram[REG_B] & B_24H) return from_guest(r, v);
    int h = from_guest(r, v & 0x7F) % 12;
    return (v & 0x80) ? h + 12 : h;
}

uint8_t read_reg(Rtc *r, uint8_t reg)
{
    struct tm tm = now_tm(r);
    switch (reg) {
    case REG_SEC: return to_guest(r, tm.tm_sec);
    case REG_MIN: return to_guest(r, tm.tm_min);
    case REG_HOUR: return hour_to_guest(r, tm.tm_hour);
    case REG_WDAY: return to_guest(r, tm.tm_wday + 1);
    case REG_MDAY: return to_guest(r, tm.tm_mday);
    case REG_MON: return to_guest(r, tm.tm_mon + 1);
    case REG_YEAR: return to_guest(r, (tm.tm_year + 1900) % 100);
    case REG_CENTURY: return to_guest(r, (tm.tm_year + 1900) / 100);
    case REG_A: return r->ram[REG_A] & 0x7F;  // update never in progress
    case REG_C: return 0;                     // no interrupt flags
    case REG_D: return 0x80;                  // battery good, time valid
    default: return r->ram[reg];
    }
}

// A write to a clock register sets the guest's clock: the new field
// replaces the current one and the offset to the host clock follows.
void write_time(Rtc *r, uint8_t reg, uint8_t v)
{
    struct tm tm = now_tm(r);
    switch (reg) {
    case REG_SEC: tm.tm_sec = from_guest(r, v); break;
    case REG_MIN: tm.tm_min = from_guest(r, v); break;
    case REG_HOUR: tm.tm_hour = hour_from_guest(r, v); break;
    case REG_MDAY: tm.tm_mday = from_guest(r, v); break;
    case REG_MON: tm.tm_mon = from_guest(r, v) - 1; break;
    case REG_YEAR: tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + from_guest(r, v) - 1900; break;
    case REG_CENTURY: tm.tm_year = from_guest(r, v) * 100 + (tm.tm_year + 1900) % 100 - 1900; break;
    default: return;  // day of week follows the date
    }
    time_t t = timegm(&tm);
    if (t != (time_t)-1) r->offset = t - time(nullptr);
}

uint64_t index_read(void *opaque, uint64_t, unsigned) { return static_cast<Rtc *>(opaque)->index; }

void index_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    static_cast<Rtc *>(opaque)->index = val & 0x7F;  // bit 7 masks NMI: there is none
}

uint64_t data_read(void *opaque, uint64_t, unsigned)
{
    Rtc *r = static_cast<Rtc *>(opaque);
    return read_reg(r, r->index);
}

void data_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    Rtc *r = static_cast<Rtc *>(opaque);
    uint8_t reg = r->index, v = val;
    switch (reg) {
    case REG_SEC:
    case REG_MIN:
    case REG_HOUR:
    case REG_WDAY:
    case REG_MDAY:
    case REG_MON:
    case REG_YEAR:
    case REG_CENTURY: write_time(r, reg, v); break;
    case REG_C:
    case REG_D: break;  // read-only
    default: r->ram[reg] = v;
    }
}

const MemoryRegionOps kIndexOps = {index_read, index_write};
const MemoryRegionOps kDataOps = {data_read, data_write};

void put16(uint8_t *ram, int reg, uint32_t v)
{
    v = v > 0xFFFF ? 0xFFFF : v;
    ram[reg] = v & 0xFF;
    ram[reg + 1] = v >> 8;
}

}  // namespace

void rtc_create(Machine *m)
{
    Rtc *r = new Rtc{m};
    machine_own(m, [r] { delete r; });
    r->ram[REG_A] = 0x26;      // 32.768 kHz time base, 1.024 kHz rate
    r->ram[REG_B] = B_24H;     // BCD, 24-hour, no interrupts
    r->ram[0x14] = 0x06;       // equipment: no floppy, FPU, VGA/EGA
    put16(r->ram, 0x15, 640);  // base memory KiB
    uint64_t ram = machine_ram_size(m);
    uint64_t ext_kib = ram > (1u << 20) ? (ram - (1u << 20)) >> 10 : 0;
    put16(r->ram, 0x17, ext_kib);  // extended memory KiB (1 MiB - 65 MiB)
    put16(r->ram, 0x30, ext_kib);
    uint64_t above16 = ram > (16u << 20) ? (ram - (16u << 20)) >> 16 : 0;
    put16(r->ram, 0x34, above16);  // 64 KiB blocks above 16 MiB
    machine_register_pio(m, PC_RTC_INDEX_PORT, 1, &kIndexOps, r, "rtc-index");
    machine_register_pio(m, PC_RTC_INDEX_PORT + 1, 1, &kDataOps, r, "rtc-data");
}
