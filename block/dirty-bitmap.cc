// Dirty bitmaps: the in-memory object, its bit operations, serialisation,
// and the QMP-like operations qemu-img bitmap uses (QEMU 7.2's checks and
// messages, block/dirty-bitmap.c and blockdev's bitmap commands).
#include "block/dirty-bitmap.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <string>

#include "block/block-core-int.h"
#include "block/block-int.h"
#include "util/cutils.h"

struct BdrvDirtyBitmap {
    BlockDriverState *bs = nullptr;
    std::string name;  // "" when anonymous
    bool has_name = false;
    uint32_t granularity = 0;
    int64_t size = 0;             // bytes covered
    std::vector<uint64_t> words;  // bit i: chunk i
    uint64_t nbits = 0;
    bool disabled = false;
    bool persistent = false;
    bool inconsistent = false;
    bool readonly = false;
    bool busy = false;
};

namespace {

BlockDriverState *skip_filters(BlockDriverState *bs)
{
    while (bs && bs->drv && bs->drv->is_filter && bs->file) {
        bs = bs->file->bs;
    }
    return bs;
}

void resize_bits(BdrvDirtyBitmap *bm, int64_t bytes)
{
    bm->size = bytes;
    bm->nbits = (uint64_t)div_round_up(bytes, (int64_t)bm->granularity);
    bm->words.resize((bm->nbits + 63) / 64, 0);
    // Clear bits past the end so that a later grow starts clean.
    if (bm->nbits % 64) {
        bm->words.back() &= (1ULL << (bm->nbits % 64)) - 1;
    }
}

bool test_bit(const BdrvDirtyBitmap *bm, uint64_t i) { return bm->words[i / 64] >> (i % 64) & 1; }

// Sets (or clears) chunks [first, last].
void fill_bits(BdrvDirtyBitmap *bm, uint64_t first, uint64_t last, bool set)
{
    for (uint64_t i = first; i <= last;) {
        uint64_t w = i / 64, lo = i % 64;
        uint64_t hi = std::min<uint64_t>(63, lo + (last - i));
        uint64_t mask = (hi == 63 ? ~0ULL : ((1ULL << (hi + 1)) - 1)) & ~((1ULL << lo) - 1);
        if (set) {
            bm->words[w] |= mask;
        } else {
            bm->words[w] &= ~mask;
        }
        i += hi - lo + 1;
    }
}

// Chunk range of [offset, offset + bytes) clipped to the bitmap; false if empty.
bool chunk_range(const BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes, uint64_t *first,
                 uint64_t *last)
{
    if (bytes <= 0 || offset >= bm->size || offset < 0) {
        return false;
    }
    int64_t end = std::min(bm->size, offset + bytes);
    *first = (uint64_t)offset / bm->granularity;
    *last = (uint64_t)(end - 1) / bm->granularity;
    return true;
}

// First chunk >= @from whose bit equals @val, or nbits.
uint64_t find_bit(const BdrvDirtyBitmap *bm, uint64_t from, bool val)
{
    while (from < bm->nbits) {
        uint64_t w = bm->words[from / 64];
        if (!val) {
            w = ~w;
        }
        w &= ~0ULL << (from % 64);
        if (w) {
            uint64_t i = from / 64 * 64 + (uint64_t)std::countr_zero(w);
            return std::min(i, bm->nbits);
        }
        from = from / 64 * 64 + 64;
    }
    return bm->nbits;
}

int64_t next_bit(const BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes, bool val)
{
    if (offset < 0 || offset >= bm->size) {
        return -1;
    }
    int64_t end = bytes < 0 ? bm->size : std::min(bm->size, offset + bytes);
    uint64_t i = (uint64_t)offset / bm->granularity;
    if (test_bit(bm, i) == val) {
        return offset;
    }
    uint64_t j = find_bit(bm, i + 1, val);
    int64_t pos = (int64_t)(j * bm->granularity);
    return j >= bm->nbits || pos >= end ? -1 : pos;
}

BdrvDirtyBitmap *lookup(BlockDriverState *bs, const char *name, Error **errp)
{
    BdrvDirtyBitmap *bm = bdrv_find_dirty_bitmap(bs, name);
    if (!bm) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
    }
    return bm;
}

}  // namespace

BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs, uint32_t granularity,
                                          const char *name, Error **errp)
{
    if (name) {
        if (bdrv_find_dirty_bitmap(bs, name)) {
            error_setg(errp, "Bitmap already exists: %s", name);
            return nullptr;
        }
        if (strlen(name) > BDRV_BITMAP_MAX_NAME_SIZE) {
            error_setg(errp, "Bitmap name too long: %s", name);
            return nullptr;
        }
    }
    int64_t len = bs->total_bytes;
    if (bs->drv && bs->drv->bdrv_co_getlength) {
        len = bdrv_sector_rounded_length(bs->total_bytes);
    }
    auto *bm = new BdrvDirtyBitmap;
    bm->bs = bs;
    bm->has_name = name != nullptr;
    bm->name = name ? name : "";
    bm->granularity = granularity;
    resize_bits(bm, std::max<int64_t>(len, 0));
    bs->dirty_bitmaps.insert(bs->dirty_bitmaps.begin(), bm);
    return bm;
}

void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bm)
{
    if (!bm) {
        return;
    }
    std::erase(bm->bs->dirty_bitmaps, bm);
    delete bm;
}

void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs)
{
    for (BdrvDirtyBitmap *bm : bs->dirty_bitmaps) {
        delete bm;
    }
    bs->dirty_bitmaps.clear();
}

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs, const char *name)
{
    if (!bs || !name) {
        return nullptr;
    }
    for (BdrvDirtyBitmap *bm : bs->dirty_bitmaps) {
        if (bm->has_name && bm->name == name) {
            return bm;
        }
    }
    return nullptr;
}

std::vector<BdrvDirtyBitmap *> bdrv_dirty_bitmaps(BlockDriverState *bs)
{
    return bs ? bs->dirty_bitmaps : std::vector<BdrvDirtyBitmap *>{};
}

uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs)
{
    BlockDriverInfo bdi;
    if (bs && bs->drv && bs->drv->bdrv_get_info && bs->drv->bdrv_get_info(bs, &bdi) >= 0 &&
        bdi.cluster_size > 0) {
        return std::max<uint32_t>(4096, std::bit_ceil((uint32_t)bdi.cluster_size));
    }
    return 65536;
}

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bm)
{
    return bm->has_name ? bm->name.c_str() : nullptr;
}
uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bm) { return bm->granularity; }
int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bm) { return bm->size; }
BlockDriverState *bdrv_dirty_bitmap_bs(const BdrvDirtyBitmap *bm) { return bm->bs; }
bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bm) { return !bm->disabled; }
void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bm) { bm->disabled = false; }
void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bm) { bm->disabled = true; }
bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bm) { return bm->persistent; }
void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bm, bool p) { bm->persistent = p; }
bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bm) { return bm->inconsistent; }
void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bm)
{
    // As QEMU: an inconsistent bitmap is persistent and never tracks writes.
    bm->inconsistent = true;
    bm->disabled = true;
}
bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bm) { return bm->readonly; }
void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bm, bool ro) { bm->readonly = ro; }
bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bm) { return bm->busy; }
void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bm, bool busy) { bm->busy = busy; }

int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bm, unsigned flags, Error **errp)
{
    const char *name = bm->name.c_str();
    if ((flags & BDRV_BITMAP_BUSY) && bm->busy) {
        error_setg(errp, "Bitmap '%s' is currently in use by another operation and cannot be used",
                   name);
        return -1;
    }
    if ((flags & BDRV_BITMAP_RO) && bm->readonly) {
        error_setg(errp, "Bitmap '%s' is readonly and cannot be modified", name);
        return -1;
    }
    if ((flags & BDRV_BITMAP_INCONSISTENT) && bm->inconsistent) {
        error_setg(errp,
                   "Bitmap '%s' is inconsistent and cannot be used\n"
                   "Try block-dirty-bitmap-remove to delete this bitmap from disk",
                   name);
        return -1;
    }
    return 0;
}

bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bm, int64_t offset)
{
    if (offset < 0 || offset >= bm->size) {
        return false;
    }
    return test_bit(bm, (uint64_t)offset / bm->granularity);
}

void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes)
{
    uint64_t first, last;
    if (chunk_range(bm, offset, bytes, &first, &last)) {
        fill_bits(bm, first, last, true);
    }
}

