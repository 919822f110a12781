// libFuzzer target: qcow2 open + I/O on a hostile image.
//
// Input: a qcow2 file image (header, L1/L2 and refcount tables, extensions).
// The requests are derived from the image's last bytes (usually data
// clusters), so the metadata stays whatever the mutator made it.  The image
// is opened read-write (metadata repair on open, dirty bit), read and
// written at a few offsets, flushed and closed.  Any crash, sanitizer report
// or hang is a bug: hostile metadata must only ever produce -EIO/-EINVAL.
#include <cstdint>
#include <vector>

#include "block/block.h"
#include "tests/fuzz/fuzz-common.h"
#include "util/util.h"

namespace {

constexpr int64_t IO_WINDOW = 4 << 20;  // where requests land in the disk
constexpr int64_t IO_MAX = 16 << 10;
constexpr uint64_t TABLE_MAX = 1 << 20;  // see too_big_tables()

uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

// Headers asking for an L1 or refcount table of more than 1 MiB are legal
// (QEMU allows 32 and 8 MiB and reads them whole, zeroes past the end of
// the file), but each such input costs a second of ASan-instrumented
// memset and page faults, 10 s on a loaded machine: libFuzzer reports it
// as a hang.  The size checks themselves are plain comparisons covered by
// iotest 108; the fuzzer's time is better spent on the metadata walk.
bool too_big_tables(const uint8_t *h)
{
    uint64_t cluster_bits = be(h + 20, 4);
    uint64_t l1_bytes = be(h + 36, 4) * 8;
    uint64_t reftable_bytes = cluster_bits < 32 ? be(h + 56, 4) << cluster_bits : 0;
    return l1_bytes > TABLE_MAX || reftable_bytes > TABLE_MAX;
}

void run_ops(BlockBackend *blk, FuzzInput *in)
{
    int64_t len = blk_getlength(blk);
    if (len <= 0) {
        return;
    }
    std::vector<uint8_t> buf(IO_MAX);
    for (int i = 0; i < 8; i++) {
        uint8_t op = in->u8();
        int64_t off = (int64_t)(in->u32() % (uint64_t)std::min(len, IO_WINDOW));
        int64_t n = std::min<int64_t>(1 + in->u32() % IO_MAX, len - off);
        switch (op % 5) {
        case 0: blk_pread(blk, off, n, buf.data(), 0); break;
        case 1:
            memset(buf.data(), op, n);
            blk_pwrite(blk, off, n, buf.data(), 0);
            break;
        case 2: blk_pwrite_zeroes(blk, off, n, BDRV_REQ_MAY_UNMAP); break;
        case 3: blk_pdiscard(blk, off, n); break;
        default: blk_flush(blk); break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool inited = [] {
        bdrv_init();
        return true;
    }();
    (void)inited;
    if (size < 72) {
        return 0;  // shorter than a v2 header: the probe alone refuses it
    }
    if (too_big_tables(data)) {
        return 0;
    }
    const std::string &path = fuzz_scratch_path("qcow2");
    if (!fuzz_write_file(path, data, size)) {
        return 0;
    }
    QDict opts;
    opts.set("driver", "qcow2");
    // Small caches: a hostile header must not buy 32 MiB of tables per
    // input, and evictions are where write-back bugs live.
    opts.set("l2-cache-size", "65536");
    opts.set("refcount-cache-size", "65536");
    ErrorPtr err;
    BlockBackend *blk = blk_new_open(path.c_str(), &opts, BDRV_O_RDWR, &err);
    if (!blk) {
        return 0;
    }
    size_t tail = std::min<size_t>(size - 72, 80);
    FuzzInput in(data + size - tail, tail);
    run_ops(blk, &in);
    blk_unref(blk);
    return 0;
}
