// Copy offloading (blk_co_copy_range): file-posix copies with
// copy_file_range, raw and qcow2 translate the range on either end, and
// whatever cannot be offloaded answers -ENOTSUP so the caller reads and
// writes instead (compressed source clusters, a destination that needs
// copy-on-write from its backing file, write-through, files on different
// file systems).
#include <cerrno>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block-int.h"
#include "tests/unit/qcow2/qcow2-scratch.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

constexpr int64_t kMiB = 1 << 20;

void create(const char *fmt, const std::string &file, const char *size,
            const char *backing = nullptr)
{
    QDict opts;
    opts.set("size", size);
    if (backing) {
        opts.set("backing_file", backing);
        opts.set("backing_fmt", "raw");
    }
    ErrorPtr err;
    int ret = bdrv_create(fmt, file.c_str(), &opts, &err);
    if (err) {
        error_report_err(err.release());
    }
    assert_int_equal(ret, 0);
}

struct CopyCall {
    BlockBackend *src, *dst;
    int64_t src_off, dst_off, bytes;
    int ret;
};

int copy_range(BlockBackend *src, int64_t src_off, BlockBackend *dst, int64_t dst_off,
               int64_t bytes)
{
    CopyCall c{src, dst, src_off, dst_off, bytes, -EINPROGRESS};
    aio_run_coroutine_sync(
        blk_get_aio_context(dst),
        [](void *o) {
            auto *call = (CopyCall *)o;
            call->ret = blk_co_copy_range(call->src, call->src_off, call->dst, call->dst_off,
                                          call->bytes, 0, 0);
        },
        &c);
    return c.ret;
}

int compressed_write(BlockBackend *blk, int64_t off, int64_t len, uint8_t v)
{
    std::vector<uint8_t> buf((size_t)len, v);
    struct Call {
        BlockBackend *blk;
        int64_t off, len;
        const uint8_t *buf;
        int ret;
    } c{blk, off, len, buf.data(), -EINPROGRESS};
    aio_run_coroutine_sync(
        blk_get_aio_context(blk),
        [](void *o) {
            auto *call = (Call *)o;
            call->ret = blk_co_pwrite_compressed(call->blk, call->off, call->len, call->buf);
        },
        &c);
    return c.ret;
}

// The qcow2 driver's own check: 0 when consistent.
int check_image(BlockBackend *blk)
{
    struct Call {
        BlockDriverState *bs;
        int ret;
    } c{blk_bs(blk), -EINPROGRESS};
    aio_run_coroutine_sync(
        blk_get_aio_context(blk),
        [](void *o) {
            auto *call = (Call *)o;
            BdrvCheckResult res;
            call->ret = call->bs->drv->bdrv_co_check(call->bs, &res, 0);
            if (call->ret == 0 && (res.corruptions || res.leaks || res.check_errors)) {
                call->ret = -EIO;
            }
        },
        &c);
    return c.ret;
}

// raw -> raw, unaligned offsets inside the files.
void test_raw_to_raw(void **)
{
    create("raw", scratch_path("a.raw"), "4M");
    create("raw", scratch_path("b.raw"), "4M");
    BlockBackend *a = scratch_open_rw(scratch_path("a.raw"), "raw");
    BlockBackend *b = scratch_open_rw(scratch_path("b.raw"), "raw");
    fill(a, 0, 4 * kMiB, 0x11);
    fill(a, 1 * kMiB, 1 * kMiB, 0x22);
    assert_int_equal(copy_range(a, 1 * kMiB - 512, b, 512, 1 * kMiB + 1024), 0);
    expect(b, 0, 512, 0);
    expect(b, 512, 512, 0x11);
    expect(b, 1024, 1 * kMiB, 0x22);
    expect(b, 1 * kMiB + 1024, 512, 0x11);
    expect(b, 1 * kMiB + 1536, 3 * kMiB - 1536, 0);
    blk_unref(a);
    blk_unref(b);
}

