// virtio-blk over virtio-mmio, driven through qtest-lite as a guest driver
// would; every test checks the image from the host side afterwards.
#include <fcntl.h>
#include <unistd.h>
#include <cstring>
#include <string>
#include <vector>

#include "tests/qtest/qtest-fixture.h"

#include "hw/virtio-blk-int.h"
#include "tests/qtest/virtio-driver.h"

namespace {

constexpr uint64_t kImageSize = 16 << 20;
constexpr uint64_t kWanted = ~0ull;  // take everything the device offers

struct Fixture : DeviceFixture {
    VirtioBlkDriver d;
};

void start(Fixture *f, const char *extra)
{
    f->img = image_create_pattern(kImageSize);
    std::string args = "-drive file=" + f->img + ",format=raw,if=virtio" + extra;
    f->qts = qtest_start(args.c_str());
    uint32_t st = vdrv_init(&f->d, f->qts, kWanted);
    assert_true(st & VIRTIO_CONFIG_S_DRIVER_OK);
}

void test_features_and_config(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "");
    QTestState *q = f->qts;
    assert_int_equal(qtest_readl(q, VMMIO + 0x000), 0x74726976);
    assert_int_equal(qtest_readl(q, VMMIO + 0x004), 2);
    assert_int_equal(qtest_readl(q, VMMIO + 0x008), VIRTIO_ID_BLOCK);
    uint64_t feat = vdrv_host_features(&f->d);
    uint64_t need = VIRTIO_F_VERSION_1 | VIRTIO_F_RING_INDIRECT_DESC | VIRTIO_BLK_F_SEG_MAX |
                    VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_DISCARD |
                    VIRTIO_BLK_F_WRITE_ZEROES;
    assert_int_equal(feat & need, need);
    assert_false(feat & VIRTIO_BLK_F_RO);
    uint64_t cap = qtest_readl(q, VMMIO + 0x100) | (uint64_t)qtest_readl(q, VMMIO + 0x104) << 32;
    assert_int_equal(cap, kImageSize / 512);
    assert_int_equal(qtest_readl(q, VMMIO + 0x100 + offsetof(VirtIOBlkConfig, blk_size)), 512);
    assert_int_equal(qtest_readl(q, VMMIO + 0x100 + offsetof(VirtIOBlkConfig, seg_max)),
                     VIRTIO_BLK_SEG_MAX);
    // A legacy driver (no VERSION_1) is refused FEATURES_OK.
    uint32_t st = vdrv_init(&f->d, q, kWanted & ~VIRTIO_F_VERSION_1);
    assert_false(st & VIRTIO_CONFIG_S_FEATURES_OK);
    st = vdrv_init(&f->d, q, kWanted);
    assert_int_equal(st, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                             VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

void test_read_write(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "");
    qtest_irq_intercept_in(f->qts, "ioapic");
    std::vector<uint8_t> buf(4096);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, 0, buf.data(), 4096, 1, false), 0);
    assert_pattern(buf.data(), 0, 4096);
    // The completion raised IRQ 11 until the driver acknowledged it.
    assert_true(qtest_get_irq(f->qts, 11));
    assert_int_equal(qtest_readl(f->qts, VMMIO + 0x060), 1);
    qtest_writel(f->qts, VMMIO + 0x064, 1);
    assert_false(qtest_get_irq(f->qts, 11));

    std::vector<uint8_t> data = test_data(8192, 3);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_OUT, 100, data.data(), 8192, 1, false), 0);
    std::vector<uint8_t> back(8192);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, 100, back.data(), 8192, 3, false), 0);
    assert_memory_equal(back.data(), data.data(), 8192);
    assert_image_bytes(f->img, 100 * 512, data);
    // The last sector of the disk is reachable, the next one is not.
    uint64_t last = kImageSize / 512 - 1;
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, last, buf.data(), 512, 1, false), 0);
    assert_pattern(buf.data(), last * 512, 512);
}

