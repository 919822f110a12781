// Split virtqueue (virtio 1.x, section 2.7) as the device sees it.
//
// This is the ONE place where guest-supplied ring and descriptor fields are
// validated: ring addresses when the driver marks the queue ready, then
// every descriptor (address range inside guest RAM, flags, next index,
// indirect table size, chain length, readable-before-writable order) when a
// chain is popped.  A popped VirtQueueElement holds host pointers into guest
// RAM that cover only validated ranges, so device code never re-checks.
//
// Guest memory is shared with a running vCPU: every descriptor is copied out
// once and the copy is what gets validated and used (no double fetch).
//
// Locking: all functions run with the BQL held.  Element buffers may be
// accessed by a coroutine after the BQL was dropped: guest RAM is mapped for
// the whole life of the machine.
#pragma once

#include <cstdint>

#include "util/iov.h"

struct Machine;

enum : uint16_t {
    VRING_DESC_F_NEXT = 1,
    VRING_DESC_F_WRITE = 2,
    VRING_DESC_F_INDIRECT = 4,
    VRING_AVAIL_F_NO_INTERRUPT = 1,
};

enum : uint32_t {
    VIRTQUEUE_MAX_SIZE = 256,       // QueueNumMax offered to the driver
    VIRTQUEUE_MAX_INDIRECT = 1024,  // descriptors in one indirect table
};

struct VirtQueue {
    uint16_t num = 0;  // ring size chosen by the driver (power of two)
    bool ready = false;
    bool indirect = false;  // VIRTIO_F_RING_INDIRECT_DESC negotiated
    uint64_t desc = 0;      // guest-physical addresses of the three parts
    uint64_t avail = 0;
    uint64_t used = 0;
    uint16_t last_avail_idx = 0;
    uint16_t used_idx = 0;
};

// One request: the device-readable ("out") buffers then the device-writable
// ("in") buffers, in chain order, zero-length descriptors dropped.
struct VirtQueueElement {
    uint16_t head = 0;
    QEMUIOVector out;  // .size is the byte count
    QEMUIOVector in;
    unsigned ndescs = 0;  // descriptors walked, indirect ones included
};

enum VirtQueuePop {
    VQ_POP_EMPTY = 0,    // nothing available
    VQ_POP_OK = 1,       // *elem filled
    VQ_POP_BROKEN = -1,  // the driver broke the ring: device needs reset
};

// Resets ring state (not the addresses a driver wrote).
void virtqueue_reset(VirtQueue *vq);

// Validates the ring layout (size, alignment, all three parts in RAM).
// Returns false with *why set when the driver's setup is unusable.
bool virtqueue_check_layout(Machine *m, const VirtQueue *vq, const char **why);

// Pops the next available chain.  On VQ_POP_BROKEN, *why names the broken
// rule (for tracing); the caller must stop using the queue.
VirtQueuePop virtqueue_pop(Machine *m, VirtQueue *vq, VirtQueueElement *elem, const char **why);

// Puts @head in the used ring with @written bytes, publishes it.  Returns
// false if the used ring is no longer in RAM (caller marks NEEDS_RESET).
bool virtqueue_push(Machine *m, VirtQueue *vq, uint16_t head, uint32_t written);

// True unless the driver suppressed interrupts (VRING_AVAIL_F_NO_INTERRUPT).
bool virtqueue_should_notify(Machine *m, const VirtQueue *vq);
