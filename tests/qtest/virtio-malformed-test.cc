// virtio-blk against a hostile driver: malformed rings and chains must put
// the device into DEVICE_NEEDS_RESET (or fail just that request), never
// crash it, never touch memory outside guest RAM, never touch the image.
// After a reset the same device must work again.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include "hw/virtio-blk-int.h"
#include "tests/qtest/virtio-driver.h"

namespace {

constexpr uint64_t kImageSize = 4 << 20;
constexpr uint64_t kRam = 64 << 20;  // libqtest starts machines with -m 64M
constexpr uint64_t kAllFeatures = ~0ull;
constexpr uint64_t kMmio = VMMIO;

struct Fixture {
    std::string img;
    QTestState *qts = nullptr;
    VirtioBlkDriver d;
    uint16_t used_before = 0;  // used index when the last chain was submitted
};

int setup(void **state)
{
    Fixture *f = new Fixture;
    f->img = image_create_pattern(kImageSize);
    std::string args = "-drive file=" + f->img + ",format=raw,if=virtio";
    f->qts = qtest_start(args.c_str());
    qtest_irq_intercept_in(f->qts, "ioapic");
    assert_true(vdrv_init(&f->d, f->qts, kAllFeatures) & VIRTIO_CONFIG_S_DRIVER_OK);
    *state = f;
    return 0;
}

// Every test ends here: the machine is alive, the image untouched (the
// malformed requests were writes of zeroes where they carried data).
int teardown(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    std::vector<uint8_t> buf(kImageSize);
    image_read(f->img, 0, buf.data(), buf.size());
    for (size_t i = 0; i < buf.size(); i++) {
        if (buf[i] != image_pattern_byte(i)) fail_msg("image byte %zu changed", i);
    }
    assert_int_equal(qtest_quit(f->qts), 0);
    image_remove(f->img);
    delete f;
    return 0;
}

// A header for a 1-sector write at @sector (data must never reach the disk)
// and a status byte preset to 0xAA.
struct Parts {
    uint64_t hdr, data, status;
};

Parts make_parts(Fixture *f, uint32_t type = VIRTIO_BLK_T_OUT)
{
    Parts p;
    p.hdr = vdrv_alloc_meta(&f->d, 16);
    p.status = vdrv_alloc_meta(&f->d, 1);
    p.data = vdrv_alloc_data(&f->d, 512);
    uint8_t hdr[16] = {};
    uint64_t sector = 8;
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    qtest_memwrite(f->qts, p.hdr, hdr, 16);
    qtest_memset(f->qts, p.data, 0, 512);
    qtest_writeb(f->qts, p.status, 0xAA);
    return p;
}

void submit(Fixture *f, uint16_t head)
{
    f->used_before = vdrv_used_idx(&f->d);
    vdrv_publish(&f->d, head);
    vdrv_kick(&f->d);
    qtest_clock_step(f->qts, 1000 * 1000);
}

// The device gave up: NEEDS_RESET, a configuration interrupt, no used
// entry, the status byte untouched.  Then a reset brings it back.
void assert_broken_then_recovers(Fixture *f, uint64_t status_addr)
{
    assert_true(vdrv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_true(qtest_readl(f->qts, kMmio + VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    assert_true(qtest_get_irq(f->qts, 11));
    assert_int_equal(vdrv_used_idx(&f->d), f->used_before);
    if (status_addr) {
        assert_int_equal(qtest_readb(f->qts, status_addr), 0xAA);
    }
    // Kicks are ignored until the driver resets the device.
    vdrv_kick(&f->d);
    qtest_clock_step(f->qts, 1000 * 1000);
    assert_int_equal(vdrv_used_idx(&f->d), f->used_before);

    assert_int_equal(vdrv_init(&f->d, f->qts, kAllFeatures),
                     VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                         VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    assert_false(qtest_get_irq(f->qts, 11));
    std::vector<uint8_t> buf(1024);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, 3, buf.data(), 1024, 2, true), 0);
    for (size_t i = 0; i < buf.size(); i++)
        assert_int_equal(buf[i], image_pattern_byte(3 * 512 + i));
}

void test_descriptor_loop(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    Parts p = make_parts(f);
    uint16_t h = vdrv_alloc_desc(&f->d, 3);
    vdrv_write_desc(&f->d, VQ_DESC, h, p.hdr, 16, VRING_DESC_F_NEXT, (uint16_t)(h + 1));
    vdrv_write_desc(&f->d, VQ_DESC, h + 1, p.data, 512, VRING_DESC_F_NEXT, (uint16_t)(h + 2));
    vdrv_write_desc(&f->d, VQ_DESC, h + 2, p.data, 512, VRING_DESC_F_NEXT, (uint16_t)(h + 1));
    submit(f, h);
    assert_broken_then_recovers(f, p.status);
}

void test_self_loop_writable(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    Parts p = make_parts(f, VIRTIO_BLK_T_IN);
    uint16_t h = vdrv_alloc_desc(&f->d, 2);
    vdrv_write_desc(&f->d, VQ_DESC, h, p.hdr, 16, VRING_DESC_F_NEXT, (uint16_t)(h + 1));
    vdrv_write_desc(&f->d, VQ_DESC, h + 1, p.status, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
                    (uint16_t)(h + 1));
    submit(f, h);
    assert_broken_then_recovers(f, p.status);
}

void test_next_out_of_table(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    Parts p = make_parts(f);
    uint16_t h = vdrv_alloc_desc(&f->d, 1);
    vdrv_write_desc(&f->d, VQ_DESC, h, p.hdr, 16, VRING_DESC_F_NEXT, f->d.qsize);
    submit(f, h);
    assert_broken_then_recovers(f, p.status);
}

void test_head_out_of_table(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    submit(f, 0xFFFF);
    assert_broken_then_recovers(f, 0);
}

void test_avail_index_jump(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    // The driver claims more new entries than the ring holds.
    f->used_before = 0;
    qtest_writew(f->qts, VQ_AVAIL + 2, (uint16_t)(f->d.qsize + 1));
    vdrv_kick(&f->d);
    qtest_clock_step(f->qts, 1000 * 1000);
    assert_broken_then_recovers(f, 0);
}

// Buffers outside RAM: far away, straddling the end, wrapping around 2^64.
void test_buffer_outside_ram(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    const struct {
        uint64_t addr;
        uint32_t len;
    } bad[] = {
        {0xFFFFFFFF00000000ull, 512},
        {kRam - 256, 512},
        {~0ull - 100, 512},
        {0, 0xFFFFFFFFu},
    };
    for (const auto &b : bad) {
        Parts p = make_parts(f);
        uint16_t head = vdrv_add_chain(
            &f->d, {{p.hdr, 16, false}, {b.addr, b.len, false}, {p.status, 1, true}});
        submit(f, head);
        assert_broken_then_recovers(f, p.status);
    }
    // The status byte itself outside RAM.
    Parts p = make_parts(f, VIRTIO_BLK_T_FLUSH);
    uint16_t head = vdrv_add_chain(&f->d, {{p.hdr, 16, false}, {kRam, 1, true}});
    submit(f, head);
    assert_broken_then_recovers(f, 0);
}

void test_readable_after_writable(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    Parts p = make_parts(f);
    uint16_t head =
        vdrv_add_chain(&f->d, {{p.hdr, 16, false}, {p.status, 1, true}, {p.data, 512, false}});
    submit(f, head);
    assert_broken_then_recovers(f, p.status);
}

void test_no_status_byte(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    Parts p = make_parts(f);
    uint16_t head = vdrv_add_chain(&f->d, {{p.hdr, 16, false}, {p.data, 512, false}});
    submit(f, head);
    assert_broken_then_recovers(f, 0);
}

void write_indirect_desc(Fixture *f, uint16_t slot, uint64_t table, uint32_t len, uint16_t flags)
{
    vdrv_write_desc(&f->d, VQ_DESC, slot, table, len, (uint16_t)(VRING_DESC_F_INDIRECT | flags), 0);
}

struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

// Writes @descs into a new indirect table and submits a one-descriptor chain
// that points at it.
void submit_indirect(Fixture *f, const std::vector<Desc> &descs)
{
    uint32_t bytes = (uint32_t)(16 * descs.size());
    uint64_t t = vdrv_alloc_meta(&f->d, bytes);
    for (size_t i = 0; i < descs.size(); i++) {
        const Desc &e = descs[i];
        vdrv_write_desc(&f->d, t, (uint16_t)i, e.addr, e.len, e.flags, e.next);
    }
    uint16_t h = vdrv_alloc_desc(&f->d, 1);
    write_indirect_desc(f, h, t, bytes, 0);
    submit(f, h);
}

void test_indirect_in_indirect(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    Parts p = make_parts(f);
    uint64_t inner = vdrv_alloc_meta(&f->d, 32);
    vdrv_write_desc(&f->d, inner, 0, p.hdr, 16, VRING_DESC_F_NEXT, 1);
    vdrv_write_desc(&f->d, inner, 1, p.status, 1, VRING_DESC_F_WRITE, 0);
    submit_indirect(f, {{inner, 32, VRING_DESC_F_INDIRECT, 0}});
    assert_broken_then_recovers(f, p.status);
}

void test_indirect_loop(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    Parts p = make_parts(f);
    submit_indirect(f, {{p.hdr, 16, VRING_DESC_F_NEXT, 1},
                        {p.data, 512, VRING_DESC_F_NEXT, 2},
                        {p.data, 512, VRING_DESC_F_NEXT, 0}});
    assert_broken_then_recovers(f, p.status);
}

// Indirect tables that are themselves malformed.
void test_bad_indirect_tables(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    uint64_t t = vdrv_alloc_meta(&f->d, 64);
    const struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
    } bad[] = {
        {t, 0, 0},                    // empty
        {t, 24, 0},                   // not a whole number of descriptors
        {t, 16 * 2048, 0},            // larger than the indirect limit
        {kRam - 16, 32, 0},           // straddles the end of RAM
        {t, 32, VRING_DESC_F_NEXT},   // INDIRECT together with NEXT
        {t, 32, VRING_DESC_F_WRITE},  // INDIRECT together with WRITE
    };
    for (const auto &b : bad) {
        Parts p = make_parts(f);
        vdrv_write_desc(&f->d, t, 0, p.hdr, 16, VRING_DESC_F_NEXT, 1);
        vdrv_write_desc(&f->d, t, 1, p.status, 1, VRING_DESC_F_WRITE, 0);
        uint16_t h = vdrv_alloc_desc(&f->d, 2);
        write_indirect_desc(f, h, b.addr, b.len, b.flags);
        vdrv_write_desc(&f->d, VQ_DESC, h + 1, p.status, 1, VRING_DESC_F_WRITE, 0);
        submit(f, h);
        if (b.flags == VRING_DESC_F_WRITE) {
            // 2.7.5.3.2: the device ignores WRITE on a descriptor that
            // refers to an indirect table; the table (a write of no
            // sectors) is valid.
            assert_true(vdrv_wait_used(&f->d, (uint16_t)(f->used_before + 1)));
            assert_int_equal(qtest_readb(f->qts, p.status), VIRTIO_BLK_S_OK);
            assert_int_equal(vdrv_init(&f->d, f->qts, kAllFeatures) & 0x4f, 0x0f);
            continue;
        }
        assert_broken_then_recovers(f, p.status);
    }
}

void test_indirect_not_negotiated(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    vdrv_init(&f->d, f->qts, kAllFeatures & ~VIRTIO_F_RING_INDIRECT_DESC);
    Parts p = make_parts(f);
    submit_indirect(f, {{p.hdr, 16, VRING_DESC_F_NEXT, 1}, {p.status, 1, VRING_DESC_F_WRITE, 0}});
    assert_broken_then_recovers(f, p.status);
}

// Ring layouts the device must refuse when the driver sets QueueReady.
void test_bad_ring_layout(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    QTestState *q = f->qts;
    const struct {
        uint32_t num;
        uint64_t desc, avail, used;
    } bad[] = {
        {100, VQ_DESC, VQ_AVAIL, VQ_USED},      // not a power of two
        {512, VQ_DESC, VQ_AVAIL, VQ_USED},      // above QueueNumMax
        {256, VQ_DESC + 8, VQ_AVAIL, VQ_USED},  // misaligned table
        {256, VQ_DESC, VQ_AVAIL, kRam - 16},    // used ring past RAM
        {256, 0xFFFFFFFFFFFFF000ull, VQ_AVAIL, VQ_USED},
    };
    for (const auto &b : bad) {
        qtest_writel(q, kMmio + VIRTIO_MMIO_STATUS, 0);
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_SEL, 0);
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_NUM, b.num);
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)b.desc);
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(b.desc >> 32));
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)b.avail);
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)b.used);
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_READY, 1);
        assert_int_equal(qtest_readl(q, kMmio + VIRTIO_MMIO_QUEUE_READY), 0);
        qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_NOTIFY, 0);  // ignored
    }
    // Unknown queue numbers and register widths are ignored too.
    qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_NOTIFY, 7);
    qtest_writeb(q, kMmio + VIRTIO_MMIO_STATUS, 0xFF);
    qtest_writel(q, kMmio + VIRTIO_MMIO_QUEUE_SEL, 5);
    assert_int_equal(qtest_readl(q, kMmio + VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    assert_true(vdrv_init(&f->d, q, kAllFeatures) & VIRTIO_CONFIG_S_DRIVER_OK);
}

// Features we never offered make FEATURES_OK fail; the device stays usable.
void test_unoffered_features(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    QTestState *q = f->qts;
    qtest_writel(q, kMmio + VIRTIO_MMIO_STATUS, 0);
    qtest_writel(q, kMmio + VIRTIO_MMIO_STATUS, 3);
    qtest_writel(q, kMmio + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    qtest_writel(q, kMmio + VIRTIO_MMIO_DRIVER_FEATURES, 1 | (1u << 20));
    qtest_writel(q, kMmio + VIRTIO_MMIO_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
    assert_false(qtest_readl(q, kMmio + VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
    assert_true(vdrv_init(&f->d, q, kAllFeatures) & VIRTIO_CONFIG_S_DRIVER_OK);
}

// A reset with requests in flight: their completions must not write into
// the (new) rings; the device serves the next driver normally.
void test_reset_with_requests_in_flight(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    for (unsigned i = 0; i < 32; i++) {
        BlkReq r;
        vdrv_blk_prepare(&f->d, &r, VIRTIO_BLK_T_IN, i * 8, 4096, 2, i % 2);
        vdrv_publish(&f->d, r.head);
    }
    vdrv_kick(&f->d);
    assert_true(vdrv_init(&f->d, f->qts, kAllFeatures) & VIRTIO_CONFIG_S_DRIVER_OK);
    qtest_clock_step(f->qts, 10 * 1000 * 1000);
    assert_int_equal(vdrv_used_idx(&f->d), 0);
    std::vector<uint8_t> buf(512);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, 1, buf.data(), 512, 1, false), 0);
    assert_int_equal(vdrv_used_idx(&f->d), 1);
    assert_int_equal(buf[7], image_pattern_byte(512 + 7));
}

// Requests that fail alone (status IOERR) while the device keeps going.
void test_failed_requests_keep_device(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    // A write whose payload is device-writable: the data would come from a
    // buffer the driver marked for the device to fill.
    Parts p = make_parts(f);
    uint16_t head =
        vdrv_add_chain(&f->d, {{p.hdr, 16, false}, {p.data, 512, true}, {p.status, 1, true}});
    submit(f, head);
    assert_true(vdrv_wait_used(&f->d, 1));
    // Status in the same descriptor as the data: one 513-byte buffer.
    p = make_parts(f, VIRTIO_BLK_T_IN);
    uint64_t buf = vdrv_alloc_data(&f->d, 513);
    head = vdrv_add_chain(&f->d, {{p.hdr, 16, false}, {buf, 513, true}});
    submit(f, head);
    assert_true(vdrv_wait_used(&f->d, 2));
    assert_int_equal(qtest_readb(f->qts, buf + 512), VIRTIO_BLK_S_OK);
    assert_int_equal(qtest_readb(f->qts, buf), image_pattern_byte(8 * 512));
    assert_false(vdrv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

// FLUSH and GET_ID ignore the sector field: any value, even one whose byte
// offset overflows, completes OK (found by the virtqueue fuzzer: the device
// computed a byte offset from it before looking at the type).
void test_ignored_sector_any_value(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    uint8_t id[20];
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_FLUSH, ~0ull, nullptr, 0, 1, true), 0);
    assert_int_equal(
        vdrv_blk_do(&f->d, VIRTIO_BLK_T_GET_ID, 0x4000000000000001ull, id, 20, 2, true), 0);
    assert_false(vdrv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

// More requests in use than the ring has entries: the driver re-published
// heads the device still owns.  Requests are held in flight by a write
// error with werror=stop (the VM pauses, nothing completes).
void test_too_many_in_use(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    assert_int_equal(qtest_quit(f->qts), 0);
    std::string conf = f->img + ".blkdebug";
    FILE *c = fopen(conf.c_str(), "w");
    assert_non_null(c);
    fputs("[inject-error]\nevent = \"write_aio\"\nerrno = \"5\"\niotype = \"write\"\n", c);
    fclose(c);
    std::string args =
        "-drive file=blkdebug:" + conf + ":" + f->img + ",format=raw,if=virtio,werror=stop";
    f->qts = qtest_start(args.c_str());
    qtest_irq_intercept_in(f->qts, "ioapic");
    assert_true(vdrv_init(&f->d, f->qts, kAllFeatures) & VIRTIO_CONFIG_S_DRIVER_OK);
    for (unsigned i = 0; i < f->d.qsize; i++) {
        BlkReq r;
        vdrv_blk_prepare(&f->d, &r, VIRTIO_BLK_T_OUT, i, 512, 1, true);
        vdrv_publish(&f->d, r.head);
    }
    vdrv_kick(&f->d);
    qtest_clock_step(f->qts, 10 * 1000 * 1000);
    assert_string_equal(qtest_command(f->qts, "vm_status").c_str(), "OK paused");
    assert_false(vdrv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
    BlkReq r;
    vdrv_blk_prepare(&f->d, &r, VIRTIO_BLK_T_OUT, 0, 512, 1, true);
    vdrv_publish(&f->d, r.head);
    vdrv_kick(&f->d);
    qtest_clock_step(f->qts, 1000 * 1000);
    assert_true(vdrv_status(&f->d) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_int_equal(vdrv_used_idx(&f->d), 0);
    image_remove(conf);
}

}  // namespace

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_descriptor_loop),
        T(test_self_loop_writable),
        T(test_next_out_of_table),
        T(test_head_out_of_table),
        T(test_avail_index_jump),
        T(test_buffer_outside_ram),
        T(test_readable_after_writable),
        T(test_no_status_byte),
        T(test_indirect_in_indirect),
        T(test_indirect_loop),
        T(test_bad_indirect_tables),
        T(test_indirect_not_negotiated),
        T(test_bad_ring_layout),
        T(test_unoffered_features),
        T(test_reset_with_requests_in_flight),
        T(test_failed_requests_keep_device),
        T(test_ignored_sector_any_value),
        T(test_too_many_in_use),
    };
#undef T
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