// Chains of 3..128 descriptors (header + N data + status), direct and
// indirect, writing then reading back through the same shape.
void test_chain_lengths(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "");
    const unsigned nsegs[] = {1, 2, 5, 31, 64, 126};
    uint64_t sector = 1000;
    for (bool indirect : {false, true}) {
        for (unsigned n : nsegs) {
            uint32_t len = 64 * 1024;
            std::vector<uint8_t> data = test_data(len, (uint8_t)(n + indirect));
            assert_int_equal(
                vdrv_blk_do(&f->d, VIRTIO_BLK_T_OUT, sector, data.data(), len, n, indirect),
                VIRTIO_BLK_S_OK);
            std::vector<uint8_t> back(len);
            assert_int_equal(
                vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, sector, back.data(), len, n, indirect),
                VIRTIO_BLK_S_OK);
            assert_memory_equal(back.data(), data.data(), len);
            assert_image_bytes(f->img, sector * 512, data);
            sector += len / 512;
        }
    }
    // A 2-descriptor chain: FLUSH has only header and status.
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_FLUSH, 0, nullptr, 0, 0, false), 0);
    // An indirect table longer than the queue.
    std::vector<uint8_t> data = test_data(254 * 512, 77);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_OUT, 5000, data.data(), 254 * 512, 254, true),
                     0);
    assert_image_bytes(f->img, 5000 * 512, data);

    // Direct descriptors followed by an indirect one ending the chain
    // (2.7.5.3.2): header direct, data and status in the table.
    BlkReq r;
    vdrv_blk_prepare(&f->d, &r, VIRTIO_BLK_T_IN, 5000, 0, 0, false);
    uint64_t buf = vdrv_alloc_data(&f->d, 2048), table = vdrv_alloc_meta(&f->d, 48);
    vdrv_write_desc(&f->d, table, 0, buf, 1024, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    vdrv_write_desc(&f->d, table, 1, buf + 1024, 1024, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    vdrv_write_desc(&f->d, table, 2, r.status_addr, 1, VRING_DESC_F_WRITE, 0);
    uint16_t head = vdrv_alloc_desc(&f->d, 2);
    vdrv_write_desc(&f->d, VQ_DESC, head, r.hdr_addr, 16, VRING_DESC_F_NEXT, (uint16_t)(head + 1));
    vdrv_write_desc(&f->d, VQ_DESC, head + 1, table, 48, VRING_DESC_F_INDIRECT, 0);
    uint16_t target = (uint16_t)(vdrv_used_idx(&f->d) + 1);
    vdrv_publish(&f->d, head);
    vdrv_kick(&f->d);
    assert_true(vdrv_wait_used(&f->d, target));
    assert_int_equal(vdrv_blk_status(&f->d, &r), VIRTIO_BLK_S_OK);
    std::vector<uint8_t> back(2048);
    qtest_memread(f->qts, buf, back.data(), back.size());
    assert_memory_equal(back.data(), data.data(), back.size());
}

void test_64_in_flight(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "");
    const unsigned n = 64, len = 8192;
    for (uint32_t type : {VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_IN}) {
        std::vector<BlkReq> reqs(n);
        uint16_t base = vdrv_used_idx(&f->d);
        for (unsigned i = 0; i < n; i++) {
            vdrv_blk_prepare(&f->d, &reqs[i], type, 2048 + i * 16, len, 1 + i % 3, i % 2);
            if (type == VIRTIO_BLK_T_OUT) {
                qtest_memwrite(f->qts, reqs[i].data_addr, test_data(len, (uint8_t)i).data(), len);
            }
        }
        for (unsigned i = 0; i < n; i++)
            vdrv_publish(&f->d, reqs[i].head);
        vdrv_kick(&f->d);  // one kick for all 64: they run concurrently
        assert_true(vdrv_wait_used(&f->d, (uint16_t)(base + n)));
        std::vector<bool> seen(f->d.qsize);
        for (unsigned i = 0; i < n; i++) {
            uint32_t id, ulen;
            vdrv_used_elem(&f->d, (uint16_t)(base + i), &id, &ulen);
            assert_true(id < f->d.qsize && !seen[id]);
            seen[id] = true;
        }
        for (unsigned i = 0; i < n; i++) {
            assert_int_equal(vdrv_blk_status(&f->d, &reqs[i]), VIRTIO_BLK_S_OK);
            assert_true(seen[reqs[i].head]);
            std::vector<uint8_t> want = test_data(len, (uint8_t)i);
            if (type == VIRTIO_BLK_T_IN) {
                std::vector<uint8_t> got(len);
                qtest_memread(f->qts, reqs[i].data_addr, got.data(), len);
                assert_memory_equal(got.data(), want.data(), len);
            }
            assert_image_bytes(f->img, (2048 + i * 16) * 512ull, want);
        }
    }
}

