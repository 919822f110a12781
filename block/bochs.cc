// The bochs format (Bochs' "growing" redolog images), read-only as in QEMU.
//
// Layout (little-endian): a header naming itself "Bochs Virtual HD Image" /
// "Redolog" / "Growing", version 1 or 2, the header size, and the sizes of
// the catalog (entries), of each extent's bitmap and of each extent, then
// the disk size (v2 after a reserved word, v1 right after the extent size).
// The catalog follows the header: one entry per extent of the disk, the
// index of the extent's block in the data area or 0xffffffff (absent).  An
// extent's block is its bitmap (one bit per sector, set when the sector is
// present) and then its sectors.  Absent sectors read as zeroes.
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <vector>

#include "block/block-int.h"

namespace {

constexpr int kHeaderSize = 512;
constexpr uint32_t kVersion2 = 0x00020000;
constexpr uint32_t kVersion1 = 0x00010000;
constexpr uint32_t kAbsent = 0xffffffff;
constexpr uint32_t kMaxCatalog = 0x100000;  // QEMU's bound (~8 TB, bximage's largest)
constexpr uint32_t kMaxExtent = 0x800000;

uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

// The fixed-size, NUL-terminated name fields compared as C strings, as
// QEMU compares them.
bool field_is(const uint8_t *p, size_t len, const char *want)
{
    return strnlen((const char *)p, len) < len && !strcmp((const char *)p, want);
}

bool header_matches(const uint8_t *h)
{
    uint32_t version = le32(h + 64);
    return field_is(h, 32, "Bochs Virtual HD Image") && field_is(h + 32, 16, "Redolog") &&
           field_is(h + 48, 16, "Growing") && (version == kVersion2 || version == kVersion1);
}

struct BDRVBochsState {
    std::vector<uint32_t> catalog;
    uint32_t data_offset = 0;
    uint32_t bitmap_blocks = 0;  // sectors of an extent's bitmap
    uint32_t extent_blocks = 0;  // sectors of an extent
    uint32_t extent_size = 0;
};

BDRVBochsState *bochs_state(BlockDriverState *bs) { return (BDRVBochsState *)bs->opaque; }

int bochs_probe(const uint8_t *buf, int buf_size, const char *)
{
    return buf_size >= kHeaderSize && header_matches(buf) ? 100 : 0;
}

// Checks the header's sizes in QEMU's order, with its messages.
int check_sizes(BlockDriverState *bs, BDRVBochsState *s, Error **errp)
{
    if (s->extent_size < 512) {
        error_setg(errp, "Extent size must be at least 512");
        return -EINVAL;
    }
    if (s->extent_size & (s->extent_size - 1)) {
        error_setg(errp, "Extent size %" PRIu32 " is not a power of two", s->extent_size);
        return -EINVAL;
    }
    if (s->extent_size > kMaxExtent) {
        error_setg(errp, "Extent size %" PRIu32 " is too large", s->extent_size);
        return -EINVAL;
    }
    uint64_t sectors = (uint64_t)bs->total_bytes / 512;
    uint64_t per_extent = s->extent_size / 512;
    if (s->catalog.size() < (sectors + per_extent - 1) / per_extent) {
        error_setg(errp, "Catalog size is too small for this disk size");
        return -EINVAL;
    }
    return 0;
}

int coroutine_fn bochs_co_open(BlockDriverState *bs, QDict *, int flags, Error **errp)
{
    if (flags & BDRV_O_RDWR) {
        error_setg(errp, "Image is read-only");  // no write support, as QEMU
        return -EACCES;
    }
    bs->read_only = true;
    uint8_t h[kHeaderSize];
    int ret = bdrv_co_pread(bs->file, 0, sizeof(h), h, 0);
    if (ret < 0) return ret;
    if (!header_matches(h)) {
        error_setg(errp, "Image not in Bochs format");
        return -EINVAL;
    }
    uint64_t disk = le32(h + 64) == kVersion1 ? le64(h + 84) : le64(h + 88);
    bs->total_bytes = (int64_t)(disk / 512 * 512);
    uint32_t nb = le32(h + 72);
    if (nb > kMaxCatalog) {
        error_setg(errp, "Catalog size is too large");
        return -EFBIG;
    }
    auto *s = new BDRVBochsState;
    bs->opaque = s;
    std::vector<uint8_t> raw(nb * 4);
    uint32_t header_len = le32(h + 68);
    ret = nb ? bdrv_co_pread(bs->file, header_len, raw.size(), raw.data(), 0) : 0;
    if (ret == 0) {
        s->catalog.resize(nb);
        for (uint32_t i = 0; i < nb; i++)
            s->catalog[i] = le32(&raw[i * 4]);
        s->data_offset = header_len + nb * 4;  // 32 bits, as QEMU's
        s->bitmap_blocks = 1 + (le32(h + 76) - 1) / 512;
        s->extent_blocks = 1 + (le32(h + 80) - 1) / 512;
        s->extent_size = le32(h + 80);
        ret = check_sizes(bs, s, errp);
    }
    if (ret < 0) {
        delete s;
        bs->opaque = nullptr;
    }
    return ret;
}

void coroutine_fn bochs_co_close(BlockDriverState *bs)
{
    delete bochs_state(bs);
    bs->opaque = nullptr;
}

// Host offset of sector @sector, or 0 when it is absent.
int64_t coroutine_fn sector_offset(BlockDriverState *bs, uint64_t sector)
{
    BDRVBochsState *s = bochs_state(bs);
    uint64_t offset = sector * 512;
    uint64_t extent = offset / s->extent_size;
    uint64_t in_extent = offset % s->extent_size / 512;
    if (s->catalog[extent] == kAbsent) return 0;
    uint64_t bitmap =
        s->data_offset + 512ULL * s->catalog[extent] * (s->extent_blocks + s->bitmap_blocks);
    uint8_t bits;
    int ret = bdrv_co_pread(bs->file, (int64_t)(bitmap + in_extent / 8), 1, &bits, 0);
    if (ret < 0) return ret;
    if (!((bits >> (in_extent % 8)) & 1)) return 0;
    return (int64_t)(bitmap + 512 * (s->bitmap_blocks + in_extent));
}

int coroutine_fn bochs_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, size_t qoff, int)
{
    for (int64_t done = 0; done < bytes; done += 512) {
        int64_t host = sector_offset(bs, (uint64_t)(offset + done) / 512);
        if (host < 0) return (int)host;
        if (host == 0) {
            qemu_iovec_memset(qiov, qoff + done, 0, 512);
            continue;
        }
        int ret = bdrv_co_preadv_part(bs->file, host, 512, qiov, qoff + done, 0);
        if (ret < 0) return ret;
    }
    return 0;
}

