// virtio-blk device: features, config space, queue kick and reset.  The
// per-request work lives in virtio-blk-req.cc.
#include "hw/virtio-blk-int.h"

#include <cstring>

#include "block/block.h"
#include "hw/machine.h"
#include "util/aio.h"
#include "util/bql.h"

static VirtIOBlock *to_blk(VirtioMmio *t) { return static_cast<VirtIOBlock *>(t->opaque); }

static void virtio_blk_get_config(VirtioMmio *t, uint8_t *buf, size_t len)
{
    VirtIOBlock *s = to_blk(t);
    VirtIOBlkConfig c{};
    c.capacity = s->capacity;
    c.seg_max = VIRTIO_BLK_SEG_MAX;
    c.blk_size = 512;
    c.min_io_size = 1;
    c.writeback = s->conf.write_cache;
    c.num_queues = 1;
    c.max_discard_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
    c.max_discard_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
    c.discard_sector_alignment = 1;
    c.max_write_zeroes_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
    c.max_write_zeroes_seg = VIRTIO_BLK_MAX_DISCARD_SEG;
    c.write_zeroes_may_unmap = 1;
    memcpy(buf, &c, len < sizeof(c) ? len : sizeof(c));
}

// QueueNotify may arrive in the vCPU thread: defer the pop to the main
// loop so that coroutines are created and run in the main AioContext.
static void virtio_blk_queue_notify(VirtioMmio *t, unsigned q)
{
    (void)q;
    qemu_bh_schedule(to_blk(t)->kick_bh);
}

static void virtio_blk_reset(VirtioMmio *t)
{
    VirtIOBlock *s = to_blk(t);
    // In-flight requests keep running (their buffers stay mapped) but must
    // not complete into the rings of the reset device.
    s->generation++;
    s->inuse = 0;
    TRACE("virtio_blk_reset", "virtio-blk: reset with %u requests in flight\n", s->in_flight);
}

static const VirtioDeviceOps virtio_blk_ops = {
    VIRTIO_ID_BLOCK,         virtio_blk_get_config, sizeof(VirtIOBlkConfig),
    virtio_blk_queue_notify, virtio_blk_reset,
};

static void virtio_blk_kick_bh(void *opaque)
{
    BQL_ASSERT_LOCKED();
    virtio_blk_handle_queue(static_cast<VirtIOBlock *>(opaque));
}

void virtio_blk_handle_queue(VirtIOBlock *s)
{
    VirtioMmio *t = &s->transport;
    VirtQueue *vq = &t->vq[0];
    while (vq->ready && !virtio_mmio_broken(t) && (t->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
        // A driver has only vq->num descriptors: more outstanding requests
        // means it re-published heads still in use.  Refusing here bounds
        // the host memory a guest can pin with requests.
        if (s->inuse >= vq->num) {
            uint16_t avail_idx = 0;
            if (machine_dma_read(s->m, vq->avail + 2, &avail_idx, 2) &&
                avail_idx != vq->last_avail_idx) {
                virtio_mmio_set_needs_reset(t, "more requests in use than the queue size");
            }
            return;
        }
        VirtQueueElement *elem = new VirtQueueElement;
        const char *why = nullptr;
        VirtQueuePop r = virtqueue_pop(s->m, vq, elem, &why);
        if (r != VQ_POP_OK) {
            delete elem;
            if (r == VQ_POP_BROKEN) {
                virtio_mmio_set_needs_reset(t, why);
            }
            return;
        }
        virtio_blk_start_request(s, elem);
    }
}

static uint64_t virtio_blk_features(const VirtIOBlock *s)
{
    uint64_t f = VIRTIO_F_VERSION_1 | VIRTIO_F_RING_INDIRECT_DESC | VIRTIO_BLK_F_SEG_MAX |
                 VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;
    if (s->read_only) {
        f |= VIRTIO_BLK_F_RO;
    } else {
        f |= VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES;
    }
    return f;
}

static void virtio_blk_free(void *opaque)
{
    VirtIOBlock *s = static_cast<VirtIOBlock *>(opaque);
    qemu_bh_delete(s->kick_bh);
    delete s;
}

VirtIOBlock *virtio_blk_new(Machine *m, BlockBackend *blk, const DriveConfig *conf)
{
    int64_t len = blk_getlength(blk);
    if (len < 0) {
        return nullptr;
    }
    VirtIOBlock *s = new VirtIOBlock;
    s->m = m;
    s->conf = *conf;
    s->conf.blk = blk;
    s->capacity = (uint64_t)len / 512;
    s->read_only = conf->read_only || blk_is_read_only(blk);
    s->kick_bh = aio_bh_new(qemu_get_aio_context(), virtio_blk_kick_bh, s);
    blk_set_enable_write_cache(blk, conf->write_cache);
    virtio_mmio_init(&s->transport, m, MACHINE_VIRTIO_MMIO_BASE, MACHINE_IRQ_VIRTIO,
                     &virtio_blk_ops, s, virtio_blk_features(s));
    frontend_register(m, virtio_blk_free, s);
    return s;
}

int virtio_blk_mmio_create(Machine *m, BlockBackend *blk, const DriveConfig *conf)
{
    return virtio_blk_new(m, blk, conf) ? 0 : -EIO;
}
