// The clusters of persistent dirty bitmaps, for check.  This driver neither
// loads nor stores bitmaps, but while the autoclear bitmaps bit says the
// extension is valid its directory, tables and data clusters are in use and
// check must count them, as QEMU's does (else they look leaked and -r leaks
// would free them under the bitmaps).  Without the bit the extension is
// stale and QEMU reports those clusters as leaks; so do we.
// Layout: QEMU docs/interop/qcow2.txt, "Bitmaps extension" and after.
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

// QEMU 7.2's limits, so that what it refuses to load is an error here too.
constexpr uint32_t kMaxBitmaps = 65535;
constexpr uint64_t kMaxDirSize = 1024ULL * kMaxBitmaps;
constexpr uint32_t kMaxTableSize = 0x8000000;
constexpr uint64_t kMaxPhysSize = 0x20000000;
constexpr uint32_t kMinGranularityBits = 9, kMaxGranularityBits = 31;
constexpr uint32_t kMaxNameSize = 1023;
constexpr size_t kExtLen = 24, kDirEntryLen = 24;
constexpr uint32_t kKnownFlags = 3;  // in_use, auto
constexpr uint8_t kTypeDirtyTracking = 1;
constexpr uint64_t kEntryOffsetMask = 0x00fffffffffffe00ULL;
constexpr uint64_t kEntryReservedMask = 0xff000000000001feULL;
constexpr uint64_t kEntryAllOnes = 1;

struct BitmapDir {
    uint32_t nb;
    uint64_t size, offset;
};

struct BitmapInfo {
    std::string name;
    uint64_t table_offset;
    uint32_t table_size;
};

// Reports @msg as a check error; the caller returns -EINVAL.
int broken(BdrvCheckResult *res, const std::string &msg)
{
    fprintf(stderr, "ERROR %s\n", msg.c_str());
    res->corruptions++;
    return -EINVAL;
}

std::string fmt(const char *f, uint64_t a, uint64_t b = 0)
{
    char buf[160];
    snprintf(buf, sizeof(buf), f, a, b);
    return buf;
}

// The extension's fields, checked as QEMU checks them on open.
int parse_ext(BDRVQcow2State *s, BdrvCheckResult *res, const Qcow2HeaderExt &e, BitmapDir *d)
{
    if (e.data.size() != kExtLen) return broken(res, "bitmaps_ext: Invalid extension length");
    if (be32_load(&e.data[4])) return broken(res, "bitmaps_ext: Reserved field is not zero");
    d->nb = be32_load(&e.data[0]);
    d->size = be64_load(&e.data[8]);
    d->offset = be64_load(&e.data[16]);
    if (d->nb > kMaxBitmaps) {
        return broken(res, fmt("bitmaps_ext: Image has %" PRIu64 " bitmaps, exceeding the QEMU "
                               "supported maximum of %" PRIu64,
                               d->nb, kMaxBitmaps));
    }
    if (!d->nb) return broken(res, "found bitmaps extension with zero bitmaps");
    if (d->offset & (s->cluster_size - 1)) {
        return broken(res, "bitmaps_ext: invalid bitmap directory offset");
    }
    if (d->size > kMaxDirSize) {
        return broken(res, fmt("bitmaps_ext: bitmap directory size (%" PRIu64 ") exceeds the "
                               "maximum supported size (%" PRIu64 ")",
                               d->size, kMaxDirSize));
    }
    if (!d->size) return broken(res, "Requested bitmap directory size is zero");
    return 0;
}

bool entry_ok(BlockDriverState *bs, const uint8_t *e)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t off = be64_load(e);
    uint32_t size = be32_load(e + 8), flags = be32_load(e + 12);
    uint8_t type = e[16], gran = e[17];
    if (!size || !off || (off & (s->cluster_size - 1)) || size > kMaxTableSize ||
        gran > kMaxGranularityBits || gran < kMinGranularityBits || (flags & ~kKnownFlags) ||
        be16_load(e + 18) > kMaxNameSize || type != kTypeDirtyTracking) {
        return false;
    }
    // The table must cover the whole disk and stay in QEMU's memory bound.
    uint64_t phys = (uint64_t)size * s->cluster_size;
    return phys <= kMaxPhysSize && s->hdr.size <= ((phys * 8) << gran);
}

