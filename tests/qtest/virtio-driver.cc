// Guest-side virtio-blk driver over qtest (see virtio-driver.h).
#include "tests/qtest/virtio-driver.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hw/virtio-blk-int.h"
#include "hw/virtio-mmio-int.h"

static uint32_t mmio_r(VirtioBlkDriver *d, uint64_t off)
{
    return qtest_readl(d->qts, VMMIO + off);
}

static void mmio_w(VirtioBlkDriver *d, uint64_t off, uint32_t v)
{
    qtest_writel(d->qts, VMMIO + off, v);
}

uint32_t vdrv_status(VirtioBlkDriver *d) { return mmio_r(d, VIRTIO_MMIO_STATUS); }

uint64_t vdrv_host_features(VirtioBlkDriver *d)
{
    mmio_w(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t f = mmio_r(d, VIRTIO_MMIO_DEVICE_FEATURES);
    mmio_w(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return f | (uint64_t)mmio_r(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static void setup_queue(VirtioBlkDriver *d)
{
    mmio_w(d, VIRTIO_MMIO_QUEUE_SEL, 0);
    uint32_t max = mmio_r(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
    d->qsize = (uint16_t)(max < 256 ? max : 256);
    mmio_w(d, VIRTIO_MMIO_QUEUE_NUM, d->qsize);
    qtest_memset(d->qts, VQ_DESC, 0, 0x10000);
    mmio_w(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)VQ_DESC);
    mmio_w(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    mmio_w(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)VQ_AVAIL);
    mmio_w(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
    mmio_w(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)VQ_USED);
    mmio_w(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
    mmio_w(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

uint32_t vdrv_init(VirtioBlkDriver *d, QTestState *qts, uint64_t wanted)
{
    *d = VirtioBlkDriver{};
    d->qts = qts;
    mmio_w(d, VIRTIO_MMIO_STATUS, 0);
    mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    d->features = vdrv_host_features(d) & wanted;
    mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
    mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    uint32_t st =
        VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    mmio_w(d, VIRTIO_MMIO_STATUS, st);
    if (!(vdrv_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
        return vdrv_status(d);
    }
    setup_queue(d);
    mmio_w(d, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);
    return vdrv_status(d);
}

static uint64_t bump(uint64_t *next, uint64_t lo, uint64_t hi, uint32_t len)
{
    uint64_t aligned = (len + 15) & ~15ull;
    if (*next + aligned > hi) *next = lo;
    uint64_t a = *next;
    *next += aligned;
    return a;
}

uint64_t vdrv_alloc_meta(VirtioBlkDriver *d, uint32_t len)
{
    return bump(&d->meta_next, 0x110000, 0x400000, len);
}

uint64_t vdrv_alloc_data(VirtioBlkDriver *d, uint32_t len)
{
    return bump(&d->data_next, 0x400000, 0x3F00000, len);
}

uint16_t vdrv_alloc_desc(VirtioBlkDriver *d, unsigned n)
{
    if (d->next_desc + n > d->qsize) d->next_desc = 0;
    uint16_t i = d->next_desc;
    d->next_desc = (uint16_t)(d->next_desc + n);
    return i;
}

void vdrv_write_desc(VirtioBlkDriver *d, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t raw[16];
    memcpy(raw, &addr, 8);
    memcpy(raw + 8, &len, 4);
    memcpy(raw + 12, &flags, 2);
    memcpy(raw + 14, &next, 2);
    qtest_memwrite(d->qts, table + 16ull * i, raw, sizeof(raw));
}

// Writes @segs as consecutive entries first..first+n-1 of @table, in one go.
static void write_table(VirtioBlkDriver *d, uint64_t table, uint16_t first,
                        const std::vector<VirtioSeg> &segs)
{
    std::vector<uint8_t> raw(16 * segs.size());
    for (size_t k = 0; k < segs.size(); k++) {
        uint16_t flags = (segs[k].write ? VRING_DESC_F_WRITE : 0) |
                         (k + 1 < segs.size() ? VRING_DESC_F_NEXT : 0);
        uint16_t next = (uint16_t)(first + k + 1);
        memcpy(&raw[16 * k], &segs[k].addr, 8);
        memcpy(&raw[16 * k + 8], &segs[k].len, 4);
        memcpy(&raw[16 * k + 12], &flags, 2);
        memcpy(&raw[16 * k + 14], &next, 2);
    }
    qtest_memwrite(d->qts, table + 16ull * first, raw.data(), raw.size());
}

uint16_t vdrv_add_chain(VirtioBlkDriver *d, const std::vector<VirtioSeg> &segs)
{
    uint16_t head = vdrv_alloc_desc(d, (unsigned)segs.size());
    write_table(d, VQ_DESC, head, segs);
    return head;
}

uint16_t vdrv_add_indirect(VirtioBlkDriver *d, const std::vector<VirtioSeg> &segs)
{
    uint64_t table = vdrv_alloc_meta(d, (uint32_t)(16 * segs.size()));
    write_table(d, table, 0, segs);
    uint16_t head = vdrv_alloc_desc(d, 1);
    vdrv_write_desc(d, VQ_DESC, head, table, (uint32_t)(16 * segs.size()), VRING_DESC_F_INDIRECT,
                    0);
    return head;
}

void vdrv_publish(VirtioBlkDriver *d, uint16_t head)
{
    qtest_writew(d->qts, VQ_AVAIL + 4 + 2ull * (d->avail_idx % d->qsize), head);
    d->avail_idx++;
    qtest_writew(d->qts, VQ_AVAIL + 2, d->avail_idx);
}

void vdrv_kick(VirtioBlkDriver *d) { mmio_w(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0); }

uint16_t vdrv_used_idx(VirtioBlkDriver *d) { return qtest_readw(d->qts, VQ_USED + 2); }

bool vdrv_wait_used(VirtioBlkDriver *d, uint16_t count)
{
    for (int i = 0; i < 5000; i++) {
        if ((uint16_t)(vdrv_used_idx(d) - count) < 0x8000) {
            return true;
        }
        qtest_clock_step(d->qts, 1000 * 1000);
    }
    return false;
}

void vdrv_used_elem(VirtioBlkDriver *d, uint16_t i, uint32_t *id, uint32_t *len)
{
    uint64_t a = VQ_USED + 4 + 8ull * (i % d->qsize);
    *id = qtest_readl(d->qts, a);
    *len = qtest_readl(d->qts, a + 4);
}

void vdrv_blk_prepare(VirtioBlkDriver *d, BlkReq *r, uint32_t type, uint64_t sector,
                      uint32_t data_len, unsigned nseg, bool indirect)
{
    r->type = type;
    r->sector = sector;
    r->hdr_addr = vdrv_alloc_meta(d, 16);
    r->status_addr = vdrv_alloc_meta(d, 1);
    r->data_len = data_len;
    r->data_addr = data_len ? vdrv_alloc_data(d, data_len) : 0;
    uint8_t hdr[16] = {};
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    qtest_memwrite(d->qts, r->hdr_addr, hdr, sizeof(hdr));
    qtest_writeb(d->qts, r->status_addr, 0xAA);
    bool data_writable = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    std::vector<VirtioSeg> segs = {{r->hdr_addr, 16, false}};
    for (unsigned k = 0; data_len && k < nseg; k++) {
        uint32_t piece = data_len / nseg;
        uint32_t off = piece * k;
        uint32_t len = k + 1 == nseg ? data_len - off : piece;
        segs.push_back({r->data_addr + off, len, data_writable});
    }
    segs.push_back({r->status_addr, 1, true});
    r->head = indirect ? vdrv_add_indirect(d, segs) : vdrv_add_chain(d, segs);
}

int vdrv_blk_status(VirtioBlkDriver *d, const BlkReq *r)
{
    return qtest_readb(d->qts, r->status_addr);
}

int vdrv_blk_do(VirtioBlkDriver *d, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                unsigned nseg, bool indirect)
{
    BlkReq r;
    vdrv_blk_prepare(d, &r, type, sector, len, nseg, indirect);
    bool to_device = type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
                     type == VIRTIO_BLK_T_WRITE_ZEROES;
    if (to_device && len) {
        qtest_memwrite(d->qts, r.data_addr, buf, len);
    }
    uint16_t target = (uint16_t)(vdrv_used_idx(d) + 1);
    vdrv_publish(d, r.head);
    vdrv_kick(d);
    if (!vdrv_wait_used(d, target)) {
        return -1;
    }
    if (!to_device && len) {
        qtest_memread(d->qts, r.data_addr, buf, len);
    }
    return vdrv_blk_status(d, &r);
}
