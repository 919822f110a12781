// virtio-mmio v2 register window (see virtio-mmio-int.h).
#include "hw/virtio-mmio-int.h"

#include <cstring>

#include "hw/machine.h"

static void update_irq(VirtioMmio *t) { machine_set_irq(t->m, t->irq, t->isr != 0); }

static uint32_t read_config(VirtioMmio *t, uint64_t off, unsigned size)
{
    uint8_t buf[256] = {};
    size_t len = t->ops->config_size < sizeof(buf) ? t->ops->config_size : sizeof(buf);
    if (off + size > len) {
        return 0;
    }
    t->ops->get_config(t, buf, len);
    uint32_t v = 0;
    memcpy(&v, buf + off, size);
    return v;
}

static uint32_t read_queue_reg(VirtioMmio *t, uint64_t off)
{
    if (t->queue_sel >= t->num_queues) {
        return 0;  // QueueNumMax 0: the queue does not exist
    }
    const VirtQueue *vq = &t->vq[t->queue_sel];
    switch (off) {
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return VIRTQUEUE_MAX_SIZE;
    case VIRTIO_MMIO_QUEUE_READY: return vq->ready;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: return (uint32_t)vq->desc;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: return vq->desc >> 32;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return (uint32_t)vq->avail;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return vq->avail >> 32;
    case VIRTIO_MMIO_QUEUE_USED_LOW: return (uint32_t)vq->used;
    case VIRTIO_MMIO_QUEUE_USED_HIGH: return vq->used >> 32;
    default: return 0;
    }
}

uint64_t virtio_mmio_read(VirtioMmio *t, uint64_t off, unsigned size)
{
    if (off >= VIRTIO_MMIO_CONFIG) {
        return size <= 4 ? read_config(t, off - VIRTIO_MMIO_CONFIG, size) : 0;
    }
    if (size != 4) {
        return 0;  // 4.2.2.2: the common registers are 32-bit only
    }
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION: return 2;
    case VIRTIO_MMIO_DEVICE_ID: return t->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return t->host_features_sel < 2
                   ? (uint32_t)(t->host_features >> (32 * t->host_features_sel))
                   : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return t->isr;
    case VIRTIO_MMIO_STATUS: return t->status;
    case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_generation;
    case VIRTIO_MMIO_QUEUE_SEL: return t->queue_sel;
    default: return read_queue_reg(t, off);
    }
}

static void device_reset(VirtioMmio *t)
{
    t->ops->reset(t);
    t->status = 0;
    t->guest_features = 0;
    t->host_features_sel = t->guest_features_sel = t->queue_sel = 0;
    t->isr = 0;
    for (unsigned i = 0; i < t->num_queues; i++) {
        t->vq[i] = VirtQueue{};
    }
    update_irq(t);
}

