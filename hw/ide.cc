// IDE task-file registers, command decode and reset (see ide-int.h).
#include "hw/ide-int.h"

#include <cerrno>
#include <cstring>

#include "block/block.h"
#include "hw/machine.h"

// ---- interrupts and status ------------------------------------------------

void ide_update_irq(IDEState *s)
{
    machine_set_irq(s->m, MACHINE_IRQ_IDE, s->irq_pending && !(s->devctl & ATA_CTL_NIEN));
}

void ide_raise_irq(IDEState *s)
{
    s->irq_pending = true;
    ide_update_irq(s);
}

void ide_set_error(IDEState *s, uint8_t err)
{
    s->error = err;
    s->status = ATA_ST_DRDY | ATA_ST_ERR;
    s->xfer = IDE_XFER_NONE;
    s->io_busy = false;
    ide_raise_irq(s);
}

void ide_command_done(IDEState *s)
{
    s->status = ATA_ST_DRDY | ATA_ST_DSC;
    s->xfer = IDE_XFER_NONE;
    s->io_busy = false;
    ide_raise_irq(s);
}

void ide_set_sector(IDEState *s, uint64_t lba)
{
    if (s->lba48) {
        s->sector.cur = (uint8_t)lba, s->lcyl.cur = (uint8_t)(lba >> 8),
        s->hcyl.cur = (uint8_t)(lba >> 16);
        s->sector.hob = (uint8_t)(lba >> 24), s->lcyl.hob = (uint8_t)(lba >> 32);
        s->hcyl.hob = (uint8_t)(lba >> 40);
    } else {
        s->sector.cur = (uint8_t)lba, s->lcyl.cur = (uint8_t)(lba >> 8),
        s->hcyl.cur = (uint8_t)(lba >> 16);
        s->select = (uint8_t)((s->select & 0xF0) | ((lba >> 24) & 0x0F));
    }
}

// ---- command decode -------------------------------------------------------

// Address and count of a read/write command from the task file.  CHS is
// translated with the geometry IDENTIFY reports (16 heads, 63 sectors).
static void decode_address(IDEState *s, uint64_t *lba, uint32_t *count)
{
    if (s->lba48) {
        *lba = (uint64_t)s->hcyl.hob << 40 | (uint64_t)s->lcyl.hob << 32 |
               (uint64_t)s->sector.hob << 24 | (uint64_t)s->hcyl.cur << 16 |
               (uint64_t)s->lcyl.cur << 8 | s->sector.cur;
        uint32_t n = (uint32_t)s->nsector.hob << 8 | s->nsector.cur;
        *count = n ? n : 65536;
        return;
    }
    if (s->select & ATA_DEV_LBA) {
        *lba = (uint64_t)(s->select & 0x0F) << 24 | (uint64_t)s->hcyl.cur << 16 |
               (uint64_t)s->lcyl.cur << 8 | s->sector.cur;
    } else {
        uint64_t cyl = (uint64_t)s->hcyl.cur << 8 | s->lcyl.cur;
        uint64_t sec = s->sector.cur;
        // Sector 0 does not exist in CHS: make it fail the range check.
        *lba = sec == 0 ? UINT64_MAX / 2 : (cyl * 16 + (s->select & 0x0F)) * 63 + sec - 1;
    }
    *count = s->nsector.cur ? s->nsector.cur : 256;
}

// Common start of every data command: the range check (ERR/IDNF if any
// sector is past the end) and the transfer bookkeeping.
static bool begin_transfer(IDEState *s, bool lba48, uint32_t block)
{
    s->lba48 = lba48;
    uint64_t lba;
    uint32_t count;
    decode_address(s, &lba, &count);
    if (lba > s->nb_sectors || count > s->nb_sectors - lba) {
        TRACE("ide_range", "ide: cmd 0x%02x lba %llu count %u past end %llu\n", s->cmd,
              (unsigned long long)lba, count, (unsigned long long)s->nb_sectors);
        ide_set_error(s, ATA_ER_IDNF);
        return false;
    }
    s->lba = lba;
    s->remaining = count;
    s->block = block;
    return true;
}

static void cmd_read_pio(IDEState *s, bool lba48, uint32_t block)
{
    if (begin_transfer(s, lba48, block)) {
        s->xfer = IDE_XFER_PIO_IN;
        ide_start_pio_read_block(s);
    }
}

static void cmd_write_pio(IDEState *s, bool lba48, uint32_t block)
{
    if (s->read_only) {
        ide_set_error(s, ATA_ER_ABRT);
        return;
    }
    if (begin_transfer(s, lba48, block)) {
        // The first block needs no interrupt: DRQ is set at once.
        s->xfer = IDE_XFER_PIO_OUT;
        uint32_t n = s->remaining < s->block ? s->remaining : s->block;
        s->buf_pos = 0;
        s->buf_end = n * IDE_SECTOR;
        s->status = ATA_ST_DRDY | ATA_ST_DSC | ATA_ST_DRQ;
    }
}

