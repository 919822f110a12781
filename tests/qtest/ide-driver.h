// A minimal ATA host driver speaking through qtest: task-file programming,
// PIO data-port transfers and bus-master DMA with PRD tables, as a guest
// kernel's libata would do it on the primary channel.
//
// Guest memory used by DMA helpers: PRD tables at 0x200000, data buffers
// from 0x400000.
#pragma once

#include <cstdint>
#include <vector>

#include "tests/qtest/libqtest.h"

constexpr uint16_t IDE_BASE = 0x1F0, IDE_CTL = 0x3F6, IDE_BM = 0xC000;
constexpr uint64_t IDE_PRDT_ADDR = 0x200000, IDE_DMA_BUF = 0x400000;

// Waits (stepping the clock) until BSY clears; returns the alternate
// status (which does not acknowledge the interrupt), or 0xFF on timeout.
uint8_t ide_wait_ready(QTestState *q);

// Programs the task file for an LBA28 (device/head bits 24-27) or LBA48
// command and writes the command register.
void ide_issue28(QTestState *q, uint8_t cmd, uint64_t lba, uint32_t count);
void ide_issue48(QTestState *q, uint8_t cmd, uint64_t lba, uint32_t count);

// PIO data phase: for each block, waits for DRQ and moves @block sectors
// through the data port.  Returns the final status (ERR set on failure).
uint8_t ide_pio_in(QTestState *q, uint8_t *buf, uint32_t sectors, uint32_t block);
uint8_t ide_pio_out(QTestState *q, const uint8_t *buf, uint32_t sectors, uint32_t block);

// Writes a PRD table splitting [@buf, @buf+@bytes) into @nprd entries.
void ide_write_prdt(QTestState *q, uint64_t table, uint64_t buf, uint32_t bytes, unsigned nprd);
// Full DMA command: PRD table, BM command, task file, start, wait for the
// interrupt; returns the alternate status (the interrupt stays pending
// until the caller reads the status register) and stores the BM status.
uint8_t ide_dma(QTestState *q, uint8_t cmd, bool lba48, uint64_t lba, uint32_t sectors,
                unsigned nprd, uint8_t *bm_status);