void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes)
{
    // Only whole chunks inside the range are cleaned.
    int64_t end = std::min(bm->size, offset + bytes);
    int64_t start = round_up(offset, (int64_t)bm->granularity);
    int64_t stop = end == bm->size ? end : round_down(end, (int64_t)bm->granularity);
    uint64_t first, last;
    if (stop > start && chunk_range(bm, start, stop - start, &first, &last)) {
        fill_bits(bm, first, last, false);
    }
}

void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bm)
{
    std::fill(bm->words.begin(), bm->words.end(), 0);
}

uint64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bm)
{
    uint64_t n = 0;
    for (uint64_t w : bm->words) {
        n += (uint64_t)std::popcount(w);
    }
    return n * bm->granularity;
}

int64_t bdrv_dirty_bitmap_next_dirty(const BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes)
{
    return next_bit(bm, offset, bytes, true);
}

int64_t bdrv_dirty_bitmap_next_zero(const BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes)
{
    return next_bit(bm, offset, bytes, false);
}

bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest, const BdrvDirtyBitmap *src, Error **errp)
{
    if (bdrv_dirty_bitmap_check(dest, BDRV_BITMAP_DEFAULT, errp) ||
        bdrv_dirty_bitmap_check(src, BDRV_BITMAP_ALLOW_RO, errp)) {
        return false;
    }
    if (dest->size != src->size) {
        error_setg(errp, "Bitmaps are incompatible and can't be merged");
        return false;
    }
    for (int64_t off = 0; off < src->size;) {
        int64_t d = bdrv_dirty_bitmap_next_dirty(src, off, -1);
        if (d < 0) {
            break;
        }
        int64_t z = bdrv_dirty_bitmap_next_zero(src, d, -1);
        int64_t end = z < 0 ? src->size : z;
        bdrv_set_dirty_bitmap(dest, d, end - d);
        off = end;
    }
    return true;
}

void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t bytes)
{
    for (BdrvDirtyBitmap *bm : bs->dirty_bitmaps) {
        resize_bits(bm, bytes);
    }
}

void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    for (BdrvDirtyBitmap *bm : bs->dirty_bitmaps) {
        if (!bm->disabled) {
            bdrv_set_dirty_bitmap(bm, offset, bytes);
        }
    }
}

uint64_t bdrv_dirty_bitmap_serialization_size(const BdrvDirtyBitmap *bm, int64_t offset,
                                              int64_t bytes)
{
    (void)offset;
    uint64_t chunks = (uint64_t)div_round_up(bytes, (int64_t)bm->granularity);
    return (chunks + 7) / 8;
}

uint64_t bdrv_dirty_bitmap_serialization_coverage(uint64_t serialized_bytes,
                                                  const BdrvDirtyBitmap *bm)
{
    return serialized_bytes * 8 * bm->granularity;
}

void bdrv_dirty_bitmap_serialize_part(const BdrvDirtyBitmap *bm, uint8_t *buf, int64_t offset,
                                      int64_t bytes)
{
    uint64_t first = (uint64_t)offset / bm->granularity;
    uint64_t n = (uint64_t)div_round_up(bytes, (int64_t)bm->granularity);
    memset(buf, 0, (n + 7) / 8);
    for (uint64_t i = 0; i < n && first + i < bm->nbits; i++) {
        if (test_bit(bm, first + i)) {
            buf[i / 8] |= (uint8_t)(1u << (i % 8));
        }
    }
}

void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bm, const uint8_t *buf, int64_t offset,
                                        int64_t bytes)
{
    uint64_t first = (uint64_t)offset / bm->granularity;
    uint64_t n = (uint64_t)div_round_up(bytes, (int64_t)bm->granularity);
    for (uint64_t i = 0; i < n && first + i < bm->nbits; i++) {
        uint64_t b = first + i;
        if (buf[i / 8] >> (i % 8) & 1) {
            bm->words[b / 64] |= 1ULL << (b % 64);
        } else {
            bm->words[b / 64] &= ~(1ULL << (b % 64));
        }
    }
}

void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes)
{
    bdrv_set_dirty_bitmap(bm, offset, bytes);
}

bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    bs = skip_filters(bs);
    return bs && bs->drv && bs->drv->bdrv_supports_persistent_dirty_bitmap &&
           bs->drv->bdrv_supports_persistent_dirty_bitmap(bs);
}