static void cmd_dma(IDEState *s, bool lba48, bool is_write)
{
    if (is_write && s->read_only) {
        ide_set_error(s, ATA_ER_ABRT);
        return;
    }
    if (begin_transfer(s, lba48, 0)) {
        s->xfer = IDE_XFER_DMA;
        s->status = ATA_ST_DRDY | ATA_ST_DSC | ATA_ST_DRQ;
        if (s->bm.status & BM_ST_ACTIVE) {
            ide_start_dma(s);
        }
    }
}

static void cmd_identify(IDEState *s)
{
    ide_identify(s, s->buf.data());
    s->lba48 = false;
    s->remaining = 1;
    s->block = 1;
    s->buf_pos = 0;
    s->buf_end = IDE_SECTOR;
    s->xfer = IDE_XFER_PIO_IN;
    s->status = ATA_ST_DRDY | ATA_ST_DSC | ATA_ST_DRQ;
    ide_raise_irq(s);
}

static void set_signature(IDEState *s)
{
    s->nsector.cur = 1;
    s->sector.cur = 1;
    s->lcyl.cur = 0;
    s->hcyl.cur = 0;
    s->select &= 0xF0;
}

static void cmd_set_multiple(IDEState *s)
{
    unsigned n = s->nsector.cur;
    if (n > IDE_MAX_MULT || (n & (n - 1)) != 0) {
        ide_set_error(s, ATA_ER_ABRT);
        return;
    }
    s->mult_sectors = n;
    ide_command_done(s);
}

static void cmd_set_features(IDEState *s)
{
    switch (s->feature.cur) {
    case 0x02: s->write_cache = true; break;   // enable write cache
    case 0x82: s->write_cache = false; break;  // disable write cache
    case 0x03:
    case 0x66:
    case 0xCC:
    case 0xAA:
    case 0x55: break;  // modes, defaults
    default: ide_set_error(s, ATA_ER_ABRT); return;
    }
    blk_set_enable_write_cache(s->conf.blk, s->write_cache);
    ide_command_done(s);
}

static void cmd_verify(IDEState *s, bool lba48)
{
    if (begin_transfer(s, lba48, 0)) {
        ide_set_sector(s, s->lba + s->remaining - 1);
        ide_command_done(s);
    }
}

static void cmd_native_max(IDEState *s, bool lba48)
{
    s->lba48 = lba48;
    uint64_t max = s->nb_sectors ? s->nb_sectors - 1 : 0;
    ide_set_sector(s, lba48 ? max : (max > 0x0FFFFFFF ? 0x0FFFFFFF : max));
    ide_command_done(s);
}

static bool exec_rw_command(IDEState *s, uint8_t cmd)
{
    bool mult_ok = s->mult_sectors != 0;
    switch (cmd) {
    case ATA_CMD_READ_SECTORS:
    case ATA_CMD_READ_SECTORS_NR: cmd_read_pio(s, false, 1); break;
    case ATA_CMD_READ_SECTORS_EXT: cmd_read_pio(s, true, 1); break;
    case ATA_CMD_WRITE_SECTORS:
    case ATA_CMD_WRITE_SECTORS_NR: cmd_write_pio(s, false, 1); break;
    case ATA_CMD_WRITE_SECTORS_EXT: cmd_write_pio(s, true, 1); break;
    case ATA_CMD_READ_MULTIPLE:
    case ATA_CMD_READ_MULTIPLE_EXT:
    case ATA_CMD_WRITE_MULTIPLE:
    case ATA_CMD_WRITE_MULTIPLE_EXT:
        if (!mult_ok) {
            ide_set_error(s, ATA_ER_ABRT);  // multiple mode disabled
        } else if (cmd == ATA_CMD_READ_MULTIPLE || cmd == ATA_CMD_READ_MULTIPLE_EXT) {
            cmd_read_pio(s, cmd == ATA_CMD_READ_MULTIPLE_EXT, s->mult_sectors);
        } else {
            cmd_write_pio(s, cmd == ATA_CMD_WRITE_MULTIPLE_EXT, s->mult_sectors);
        }
        break;
    case ATA_CMD_READ_DMA:
    case ATA_CMD_READ_DMA_NR: cmd_dma(s, false, false); break;
    case ATA_CMD_READ_DMA_EXT: cmd_dma(s, true, false); break;
    case ATA_CMD_WRITE_DMA:
    case ATA_CMD_WRITE_DMA_NR: cmd_dma(s, false, true); break;
    case ATA_CMD_WRITE_DMA_EXT: cmd_dma(s, true, true); break;
    default: return false;
    }
    return true;
}