// Walks the directory entries in @dir as QEMU's bitmap_list_load does.
int parse_dir(BlockDriverState *bs, BdrvCheckResult *res, const BitmapDir &d,
              const std::vector<uint8_t> &dir, std::vector<BitmapInfo> *out)
{
    const std::string broken_dir = "Broken bitmap directory";
    uint64_t pos = 0, n = 0;
    while (pos < dir.size()) {
        if (dir.size() - pos < kDirEntryLen) return broken(res, broken_dir);
        if (++n > d.nb) {
            return broken(res, "More bitmaps found than specified in header extension");
        }
        const uint8_t *e = &dir[pos];
        uint32_t name_size = be16_load(e + 18), extra = be32_load(e + 20);
        uint64_t len = (kDirEntryLen + name_size + (uint64_t)extra + 7) & ~7ULL;
        if (len > dir.size() - pos) return broken(res, broken_dir);
        if (extra) return broken(res, "Bitmap extra data is not supported");
        std::string name((const char *)e + kDirEntryLen, name_size);
        if (!entry_ok(bs, e)) {
            return broken(res, "Bitmap '" + name + "' doesn't satisfy the constraints");
        }
        out->push_back({name, be64_load(e), be32_load(e + 8)});
        pos += len;
    }
    if (n != d.nb) return broken(res, "Less bitmaps found than specified in header extension");
    return 0;
}

// The table region and its data clusters.  A bad entry fails the whole
// table before any of its clusters is counted, as QEMU's bitmap_table_load.
int coroutine_fn count_table(BlockDriverState *bs, BdrvCheckResult *res, const BitmapInfo &bm,
                             Qcow2CountFn *count, void *opaque)
{
    BDRVQcow2State *s = qcow2_state(bs);
    count(opaque, bm.table_offset, (uint64_t)bm.table_size * 8);
    std::vector<uint8_t> buf((size_t)bm.table_size * 8);
    int ret = bdrv_co_pread(bs->file, bm.table_offset, buf.size(), buf.data(), 0);
    if (ret < 0) {
        return broken(res, "Could not read bitmap_table table from image for bitmap '" + bm.name +
                               "': " + strerror(-ret));
    }
    for (uint32_t i = 0; i < bm.table_size; i++) {
        uint64_t e = be64_load(&buf[i * 8ULL]), off = e & kEntryOffsetMask;
        bool bad = (e & kEntryReservedMask) ||
                   (off && ((e & kEntryAllOnes) || (off & (s->cluster_size - 1))));
        if (bad) {
            return broken(res, "Could not read bitmap_table table from image for bitmap '" +
                                   bm.name +
                                   "': " + fmt("invalid entry %" PRIu64 ": 0x%016" PRIx64, i, e));
        }
    }
    for (uint32_t i = 0; i < bm.table_size; i++) {
        uint64_t off = be64_load(&buf[i * 8ULL]) & kEntryOffsetMask;
        if (off) count(opaque, off, s->cluster_size);
    }
    return 0;
}

}  // namespace

int coroutine_fn qcow2_check_bitmaps(BlockDriverState *bs, BdrvCheckResult *res,
                                     Qcow2CountFn *count, void *opaque)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!(s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) return 0;
    const Qcow2HeaderExt *ext = nullptr;
    for (const Qcow2HeaderExt &e : s->hdr.unknown_exts) {
        if (e.type == QCOW2_EXT_BITMAPS) ext = &e;
    }
    if (!ext) return 0;
    BitmapDir d;
    int ret = parse_ext(s, res, *ext, &d);
    if (ret < 0) return ret;
    count(opaque, d.offset, d.size);
    std::vector<uint8_t> dir(d.size);
    ret = bdrv_co_pread(bs->file, d.offset, d.size, dir.data(), 0);
    if (ret < 0) {
        return broken(res, std::string("Failed to read bitmap directory: ") + strerror(-ret));
    }
    std::vector<BitmapInfo> bitmaps;
    ret = parse_dir(bs, res, d, dir, &bitmaps);
    if (ret < 0) return ret;
    for (const BitmapInfo &bm : bitmaps) {
        ret = count_table(bs, res, bm, count, opaque);
        if (ret < 0) return ret;
    }
    return 0;
}
