// virtio-blk (virtio 1.x, section 5.2) over virtio-mmio.
//
// Request lifecycle (docs/devices.md has the long form):
//   QueueNotify (vCPU or qtest, BQL) -> schedule the kick BH
//   kick BH (main loop, BQL) -> virtqueue_pop + one coroutine per chain
//   coroutine (main AioContext) -> parse once, blk_co_* -> yield ... resume
//   completion (same coroutine, BQL held by the main loop) -> status byte,
//   used ring, interrupt.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/devices.h"
#include "hw/virtio-mmio-int.h"

struct QEMUBH;

enum : uint32_t {
    VIRTIO_ID_BLOCK = 2,
    VIRTIO_BLK_T_IN = 0,
    VIRTIO_BLK_T_OUT = 1,
    VIRTIO_BLK_T_FLUSH = 4,
    VIRTIO_BLK_T_GET_ID = 8,
    VIRTIO_BLK_T_DISCARD = 11,
    VIRTIO_BLK_T_WRITE_ZEROES = 13,
    VIRTIO_BLK_S_OK = 0,
    VIRTIO_BLK_S_IOERR = 1,
    VIRTIO_BLK_S_UNSUPP = 2,
    VIRTIO_BLK_ID_BYTES = 20,
    VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1,
};

enum : uint64_t {
    VIRTIO_BLK_F_SEG_MAX = 1ull << 2,
    VIRTIO_BLK_F_RO = 1ull << 5,
    VIRTIO_BLK_F_BLK_SIZE = 1ull << 6,
    VIRTIO_BLK_F_FLUSH = 1ull << 9,
    VIRTIO_BLK_F_DISCARD = 1ull << 13,
    VIRTIO_BLK_F_WRITE_ZEROES = 1ull << 14,
};

// Limits advertised in config space.
enum : uint32_t {
    VIRTIO_BLK_SEG_MAX = VIRTQUEUE_MAX_SIZE - 2,
    VIRTIO_BLK_MAX_DISCARD_SECTORS = 1u << 22,  // 2 GiB per segment
    VIRTIO_BLK_MAX_DISCARD_SEG = 16,
};

// Config space layout (5.2.4), packed, little-endian.
struct __attribute__((packed)) VirtIOBlkConfig {
    uint64_t capacity;
    uint32_t size_max;
    uint32_t seg_max;
    uint16_t cylinders;
    uint8_t heads;
    uint8_t sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp;
    uint8_t alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;
    uint8_t unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
};
static_assert(sizeof(VirtIOBlkConfig) == 60);

struct VirtIOBlock {
    VirtioMmio transport;
    Machine *m = nullptr;
    DriveConfig conf;
    uint64_t capacity = 0;  // in 512-byte sectors
    bool read_only = false;
    QEMUBH *kick_bh = nullptr;
    // Bumped at device reset: completions of older requests touch no ring.
    uint64_t generation = 0;
    unsigned in_flight = 0;  // running coroutines, all generations
    unsigned inuse = 0;      // popped, not yet used, this generation
};

// Creates the device on @m at MACHINE_VIRTIO_MMIO_BASE / MACHINE_IRQ_VIRTIO.
// (virtio_blk_mmio_create in devices.h wraps this.)
VirtIOBlock *virtio_blk_new(Machine *m, BlockBackend *blk, const DriveConfig *conf);

// Pops every available chain and starts one coroutine per request.  Runs in
// the main AioContext thread with the BQL held (the kick BH).
void virtio_blk_handle_queue(VirtIOBlock *s);

// Starts the coroutine for one popped request (virtio-blk-req.cc).
void virtio_blk_start_request(VirtIOBlock *s, VirtQueueElement *elem);