static void exec_command(IDEState *s, uint8_t cmd)
{
    s->cmd = cmd;
    s->error = 0;
    TRACE("ide_command", "ide: command 0x%02x\n", cmd);
    if (exec_rw_command(s, cmd)) {
        return;
    }
    switch (cmd) {
    case ATA_CMD_IDENTIFY: cmd_identify(s); break;
    case ATA_CMD_SET_MULTIPLE: cmd_set_multiple(s); break;
    case ATA_CMD_FLUSH:
    case ATA_CMD_FLUSH_EXT:
        s->status = ATA_ST_DRDY | ATA_ST_BSY;
        ide_start_flush(s);
        break;
    case ATA_CMD_SET_FEATURES: cmd_set_features(s); break;
    case ATA_CMD_READ_VERIFY:
    case ATA_CMD_READ_VERIFY_NR: cmd_verify(s, false); break;
    case ATA_CMD_READ_VERIFY_EXT: cmd_verify(s, true); break;
    case ATA_CMD_READ_NATIVE_MAX: cmd_native_max(s, false); break;
    case ATA_CMD_READ_NATIVE_MAX_EXT: cmd_native_max(s, true); break;
    case ATA_CMD_EXEC_DIAGNOSTIC:
        set_signature(s);
        s->error = 0x01;  // device 0 passed
        s->status = ATA_ST_DRDY | ATA_ST_DSC;
        ide_raise_irq(s);
        break;
    case ATA_CMD_CHECK_POWER:
        s->nsector.cur = 0xFF;
        ide_command_done(s);
        break;
    case ATA_CMD_INIT_DEV_PARAMS:
    case 0xE0:
    case 0xE1:
    case 0xE2:
    case 0xE3: ide_command_done(s); break;
    default:
        if ((cmd & 0xF0) == 0x10) {  // RECALIBRATE (obsolete, harmless)
            ide_command_done(s);
        } else {
            ide_set_error(s, ATA_ER_ABRT);
        }
        break;
    }
}

// ---- software reset -------------------------------------------------------

static void ide_reset(IDEState *s)
{
    s->generation++;  // in-flight coroutines finish without touching registers
    s->xfer = IDE_XFER_NONE;
    s->io_busy = false;
    s->buf_pos = s->buf_end = 0;
    s->remaining = 0;
    s->feature = s->nsector = s->sector = s->lcyl = s->hcyl = IDEReg{};
    s->select = 0xA0;
    s->mult_sectors = IDE_MAX_MULT;
    set_signature(s);
    s->error = 0x01;  // diagnostic code: no error
    s->irq_pending = false;
    s->bm.status &= ~(BM_ST_ACTIVE | BM_ST_INTR);
}

// ---- data port ------------------------------------------------------------

static uint64_t data_read(IDEState *s, unsigned size)
{
    if (s->xfer != IDE_XFER_PIO_IN || !(s->status & ATA_ST_DRQ) || s->buf_pos + size > s->buf_end) {
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, s->buf.data() + s->buf_pos, size);
    s->buf_pos += size;
    if (s->buf_pos < s->buf_end) {
        return v;
    }
    uint32_t n = s->buf_end / IDE_SECTOR;
    s->lba += n;
    s->remaining -= n;
    if (s->remaining == 0) {
        s->status = ATA_ST_DRDY | ATA_ST_DSC;  // the last block needs no interrupt
        s->xfer = IDE_XFER_NONE;
    } else {
        ide_start_pio_read_block(s);
    }
    return v;
}

static void data_write(IDEState *s, uint64_t val, unsigned size)
{
    if (s->xfer != IDE_XFER_PIO_OUT || !(s->status & ATA_ST_DRQ) ||
        s->buf_pos + size > s->buf_end) {
        return;
    }
    memcpy(s->buf.data() + s->buf_pos, &val, size);
    s->buf_pos += size;
    if (s->buf_pos == s->buf_end) {
        ide_start_pio_write_block(s);
    }
}

// ---- register file --------------------------------------------------------

static bool slave_selected(const IDEState *s) { return s->select & ATA_DEV_SLAVE; }

uint64_t ide_cmd_read(IDEState *s, unsigned reg, unsigned size)
{
    if (reg == 0) {
        return data_read(s, size == 1 ? 2 : size);
    }
    if (slave_selected(s) && reg != 6) {
        return 0;  // no slave: the bus floats low here, as QEMU reports
    }
    bool hob = s->devctl & ATA_CTL_HOB;
    switch (reg) {
    case 1: return hob ? s->feature.hob : s->error;
    case 2: return hob ? s->nsector.hob : s->nsector.cur;
    case 3: return hob ? s->sector.hob : s->sector.cur;
    case 4: return hob ? s->lcyl.hob : s->lcyl.cur;
    case 5: return hob ? s->hcyl.hob : s->hcyl.cur;
    case 6: return s->select;
    default:
        // Reading the status register acknowledges the interrupt.
        s->irq_pending = false;
        ide_update_irq(s);
        return s->status;
    }
}

