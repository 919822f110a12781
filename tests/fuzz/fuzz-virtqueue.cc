// libFuzzer target: virtqueue descriptor chains and virtio-blk requests.
//
// Input: [features u8][queue size u16][RAM image...].  The driver side is
// played honestly (status handshake, queue addresses at fixed places) and
// the RAM image is what the guest left in memory from 0x1000 on: descriptor
// table (0x1000), available ring (0x2000), used ring (0x3000) and buffers.
// The device is kicked twice (the second kick must find nothing new), and
// every chain it pops must be validated, answered or refused; a broken ring
// must only set NEEDS_RESET.
#include "hw/virtio-blk-int.h"
#include "hw/virtio-mmio-int.h"
#include "tests/fuzz/fuzz-device.h"

namespace {

enum : uint64_t { DESC = 0x1000, AVAIL = 0x2000, USED = 0x3000 };

void mmio_w(FuzzMachine *fm, uint64_t reg, uint32_t v)
{
    machine_mmio_write(fm->m, MACHINE_VIRTIO_MMIO_BASE + reg, v, 4);
}

uint32_t mmio_r(FuzzMachine *fm, uint64_t reg)
{
    return (uint32_t)machine_mmio_read(fm->m, MACHINE_VIRTIO_MMIO_BASE + reg, 4);
}

void driver_init(FuzzMachine *fm, uint8_t feat, uint16_t qsize)
{
    mmio_w(fm, VIRTIO_MMIO_STATUS, 0);
    mmio_w(fm, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    mmio_w(fm, VIRTIO_MMIO_STATUS, st);
    mmio_w(fm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = mmio_r(fm, VIRTIO_MMIO_DEVICE_FEATURES);
    // Each bit of @feat drops one offered low feature group: the device must
    // cope with any subset the driver accepts.
    uint32_t accept = lo & ~((uint32_t)feat << 2 & 0x7fc) & ~((feat & 1u) << 28);
    mmio_w(fm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_w(fm, VIRTIO_MMIO_DRIVER_FEATURES, accept);
    mmio_w(fm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_w(fm, VIRTIO_MMIO_DRIVER_FEATURES, 1);  // VERSION_1
    st |= VIRTIO_CONFIG_S_FEATURES_OK;
    mmio_w(fm, VIRTIO_MMIO_STATUS, st);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_SEL, 0);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_NUM, qsize);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_USED_LOW, USED);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
    mmio_w(fm, VIRTIO_MMIO_QUEUE_READY, 1);
    mmio_w(fm, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzMachine *fm = fuzz_machine(virtio_blk_mmio_create, IF_VIRTIO, "virtqueue");
    FuzzInput in(data, size);
    uint8_t feat = in.u8();
    uint16_t qsize = in.u16();
    fuzz_load_ram(fm, DESC, &in, in.left);
    driver_init(fm, feat, qsize);
    for (int kick = 0; kick < 2; kick++) {
        mmio_w(fm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        fuzz_settle(fm);
        mmio_w(fm, VIRTIO_MMIO_INTERRUPT_ACK, mmio_r(fm, VIRTIO_MMIO_INTERRUPT_STATUS));
    }
    mmio_w(fm, VIRTIO_MMIO_STATUS, 0);
    fuzz_settle(fm);
    return 0;
}