static void write_status(VirtioMmio *t, uint32_t val)
{
    if (val == 0) {
        TRACE("virtio_mmio_reset", "virtio-mmio: device reset\n");
        device_reset(t);
        return;
    }
    if ((val & VIRTIO_CONFIG_S_FEATURES_OK) && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
        // 3.1.1: refuse a feature set we did not offer or a legacy driver.
        bool ok =
            !(t->guest_features & ~t->host_features) && (t->guest_features & VIRTIO_F_VERSION_1);
        if (!ok) {
            TRACE("virtio_mmio_features", "virtio-mmio: refused features 0x%llx\n",
                  (unsigned long long)t->guest_features);
            val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
        }
    }
    // NEEDS_RESET is device-owned: the driver cannot set or clear it.
    t->status =
        (uint8_t)((val & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (t->status & VIRTIO_CONFIG_S_NEEDS_RESET));
    for (unsigned i = 0; i < t->num_queues; i++) {
        t->vq[i].indirect = t->guest_features & VIRTIO_F_RING_INDIRECT_DESC;
    }
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t val)
{
    *addr =
        high ? ((*addr & 0xffffffffull) | ((uint64_t)val << 32)) : ((*addr & ~0xffffffffull) | val);
}

static void write_queue_ready(VirtioMmio *t, VirtQueue *vq, uint32_t val)
{
    if (!val) {
        virtqueue_reset(vq);
        return;
    }
    const char *why = nullptr;
    if (!virtqueue_check_layout(t->m, vq, &why)) {
        // The queue stays not ready; the driver sees QueueReady read 0.
        TRACE("virtio_mmio_queue", "virtio-mmio: queue %u rejected: %s\n", t->queue_sel, why);
        return;
    }
    vq->ready = true;
    vq->indirect = t->guest_features & VIRTIO_F_RING_INDIRECT_DESC;
}

static void write_queue_reg(VirtioMmio *t, uint64_t off, uint32_t val)
{
    if (t->queue_sel >= t->num_queues) {
        return;
    }
    VirtQueue *vq = &t->vq[t->queue_sel];
    if (off == VIRTIO_MMIO_QUEUE_READY) {
        write_queue_ready(t, vq, val);
        return;
    }
    if (vq->ready) {
        return;  // 4.2.3.2: layout registers are frozen while the queue is live
    }
    switch (off) {
    case VIRTIO_MMIO_QUEUE_NUM: vq->num = (uint16_t)(val <= VIRTQUEUE_MAX_SIZE ? val : 0); break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: set_addr_half(&vq->desc, false, val); break;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_addr_half(&vq->desc, true, val); break;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW: set_addr_half(&vq->avail, false, val); break;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: set_addr_half(&vq->avail, true, val); break;
    case VIRTIO_MMIO_QUEUE_USED_LOW: set_addr_half(&vq->used, false, val); break;
    case VIRTIO_MMIO_QUEUE_USED_HIGH: set_addr_half(&vq->used, true, val); break;
    default: break;
    }
}

static void write_notify(VirtioMmio *t, uint32_t q)
{
    if (q >= t->num_queues || !t->vq[q].ready || !(t->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
        virtio_mmio_broken(t)) {
        return;
    }
    t->ops->queue_notify(t, q);
}

void virtio_mmio_write(VirtioMmio *t, uint64_t off, uint64_t val64, unsigned size)
{
    if (off >= VIRTIO_MMIO_CONFIG || size != 4) {
        return;  // config space is read-only (no CONFIG_WCE); others 32-bit only
    }
    uint32_t val = (uint32_t)val64;
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->host_features_sel = val; break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->guest_features_sel = val; break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (t->guest_features_sel < 2 && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
            set_addr_half(&t->guest_features, t->guest_features_sel == 1, val);
        }
        break;
    case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = val; break;
    case VIRTIO_MMIO_QUEUE_NOTIFY: write_notify(t, val); break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        t->isr &= ~val;
        update_irq(t);
        break;
    case VIRTIO_MMIO_STATUS: write_status(t, val); break;
    default: write_queue_reg(t, off, val); break;
    }
}

static uint64_t mmio_read(void *opaque, uint64_t addr, unsigned size)
{
    return virtio_mmio_read(static_cast<VirtioMmio *>(opaque), addr, size);
}

static void mmio_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    virtio_mmio_write(static_cast<VirtioMmio *>(opaque), addr, val, size);
}

static const MemoryRegionOps virtio_mmio_ops = {mmio_read, mmio_write};

void virtio_mmio_init(VirtioMmio *t, Machine *m, uint64_t base, int irq, const VirtioDeviceOps *ops,
                      void *opaque, uint64_t host_features)
{
    t->m = m;
    t->ops = ops;
    t->opaque = opaque;
    t->irq = irq;
    t->host_features = host_features | VIRTIO_F_VERSION_1;
    machine_register_mmio(m, base, MACHINE_VIRTIO_MMIO_SIZE, &virtio_mmio_ops, t, "virtio-mmio");
}

void virtio_mmio_notify(VirtioMmio *t, VirtQueue *vq)
{
    if (!virtqueue_should_notify(t->m, vq)) {
        return;
    }
    t->isr |= VIRTIO_MMIO_INT_VRING;
    update_irq(t);
}

void virtio_mmio_set_needs_reset(VirtioMmio *t, const char *why)
{
    TRACE("virtio_mmio_needs_reset", "virtio-mmio: device needs reset: %s\n", why);
    if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET) {
        return;
    }
    t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    if (t->status & VIRTIO_CONFIG_S_DRIVER_OK) {
        t->config_generation++;
        t->isr |= VIRTIO_MMIO_INT_CONFIG;
        update_irq(t);
    }
}

bool virtio_mmio_broken(const VirtioMmio *t) { return t->status & VIRTIO_CONFIG_S_NEEDS_RESET; }
