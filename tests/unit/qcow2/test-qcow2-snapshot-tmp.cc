// Temporarily loading a snapshot (qemu-img convert -l): a read-only node
// reads the snapshot's data, by id, name or both; unknown snapshots,
// writable nodes and formats without snapshots are refused with QEMU's
// messages; the node refuses writes and going read-write; the image on
// disk is untouched and opens with its active data again.
#include <cerrno>
#include <string>

#include "block/block-int.h"
#include "tests/unit/qcow2/qcow2-scratch.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

struct LoadCall {
    BlockDriverState *bs;
    const char *id;
    const char *name;
    bool by_id_or_name;
    int ret;
    std::string err;
};

void coroutine_fn load_entry(void *opaque)
{
    LoadCall *c = (LoadCall *)opaque;
    ErrorPtr err;
    c->ret = c->by_id_or_name ? bdrv_co_snapshot_load_tmp_by_id_or_name(c->bs, c->name, &err)
                              : bdrv_co_snapshot_load_tmp(c->bs, c->id, c->name, &err);
    if (err) c->err = error_get_pretty(err.get());
}

int load(BlockBackend *blk, const char *id, const char *name, std::string *err = nullptr,
         bool by_id_or_name = false)
{
    LoadCall c{blk_bs(blk), id, name, by_id_or_name, -EINPROGRESS, {}};
    aio_run_coroutine_sync(blk_get_aio_context(blk), load_entry, &c);
    if (err) *err = c.err;
    return c.ret;
}

void coroutine_fn snap_create_entry(void *opaque)
{
    BlockDriverState *bs = (BlockDriverState *)opaque;
    QEMUSnapshotInfo sn;
    sn.name = "s1";
    assert_int_equal(bs->drv->bdrv_co_snapshot_create(bs, &sn), 0);
}

void coroutine_fn reopen_rw_entry(void *opaque)
{
    BlockDriverState *bs = (BlockDriverState *)opaque;
    ErrorPtr err;
    assert_true(bdrv_co_reopen(bs, BDRV_O_RDWR, &err) < 0);
    assert_non_null(err.get());
    assert_string_equal(error_get_pretty(err.get()),
                        "Cannot write to an image with a temporarily loaded snapshot");
}

// 0x11 in the snapshot "s1" (id 1), 0x22 in the active image.
std::string make_image()
{
    std::string path = scratch_path("snap.qcow2");
    QDict opts;
    opts.set("size", "1M");
    ErrorPtr err;
    assert_int_equal(bdrv_create("qcow2", path.c_str(), &opts, &err), 0);
    BlockBackend *blk = scratch_open_rw(path);
    fill(blk, 0, 128 << 10, 0x11);
    aio_run_coroutine_sync(blk_get_aio_context(blk), snap_create_entry, blk_bs(blk));
    fill(blk, 64 << 10, 128 << 10, 0x22);
    blk_unref(blk);
    return path;
}

BlockBackend *open_ro(const std::string &path, const char *fmt = "qcow2")
{
    QDict opts;
    opts.set("driver", fmt);
    ErrorPtr err;
    BlockBackend *blk = blk_new_open(path.c_str(), &opts, 0, &err);
    if (err) error_report_err(err.release());
    assert_non_null(blk);
    return blk;
}

void test_reads_snapshot(void **)
{
    std::string path = make_image();
    const char *forms[][2] = {{nullptr, "s1"}, {"1", nullptr}, {"1", "s1"}};
    for (auto &f : forms) {
        BlockBackend *blk = open_ro(path);
        assert_int_equal(load(blk, f[0], f[1]), 0);
        expect(blk, 0, 128 << 10, 0x11);
        expect(blk, 128 << 10, 64 << 10, 0);
        std::vector<uint8_t> buf(4096, 0x55);
        assert_true(blk_pwrite(blk, 0, 4096, buf.data(), 0) < 0);
        aio_run_coroutine_sync(blk_get_aio_context(blk), reopen_rw_entry, blk_bs(blk));
        blk_unref(blk);
    }
    BlockBackend *blk = open_ro(path);  // the active image, as before
    expect(blk, 0, 64 << 10, 0x11);
    expect(blk, 64 << 10, 128 << 10, 0x22);
    assert_int_equal(load(blk, nullptr, "1", nullptr, true), 0);  // id tried first
    expect(blk, 64 << 10, 64 << 10, 0x11);
    blk_unref(blk);
}

void test_refusals(void **)
{
    std::string path = make_image(), err;
    BlockBackend *blk = open_ro(path);
    assert_int_equal(load(blk, nullptr, "nosuch", &err), -ENOENT);
    assert_string_equal(err.c_str(), "Can't find snapshot");
    assert_int_equal(load(blk, "2", nullptr), -ENOENT);
    assert_int_equal(load(blk, "1", "other"), -ENOENT);
    assert_int_equal(load(blk, nullptr, "nosuch", nullptr, true), -ENOENT);
    assert_int_equal(load(blk, nullptr, nullptr, &err), -EINVAL);
    expect(blk, 64 << 10, 128 << 10, 0x22);  // a failed load changes nothing
    blk_unref(blk);

    blk = scratch_open_rw(path);
    assert_int_equal(load(blk, nullptr, "s1", &err), -EINVAL);
    assert_string_equal(err.c_str(), "Device is not readonly");
    blk_unref(blk);

    blk = open_ro(path, "raw");
    assert_int_equal(load(blk, nullptr, "s1", &err), -ENOTSUP);
    assert_string_equal(err.c_str(), "Block format 'raw' used by device '' does not support "
                                     "temporarily loading internal snapshots");
    assert_false(bdrv_supports_persistent_dirty_bitmap(blk_bs(blk)));
    blk_unref(blk);

    blk = open_ro(path);
    assert_true(bdrv_supports_persistent_dirty_bitmap(blk_bs(blk)));
    assert_true(bdrv_dirty_bitmaps(blk_bs(blk)).empty());
    blk_unref(blk);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_snapshot),
        cmocka_unit_test(test_refusals),
    };
    return run_in_scratch_dir("test-qcow2-snapshot-tmp", tests);
}