void test_flush_get_id(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, ",serial=QLITE-SERIAL-0042");
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_FLUSH, 0, nullptr, 0, 0, false), 0);
    char id[20];
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_GET_ID, 0, id, 20, 1, false), 0);
    assert_memory_equal(id, "QLITE-SERIAL-0042\0\0\0", 20);
}

void put_segment(uint8_t *p, uint64_t sector, uint32_t n, uint32_t flags)
{
    memcpy(p, &sector, 8);
    memcpy(p + 8, &n, 4);
    memcpy(p + 12, &flags, 4);
}

void test_discard_write_zeroes(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "");
    uint8_t seg[32];
    std::vector<uint8_t> zeros(16 * 512, 0);
    put_segment(seg, 300, 16, 0);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 1, false), 0);
    assert_image_bytes(f->img, 300 * 512, zeros);
    put_segment(seg, 400, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    put_segment(seg + 16, 500, 16, 0);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 32, 2, false), 0);
    assert_image_bytes(f->img, 400 * 512, zeros);
    assert_image_bytes(f->img, 500 * 512, zeros);
    put_segment(seg, 600, 8, 0);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_DISCARD, 0, seg, 16, 1, false), 0);
    // Discard may not set the unmap flag; segments must stay on the disk.
    put_segment(seg, 600, 8, 1);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_DISCARD, 0, seg, 16, 1, false),
                     VIRTIO_BLK_S_UNSUPP);
    put_segment(seg, kImageSize / 512 - 4, 8, 0);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 1, false),
                     VIRTIO_BLK_S_IOERR);
    // The refused requests left the image alone.
    std::vector<uint8_t> tail(8 * 512);
    image_read(f->img, kImageSize - 4 * 512, tail.data(), 4 * 512);
    assert_pattern(tail.data(), kImageSize - 4 * 512, 4 * 512);
}

void test_bad_requests(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "");
    std::vector<uint8_t> buf(4096);
    uint64_t cap = kImageSize / 512;
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, cap, buf.data(), 512, 1, false),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, cap - 1, buf.data(), 1024, 1, false),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_OUT, ~0ull >> 8, buf.data(), 512, 1, false),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_OUT, 10, buf.data(), 100, 1, false),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(vdrv_blk_do(&f->d, 99, 0, buf.data(), 512, 1, false), VIRTIO_BLK_S_UNSUPP);
    // Too-short header: 8 readable bytes, then the status byte.
    uint64_t hdr = vdrv_alloc_meta(&f->d, 16), st = vdrv_alloc_meta(&f->d, 1);
    qtest_memset(f->qts, hdr, 0, 16);
    uint16_t head = vdrv_add_chain(&f->d, {{hdr, 8, false}, {st, 1, true}});
    vdrv_publish(&f->d, head);
    vdrv_kick(&f->d);
    assert_true(vdrv_wait_used(&f->d, f->d.avail_idx));
    assert_int_equal(qtest_readb(f->qts, st), VIRTIO_BLK_S_IOERR);
    // A read whose data buffer is device-readable: the device must not write it.
    uint64_t data = vdrv_alloc_data(&f->d, 512);
    qtest_memset(f->qts, data, 0xEE, 512);
    head = vdrv_add_chain(&f->d, {{hdr, 16, false}, {data, 512, false}, {st, 1, true}});
    vdrv_publish(&f->d, head);
    vdrv_kick(&f->d);
    assert_true(vdrv_wait_used(&f->d, f->d.avail_idx));
    assert_int_equal(qtest_readb(f->qts, st), VIRTIO_BLK_S_IOERR);
    assert_int_equal(qtest_readb(f->qts, data + 100), 0xEE);
    // The device is still fine, and the image untouched.
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, 10, buf.data(), 512, 1, false), 0);
    assert_pattern(buf.data(), 10 * 512, 512);
    image_read(f->img, 10 * 512, buf.data(), 512);
    assert_pattern(buf.data(), 10 * 512, 512);
}

