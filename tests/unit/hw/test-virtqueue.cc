// virtqueue_pop / virtqueue_push against hand-written rings in a real
// guest RAM mapping: what a valid chain yields, and which rule each
// malformed one breaks (the one place guest ring input is validated).
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstring>

extern "C" {
#include <cmocka.h>
}

#include "hw/machine.h"
#include "hw/virtqueue-int.h"
#include "util/error.h"

namespace {

constexpr uint64_t kRam = 1 << 20;
constexpr uint64_t kDesc = 0x10000, kAvail = 0x11000, kUsed = 0x12000, kBuf = 0x20000;
constexpr uint16_t kNum = 8;

struct Ring {
    Machine *m;
    VirtQueue vq;
    uint16_t avail_idx = 0;
};

int setup(void **state)
{
    Ring *r = new Ring;
    ErrorPtr err;
    r->m = machine_new(kRam, &err);
    assert_non_null(r->m);
    r->vq.num = kNum;
    r->vq.desc = kDesc;
    r->vq.avail = kAvail;
    r->vq.used = kUsed;
    r->vq.indirect = true;
    const char *why = nullptr;
    assert_true(virtqueue_check_layout(r->m, &r->vq, &why));
    r->vq.ready = true;
    *state = r;
    return 0;
}

int teardown(void **state)
{
    Ring *r = static_cast<Ring *>(*state);
    machine_free(r->m);
    delete r;
    return 0;
}

void desc(Ring *r, uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
          uint16_t next)
{
    uint8_t raw[16];
    memcpy(raw, &addr, 8);
    memcpy(raw + 8, &len, 4);
    memcpy(raw + 12, &flags, 2);
    memcpy(raw + 14, &next, 2);
    assert_true(machine_dma_write(r->m, table + 16ull * i, raw, 16));
}

void publish(Ring *r, uint16_t head)
{
    uint16_t slot = r->avail_idx % kNum;
    machine_dma_write(r->m, kAvail + 4 + 2 * slot, &head, 2);
    r->avail_idx++;
    machine_dma_write(r->m, kAvail + 2, &r->avail_idx, 2);
}

// Pops one chain; returns the broken rule or nullptr.
const char *pop(Ring *r, VirtQueueElement *e)
{
    const char *why = nullptr;
    VirtQueuePop p = virtqueue_pop(r->m, &r->vq, e, &why);
    if (p == VQ_POP_OK) return nullptr;
    assert_int_equal(p, VQ_POP_BROKEN);
    assert_non_null(why);
    return why;
}

void test_valid_chain(void **state)
{
    Ring *r = static_cast<Ring *>(*state);
    VirtQueueElement e;
    const char *why = nullptr;
    assert_int_equal(virtqueue_pop(r->m, &r->vq, &e, &why), VQ_POP_EMPTY);
    desc(r, kDesc, 3, kBuf, 16, VRING_DESC_F_NEXT, 5);
    desc(r, kDesc, 5, kBuf + 100, 0, VRING_DESC_F_NEXT, 1);  // zero length: dropped
    desc(r, kDesc, 1, kBuf + 200, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    desc(r, kDesc, 2, kBuf + 800, 1, VRING_DESC_F_WRITE, 0);
    publish(r, 3);
    assert_null(pop(r, &e));
    assert_int_equal(e.head, 3);
    assert_int_equal(e.ndescs, 4);
    assert_int_equal(e.out.size, 16);
    assert_int_equal(e.in.size, 513);
    assert_int_equal(e.in.iov.size(), 2);
    // The iovecs point into guest RAM at the right places.
    uint8_t *ram = static_cast<uint8_t *>(machine_ram_ptr(r->m, 0, kRam));
    assert_ptr_equal(e.out.iov[0].iov_base, ram + kBuf);
    assert_ptr_equal(e.in.iov[1].iov_base, ram + kBuf + 800);
    assert_true(virtqueue_push(r->m, &r->vq, e.head, 513));
    uint16_t used_idx;
    uint32_t entry[2];
    machine_dma_read(r->m, kUsed + 2, &used_idx, 2);
    machine_dma_read(r->m, kUsed + 4, entry, 8);
    assert_int_equal(used_idx, 1);
    assert_int_equal(entry[0], 3);
    assert_int_equal(entry[1], 513);
}

void test_full_length_chain_and_indirect(void **state)
{
    Ring *r = static_cast<Ring *>(*state);
    for (uint16_t i = 0; i < kNum; i++) {
        desc(r, kDesc, i, kBuf + 512 * i, 512, i + 1 < kNum ? VRING_DESC_F_NEXT : 0, i + 1);
    }
    publish(r, 0);
    VirtQueueElement e;
    assert_null(pop(r, &e));
    assert_int_equal(e.ndescs, kNum);
    // Direct descriptor, then an indirect table of 3 ending the chain.
    uint64_t t = 0x30000;
    desc(r, t, 0, kBuf, 512, VRING_DESC_F_NEXT, 1);
    desc(r, t, 1, kBuf + 512, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    desc(r, t, 2, kBuf + 1024, 1, VRING_DESC_F_WRITE, 0);
    desc(r, kDesc, 0, kBuf, 16, VRING_DESC_F_NEXT, 1);
    desc(r, kDesc, 1, t, 48, VRING_DESC_F_INDIRECT, 0);
    publish(r, 0);
    assert_null(pop(r, &e));
    assert_int_equal(e.ndescs, 4);
    assert_int_equal(e.out.size, 528);
    assert_int_equal(e.in.size, 513);
}

void test_broken_chains(void **state)
{
    Ring *r = static_cast<Ring *>(*state);
    VirtQueueElement e;
    struct Case {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
        const char *rule;
    };
    const Case cases[] = {
        {kBuf, 16, VRING_DESC_F_NEXT, 0, "descriptor chain loops"},
        {kBuf, 16, VRING_DESC_F_NEXT, kNum, "descriptor index out of table"},
        {kRam - 8, 16, 0, 0, "buffer outside guest RAM"},
        {~0ull - 3, 16, 0, 0, "buffer outside guest RAM"},
        {0x30000, 24, VRING_DESC_F_INDIRECT, 0, "bad indirect table size"},
        {0x30000, 0, VRING_DESC_F_INDIRECT, 0, "bad indirect table size"},
        {kRam - 16, 32, VRING_DESC_F_INDIRECT, 0, "indirect table outside guest RAM"},
        {0x30000, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1,
         "indirect descriptor with NEXT"},
    };
    for (const Case &c : cases) {
        desc(r, kDesc, 0, c.addr, c.len, c.flags, c.next);
        publish(r, 0);
        const char *why = pop(r, &e);
        assert_non_null(why);
        assert_string_equal(why, c.rule);
    }
    // Head index out of the table.
    publish(r, kNum + 3);
    assert_string_equal(pop(r, &e), "descriptor index out of table");
    // Readable after writable.
    desc(r, kDesc, 0, kBuf, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    desc(r, kDesc, 1, kBuf, 16, 0, 0);
    publish(r, 0);
    assert_string_equal(pop(r, &e), "device-readable buffer after a device-writable one");
    // Nested indirect; indirect without the feature.
    desc(r, 0x30000, 0, 0x31000, 16, VRING_DESC_F_INDIRECT, 0);
    desc(r, kDesc, 0, 0x30000, 16, VRING_DESC_F_INDIRECT, 0);
    publish(r, 0);
    assert_string_equal(pop(r, &e), "nested indirect table");
    r->vq.indirect = false;
    publish(r, 0);
    assert_string_equal(pop(r, &e), "indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC");
    // The avail index jumping past the ring size.
    r->avail_idx = (uint16_t)(r->vq.last_avail_idx + kNum + 1);
    machine_dma_write(r->m, kAvail + 2, &r->avail_idx, 2);
    assert_string_equal(pop(r, &e), "avail index moved by more than the queue size");
}

void test_layout(void **state)
{
    Ring *r = static_cast<Ring *>(*state);
    const char *why = nullptr;
    VirtQueue vq = r->vq;
    vq.num = 6;
    assert_false(virtqueue_check_layout(r->m, &vq, &why));
    vq = r->vq;
    vq.used = kUsed + 2;
    assert_false(virtqueue_check_layout(r->m, &vq, &why));
    vq = r->vq;
    vq.avail = kRam - 4;
    assert_false(virtqueue_check_layout(r->m, &vq, &why));
    vq = r->vq;
    vq.desc = ~0ull - 15;
    assert_false(virtqueue_check_layout(r->m, &vq, &why));
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_length_chain_and_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
