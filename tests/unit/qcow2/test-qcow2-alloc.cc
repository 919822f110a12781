// The metadata overlap check of the qcow2 write path scans only the used
// prefix of the refcount table; refcount blocks created while the image is
// open (a new block per range, a grown table) must still be caught.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "block/block_int.h"
#include "block/qcow2/qcow2.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

std::string g_dir;

BlockBackend *create_open(const std::string &file, const char *cluster_size) {
    QDict opts;
    opts.set("size", "64M");
    opts.set("cluster_size", cluster_size);
    Error *err = nullptr;
    assert_int_equal(bdrv_create("qcow2", file.c_str(), &opts, &err), 0);
    QDict o;
    o.set("driver", "qcow2");
    BlockBackend *blk = blk_new_open(file.c_str(), &o, BDRV_O_RDWR | BDRV_O_NO_FLUSH, &err);
    if (err) error_report_err(err);
    assert_non_null(blk);
    return blk;
}

// Every refcount block the table points at is reported as one.
void expect_refblocks_caught(BDRVQcow2State *s, uint64_t min_blocks) {
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

void test_refblocks_added_while_open(void **) {
    // 512-byte clusters: one refcount block covers 128 KiB of file, and the
    // one-cluster table 64 blocks, so 8 MiB of data needs new blocks and a
    // bigger table.
    std::string file = g_dir + "/ov.qcow2";
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

}  // namespace

int main(void) {
    char tmpl[] = "/tmp/test-qcow2-overlap.XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    g_dir = tmpl;
    bdrv_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refblocks_added_while_open),
    };
    int ret = cmocka_run_group_tests(tests, nullptr, nullptr);
    std::string cmd = "rm -rf '" + g_dir + "'";
    if (system(cmd.c_str()) != 0) ret = 1;
    return ret;
}
