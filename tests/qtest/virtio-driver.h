// A minimal virtio-mmio + virtio-blk guest driver speaking through qtest:
// what a guest kernel does, step by step, so the tests exercise the device
// exactly as a guest would.  Guest memory layout (64 MiB guest):
//   0x100000 descriptor table, 0x104000 avail ring, 0x108000 used ring
//   0x110000 request headers / status bytes / indirect tables (bump allocated)
//   0x400000 data buffers (bump allocated)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/qtest/libqtest.h"

struct VirtioSeg {
    uint64_t addr;
    uint32_t len;
    bool write;  // device-writable
};

struct VirtioBlkDriver {
    QTestState *qts = nullptr;
    uint16_t qsize = 256;
    uint16_t avail_idx = 0;
    uint16_t used_seen = 0;
    uint16_t next_desc = 0;  // next free descriptor slot (never reused within a test)
    uint64_t meta_next = 0x110000;
    uint64_t data_next = 0x400000;
    uint64_t features = 0;
};

enum : uint64_t {
    VQ_DESC = 0x100000,
    VQ_AVAIL = 0x104000,
    VQ_USED = 0x108000,
    VMMIO = 0xD0000,
};

// Reset + ACK + DRIVER + feature negotiation (@wanted & offered) +
// FEATURES_OK + queue 0 setup + DRIVER_OK.  Returns the device status.
uint32_t vdrv_init(VirtioBlkDriver *d, QTestState *qts, uint64_t wanted);
uint64_t vdrv_host_features(VirtioBlkDriver *d);
uint32_t vdrv_status(VirtioBlkDriver *d);

uint64_t vdrv_alloc_meta(VirtioBlkDriver *d, uint32_t len);
uint64_t vdrv_alloc_data(VirtioBlkDriver *d, uint32_t len);

// Writes a descriptor chain for @segs into the ring (direct), returns head.
uint16_t vdrv_add_chain(VirtioBlkDriver *d, const std::vector<VirtioSeg> &segs);
// Writes @segs as an indirect table and one descriptor pointing at it.
uint16_t vdrv_add_indirect(VirtioBlkDriver *d, const std::vector<VirtioSeg> &segs);
// Raw descriptor write (malformed-chain tests).
void vdrv_write_desc(VirtioBlkDriver *d, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next);
uint16_t vdrv_alloc_desc(VirtioBlkDriver *d, unsigned n);
// Publishes @head in the avail ring (no kick).
void vdrv_publish(VirtioBlkDriver *d, uint16_t head);
void vdrv_kick(VirtioBlkDriver *d);
// Waits until the used index reaches @count completions in total since
// init; returns false on timeout.
bool vdrv_wait_used(VirtioBlkDriver *d, uint16_t count);
uint16_t vdrv_used_idx(VirtioBlkDriver *d);
// Used ring entry i: id and len.
void vdrv_used_elem(VirtioBlkDriver *d, uint16_t i, uint32_t *id, uint32_t *len);

// A whole virtio-blk request: header, data segments split into @nseg
// pieces, status byte.  Returns the status byte, or -1 on timeout.
struct BlkReq {
    uint32_t type;
    uint64_t sector;
    uint64_t data_addr = 0;  // guest buffer (allocated by vdrv_blk_prepare)
    uint32_t data_len = 0;
    uint64_t hdr_addr = 0;
    uint64_t status_addr = 0;
    uint16_t head = 0;
};
void vdrv_blk_prepare(VirtioBlkDriver *d, BlkReq *r, uint32_t type, uint64_t sector,
                      uint32_t data_len, unsigned ndata_segs, bool indirect);
int vdrv_blk_status(VirtioBlkDriver *d, const BlkReq *r);
int vdrv_blk_do(VirtioBlkDriver *d, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                unsigned ndata_segs, bool indirect);
