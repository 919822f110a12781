// The generic request path (block/io.cc, block-backend.cc) against a
// memory-backed test protocol driver that records every request it sees:
// alignment and read-modify-write, splitting at max_transfer, serialisation
// of overlapping RMW requests, in-flight tracking and drain.
#include <cstring>
#include <string>
#include <vector>

#include "block/block-int.h"
#include "tests/unit/util/cmocka-wrap.h"

namespace {

constexpr int64_t kDiskSize = 1 << 20;

struct Req {
    char op;  // 'r', 'w'
    int64_t offset, bytes;
};

// One driver instance at a time; tests configure it before opening.
struct MemDisk {
    std::vector<uint8_t> data;
    std::vector<Req> log;
    uint32_t align = 1;
    uint64_t max_transfer = 0;
    bool yield = false;  // each request yields to the main loop once
    bool gate = false;   // requests wait until the test opens the gate
    CoQueue gate_queue;
    int in_driver = 0;
} disk;

int coroutine_fn mem_open(BlockDriverState *bs, QDict *o, int, Error **)
{
    o->del("filename");
    bs->total_bytes = kDiskSize;
    return 0;
}

void coroutine_fn mem_close(BlockDriverState *) {}

void mem_limits(BlockDriverState *bs, Error **)
{
    bs->bl.request_alignment = disk.align;
    bs->bl.max_transfer = disk.max_transfer;
}

void coroutine_fn wait_turn()
{
    disk.in_driver++;
    if (disk.yield) {
        qemu_coroutine_yield_to_loop();
    }
    while (disk.gate) {
        qemu_co_queue_wait(&disk.gate_queue, nullptr);
    }
    disk.in_driver--;
}

int coroutine_fn mem_preadv(BlockDriverState *, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                            size_t qoff, int)
{
    assert_int_equal(offset % disk.align, 0);
    assert_int_equal(bytes % disk.align, 0);
    disk.log.push_back({'r', offset, bytes});
    wait_turn();
    qemu_iovec_from_buf(qiov, qoff, disk.data.data() + offset, (size_t)bytes);
    return 0;
}

int coroutine_fn mem_pwritev(BlockDriverState *, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                             size_t qoff, int)
{
    assert_int_equal(offset % disk.align, 0);
    assert_int_equal(bytes % disk.align, 0);
    disk.log.push_back({'w', offset, bytes});
    // Copy after the wait: an overtaken request must not win by accident.
    wait_turn();
    qemu_iovec_to_buf(qiov, qoff, disk.data.data() + offset, (size_t)bytes);
    return 0;
}

int64_t coroutine_fn mem_getlength(BlockDriverState *) { return kDiskSize; }

BlockDriver mem_driver = [] {
    BlockDriver d{};
    d.format_name = "testmem";
    d.protocol_name = "testmem";
    d.bdrv_co_open = mem_open;
    d.bdrv_co_close = mem_close;
    d.bdrv_refresh_limits = mem_limits;
    d.bdrv_co_preadv = mem_preadv;
    d.bdrv_co_pwritev = mem_pwritev;
    d.bdrv_co_getlength = mem_getlength;
    return d;
}();

BlockBackend *open_disk(uint32_t align, uint64_t max_transfer = 0)
{
    disk.data.assign(kDiskSize, 0);
    disk.log.clear();
    disk.align = align;
    disk.max_transfer = max_transfer;
    disk.yield = disk.gate = false;
    qemu_co_queue_init(&disk.gate_queue);
    QDict opts;
    opts.set("driver", "testmem");
    ErrorPtr err;
    BlockBackend *blk = blk_new_open("testmem:x", &opts, BDRV_O_RDWR | BDRV_O_SHARE_RW, &err);
    if (!blk) {
        fail_msg("open: %s", error_get_pretty(err.get()));
    }
    return blk;
}

void fill(uint8_t v, int64_t off, int64_t len) { memset(disk.data.data() + off, v, len); }

bool range_is(int64_t off, int64_t len, uint8_t v)
{
    for (int64_t i = off; i < off + len; i++) {
        if (disk.data[i] != v) {
            return false;
        }
    }
    return true;
}

int setup(void **)
{
    bdrv_init();
    bdrv_register(&mem_driver);
    return 0;
}

// A 10-byte write inside one 512-byte block: read the block, patch, write it.
void test_rmw_512(void **)
{
    BlockBackend *blk = open_disk(512);
    fill(0x11, 0, 4096);
    uint8_t buf[10];
    memset(buf, 0x22, sizeof(buf));
    assert_int_equal(blk_pwrite(blk, 100, 10, buf, 0), 0);
    assert_true(range_is(0, 100, 0x11));
    assert_true(range_is(100, 10, 0x22));
    assert_true(range_is(110, 4096 - 110, 0x11));
    assert_int_equal(disk.log.size(), 2u);
    assert_int_equal(disk.log[0].op, 'r');
    assert_int_equal(disk.log[0].offset, 0);
    assert_int_equal(disk.log[0].bytes, 512);
    assert_int_equal(disk.log[1].op, 'w');
    assert_int_equal(disk.log[1].bytes, 512);
    blk_unref(blk);
}

// A write spanning a 4096 boundary with unaligned head and tail.
void test_rmw_4096_head_tail(void **)
{
    BlockBackend *blk = open_disk(4096);
    fill(0x33, 0, 3 * 4096);
    std::vector<uint8_t> buf(5000, 0x44);
    assert_int_equal(blk_pwrite(blk, 4000, 5000, buf.data(), 0), 0);
    assert_true(range_is(0, 4000, 0x33));
    assert_true(range_is(4000, 5000, 0x44));
    assert_true(range_is(9000, 3 * 4096 - 9000, 0x33));
    for (const Req &r : disk.log) {
        assert_int_equal(r.offset % 4096, 0);
    }
    // Unaligned read: served from an aligned bounce buffer.
    std::vector<uint8_t> rd(100);
    assert_int_equal(blk_pread(blk, 3990, 100, rd.data(), 0), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(rd[i], i < 10 ? 0x33 : 0x44);
    }
    blk_unref(blk);
}

// Requests larger than max_transfer reach the driver in pieces.
void test_split_max_transfer(void **)
{
    BlockBackend *blk = open_disk(512, 64 * 1024);
    std::vector<uint8_t> buf(200 * 1024, 0x55);
    assert_int_equal(blk_pwrite(blk, 0, (int64_t)buf.size(), buf.data(), 0), 0);
    int64_t total = 0;
    for (const Req &r : disk.log) {
        assert_int_equal(r.op, 'w');
        assert_true(r.bytes <= 64 * 1024);
        assert_int_equal(r.offset, total);
        total += r.bytes;
    }
    assert_int_equal(total, 200 * 1024);
    assert_int_equal(disk.log.size(), 4);  // 64k+64k+64k+8k
    blk_unref(blk);
}

struct WriteJob {
    BlockBackend *blk;
    int64_t offset, bytes;
    uint8_t pattern;
    int ret = 1;
};

void coroutine_fn write_job(void *opaque)
{
    auto *j = (WriteJob *)opaque;
    std::vector<uint8_t> buf(j->bytes, j->pattern);
    j->ret = blk_co_pwrite(j->blk, j->offset, j->bytes, buf.data(), 0);
}

void start(WriteJob *j) { qemu_coroutine_enter(qemu_coroutine_create(write_job, j)); }

void run_until(WriteJob *a, WriteJob *b)
{
    AioContext *ctx = qemu_get_aio_context();
    while (a->ret == 1 || b->ret == 1) {
        aio_poll(ctx, true);
    }
}

// Two overlapping sub-block writes in flight together: the RMW of the
// second must not read before the first wrote, or the first would be lost.
void test_serialise_overlapping_rmw(void **)
{
    BlockBackend *blk = open_disk(512);
    disk.yield = true;
    WriteJob a{blk, 100, 100, 0xaa};
    WriteJob b{blk, 300, 100, 0xbb};  // same 512-byte block, no byte overlap
    start(&a);
    start(&b);
    run_until(&a, &b);
    assert_int_equal(a.ret, 0);
    assert_int_equal(b.ret, 0);
    assert_true(range_is(100, 100, 0xaa));
    assert_true(range_is(300, 100, 0xbb));
    assert_true(range_is(0, 100, 0));
    assert_true(range_is(200, 100, 0));
    blk_unref(blk);
}

// Byte-overlapping unaligned writes complete in submission order: the
// later one wins where they overlap.
void test_serialise_submission_order(void **)
{
    BlockBackend *blk = open_disk(512);
    disk.yield = true;
    WriteJob a{blk, 0, 1000, 0x01};
    WriteJob b{blk, 500, 1000, 0x02};
    start(&a);
    start(&b);
    run_until(&a, &b);
    assert_true(range_is(0, 500, 0x01));
    assert_true(range_is(500, 1000, 0x02));
    blk_unref(blk);
}

// Drain waits for requests in the driver; while drained, new requests wait
// in the backend and reach the driver only after drained_end.
void test_drain(void **)
{
    BlockBackend *blk = open_disk(1);
    AioContext *ctx = qemu_get_aio_context();
    disk.gate = true;
    WriteJob a{blk, 0, 512, 0x0a};
    start(&a);
    assert_int_equal(disk.in_driver, 1);
    assert_int_equal(blk_in_flight(blk), 1u);
    disk.gate = false;
    qemu_co_queue_restart_all(&disk.gate_queue);
    blk_drain(blk);
    assert_int_equal(a.ret, 0);
    assert_int_equal(blk_in_flight(blk), 0u);

    blk_drained_begin(blk);
    size_t before = disk.log.size();
    WriteJob b{blk, 512, 512, 0x0b};
    start(&b);
    for (int i = 0; i < 10; i++) {
        aio_poll(ctx, false);
    }
    assert_int_equal(disk.log.size(), before);  // held back in the backend
    assert_int_equal(b.ret, 1);
    blk_drained_end(blk);
    while (b.ret == 1) {
        aio_poll(ctx, true);
    }
    assert_int_equal(b.ret, 0);
    assert_true(range_is(512, 512, 0x0b));
    blk_unref(blk);
}

// Bounds: requests past the end fail with EIO and never reach the driver.
void test_bounds(void **)
{
    BlockBackend *blk = open_disk(512);
    uint8_t buf[512] = {};
    assert_int_equal(blk_pread(blk, kDiskSize, 1, buf, 0), -EIO);
    assert_int_equal(blk_pwrite(blk, kDiskSize - 256, 512, buf, 0), -EIO);
    assert_int_equal(blk_pread(blk, -1, 1, buf, 0), -EIO);
    assert_true(disk.log.empty());
    assert_int_equal(blk_getlength(blk), kDiskSize);
    blk_unref(blk);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmw_512),
        cmocka_unit_test(test_rmw_4096_head_tail),
        cmocka_unit_test(test_split_max_transfer),
        cmocka_unit_test(test_serialise_overlapping_rmw),
        cmocka_unit_test(test_serialise_submission_order),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, setup, nullptr);
}