// QEMU's bochs driver reports no block status: all data, where in the file
// unknown (qemu-img map: "File contains external, encrypted or compressed
// clusters.").
int coroutine_fn bochs_co_block_status(BlockDriverState *bs, bool, int64_t, int64_t bytes,
                                       int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    (void)bs;
    *pnum = bytes;
    *map = 0;
    *file = nullptr;
    return BDRV_BLOCK_DATA;
}

int64_t coroutine_fn bochs_co_getlength(BlockDriverState *bs) { return bs->total_bytes; }

int64_t coroutine_fn bochs_co_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_co_get_allocated_file_size(bs->file->bs);
}

void bochs_refresh_limits(BlockDriverState *bs, Error **)
{
    bs->bl.request_alignment = std::max<uint32_t>(bs->bl.request_alignment, 512);
}

}  // namespace

BlockDriver bdrv_bochs = [] {
    BlockDriver d{};
    d.format_name = "bochs";
    d.is_format = true;
    d.bdrv_probe = bochs_probe;
    d.bdrv_co_open = bochs_co_open;
    d.bdrv_co_close = bochs_co_close;
    d.bdrv_co_preadv = bochs_co_preadv;
    d.bdrv_co_block_status = bochs_co_block_status;
    d.bdrv_co_getlength = bochs_co_getlength;
    d.bdrv_co_get_allocated_file_size = bochs_co_get_allocated_file_size;
    d.bdrv_refresh_limits = bochs_refresh_limits;
    return d;
}();