bool coroutine_fn bdrv_co_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                     uint32_t granularity, Error **errp)
{
    if (!bs->drv || !bs->drv->bdrv_co_can_store_new_dirty_bitmap) {
        BlockDriverState *f = skip_filters(bs);
        if (f != bs) {
            return bdrv_co_can_store_new_dirty_bitmap(f, name, granularity, errp);
        }
        error_setg(errp, "Storing persistent dirty bitmaps is not supported by this block driver");
        return false;
    }
    return bs->drv->bdrv_co_can_store_new_dirty_bitmap(bs, name, granularity, errp);
}

int coroutine_fn bdrv_co_remove_persistent_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                        Error **errp)
{
    if (bs->drv && bs->drv->bdrv_co_remove_persistent_dirty_bitmap) {
        return bs->drv->bdrv_co_remove_persistent_dirty_bitmap(bs, name, errp);
    }
    return 0;
}

bool coroutine_fn bdrv_co_block_dirty_bitmap_add(BlockDriverState *bs, const char *name,
                                                 uint32_t granularity, bool has_granularity,
                                                 bool persistent, bool disabled, Error **errp)
{
    if (!name || !*name) {
        error_setg(errp, "Bitmap name cannot be empty");
        return false;
    }
    if (has_granularity) {
        if (granularity < 512 || !std::has_single_bit(granularity)) {
            error_setg(errp, "Granularity must be power of 2 and at least 512");
            return false;
        }
    } else {
        granularity = bdrv_get_default_bitmap_granularity(bs);
    }
    if (persistent && !bdrv_co_can_store_new_dirty_bitmap(bs, name, granularity, errp)) {
        return false;
    }
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, granularity, name, errp);
    if (!bm) {
        return false;
    }
    if (disabled) {
        bdrv_disable_dirty_bitmap(bm);
    }
    bdrv_dirty_bitmap_set_persistence(bm, persistent);
    return true;
}

bool coroutine_fn bdrv_co_block_dirty_bitmap_remove(BlockDriverState *bs, const char *name,
                                                    Error **errp)
{
    BdrvDirtyBitmap *bm = lookup(bs, name, errp);
    if (!bm || bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_BUSY | BDRV_BITMAP_RO, errp)) {
        return false;
    }
    if (bm->persistent && bdrv_co_remove_persistent_dirty_bitmap(bs, name, errp) < 0) {
        return false;
    }
    bdrv_release_dirty_bitmap(bm);
    return true;
}

bool bdrv_block_dirty_bitmap_clear(BlockDriverState *bs, const char *name, Error **errp)
{
    BdrvDirtyBitmap *bm = lookup(bs, name, errp);
    if (!bm || bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT, errp)) {
        return false;
    }
    bdrv_clear_dirty_bitmap(bm);
    return true;
}

bool bdrv_block_dirty_bitmap_enable(BlockDriverState *bs, const char *name, Error **errp)
{
    BdrvDirtyBitmap *bm = lookup(bs, name, errp);
    if (!bm || bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
        return false;
    }
    bdrv_enable_dirty_bitmap(bm);
    return true;
}

bool bdrv_block_dirty_bitmap_disable(BlockDriverState *bs, const char *name, Error **errp)
{
    BdrvDirtyBitmap *bm = lookup(bs, name, errp);
    if (!bm || bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
        return false;
    }
    bdrv_disable_dirty_bitmap(bm);
    return true;
}

bool bdrv_block_dirty_bitmap_merge(BlockDriverState *bs, const char *name, BlockDriverState *src_bs,
                                   const char *src_name, Error **errp)
{
    BdrvDirtyBitmap *dst = lookup(bs, name, errp);
    if (!dst) {
        return false;
    }
    // As QEMU: the sources go into an anonymous bitmap of the target's
    // granularity first, which is then merged into the target.
    BdrvDirtyBitmap *anon = bdrv_create_dirty_bitmap(bs, dst->granularity, nullptr, errp);
    if (!anon) {
        return false;
    }
    bdrv_disable_dirty_bitmap(anon);
    bool ok = false;
    const BdrvDirtyBitmap *src = lookup(src_bs, src_name, errp);
    if (src && bdrv_merge_dirty_bitmap(anon, src, errp)) {
        ok = bdrv_merge_dirty_bitmap(dst, anon, errp);
    }
    bdrv_release_dirty_bitmap(anon);
    return ok;
}
