// IDE/ATA disk on the primary channel (master only) with a bus-master DMA
// engine.  Files: ide.cc (task-file registers, command decode, reset),
// ide-io.cc (PIO and DMA transfers as coroutines, error policy),
// ide-identify.cc (IDENTIFY DEVICE data), ide-bmdma.cc (BMDMA registers and
// PRD tables).
//
// Locking: register accesses run with the BQL held (vCPU or qtest thread).
// Disk I/O runs in coroutines in the main AioContext, started through a BH
// so that the vCPU thread never creates or enters a coroutine; completions
// update the registers and the IRQ line with the BQL held.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/devices.h"

struct Machine;
struct QEMUBH;
struct IDEOp;

enum : uint8_t {
    // Status register.
    ATA_ST_ERR = 0x01,
    ATA_ST_DRQ = 0x08,
    ATA_ST_DSC = 0x10,
    ATA_ST_DF = 0x20,
    ATA_ST_DRDY = 0x40,
    ATA_ST_BSY = 0x80,
    // Error register.
    ATA_ER_ABRT = 0x04,
    ATA_ER_IDNF = 0x10,
    ATA_ER_UNC = 0x40,
    // Device control register.
    ATA_CTL_NIEN = 0x02,
    ATA_CTL_SRST = 0x04,
    ATA_CTL_HOB = 0x80,
    // Device register.
    ATA_DEV_LBA = 0x40,
    ATA_DEV_SLAVE = 0x10,
    // Bus-master registers (offsets from MACHINE_BMDMA_PORT) and bits.
    BM_CMD = 0,
    BM_STATUS = 2,
    BM_PRDT = 4,
    BM_CMD_START = 0x01,
    BM_CMD_TO_MEMORY = 0x08,  // device -> memory (READ DMA)
    BM_ST_ACTIVE = 0x01,
    BM_ST_ERROR = 0x02,
    BM_ST_INTR = 0x04,
    BM_ST_DRV0_DMA = 0x20,
};

enum : uint8_t {
    ATA_CMD_READ_SECTORS = 0x20,
    ATA_CMD_READ_SECTORS_NR = 0x21,
    ATA_CMD_READ_SECTORS_EXT = 0x24,
    ATA_CMD_READ_DMA_EXT = 0x25,
    ATA_CMD_READ_NATIVE_MAX_EXT = 0x27,
    ATA_CMD_READ_MULTIPLE_EXT = 0x29,
    ATA_CMD_WRITE_SECTORS = 0x30,
    ATA_CMD_WRITE_SECTORS_NR = 0x31,
    ATA_CMD_WRITE_SECTORS_EXT = 0x34,
    ATA_CMD_WRITE_DMA_EXT = 0x35,
    ATA_CMD_WRITE_MULTIPLE_EXT = 0x39,
    ATA_CMD_READ_VERIFY = 0x40,
    ATA_CMD_READ_VERIFY_NR = 0x41,
    ATA_CMD_READ_VERIFY_EXT = 0x42,
    ATA_CMD_EXEC_DIAGNOSTIC = 0x90,
    ATA_CMD_INIT_DEV_PARAMS = 0x91,
    ATA_CMD_READ_MULTIPLE = 0xC4,
    ATA_CMD_WRITE_MULTIPLE = 0xC5,
    ATA_CMD_SET_MULTIPLE = 0xC6,
    ATA_CMD_READ_DMA = 0xC8,
    ATA_CMD_READ_DMA_NR = 0xC9,
    ATA_CMD_WRITE_DMA = 0xCA,
    ATA_CMD_WRITE_DMA_NR = 0xCB,
    ATA_CMD_CHECK_POWER = 0xE5,
    ATA_CMD_FLUSH = 0xE7,
    ATA_CMD_IDENTIFY = 0xEC,
    ATA_CMD_FLUSH_EXT = 0xEA,
    ATA_CMD_SET_FEATURES = 0xEF,
    ATA_CMD_READ_NATIVE_MAX = 0xF8,
};

