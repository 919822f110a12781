// Split virtqueue: ring layout checks, chain walking and used-ring updates.
// All guest fields are validated here (see virtqueue-int.h).
#include "hw/virtqueue-int.h"

#include <bit>

#include "hw/machine.h"

static_assert(std::endian::native == std::endian::little,
              "virtio 1.x rings are little-endian; this code reads them natively");

namespace {

struct VRingDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(VRingDesc) == 16);

// Offsets inside the avail and used rings (spec 2.7.6 / 2.7.8).
constexpr uint64_t AVAIL_FLAGS = 0, AVAIL_IDX = 2, AVAIL_RING = 4;
constexpr uint64_t USED_IDX = 2, USED_RING = 4;

bool read_u16(Machine *m, uint64_t gpa, uint16_t *v)
{
    return machine_dma_read(m, gpa, v, sizeof(*v));
}

// Where a chain walk stands: the table being walked and how much of it.
struct ChainCursor {
    uint64_t table;
    uint32_t size;        // entries in the table
    uint32_t walked = 0;  // entries visited in this table (loop guard)
    uint16_t idx;
    bool indirect = false;
    bool seen_write = false;
};

// Switches @c to the indirect table @d describes; nullptr or a broken rule.
const char *enter_indirect(Machine *m, const VirtQueue *vq, const VRingDesc &d, ChainCursor *c)
{
    if (!vq->indirect) {
        return "indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC";
    }
    if (c->indirect) {
        return "nested indirect table";
    }
    // 2.7.5.3: direct descriptors may precede the indirect one, but it
    // must end the chain; its WRITE flag is ignored.
    if (d.flags & VRING_DESC_F_NEXT) {
        return "indirect descriptor with NEXT";
    }
    if (d.len == 0 || d.len % sizeof(VRingDesc) != 0 ||
        d.len / sizeof(VRingDesc) > VIRTQUEUE_MAX_INDIRECT) {
        return "bad indirect table size";
    }
    if (!machine_ram_range_ok(m, d.addr, d.len)) {
        return "indirect table outside guest RAM";
    }
    c->table = d.addr;
    c->size = d.len / sizeof(VRingDesc);
    c->walked = 0;
    c->idx = 0;
    c->indirect = true;
    return nullptr;
}

// Adds the buffer @d describes to @elem; nullptr or a broken rule.
const char *add_buffer(Machine *m, VirtQueueElement *elem, const VRingDesc &d, ChainCursor *c)
{
    bool write = d.flags & VRING_DESC_F_WRITE;
    if (!write && c->seen_write) {
        return "device-readable buffer after a device-writable one";
    }
    c->seen_write |= write;
    elem->ndescs++;
    if (d.len == 0) {
        return nullptr;
    }
    void *p = machine_ram_ptr(m, d.addr, d.len);
    if (!p) {
        return "buffer outside guest RAM";
    }
    qemu_iovec_add(write ? &elem->in : &elem->out, p, d.len);
    return nullptr;
}

const char *walk_chain(Machine *m, const VirtQueue *vq, uint16_t head, VirtQueueElement *elem)
{
    ChainCursor c{vq->desc, vq->num, 0, head};
    for (;;) {
        if (c.idx >= c.size) {
            return "descriptor index out of table";
        }
        if (++c.walked > c.size) {
            return "descriptor chain loops";
        }
        VRingDesc d;
        if (!machine_dma_read(m, c.table + (uint64_t)c.idx * sizeof(d), &d, sizeof(d))) {
            return "descriptor table outside guest RAM";
        }
        const char *why = (d.flags & VRING_DESC_F_INDIRECT) ? enter_indirect(m, vq, d, &c)
                                                            : add_buffer(m, elem, d, &c);
        if (why) {
            return why;
        }
        if (d.flags & VRING_DESC_F_INDIRECT) {
            continue;
        }
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            return nullptr;
        }
        c.idx = d.next;
    }
}

}  // namespace

void virtqueue_reset(VirtQueue *vq)
{
    vq->ready = false;
    vq->last_avail_idx = 0;
    vq->used_idx = 0;
}

bool virtqueue_check_layout(Machine *m, const VirtQueue *vq, const char **why)
{
    uint64_t n = vq->num;
    if (n == 0 || n > VIRTQUEUE_MAX_SIZE || (n & (n - 1)) != 0) {
        *why = "queue size not a power of two within QueueNumMax";
    } else if (vq->desc % 16 || vq->avail % 2 || vq->used % 4) {
        *why = "misaligned ring";
    } else if (!machine_ram_range_ok(m, vq->desc, 16 * n) ||
               !machine_ram_range_ok(m, vq->avail, 6 + 2 * n) ||
               !machine_ram_range_ok(m, vq->used, 6 + 8 * n)) {
        *why = "ring outside guest RAM";
    } else {
        return true;
    }
    return false;
}

VirtQueuePop virtqueue_pop(Machine *m, VirtQueue *vq, VirtQueueElement *elem, const char **why)
{
    uint16_t avail_idx, head;
    if (!read_u16(m, vq->avail + AVAIL_IDX, &avail_idx)) {
        *why = "avail ring outside guest RAM";
        return VQ_POP_BROKEN;
    }
    uint16_t pending = avail_idx - vq->last_avail_idx;
    if (pending == 0) {
        return VQ_POP_EMPTY;
    }
    if (pending > vq->num) {
        *why = "avail index moved by more than the queue size";
        return VQ_POP_BROKEN;
    }
    // Read the ring entry only after the index that published it.
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint64_t slot = vq->avail + AVAIL_RING + 2ull * (vq->last_avail_idx % vq->num);
    if (!read_u16(m, slot, &head)) {
        *why = "avail ring outside guest RAM";
        return VQ_POP_BROKEN;
    }
    vq->last_avail_idx++;
    elem->head = head;
    elem->ndescs = 0;
    qemu_iovec_reset(&elem->out);
    qemu_iovec_reset(&elem->in);
    *why = walk_chain(m, vq, head, elem);
    return *why ? VQ_POP_BROKEN : VQ_POP_OK;
}

bool virtqueue_push(Machine *m, VirtQueue *vq, uint16_t head, uint32_t written)
{
    uint32_t entry[2] = {head, written};
    uint64_t slot = vq->used + USED_RING + 8ull * (vq->used_idx % vq->num);
    if (!machine_dma_write(m, slot, entry, sizeof(entry))) {
        return false;
    }
    // The entry must be visible before the index that publishes it.
    __atomic_thread_fence(__ATOMIC_RELEASE);
    uint16_t idx = ++vq->used_idx;
    return machine_dma_write(m, vq->used + USED_IDX, &idx, sizeof(idx));
}

bool virtqueue_should_notify(Machine *m, const VirtQueue *vq)
{
    uint16_t flags = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!read_u16(m, vq->avail + AVAIL_FLAGS, &flags)) {
        return true;
    }
    return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
}