// readonly=on: VIRTIO_BLK_F_RO offered, no DISCARD / WRITE_ZEROES, and
// every write-type request fails without touching the image.
void test_read_only(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, ",readonly=on");
    uint64_t feat = vdrv_host_features(&f->d);
    assert_true(feat & VIRTIO_BLK_F_RO);
    assert_false(feat & (VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES));
    assert_true(f->d.features & VIRTIO_BLK_F_RO);
    std::vector<uint8_t> buf(1024, 0x99);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_OUT, 4, buf.data(), 1024, 1, false),
                     VIRTIO_BLK_S_IOERR);
    uint8_t seg[16];
    put_segment(seg, 4, 2, 0);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 1, false),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_DISCARD, 0, seg, 16, 1, false),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_FLUSH, 0, nullptr, 0, 0, false), 0);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, 4, buf.data(), 1024, 1, false), 0);
    assert_pattern(buf.data(), 4 * 512, 1024);
    image_read(f->img, 4 * 512, buf.data(), 1024);
    assert_pattern(buf.data(), 4 * 512, 1024);
}

// A qcow2 image (made by the real qemu-img) under a concurrent mixed
// workload; the same writes applied to a raw twin from the host must give
// an identical disk, and both qemu-img and qemu-img-lite must find the
// qcow2 metadata clean.
void test_qcow2_workload(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    const uint64_t size = 8 << 20, slot = 128 << 10;
    std::string raw = image_create_pattern(size);
    std::string qcow2 = image_create_qcow2_from(raw);
    f->img = raw;  // removed by teardown
    if (qcow2.empty()) skip();
    f->qts = qtest_start(("-drive file=" + qcow2 + ",format=qcow2,if=virtio").c_str());
    assert_true(vdrv_init(&f->d, f->qts, kWanted) & VIRTIO_CONFIG_S_DRIVER_OK);
    int fd = open(raw.c_str(), O_WRONLY);
    assert_true(fd >= 0);
    uint32_t rnd = 12345;
    auto next = [&rnd]() { return rnd = rnd * 1103515245u + 12345u, rnd >> 8; };
    for (int round = 0; round < 2; round++) {
        const unsigned n = 64;  // one request per disjoint slot: order-free
        std::vector<BlkReq> reqs(n);
        uint16_t base = vdrv_used_idx(&f->d);
        for (unsigned i = 0; i < n; i++) {
            uint32_t nsec = 1 + next() % (slot / 512 - 1);
            uint64_t sector = i * (slot / 512) + next() % (slot / 512 - nsec + 1);
            bool zero = next() % 4 == 0;
            std::vector<uint8_t> data(nsec * 512, 0);
            if (zero) {
                uint8_t seg[16];
                put_segment(seg, sector, nsec,
                            round ? (uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u);
                vdrv_blk_prepare(&f->d, &reqs[i], VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 1, i % 2);
                qtest_memwrite(f->qts, reqs[i].data_addr, seg, 16);
            } else {
                data = test_data(data.size(), (uint8_t)(i + round * 64));
                vdrv_blk_prepare(&f->d, &reqs[i], VIRTIO_BLK_T_OUT, sector, (uint32_t)data.size(),
                                 1 + i % 5, i % 2);
                qtest_memwrite(f->qts, reqs[i].data_addr, data.data(), data.size());
            }
            assert_int_equal(pwrite(fd, data.data(), data.size(), (off_t)(sector * 512)),
                             (ssize_t)data.size());
            vdrv_publish(&f->d, reqs[i].head);
        }
        vdrv_kick(&f->d);
        assert_true(vdrv_wait_used(&f->d, (uint16_t)(base + n)));
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(vdrv_blk_status(&f->d, &reqs[i]), 0);
    }
    close(fd);
    // Read the whole disk back through the device and compare with the twin.
    std::vector<uint8_t> got(slot), want(slot);
    for (uint64_t off = 0; off < size; off += slot) {
        assert_int_equal(
            vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, off / 512, got.data(), (uint32_t)slot, 4, true), 0);
        image_read(raw, off, want.data(), slot);
        assert_memory_equal(got.data(), want.data(), slot);
    }
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_FLUSH, 0, nullptr, 0, 0, false), 0);
    assert_int_equal(qtest_quit(f->qts), 0);
    f->qts = nullptr;
    image_check_against(qcow2, raw);
    image_remove(qcow2);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_features_and_config, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_read_write, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_chain_lengths, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_64_in_flight, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_flush_get_id, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_discard_write_zeroes, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_bad_requests, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_read_only, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
        cmocka_unit_test_setup_teardown(test_qcow2_workload, fixture_setup<Fixture>,
                                        fixture_teardown<Fixture>),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