enum { IDE_MAX_MULT = 16, IDE_SECTOR = 512 };

enum IDETransfer : uint8_t {
    IDE_XFER_NONE,
    IDE_XFER_PIO_IN,   // device -> host through the data port
    IDE_XFER_PIO_OUT,  // host -> device through the data port
    IDE_XFER_DMA,      // waiting for / running a bus-master transfer
};

// One task-file register with its "previous content" (HOB) for LBA48.
struct IDEReg {
    uint8_t cur = 0;
    uint8_t hob = 0;
    void write(uint8_t v)
    {
        hob = cur;
        cur = v;
    }
};

struct IDEBmdma {
    uint8_t cmd = 0;
    uint8_t status = 0;
    uint32_t prdt = 0;
};

struct IDEState {
    Machine *m = nullptr;
    DriveConfig conf;
    uint64_t nb_sectors = 0;
    bool read_only = false;
    bool write_cache = true;

    // Task file.
    IDEReg feature, nsector, sector, lcyl, hcyl;
    uint8_t select = 0xA0;
    uint8_t status = ATA_ST_DRDY | ATA_ST_DSC;
    uint8_t error = 0;
    uint8_t devctl = 0;
    bool irq_pending = false;

    // Command in progress.
    uint8_t cmd = 0;
    bool lba48 = false;
    uint64_t lba = 0;        // next sector to transfer
    uint32_t remaining = 0;  // sectors left in the command
    uint32_t block = 1;      // sectors per DRQ block (PIO)
    unsigned mult_sectors = IDE_MAX_MULT;
    IDETransfer xfer = IDE_XFER_NONE;
    std::vector<uint8_t> buf;  // PIO data block
    uint32_t buf_pos = 0;
    uint32_t buf_end = 0;
    bool io_busy = false;  // a coroutine owns the current command

    IDEBmdma bm;
    QEMUBH *io_bh = nullptr;
    std::vector<IDEOp *> op_queue;  // handed from register code to the BH
    uint64_t generation = 0;        // bumped at reset: stale completions dropped
};

// ide.cc
IDEState *ide_new(Machine *m, BlockBackend *blk, const DriveConfig *conf);
uint64_t ide_cmd_read(IDEState *s, unsigned reg, unsigned size);
void ide_cmd_write(IDEState *s, unsigned reg, uint64_t val, unsigned size);
uint8_t ide_ctl_read(IDEState *s);
void ide_ctl_write(IDEState *s, uint8_t val);
void ide_update_irq(IDEState *s);
void ide_raise_irq(IDEState *s);
void ide_set_error(IDEState *s, uint8_t err);    // ERR + error register + IRQ
void ide_command_done(IDEState *s);              // DRDY, no DRQ, IRQ
void ide_set_sector(IDEState *s, uint64_t lba);  // echo the address into the task file

// ide-identify.cc: fills 512 bytes.
void ide_identify(const IDEState *s, uint8_t *out);

// ide-io.cc: start the next step of the current command in a coroutine.
void ide_start_pio_read_block(IDEState *s);
void ide_start_pio_write_block(IDEState *s);
void ide_start_flush(IDEState *s);
void ide_start_dma(IDEState *s);  // called when both the command and BM start are there
void ide_io_init(IDEState *s);
void ide_io_cleanup(IDEState *s);  // drops the BH and ops never started

// ide-bmdma.cc
uint64_t ide_bmdma_read(IDEState *s, unsigned reg, unsigned size);
void ide_bmdma_write(IDEState *s, unsigned reg, uint64_t val, unsigned size);
// Maps the PRD table onto guest RAM for @bytes bytes.  false: the table is
// malformed (outside RAM, too short, no end mark within the 64 KiB table).
struct QEMUIOVector;
bool ide_bmdma_map_prdt(IDEState *s, uint64_t bytes, QEMUIOVector *qiov);
void ide_bmdma_done(IDEState *s, bool error);

// Fuzzing / tests without a CPU: replays a byte stream of register accesses
// (see hw/hw-fuzz.h).
