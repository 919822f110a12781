// Allocation paths of the qcow2 driver that exist for speed and must stay
// correct: the metadata overlap check scans only the used prefix of the
// refcount table (refcount blocks created while the image is open must
// still be caught); an allocating partial-cluster write zeroes the new
// cluster in the file and writes only the data when the COW areas read as
// zeroes (a reused host cluster must not show its old contents), and copies
// from the backing file otherwise.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "block/block-int.h"
#include "block/qcow2/qcow2-int.h"
#include "tests/unit/qcow2/qcow2-scratch.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

BlockBackend *create_open(const std::string &file, const char *cluster_size,
                          const char *backing = nullptr, int flags = 0)
{
    QDict opts;
    opts.set("size", "64M");
    opts.set("cluster_size", cluster_size);
    if (backing) {
        opts.set("backing_file", backing);
        opts.set("backing_fmt", "raw");
    }
    ErrorPtr err;
    assert_int_equal(bdrv_create("qcow2", file.c_str(), &opts, &err), 0);
    return scratch_open_rw(file, "qcow2", BDRV_O_NO_FLUSH | flags);
}

// Every refcount block the table points at is reported as one.
void expect_refblocks_caught(BDRVQcow2State *s, uint64_t min_blocks)
{
    uint64_t found = 0;
    for (uint64_t e : s->refcount_table) {
        uint64_t off = e & REFT_OFFSET_MASK;
        if (!off) continue;
        found++;
        const char *what = qcow2_metadata_overlap(s, off + 8, 8, false);
        assert_non_null(what);
        assert_string_equal(what, "refcount block");
    }
    assert_true(found >= min_blocks);
    assert_true(s->reft_used_end <= s->refcount_table.size());
}

void test_refblocks_added_while_open(void **)
{
    // 512-byte clusters: one refcount block covers 128 KiB of file, and the
    // one-cluster table 64 blocks, so 8 MiB of data needs new blocks and a
    // bigger table.
    std::string file = scratch_dir() + "/ov.qcow2";
    BlockBackend *blk = create_open(file, "512");
    BDRVQcow2State *s = qcow2_state(blk_bs(blk));
    expect_refblocks_caught(s, 1);
    uint64_t table_entries = s->refcount_table.size();
    std::vector<uint8_t> buf(1 << 20, 0x5a);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(blk_pwrite(blk, (int64_t)i << 20, 1 << 20, buf.data(), 0), 0);
    }
    assert_true(s->refcount_table.size() > table_entries);
    expect_refblocks_caught(s, 64);
    blk_unref(blk);

    // Reopened: the bound is recomputed from the table on disk.
    QDict o;
    o.set("driver", "qcow2");
    blk = blk_new_open(file.c_str(), &o, BDRV_O_RDWR, nullptr);
    assert_non_null(blk);
    s = qcow2_state(blk_bs(blk));
    expect_refblocks_caught(s, 64);
    blk_unref(blk);
}

// [off, off+len) reads @v, the rest of its 64 KiB cluster reads @around.
void expect_cluster(BlockBackend *blk, int64_t off, int64_t len, uint8_t v, uint8_t around)
{
    int64_t cl = off & ~(int64_t)0xffff;
    std::vector<uint8_t> buf(65536), want(65536, around);
    memset(want.data() + (off - cl), v, (size_t)len);
    assert_int_equal(blk_pread(blk, cl, 65536, buf.data(), 0), 0);
    assert_memory_equal(buf.data(), want.data(), 65536);
}

struct MapCall {
    BlockDriverState *bs;
    uint64_t offset;
    Qcow2Mapping m;
    int ret;
};

void coroutine_fn map_entry(void *opaque)
{
    MapCall *c = (MapCall *)opaque;
    BDRVQcow2State *s = qcow2_state(c->bs);
    qemu_co_mutex_lock(&s->lock);
    c->ret = qcow2_get_mapping(c->bs, c->offset, 65536, &c->m);
    qemu_co_mutex_unlock(&s->lock);
}

uint64_t host_offset(BlockBackend *blk, uint64_t guest)
{
    MapCall c{blk_bs(blk), guest, {}, -EINPROGRESS};
    aio_run_coroutine_sync(blk_get_aio_context(blk), map_entry, &c);
    assert_int_equal(c.ret, 0);
    assert_true(c.m.type == Qcow2ClusterType::Normal);
    return c.m.host_offset;
}

void test_partial_write_into_reused_cluster(void **)
{
    std::string file = scratch_dir() + "/reuse.qcow2";
    BlockBackend *blk = create_open(file, "65536", nullptr, BDRV_O_UNMAP);
    fill(blk, 0, 2 << 16, 0xaa);
    uint64_t freed = host_offset(blk, 0);
    // Frees the first data cluster (the file gets a hole there), then
    // leaves stale bytes in it behind the driver's back: the next
    // allocation reuses it and must not show them.
    assert_int_equal(blk_pdiscard(blk, 0, 1 << 16), 0);
    int fd = open(file.c_str(), O_WRONLY);
    assert_true(fd >= 0);
    std::vector<uint8_t> stale(65536, 0xcc);
    assert_int_equal(pwrite(fd, stale.data(), stale.size(), (off_t)freed), 65536);
    close(fd);
    fill(blk, (5 << 16) + 8192, 4096, 0x11);
    assert_true(host_offset(blk, 5 << 16) == freed);
    expect_cluster(blk, (5 << 16) + 8192, 4096, 0x11, 0);
    // Head only, tail only.
    fill(blk, 6 << 16, 512, 0x22);
    expect_cluster(blk, 6 << 16, 512, 0x22, 0);
    fill(blk, (8 << 16) - 512, 512, 0x33);
    expect_cluster(blk, (8 << 16) - 512, 512, 0x33, 0);
    // Over a zero cluster.
    assert_int_equal(blk_pwrite_zeroes(blk, 1 << 16, 1 << 16, 0), 0);
    fill(blk, (1 << 16) + 4096, 4096, 0x44);
    expect_cluster(blk, (1 << 16) + 4096, 4096, 0x44, 0);
    blk_unref(blk);
}

void test_partial_write_copies_backing(void **)
{
    std::string base = scratch_dir() + "/base.raw";
    QDict opts;
    opts.set("size", "64M");
    ErrorPtr err;
    assert_int_equal(bdrv_create("raw", base.c_str(), &opts, &err), 0);
    QDict raw;
    raw.set("driver", "raw");
    BlockBackend *b = blk_new_open(base.c_str(), &raw, BDRV_O_RDWR, &err);
    assert_non_null(b);
    fill(b, 0, 4 << 16, 0xbb);
    blk_unref(b);
    BlockBackend *blk = create_open(scratch_dir() + "/top.qcow2", "65536", base.c_str());
    fill(blk, (2 << 16) + 8192, 4096, 0x55);
    expect_cluster(blk, (2 << 16) + 8192, 4096, 0x55, 0xbb);
    blk_unref(blk);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refblocks_added_while_open),
        cmocka_unit_test(test_partial_write_into_reused_cluster),
        cmocka_unit_test(test_partial_write_copies_backing),
    };
    return run_in_scratch_dir("test-qcow2-alloc", tests);
}
