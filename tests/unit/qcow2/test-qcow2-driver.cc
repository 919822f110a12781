// The qcow2 driver through the block layer on scratch images: emptying an
// overlay (qemu-img commit) makes reads fall through to the backing file and
// frees the clusters; re-pointing the backing file (qemu-img rebase -u)
// rewrites the header; grow/shrink keep data and the size.
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

void create(const char *fmt, const std::string &file, const char *size,
            const char *backing = nullptr, const char *backing_fmt = nullptr)
{
    QDict opts;
    opts.set("size", size);
    if (backing) opts.set("backing_file", backing);
    if (backing_fmt) opts.set("backing_fmt", backing_fmt);
    ErrorPtr err;
    int ret = bdrv_create(fmt, file.c_str(), &opts, &err);
    if (err) error_report_err(err.release());
    assert_int_equal(ret, 0);
}

struct DriverCall {
    BlockDriverState *bs;
    const char *backing;
    const char *fmt;
    int ret;
};

void coroutine_fn make_empty_entry(void *opaque)
{
    DriverCall *c = (DriverCall *)opaque;
    c->ret = c->bs->drv->bdrv_co_make_empty(c->bs);
}

void coroutine_fn change_backing_entry(void *opaque)
{
    DriverCall *c = (DriverCall *)opaque;
    c->ret = c->bs->drv->bdrv_co_change_backing_file(c->bs, c->backing, c->fmt);
}

void coroutine_fn check_entry(void *opaque)
{
    DriverCall *c = (DriverCall *)opaque;
    BdrvCheckResult res;
    c->ret = c->bs->drv->bdrv_co_check(c->bs, &res, 0);
    if (c->ret == 0 && (res.corruptions || res.leaks || res.check_errors)) c->ret = -EIO;
}

int run(CoroutineEntry *entry, BlockBackend *blk, const char *backing = nullptr,
        const char *fmt = nullptr)
{
    DriverCall c{blk_bs(blk), backing, fmt, -EINPROGRESS};
    aio_run_coroutine_sync(blk_get_aio_context(blk), entry, &c);
    return c.ret;
}

void test_make_empty(void **)
{
    create("raw", scratch_path("base.raw"), "4M");
    QDict raw;
    raw.set("driver", "raw");
    BlockBackend *base = blk_new_open(scratch_path("base.raw").c_str(), &raw, BDRV_O_RDWR, nullptr);
    assert_non_null(base);
    fill(base, 0, 4 << 20, 0xaa);
    blk_unref(base);
    create("qcow2", scratch_path("top.qcow2"), "4M", scratch_path("base.raw").c_str(), "raw");
    BlockBackend *blk = scratch_open_rw(scratch_path("top.qcow2"));
    fill(blk, 64 << 10, 1 << 20, 0x11);
    assert_int_equal(blk_pwrite_zeroes(blk, 2 << 20, 1 << 20, 0), 0);
    expect(blk, 2 << 20, 1 << 20, 0);
    assert_int_equal(run(make_empty_entry, blk), 0);
    expect(blk, 0, 4 << 20, 0xaa);  // everything from the backing file again
    assert_int_equal(run(check_entry, blk), 0);
    blk_unref(blk);
}

void test_change_backing_file(void **)
{
    create("qcow2", scratch_path("cb.qcow2"), "1M", scratch_path("base.raw").c_str(), "raw");
    BlockBackend *blk = scratch_open_rw(scratch_path("cb.qcow2"));
    std::string other = scratch_path("other.raw");
    create("raw", other, "1M");
    assert_int_equal(run(change_backing_entry, blk, other.c_str(), "raw"), 0);
    std::string toolong(2000, 'x');
    assert_int_equal(run(change_backing_entry, blk, toolong.c_str(), "raw"), -EINVAL);
    blk_unref(blk);
    BlockBackend *ro =
        blk_new_open(scratch_path("cb.qcow2").c_str(), nullptr, BDRV_O_NO_BACKING, nullptr);
    assert_non_null(ro);
    assert_string_equal(blk_bs(ro)->backing_file.c_str(), other.c_str());
    assert_string_equal(blk_bs(ro)->backing_format.c_str(), "raw");
    blk_unref(ro);
    // Dropping the backing file leaves a standalone image.
    blk = scratch_open_rw(scratch_path("cb.qcow2"));
    assert_int_equal(run(change_backing_entry, blk, nullptr, nullptr), 0);
    blk_unref(blk);
    blk = scratch_open_rw(scratch_path("cb.qcow2"));
    assert_true(blk_bs(blk)->backing_file.empty());
    assert_int_equal(run(check_entry, blk), 0);
    blk_unref(blk);
}

void test_resize(void **)
{
    create("qcow2", scratch_path("rs.qcow2"), "1M");
    BlockBackend *blk = scratch_open_rw(scratch_path("rs.qcow2"));
    fill(blk, 0, 1 << 20, 0x5a);
    ErrorPtr err;
    assert_int_equal(blk_truncate(blk, 3LL << 30, false, (int)PreallocMode::Off, &err), 0);
    assert_true(blk_getlength(blk) == 3LL << 30);
    expect(blk, 0, 1 << 20, 0x5a);
    expect(blk, 2LL << 30, 65536, 0);
    fill(blk, (3LL << 30) - 65536, 65536, 0x6b);
    // Not a multiple of 512: refused, size unchanged.
    assert_true(blk_truncate(blk, 1000001, false, (int)PreallocMode::Off, &err) < 0);
    assert_non_null(err.get());
    err.reset();
    assert_int_equal(blk_truncate(blk, 100 << 10, false, (int)PreallocMode::Off, &err), 0);
    expect(blk, 0, 100 << 10, 0x5a);
    assert_int_equal(blk_truncate(blk, 1 << 20, false, (int)PreallocMode::Metadata, &err), 0);
    expect(blk, 0, 100 << 10, 0x5a);
    expect(blk, 100 << 10, (1 << 20) - (100 << 10), 0);  // no stale tail
    assert_int_equal(run(check_entry, blk), 0);
    blk_unref(blk);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_empty),
        cmocka_unit_test(test_change_backing_file),
        cmocka_unit_test(test_resize),
    };
    return run_in_scratch_dir("test-qcow2-driver", tests);
}
