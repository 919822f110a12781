// Bus-master IDE DMA (SFF-8038i): command/status/PRD-table registers and
// the one place where guest PRD entries are validated.
#include <algorithm>

#include "hw/ide-int.h"
#include "hw/machine.h"
#include "util/iov.h"

namespace {

constexpr uint32_t PRD_EOT = 0x80000000u;
constexpr uint64_t PRD_TABLE_LIMIT = 0x10000;  // a table may not cross 64 KiB

void write_cmd(IDEState *s, uint8_t val)
{
    bool was_started = s->bm.cmd & BM_CMD_START;
    s->bm.cmd = val & (BM_CMD_START | BM_CMD_TO_MEMORY);
    if (!was_started && (val & BM_CMD_START)) {
        s->bm.status |= BM_ST_ACTIVE;
        ide_start_dma(s);
    } else if (was_started && !(val & BM_CMD_START)) {
        // Stopping the engine only drops ACTIVE: a transfer already handed
        // to the block layer completes and reports through the registers.
        s->bm.status &= ~BM_ST_ACTIVE;
    }
}

void write_status(IDEState *s, uint8_t val)
{
    uint8_t w1c = val & (BM_ST_ERROR | BM_ST_INTR);
    s->bm.status = (uint8_t)((s->bm.status & ~w1c & ~0x60) | (val & 0x60));
}

}  // namespace

uint64_t ide_bmdma_read(IDEState *s, unsigned reg, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && reg + i < 8; i++) {
        unsigned r = reg + i;
        uint8_t b = 0;
        if (r == BM_CMD) {
            b = s->bm.cmd;
        } else if (r == BM_STATUS) {
            b = s->bm.status;
        } else if (r >= BM_PRDT) {
            b = (uint8_t)(s->bm.prdt >> (8 * (r - BM_PRDT)));
        }
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

void ide_bmdma_write(IDEState *s, unsigned reg, uint64_t val, unsigned size)
{
    for (unsigned i = 0; i < size && reg + i < 8; i++) {
        unsigned r = reg + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        if (r == BM_CMD) {
            write_cmd(s, b);
        } else if (r == BM_STATUS) {
            write_status(s, b);
        } else if (r >= BM_PRDT) {
            unsigned shift = 8 * (r - BM_PRDT);
            s->bm.prdt = (s->bm.prdt & ~(0xFFu << shift)) | ((uint32_t)b << shift);
            s->bm.prdt &= ~3u;  // the table is dword aligned
        }
    }
}

bool ide_bmdma_map_prdt(IDEState *s, uint64_t bytes, QEMUIOVector *qiov)
{
    uint64_t table = s->bm.prdt;
    uint64_t entries = (PRD_TABLE_LIMIT - (table & (PRD_TABLE_LIMIT - 1))) / 8;
    uint64_t got = 0;
    qemu_iovec_reset(qiov);
    for (uint64_t i = 0; i < entries && got < bytes; i++) {
        uint32_t e[2];
        if (!machine_dma_read(s->m, table + 8 * i, e, sizeof(e))) {
            TRACE("ide_bmdma", "bmdma: PRD table at 0x%llx outside RAM\n",
                  (unsigned long long)table);
            return false;
        }
        uint64_t base = e[0] & ~1u;
        uint64_t count = e[1] & 0xFFFEu;
        count = count ? count : 0x10000;  // 0 means 64 KiB
        uint64_t use = std::min(count, bytes - got);
        void *p = machine_ram_ptr(s->m, base, use);
        if (!p) {
            TRACE("ide_bmdma", "bmdma: PRD %llu buffer 0x%llx outside RAM\n", (unsigned long long)i,
                  (unsigned long long)base);
            return false;
        }
        qemu_iovec_add(qiov, p, use);
        got += use;
        if (e[1] & PRD_EOT) {
            break;
        }
    }
    if (got < bytes) {
        TRACE("ide_bmdma", "bmdma: PRD table covers %llu of %llu bytes\n", (unsigned long long)got,
              (unsigned long long)bytes);
        return false;
    }
    return true;
}

void ide_bmdma_done(IDEState *s, bool error)
{
    s->bm.status &= ~BM_ST_ACTIVE;
    s->bm.status |= BM_ST_INTR | (error ? BM_ST_ERROR : 0);
}
