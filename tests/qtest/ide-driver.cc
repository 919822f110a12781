// Guest-side ATA driver over qtest (see ide-driver.h).
#include "tests/qtest/ide-driver.h"

#include <cstring>

#include "hw/ide-int.h"

uint8_t ide_wait_ready(QTestState *q)
{
    for (int i = 0; i < 5000; i++) {
        uint8_t st = qtest_inb(q, IDE_CTL);
        if (!(st & ATA_ST_BSY)) {
            return st;
        }
        qtest_clock_step(q, 1000 * 1000);
    }
    return 0xFF;
}

void ide_issue28(QTestState *q, uint8_t cmd, uint64_t lba, uint32_t count)
{
    qtest_outb(q, IDE_BASE + 6, (uint8_t)(0xE0 | ((lba >> 24) & 0x0F)));
    qtest_outb(q, IDE_BASE + 2, (uint8_t)count);
    qtest_outb(q, IDE_BASE + 3, (uint8_t)lba);
    qtest_outb(q, IDE_BASE + 4, (uint8_t)(lba >> 8));
    qtest_outb(q, IDE_BASE + 5, (uint8_t)(lba >> 16));
    qtest_outb(q, IDE_BASE + 7, cmd);
}

void ide_issue48(QTestState *q, uint8_t cmd, uint64_t lba, uint32_t count)
{
    qtest_outb(q, IDE_BASE + 6, 0xE0);
    // High-order bytes first: the device keeps them as "previous content".
    qtest_outb(q, IDE_BASE + 2, (uint8_t)(count >> 8));
    qtest_outb(q, IDE_BASE + 3, (uint8_t)(lba >> 24));
    qtest_outb(q, IDE_BASE + 4, (uint8_t)(lba >> 32));
    qtest_outb(q, IDE_BASE + 5, (uint8_t)(lba >> 40));
    qtest_outb(q, IDE_BASE + 2, (uint8_t)count);
    qtest_outb(q, IDE_BASE + 3, (uint8_t)lba);
    qtest_outb(q, IDE_BASE + 4, (uint8_t)(lba >> 8));
    qtest_outb(q, IDE_BASE + 5, (uint8_t)(lba >> 16));
    qtest_outb(q, IDE_BASE + 7, cmd);
}

uint8_t ide_pio_in(QTestState *q, uint8_t *buf, uint32_t sectors, uint32_t block)
{
    for (uint32_t done = 0; done < sectors;) {
        uint8_t st = ide_wait_ready(q);
        if ((st & ATA_ST_ERR) || !(st & ATA_ST_DRQ)) {
            return qtest_inb(q, IDE_BASE + 7);
        }
        qtest_inb(q, IDE_BASE + 7);  // acknowledge the block's interrupt
        uint32_t n = sectors - done < block ? sectors - done : block;
        for (uint32_t i = 0; i < n * IDE_SECTOR; i += 4) {
            uint32_t v = qtest_inl(q, IDE_BASE);
            memcpy(buf + (size_t)done * IDE_SECTOR + i, &v, 4);
        }
        done += n;
    }
    ide_wait_ready(q);
    return qtest_inb(q, IDE_BASE + 7);
}

uint8_t ide_pio_out(QTestState *q, const uint8_t *buf, uint32_t sectors, uint32_t block)
{
    for (uint32_t done = 0; done < sectors;) {
        uint8_t st = ide_wait_ready(q);
        if ((st & ATA_ST_ERR) || !(st & ATA_ST_DRQ)) {
            return qtest_inb(q, IDE_BASE + 7);
        }
        qtest_inb(q, IDE_BASE + 7);
        uint32_t n = sectors - done < block ? sectors - done : block;
        for (uint32_t i = 0; i < n * IDE_SECTOR; i += 2) {
            uint16_t v;
            memcpy(&v, buf + (size_t)done * IDE_SECTOR + i, 2);
            qtest_outw(q, IDE_BASE, v);
        }
        done += n;
    }
    ide_wait_ready(q);
    return qtest_inb(q, IDE_BASE + 7);
}

void ide_write_prdt(QTestState *q, uint64_t table, uint64_t buf, uint32_t bytes, unsigned nprd)
{
    // Entries of equal even size; the last one takes the remainder.
    uint32_t piece = (bytes / nprd) & ~1u;
    std::vector<uint32_t> prd;
    for (unsigned k = 0; k < nprd; k++) {
        uint32_t len = k + 1 == nprd ? bytes - piece * k : piece;
        prd.push_back((uint32_t)(buf + (uint64_t)piece * k));
        prd.push_back((len & 0xFFFF) | (k + 1 == nprd ? 0x80000000u : 0));
    }
    qtest_memwrite(q, table, prd.data(), prd.size() * 4);
}

uint8_t ide_dma(QTestState *q, uint8_t cmd, bool lba48, uint64_t lba, uint32_t sectors,
                unsigned nprd, uint8_t *bm_status)
{
    bool to_memory = cmd == ATA_CMD_READ_DMA || cmd == ATA_CMD_READ_DMA_EXT;
    ide_write_prdt(q, IDE_PRDT_ADDR, IDE_DMA_BUF, sectors * IDE_SECTOR, nprd);
    qtest_outb(q, IDE_BM + BM_CMD, 0);
    qtest_outb(q, IDE_BM + BM_STATUS, BM_ST_INTR | BM_ST_ERROR);  // write 1 to clear
    qtest_outl(q, IDE_BM + BM_PRDT, (uint32_t)IDE_PRDT_ADDR);
    qtest_outb(q, IDE_BM + BM_CMD, to_memory ? BM_CMD_TO_MEMORY : 0);
    if (lba48) {
        ide_issue48(q, cmd, lba, sectors);
    } else {
        ide_issue28(q, cmd, lba, sectors);
    }
    qtest_outb(q, IDE_BM + BM_CMD, (to_memory ? BM_CMD_TO_MEMORY : 0) | BM_CMD_START);
    for (int i = 0; i < 5000; i++) {
        *bm_status = qtest_inb(q, IDE_BM + BM_STATUS);
        if (*bm_status & BM_ST_INTR) {
            break;
        }
        qtest_clock_step(q, 1000 * 1000);
    }
    qtest_outb(q, IDE_BM + BM_CMD, 0);
    return ide_wait_ready(q);
}