// raw -> qcow2 (clusters allocated on the way), qcow2 -> qcow2 (data and
// zero clusters), qcow2 -> raw; each image stays consistent.
void test_through_qcow2(void **)
{
    create("raw", scratch_path("s.raw"), "4M");
    create("qcow2", scratch_path("q1.qcow2"), "4M");
    create("qcow2", scratch_path("q2.qcow2"), "4M");
    create("raw", scratch_path("r.raw"), "4M");
    BlockBackend *s = scratch_open_rw(scratch_path("s.raw"), "raw");
    BlockBackend *q1 = scratch_open_rw(scratch_path("q1.qcow2"));
    BlockBackend *q2 = scratch_open_rw(scratch_path("q2.qcow2"));
    BlockBackend *r = scratch_open_rw(scratch_path("r.raw"), "raw");
    fill(s, 0, 4 * kMiB, 0x33);
    // Not cluster aligned on the qcow2 side: the partial clusters read zero.
    assert_int_equal(copy_range(s, 0, q1, 4096, 2 * kMiB), 0);
    expect(q1, 0, 4096, 0);
    expect(q1, 4096, 2 * kMiB, 0x33);
    expect(q1, 2 * kMiB + 4096, 2 * kMiB - 4096, 0);
    assert_int_equal(blk_pwrite_zeroes(q1, 1 * kMiB, 64 * 1024, 0), 0);
    assert_int_equal(copy_range(q1, 0, q2, 0, 4 * kMiB), 0);
    expect(q2, 0, 4096, 0);
    expect(q2, 4096, 1 * kMiB - 4096, 0x33);
    expect(q2, 1 * kMiB, 64 * 1024, 0);
    expect(q2, 1 * kMiB + 64 * 1024, 1 * kMiB - 64 * 1024 + 4096, 0x33);
    assert_int_equal(copy_range(q2, 0, r, 0, 4 * kMiB), 0);
    expect(r, 4096, 1 * kMiB - 4096, 0x33);
    expect(r, 1 * kMiB, 64 * 1024, 0);
    assert_int_equal(check_image(q1), 0);
    assert_int_equal(check_image(q2), 0);
    for (BlockBackend *blk : {s, q1, q2, r}) {
        blk_unref(blk);
    }
}

// What cannot be offloaded is refused with -ENOTSUP and changes nothing the
// read + write fallback would not rewrite.
void test_fallbacks(void **)
{
    create("raw", scratch_path("base.raw"), "1M");
    create("qcow2", scratch_path("c.qcow2"), "1M");
    create("qcow2", scratch_path("top.qcow2"), "1M", scratch_path("base.raw").c_str());
    create("raw", scratch_path("d.raw"), "1M");
    BlockBackend *c = scratch_open_rw(scratch_path("c.qcow2"));
    BlockBackend *top = scratch_open_rw(scratch_path("top.qcow2"));
    BlockBackend *d = scratch_open_rw(scratch_path("d.raw"), "raw");
    // Compressed source cluster.
    assert_int_equal(compressed_write(c, 0, 64 * 1024, 0x44), 0);
    assert_int_equal(copy_range(c, 0, d, 0, 64 * 1024), -ENOTSUP);
    // Destination that would need its backing file for copy-on-write.
    fill(d, 0, 64 * 1024, 0x55);
    assert_int_equal(copy_range(d, 0, top, 4096, 4096), -ENOTSUP);
    // Write-through destination: copy_file_range has no FUA.
    blk_set_enable_write_cache(d, false);
    assert_int_equal(copy_range(top, 0, d, 0, 4096), -ENOTSUP);
    expect(d, 0, 4096, 0x55);
    for (BlockBackend *blk : {c, top, d}) {
        blk_unref(blk);
    }
}

// Files on different file systems: copy_file_range fails with EXDEV (or
// another refusal) and the driver answers -ENOTSUP.
void test_cross_filesystem(void **)
{
    struct stat a, b;
    if (stat("/dev/shm", &a) != 0 || stat(scratch_dir().c_str(), &b) != 0 || a.st_dev == b.st_dev) {
        skip();
    }
    std::string shm = "/dev/shm/test-copy-range-" + std::to_string(getpid());
    create("raw", shm, "1M");
    create("raw", scratch_path("x.raw"), "1M");
    BlockBackend *src = scratch_open_rw(shm, "raw");
    BlockBackend *dst = scratch_open_rw(scratch_path("x.raw"), "raw");
    fill(src, 0, 1 * kMiB, 0x66);
    int ret = copy_range(src, 0, dst, 0, 1 * kMiB);
    // Kernels before 5.3 and after 5.18 refuse; in between the kernel
    // copies itself.  Either way the data must be right or untouched.
    if (ret == 0) {
        expect(dst, 0, 1 * kMiB, 0x66);
    } else {
        assert_int_equal(ret, -ENOTSUP);
    }
    blk_unref(src);
    blk_unref(dst);
    unlink(shm.c_str());
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_to_raw),
        cmocka_unit_test(test_through_qcow2),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_cross_filesystem),
    };
    return run_in_scratch_dir("test-copy-range", tests);
}
