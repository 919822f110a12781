// virtio-blk requests: parse and validate a popped chain once, run it as a
// coroutine against the BlockBackend, complete it into the used ring.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "block/block.h"
#include "hw/drive-io-int.h"
#include "hw/machine.h"
#include "hw/virtio-blk-int.h"
#include "util/aio.h"
#include "util/bql.h"

namespace {

struct __attribute__((packed)) VirtIOBlkOutHdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

struct __attribute__((packed)) VirtIOBlkSegment {  // discard / write zeroes
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

struct VirtIOBlockReq {
    VirtIOBlock *s = nullptr;
    VirtQueueElement *elem = nullptr;
    uint64_t generation = 0;
    uint32_t type = 0;
    uint64_t sector = 0;
    uint8_t *status = nullptr;  // last device-writable byte (validated)
    QEMUIOVector data;          // payload, already bounds-checked
    std::vector<VirtIOBlkSegment> segs;
};

constexpr int64_t SECTOR = 512;

bool sectors_in_range(const VirtIOBlock *s, uint64_t sector, uint64_t count)
{
    return sector <= s->capacity && count <= s->capacity - sector;
}

bool is_write_type(uint32_t type)
{
    return type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
           type == VIRTIO_BLK_T_WRITE_ZEROES;
}

// Discard / write-zeroes payload: whole segments, each within limits.
uint8_t parse_segments(VirtIOBlockReq *r)
{
    const VirtIOBlock *s = r->s;
    size_t bytes = r->data.size;
    if (bytes == 0 || bytes % sizeof(VirtIOBlkSegment) ||
        bytes / sizeof(VirtIOBlkSegment) > VIRTIO_BLK_MAX_DISCARD_SEG) {
        return VIRTIO_BLK_S_IOERR;
    }
    r->segs.resize(bytes / sizeof(VirtIOBlkSegment));
    qemu_iovec_to_buf(&r->data, 0, r->segs.data(), bytes);
    uint32_t allowed =
        r->type == VIRTIO_BLK_T_WRITE_ZEROES ? (uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u;
    for (const VirtIOBlkSegment &seg : r->segs) {
        if (seg.flags & ~allowed) {
            return VIRTIO_BLK_S_UNSUPP;  // 5.2.6.2: unknown flag bits
        }
        if (seg.num_sectors > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
            !sectors_in_range(s, seg.sector, seg.num_sectors)) {
            return VIRTIO_BLK_S_IOERR;
        }
    }
    return VIRTIO_BLK_S_OK;
}

// The one place request fields are checked.  Returns a status to complete
// with at once, or VIRTIO_BLK_S_OK to run the request.
uint8_t parse_request(VirtIOBlockReq *r)
{
    VirtQueueElement *e = r->elem;
    VirtIOBlkOutHdr hdr;
    if (e->out.size < sizeof(hdr)) {
        return VIRTIO_BLK_S_IOERR;  // header too short
    }
    qemu_iovec_to_buf(&e->out, 0, &hdr, sizeof(hdr));
    r->type = hdr.type;
    r->sector = hdr.sector;
    size_t in_data = e->in.size - 1;
    size_t out_data = e->out.size - sizeof(hdr);
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        if (out_data != 0) {
            return VIRTIO_BLK_S_IOERR;  // read data would go to device-readable buffers
        }
        qemu_iovec_concat(&r->data, &e->in, 0, in_data);
        break;
    case VIRTIO_BLK_T_OUT:
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        qemu_iovec_concat(&r->data, &e->out, sizeof(hdr), out_data);
        break;
    case VIRTIO_BLK_T_GET_ID:
        qemu_iovec_concat(&r->data, &e->in, 0, in_data);
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_FLUSH: return VIRTIO_BLK_S_OK;
    default: return VIRTIO_BLK_S_UNSUPP;
    }
    if (is_write_type(r->type) && r->s->read_only) {
        return VIRTIO_BLK_S_IOERR;
    }
    if (r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) {
        return parse_segments(r);
    }
    if (r->data.size % SECTOR || !sectors_in_range(r->s, r->sector, r->data.size / SECTOR)) {
        return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

void complete_request(VirtIOBlockReq *r, uint8_t status)
{
    BQL_ASSERT_LOCKED();
    VirtIOBlock *s = r->s;
    VirtioMmio *t = &s->transport;
    if (r->generation == s->generation) {
        s->inuse--;
        *r->status = status;
        TRACE("virtio_blk_complete", "virtio-blk: head %u type %u sector %llu status %u\n",
              r->elem->head, r->type, (unsigned long long)r->sector, status);
        if (!virtqueue_push(s->m, &t->vq[0], r->elem->head, (uint32_t)r->elem->in.size)) {
            virtio_mmio_set_needs_reset(t, "used ring outside guest RAM");
        } else {
            virtio_mmio_notify(t, &t->vq[0]);
        }
    }
    delete r->elem;
    delete r;
}

int coroutine_fn do_segments(VirtIOBlockReq *r)
{
    BlockBackend *blk = r->s->conf.blk;
    for (const VirtIOBlkSegment &seg : r->segs) {
        int64_t off = (int64_t)seg.sector * SECTOR, len = (int64_t)seg.num_sectors * SECTOR;
        int ret;
        if (r->type == VIRTIO_BLK_T_DISCARD) {
            ret = blk_co_pdiscard(blk, off, len);
            ret = ret == -ENOTSUP ? 0 : ret;  // discard is only a hint
        } else {
            int flags = (seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ? BDRV_REQ_MAY_UNMAP : 0;
            ret = blk_co_pwrite_zeroes(blk, off, len, flags);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

int coroutine_fn do_request(VirtIOBlockReq *r)
{
    BlockBackend *blk = r->s->conf.blk;
    // The byte offset exists only for IN/OUT, whose sector parse_request
    // range-checked; FLUSH and GET_ID ignore the field, whatever it holds.
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        return blk_co_preadv(blk, (int64_t)r->sector * SECTOR, r->data.size, &r->data, 0);
    case VIRTIO_BLK_T_OUT:
        return blk_co_pwritev(blk, (int64_t)r->sector * SECTOR, r->data.size, &r->data, 0);
    case VIRTIO_BLK_T_FLUSH: return blk_co_flush(blk);
    case VIRTIO_BLK_T_GET_ID: {
        char id[VIRTIO_BLK_ID_BYTES] = {};
        memcpy(id, r->s->conf.serial.data(), std::min(r->s->conf.serial.size(), sizeof(id)));
        size_t n = r->data.size < sizeof(id) ? r->data.size : sizeof(id);
        qemu_iovec_from_buf(&r->data, 0, id, n);
        return 0;
    }
    default: return do_segments(r);
    }
}

int coroutine_fn do_request_cb(void *opaque)
{
    return do_request(static_cast<VirtIOBlockReq *>(opaque));
}

void coroutine_fn request_co(void *opaque)
{
    VirtIOBlockReq *r = static_cast<VirtIOBlockReq *>(opaque);
    bool is_read = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID;
    int ret = drive_co_io(r->s->m, &r->s->conf, is_read, do_request_cb, r);
    r->s->in_flight--;
    complete_request(r, ret >= 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
    aio_context_dec_in_flight(qemu_get_aio_context());
}

}  // namespace

void virtio_blk_start_request(VirtIOBlock *s, VirtQueueElement *elem)
{
    if (elem->in.size == 0) {
        // No status byte: nothing sensible can be reported for this chain.
        virtio_mmio_set_needs_reset(&s->transport, "virtio-blk request without status byte");
        delete elem;
        return;
    }
    VirtIOBlockReq *r = new VirtIOBlockReq;
    r->s = s;
    r->elem = elem;
    r->generation = s->generation;
    s->inuse++;
    const iovec &last = elem->in.iov.back();
    r->status = static_cast<uint8_t *>(last.iov_base) + last.iov_len - 1;
    uint8_t status = parse_request(r);
    if (status != VIRTIO_BLK_S_OK) {
        complete_request(r, status);
        return;
    }
    s->in_flight++;
    AioContext *ctx = qemu_get_aio_context();
    aio_context_inc_in_flight(ctx);  // lets qtest clock_step and drain wait for it
    aio_co_enter(ctx, qemu_coroutine_create(request_co, r));
}