void ide_cmd_write(IDEState *s, unsigned reg, uint64_t val, unsigned size)
{
    if (reg == 0) {
        data_write(s, val, size == 1 ? 2 : size);
        return;
    }
    uint8_t v = (uint8_t)val;
    if (reg != 7) {
        s->devctl &= ~ATA_CTL_HOB;  // any task-file write clears HOB
    }
    switch (reg) {
    case 1: s->feature.write(v); break;
    case 2: s->nsector.write(v); break;
    case 3: s->sector.write(v); break;
    case 4: s->lcyl.write(v); break;
    case 5: s->hcyl.write(v); break;
    case 6: s->select = v | 0xA0; break;
    default:
        // Commands are ignored while busy, during reset and for the slave.
        if (!slave_selected(s) && !(s->status & ATA_ST_BSY) && !(s->devctl & ATA_CTL_SRST)) {
            s->irq_pending = false;
            ide_update_irq(s);
            exec_command(s, v);
        }
        break;
    }
}

uint8_t ide_ctl_read(IDEState *s) { return slave_selected(s) ? 0 : s->status; }

void ide_ctl_write(IDEState *s, uint8_t val)
{
    bool was_reset = s->devctl & ATA_CTL_SRST;
    s->devctl = val;
    if (!was_reset && (val & ATA_CTL_SRST)) {
        ide_reset(s);
        s->status = ATA_ST_BSY | ATA_ST_DSC;
    } else if (was_reset && !(val & ATA_CTL_SRST)) {
        s->status = ATA_ST_DRDY | ATA_ST_DSC;
    }
    ide_update_irq(s);
}

// ---- bus glue -------------------------------------------------------------

static uint64_t cmd_io_read(void *opaque, uint64_t addr, unsigned size)
{
    return ide_cmd_read(static_cast<IDEState *>(opaque), (unsigned)addr, size);
}

static void cmd_io_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    ide_cmd_write(static_cast<IDEState *>(opaque), (unsigned)addr, val, size);
}

static uint64_t ctl_io_read(void *opaque, uint64_t, unsigned)
{
    return ide_ctl_read(static_cast<IDEState *>(opaque));
}

static void ctl_io_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    ide_ctl_write(static_cast<IDEState *>(opaque), (uint8_t)val);
}

static uint64_t bm_io_read(void *opaque, uint64_t addr, unsigned size)
{
    return ide_bmdma_read(static_cast<IDEState *>(opaque), (unsigned)addr, size);
}

static void bm_io_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    ide_bmdma_write(static_cast<IDEState *>(opaque), (unsigned)addr, val, size);
}

static const MemoryRegionOps ide_cmd_ops = {cmd_io_read, cmd_io_write};
static const MemoryRegionOps ide_ctl_ops = {ctl_io_read, ctl_io_write};
static const MemoryRegionOps ide_bm_ops = {bm_io_read, bm_io_write};

static void ide_free(void *opaque)
{
    IDEState *s = static_cast<IDEState *>(opaque);
    ide_io_cleanup(s);
    delete s;
}

IDEState *ide_new(Machine *m, BlockBackend *blk, const DriveConfig *conf)
{
    int64_t len = blk_getlength(blk);
    if (len < 0) {
        return nullptr;
    }
    IDEState *s = new IDEState;
    s->m = m;
    s->conf = *conf;
    s->conf.blk = blk;
    s->nb_sectors = (uint64_t)len / IDE_SECTOR;
    s->read_only = conf->read_only || blk_is_read_only(blk);
    s->write_cache = conf->write_cache;
    s->buf.resize(IDE_MAX_MULT * IDE_SECTOR);
    s->bm.status = BM_ST_DRV0_DMA;
    blk_set_enable_write_cache(blk, s->write_cache);
    ide_io_init(s);
    machine_register_pio(m, MACHINE_IDE_CMD_PORT, 8, &ide_cmd_ops, s, "ide");
    machine_register_pio(m, MACHINE_IDE_CTL_PORT, 1, &ide_ctl_ops, s, "ide-ctl");
    machine_register_pio(m, MACHINE_BMDMA_PORT, 8, &ide_bm_ops, s, "ide-bmdma");
    frontend_register(m, ide_free, s);
    return s;
}

int ide_create(Machine *m, BlockBackend *blk, const DriveConfig *conf)
{
    return ide_new(m, blk, conf) ? 0 : -EIO;
}
