// What the qcow2 driver test programs share: a scratch directory per
// program, images opened through the block layer, byte-pattern fill and
// check.
#pragma once
#include <cstdlib>
#include <string>
#include <vector>

#include "block/block.h"
#include "tests/unit/util/cmocka-wrap.h"

inline std::string &scratch_dir()
{
    static std::string dir;
    return dir;
}

inline std::string scratch_path(const char *name) { return scratch_dir() + "/" + name; }

// Opens @file read-write with format @fmt; fails the test when it cannot.
inline BlockBackend *scratch_open_rw(const std::string &file, const char *fmt = "qcow2",
                                     int flags = 0)
{
    QDict opts;
    opts.set("driver", fmt);
    ErrorPtr err;
    BlockBackend *blk = blk_new_open(file.c_str(), &opts, BDRV_O_RDWR | flags, &err);
    if (err) error_report_err(err.release());
    assert_non_null(blk);
    return blk;
}

inline void fill(BlockBackend *blk, int64_t off, int64_t len, uint8_t v)
{
    std::vector<uint8_t> buf((size_t)len, v);
    assert_int_equal(blk_pwrite(blk, off, len, buf.data(), 0), 0);
}

inline void expect(BlockBackend *blk, int64_t off, int64_t len, uint8_t v)
{
    std::vector<uint8_t> buf((size_t)len, (uint8_t)~v), want((size_t)len, v);
    assert_int_equal(blk_pread(blk, off, len, buf.data(), 0), 0);
    assert_memory_equal(buf.data(), want.data(), len);
}

// Runs @tests with a fresh scratch directory under /tmp, removed afterwards.
template <size_t N>
int run_in_scratch_dir(const char *group, const CMUnitTest (&tests)[N])
{
    std::string tmpl = std::string("/tmp/") + group + ".XXXXXX";
    if (!mkdtemp(tmpl.data())) return 1;
    scratch_dir() = tmpl;
    bdrv_init();
    int ret = _cmocka_run_group_tests(group, tests, N, nullptr, nullptr);
    std::string cmd = "rm -rf '" + tmpl + "'";
    if (system(cmd.c_str()) != 0) ret = 1;
    return ret;
}
