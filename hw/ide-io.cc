// IDE data transfers: each step of a PIO or DMA command, and flushes, run
// as a coroutine in the main AioContext (see ide-int.h for the threading).
#include <algorithm>
#include <cstring>
#include <vector>

#include "block/block.h"
#include "hw/drive-io-int.h"
#include "hw/ide-int.h"
#include "hw/machine.h"
#include "util/aio.h"
#include "util/bql.h"

struct IDEOp {
    enum Kind { PIO_READ, PIO_WRITE, FLUSH, DMA_READ, DMA_WRITE } kind;
    IDEState *s;
    uint64_t generation;
    uint64_t lba;
    uint32_t nsec;
    std::vector<uint8_t> bounce;  // PIO: owned copy, so a reset cannot race it
    QEMUIOVector qiov;
};

namespace {

bool op_is_read(const IDEOp *op)
{
    return op->kind == IDEOp::PIO_READ || op->kind == IDEOp::DMA_READ;
}

int coroutine_fn op_io(void *opaque)
{
    IDEOp *op = static_cast<IDEOp *>(opaque);
    BlockBackend *blk = op->s->conf.blk;
    int64_t off = (int64_t)op->lba * IDE_SECTOR, len = (int64_t)op->nsec * IDE_SECTOR;
    switch (op->kind) {
    case IDEOp::FLUSH: return blk_co_flush(blk);
    case IDEOp::PIO_READ:
    case IDEOp::DMA_READ: return blk_co_preadv(blk, off, len, &op->qiov, 0);
    default: return blk_co_pwritev(blk, off, len, &op->qiov, 0);
    }
}

void complete_pio_read(IDEState *s, IDEOp *op)
{
    memcpy(s->buf.data(), op->bounce.data(), op->bounce.size());
    s->buf_pos = 0;
    s->buf_end = (uint32_t)op->bounce.size();
    ide_set_sector(s, op->lba + op->nsec - 1);
    s->status = ATA_ST_DRDY | ATA_ST_DSC | ATA_ST_DRQ;
    ide_raise_irq(s);
}

void complete_pio_write(IDEState *s, IDEOp *op)
{
    s->lba += op->nsec;
    s->remaining -= op->nsec;
    ide_set_sector(s, op->lba + op->nsec - 1);
    if (s->remaining == 0) {
        ide_command_done(s);
        return;
    }
    s->buf_pos = 0;
    s->buf_end = std::min(s->remaining, s->block) * IDE_SECTOR;
    s->status = ATA_ST_DRDY | ATA_ST_DSC | ATA_ST_DRQ;
    ide_raise_irq(s);
}

// Under the BQL, in the main loop: apply the result to the registers.
void complete_op(IDEOp *op, int ret)
{
    BQL_ASSERT_LOCKED();
    IDEState *s = op->s;
    if (op->generation != s->generation) {
        return;  // the device was reset meanwhile
    }
    // The coroutine is done with the command; a PIO command goes on with
    // the next data block, which the host moves, not us.
    s->io_busy = false;
    bool dma = op->kind == IDEOp::DMA_READ || op->kind == IDEOp::DMA_WRITE;
    if (dma) {
        ide_bmdma_done(s, false);
    }
    if (ret < 0) {
        if (op->kind != IDEOp::FLUSH) {
            ide_set_sector(s, op->lba);
        }
        ide_set_error(s, op_is_read(op) ? ATA_ER_UNC : ATA_ER_ABRT);
        return;
    }
    switch (op->kind) {
    case IDEOp::PIO_READ: complete_pio_read(s, op); break;
    case IDEOp::PIO_WRITE: complete_pio_write(s, op); break;
    case IDEOp::FLUSH: ide_command_done(s); break;
    default:
        ide_set_sector(s, op->lba + op->nsec - 1);
        s->remaining = 0;
        ide_command_done(s);
        break;
    }
}

void coroutine_fn op_co(void *opaque)
{
    IDEOp *op = static_cast<IDEOp *>(opaque);
    int ret = drive_co_io(op->s->m, &op->s->conf, op_is_read(op), op_io, op);
    TRACE("ide_io_done", "ide: op %d lba %llu n %u ret %d\n", (int)op->kind,
          (unsigned long long)op->lba, op->nsec, ret);
    complete_op(op, ret);
    delete op;
    aio_context_dec_in_flight(qemu_get_aio_context());
}

// Coroutines are created here, in the main loop thread, never in the vCPU
// thread that wrote the command register.
void io_bh(void *opaque)
{
    IDEState *s = static_cast<IDEState *>(opaque);
    std::vector<IDEOp *> ops;
    ops.swap(s->op_queue);
    for (IDEOp *op : ops) {
        aio_co_enter(qemu_get_aio_context(), qemu_coroutine_create(op_co, op));
    }
}

IDEOp *new_op(IDEState *s, IDEOp::Kind kind, uint32_t nsec)
{
    IDEOp *op = new IDEOp{kind, s, s->generation, s->lba, nsec, {}, {}};
    return op;
}

void submit(IDEState *s, IDEOp *op, uint8_t status)
{
    s->io_busy = true;
    s->status = status;
    s->op_queue.push_back(op);
    aio_context_inc_in_flight(qemu_get_aio_context());
    qemu_bh_schedule(s->io_bh);
}

}  // namespace

void ide_io_init(IDEState *s) { s->io_bh = aio_bh_new(qemu_get_aio_context(), io_bh, s); }

void ide_io_cleanup(IDEState *s)
{
    qemu_bh_delete(s->io_bh);
    for (IDEOp *op : s->op_queue) {
        delete op;
        aio_context_dec_in_flight(qemu_get_aio_context());
    }
    s->op_queue.clear();
}

void ide_start_pio_read_block(IDEState *s)
{
    uint32_t n = std::min(s->remaining, s->block);
    IDEOp *op = new_op(s, IDEOp::PIO_READ, n);
    op->bounce.resize((size_t)n * IDE_SECTOR);
    qemu_iovec_init_buf(&op->qiov, op->bounce.data(), op->bounce.size());
    submit(s, op, ATA_ST_DRDY | ATA_ST_BSY);
}

void ide_start_pio_write_block(IDEState *s)
{
    uint32_t n = s->buf_end / IDE_SECTOR;
    IDEOp *op = new_op(s, IDEOp::PIO_WRITE, n);
    op->bounce.assign(s->buf.begin(), s->buf.begin() + s->buf_end);
    qemu_iovec_init_buf(&op->qiov, op->bounce.data(), op->bounce.size());
    submit(s, op, ATA_ST_DRDY | ATA_ST_BSY);
}

void ide_start_flush(IDEState *s)
{
    submit(s, new_op(s, IDEOp::FLUSH, 0), ATA_ST_DRDY | ATA_ST_BSY);
}

void ide_start_dma(IDEState *s)
{
    if (s->xfer != IDE_XFER_DMA || s->io_busy) {
        return;
    }
    bool is_read = s->cmd == ATA_CMD_READ_DMA || s->cmd == ATA_CMD_READ_DMA_NR ||
                   s->cmd == ATA_CMD_READ_DMA_EXT;
    IDEOp *op = new_op(s, is_read ? IDEOp::DMA_READ : IDEOp::DMA_WRITE, s->remaining);
    if (!ide_bmdma_map_prdt(s, (uint64_t)s->remaining * IDE_SECTOR, &op->qiov)) {
        delete op;
        ide_bmdma_done(s, true);
        ide_set_error(s, ATA_ER_ABRT);
        return;
    }
    submit(s, op, ATA_ST_DRDY | ATA_ST_BSY);
}
