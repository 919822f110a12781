// Internal snapshots through the driver entry points on scratch images:
// COPIED flags follow the refcounts (cleared by create, restored by
// delete), ids are numbered like QEMU's, refused operations (refcount
// overflow, unknown snapshots, duplicate ids) change nothing, and every
// step leaves an image our check finds clean (no leak, no corruption).
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

BlockBackend *create_open(const char *name, const char *refcount_bits)
{
    QDict opts;
    opts.set("size", "1M");
    opts.set("cluster_size", "4096");
    opts.set("refcount_bits", refcount_bits);
    ErrorPtr err;
    assert_int_equal(bdrv_create("qcow2", scratch_path(name).c_str(), &opts, &err), 0);
    return scratch_open_rw(scratch_path(name));
}

struct SnapCall {
    BlockDriverState *bs;
    const char *name;
    const char *id;
    int ret;
    std::string err;
};

void coroutine_fn create_entry(void *opaque)
{
    SnapCall *c = (SnapCall *)opaque;
    QEMUSnapshotInfo sn;
    sn.name = c->name;
    if (c->id) sn.id_str = c->id;
    c->ret = c->bs->drv->bdrv_co_snapshot_create(c->bs, &sn);
}

void coroutine_fn goto_entry(void *opaque)
{
    SnapCall *c = (SnapCall *)opaque;
    c->ret = c->bs->drv->bdrv_co_snapshot_goto(c->bs, c->name);
}

void coroutine_fn delete_entry(void *opaque)
{
    SnapCall *c = (SnapCall *)opaque;
    ErrorPtr err;
    c->ret = c->bs->drv->bdrv_co_snapshot_delete(c->bs, c->name, &err);
    if (err) c->err = error_get_pretty(err.get());
}

void coroutine_fn check_entry(void *opaque)
{
    SnapCall *c = (SnapCall *)opaque;
    BdrvCheckResult res;
    c->ret = c->bs->drv->bdrv_co_check(c->bs, &res, 0);
    if (c->ret == 0 && (res.corruptions || res.leaks || res.check_errors)) c->ret = -EIO;
}

// A create that fails at the refcount limit leaks its L1 copy's clusters,
// as QEMU's does: check -r leaks repairs exactly that and finds nothing else.
void coroutine_fn repair_one_leak_entry(void *opaque)
{
    SnapCall *c = (SnapCall *)opaque;
    BdrvCheckResult res;
    c->ret = c->bs->drv->bdrv_co_check(c->bs, &res, BDRV_FIX_LEAKS);
    if (c->ret == 0 && (res.corruptions || res.check_errors || res.leaks_fixed != 1)) c->ret = -EIO;
}

int run(CoroutineEntry *entry, BlockBackend *blk, const char *name = nullptr,
        const char *id = nullptr, std::string *err = nullptr)
{
    SnapCall c{blk_bs(blk), name, id, -EINPROGRESS, {}};
    aio_run_coroutine_sync(blk_get_aio_context(blk), entry, &c);
    if (err) *err = c.err;
    return c.ret;
}

bool active_l1_copied(BlockBackend *blk)
{
    BDRVQcow2State *s = qcow2_state(blk_bs(blk));
    return s->l1_table[0] & QCOW_OFLAG_COPIED;
}

void test_copied_flags(void **)
{
    BlockBackend *blk = create_open("copied.qcow2", "16");
    fill(blk, 0, 64 << 10, 0x11);
    assert_true(active_l1_copied(blk));
    assert_int_equal(run(create_entry, blk, "a"), 0);
    assert_false(active_l1_copied(blk));  // the L2 table is shared now
    fill(blk, 4096, 4096, 0x22);          // copies the L2 table and the cluster
    assert_true(active_l1_copied(blk));
    assert_int_equal(run(check_entry, blk), 0);
    assert_int_equal(run(goto_entry, blk, "a"), 0);
    assert_false(active_l1_copied(blk));
    expect(blk, 0, 64 << 10, 0x11);
    assert_int_equal(run(delete_entry, blk, "1"), 0);  // the driver takes ids too
    assert_true(active_l1_copied(blk));                // sole owner again: written in place
    assert_int_equal(run(check_entry, blk), 0);
    expect(blk, 0, 64 << 10, 0x11);
    blk_unref(blk);
}

void test_ids_and_refusals(void **)
{
    BlockBackend *blk = create_open("ids.qcow2", "16");
    fill(blk, 0, 4096, 0x33);
    assert_int_equal(run(create_entry, blk, "x", "7"), 0);
    assert_int_equal(run(create_entry, blk, "y", "7"), -EEXIST);
    assert_int_equal(run(create_entry, blk, "z", "vm-state"), 0);
    assert_int_equal(run(create_entry, blk, "w"), 0);
    std::vector<QEMUSnapshotInfo> sns;
    assert_int_equal(blk_bs(blk)->drv->bdrv_snapshot_list(blk_bs(blk), &sns), 3);
    assert_string_equal(sns[2].id_str.c_str(), "8");  // max numeric id + 1
    assert_int_equal(run(goto_entry, blk, "nope"), -ENOENT);
    std::string err;
    assert_int_equal(run(delete_entry, blk, "nope", nullptr, &err), -ENOENT);
    assert_string_equal(err.c_str(), "Can't find the snapshot");
    assert_int_equal(run(check_entry, blk), 0);
    blk_unref(blk);
}

void test_refcount_overflow_rolls_back(void **)
{
    // refcount_bits=2: three references at most.
    BlockBackend *blk = create_open("rc2.qcow2", "2");
    fill(blk, 0, 32 << 10, 0x44);
    assert_int_equal(run(create_entry, blk, "a"), 0);
    assert_int_equal(run(create_entry, blk, "b"), 0);
    assert_int_equal(run(create_entry, blk, "c"), -EINVAL);
    assert_int_equal(run(goto_entry, blk, "a"), -EINVAL);
    assert_int_equal(run(repair_one_leak_entry, blk), 0);  // flags consistent
    assert_int_equal(run(check_entry, blk), 0);
    std::vector<QEMUSnapshotInfo> sns;
    assert_int_equal(blk_bs(blk)->drv->bdrv_snapshot_list(blk_bs(blk), &sns), 2);
    assert_int_equal(run(delete_entry, blk, "b"), 0);
    assert_int_equal(run(goto_entry, blk, "a"), 0);
    expect(blk, 0, 32 << 10, 0x44);
    assert_int_equal(run(check_entry, blk), 0);
    blk_unref(blk);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copied_flags),
        cmocka_unit_test(test_ids_and_refusals),
        cmocka_unit_test(test_refcount_overflow_rolls_back),
    };
    return run_in_scratch_dir("test-qcow2-snapshot", tests);
}
