// virtio-mmio transport, version 2 (virtio 1.x, section 4.2): the register
// window, feature negotiation, device status, queue setup and interrupts.
// A device type plugs in through VirtioDeviceOps; the transport owns the
// common state (features, status, queues, ISR).
//
// Locking: register accesses come from the bus with the BQL held; the ops
// are called with the BQL held.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hw/virtqueue-int.h"

struct Machine;

enum : uint64_t {
    VIRTIO_F_RING_INDIRECT_DESC = 1ull << 28,
    VIRTIO_F_VERSION_1 = 1ull << 32,
};

enum : uint8_t {
    VIRTIO_CONFIG_S_ACKNOWLEDGE = 1,
    VIRTIO_CONFIG_S_DRIVER = 2,
    VIRTIO_CONFIG_S_DRIVER_OK = 4,
    VIRTIO_CONFIG_S_FEATURES_OK = 8,
    VIRTIO_CONFIG_S_NEEDS_RESET = 0x40,
    VIRTIO_CONFIG_S_FAILED = 0x80,
};

// Register offsets (4.2.2).
enum : uint64_t {
    VIRTIO_MMIO_MAGIC_VALUE = 0x000,
    VIRTIO_MMIO_VERSION = 0x004,
    VIRTIO_MMIO_DEVICE_ID = 0x008,
    VIRTIO_MMIO_VENDOR_ID = 0x00c,
    VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_MMIO_QUEUE_SEL = 0x030,
    VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_MMIO_QUEUE_NUM = 0x038,
    VIRTIO_MMIO_QUEUE_READY = 0x044,
    VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
    VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    VIRTIO_MMIO_STATUS = 0x070,
    VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_MMIO_QUEUE_AVAIL_LOW = 0x090,
    VIRTIO_MMIO_QUEUE_AVAIL_HIGH = 0x094,
    VIRTIO_MMIO_QUEUE_USED_LOW = 0x0a0,
    VIRTIO_MMIO_QUEUE_USED_HIGH = 0x0a4,
    VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
    VIRTIO_MMIO_CONFIG = 0x100,
};

enum : uint32_t {
    VIRTIO_MMIO_MAGIC = 0x74726976,   // "virt"
    VIRTIO_MMIO_VENDOR = 0x554D4551,  // "QEMU", as QEMU's devices report
    VIRTIO_MMIO_INT_VRING = 1,
    VIRTIO_MMIO_INT_CONFIG = 2,
};

struct VirtioMmio;

struct VirtioDeviceOps {
    uint32_t device_id;
    // Fills @buf with the device-specific config space (little-endian).
    void (*get_config)(VirtioMmio *t, uint8_t *buf, size_t len);
    size_t config_size;
    // The driver kicked queue @q (DRIVER_OK set, device not broken).
    void (*queue_notify)(VirtioMmio *t, unsigned q);
    // Device reset (status 0 written): drop device-side request state.
    void (*reset)(VirtioMmio *t);
};

enum { VIRTIO_MMIO_MAX_QUEUES = 1 };

struct VirtioMmio {
    Machine *m = nullptr;
    const VirtioDeviceOps *ops = nullptr;
    void *opaque = nullptr;  // the device
    int irq = -1;
    uint64_t host_features = 0;
    uint64_t guest_features = 0;
    uint32_t host_features_sel = 0;
    uint32_t guest_features_sel = 0;
    uint32_t queue_sel = 0;
    uint8_t status = 0;
    uint32_t isr = 0;
    uint32_t config_generation = 0;
    unsigned num_queues = 1;
    VirtQueue vq[VIRTIO_MMIO_MAX_QUEUES];
};

// Registers the 4 KiB window at @base on @m.  @t must outlive the machine.
void virtio_mmio_init(VirtioMmio *t, Machine *m, uint64_t base, int irq, const VirtioDeviceOps *ops,
                      void *opaque, uint64_t host_features);

// Register access (what the MMIO region dispatches to; also for fuzzing).
uint64_t virtio_mmio_read(VirtioMmio *t, uint64_t off, unsigned size);
void virtio_mmio_write(VirtioMmio *t, uint64_t off, uint64_t val, unsigned size);

// Used-buffer notification for @vq (unless the driver suppressed it).
void virtio_mmio_notify(VirtioMmio *t, VirtQueue *vq);
// The driver broke the device contract: set DEVICE_NEEDS_RESET and send a
// configuration-change interrupt.  Queues stop being processed until reset.
void virtio_mmio_set_needs_reset(VirtioMmio *t, const char *why);
bool virtio_mmio_broken(const VirtioMmio *t);
