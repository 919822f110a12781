// qcow2 persistent dirty bitmaps: loading them into the node on open,
// marking them in use while the image is open read/write, storing them on
// close, removing one, and the checks for a new one.  Behaviour, order of
// allocations and messages follow QEMU 7.2; the crash-safety ordering is
// documented in docs/qcow-lite.md ("Persistent dirty bitmaps").
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "block/qcow2/qcow2-bitmap-int.h"
#include "block/qcow2/qcow2-int.h"
#include "util/cutils.h"

namespace {

// The extension as the header holds it; nb_bitmaps 0 when absent or stale
// (autoclear bit clear).  False with @errp when it is malformed.
bool get_ext(BDRVQcow2State *s, Qcow2BitmapsExt *out, Error **errp)
{
    *out = Qcow2BitmapsExt{};
    if (!(s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
        return true;
    }
    for (const Qcow2HeaderExt &e : s->hdr.unknown_exts) {
        if (e.type == QCOW2_EXT_BITMAPS) {
            return qcow2_bitmaps_ext_parse(e.data.data(), e.data.size(), s->cluster_size, out,
                                           errp);
        }
    }
    return true;
}

// Puts @e into the in-memory header (removes the extension when empty);
// the bitmaps extension goes first among the kept extensions, where QEMU
// writes it (after the feature table).
void set_ext(BDRVQcow2State *s, const Qcow2BitmapsExt &e)
{
    std::erase_if(s->hdr.unknown_exts,
                  [](const Qcow2HeaderExt &x) { return x.type == QCOW2_EXT_BITMAPS; });
    if (e.nb_bitmaps) {
        Qcow2HeaderExt x;
        x.type = QCOW2_EXT_BITMAPS;
        x.data.resize(QCOW2_BITMAPS_EXT_LEN);
        qcow2_bitmaps_ext_serialize(e, x.data.data());
        s->hdr.unknown_exts.insert(s->hdr.unknown_exts.begin(), std::move(x));
    }
}

int coroutine_fn update_header_sync(BlockDriverState *bs)
{
    int ret = qcow2_update_header(bs);
    return ret < 0 ? ret : bdrv_co_flush(bs->file->bs);
}

bool coroutine_fn list_load(BlockDriverState *bs, const Qcow2BitmapsExt &ext,
                            std::vector<Qcow2BitmapEntry> *out, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (ext.dir_size == 0) {
        error_setg(errp, "Requested bitmap directory size is zero");
        return false;
    }
    if (ext.dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Requested bitmap directory size is too big");
        return false;
    }
    std::vector<uint8_t> dir(ext.dir_size);
    int ret = bdrv_co_pread(bs->file, ext.dir_offset, ext.dir_size, dir.data(), 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read bitmap directory");
        return false;
    }
    return qcow2_bitmap_dir_parse(dir.data(), dir.size(), ext.nb_bitmaps, s->cluster_size,
                                  s->hdr.size, out, errp);
}

int coroutine_fn table_load(BlockDriverState *bs, const Qcow2BitmapEntry &bm,
                            std::vector<uint64_t> *table)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<uint8_t> buf((size_t)bm.table_size * 8);
    int ret = bdrv_co_pread(bs->file, bm.table_offset, buf.size(), buf.data(), 0);
    if (ret < 0) {
        return ret;
    }
    table->resize(bm.table_size);
    for (uint32_t i = 0; i < bm.table_size; i++) {
        (*table)[i] = be64_load(&buf[i * 8ULL]);
        if (qcow2_bitmap_table_entry_check((*table)[i], s->cluster_size) < 0) {
            return -EINVAL;
        }
    }
    return 0;
}

void coroutine_fn clear_table(BlockDriverState *bs, std::vector<uint64_t> *table)
{
    BDRVQcow2State *s = qcow2_state(bs);
    for (uint64_t &e : *table) {
        uint64_t addr = e & QCOW2_BME_TABLE_ENTRY_OFFSET_MASK;
        if (addr) {
            qcow2_update_refcount(bs, addr, s->cluster_size, -1, Qcow2DiscardType::Always);
            e = 0;
        }
    }
}

// Frees a bitmap's data clusters and table.
int coroutine_fn free_bitmap_clusters(BlockDriverState *bs, const Qcow2BitmapEntry &bm)
{
    if (!bm.table_offset || !bm.table_size) {
        return 0;
    }
    std::vector<uint64_t> table;
    int ret = table_load(bs, bm, &table);
    if (ret < 0) {
        return ret;
    }
    clear_table(bs, &table);
    return qcow2_update_refcount(bs, bm.table_offset, (uint64_t)bm.table_size * 8, -1,
                                 Qcow2DiscardType::Other);
}

uint64_t table_size_for(BDRVQcow2State *s, const BdrvDirtyBitmap *bitmap)
{
    uint64_t bytes =
        bdrv_dirty_bitmap_serialization_size(bitmap, 0, bdrv_dirty_bitmap_size(bitmap));
    return div_round_up(bytes, s->cluster_size);
}

int coroutine_fn load_data(BlockDriverState *bs, const std::vector<uint64_t> &table,
                           BdrvDirtyBitmap *bitmap)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t bm_size = (uint64_t)bdrv_dirty_bitmap_size(bitmap);
    uint64_t tab_size = table_size_for(s, bitmap);
    if (tab_size != table.size() || tab_size > QCOW2_BME_MAX_TABLE_SIZE) {
        return -EINVAL;
    }
    std::vector<uint8_t> buf(s->cluster_size);
    uint64_t limit = bdrv_dirty_bitmap_serialization_coverage(s->cluster_size, bitmap);
    uint64_t offset = 0;
    for (uint64_t i = 0; i < tab_size; i++, offset += limit) {
        uint64_t count = std::min(bm_size - offset, limit);
        uint64_t data = table[i] & QCOW2_BME_TABLE_ENTRY_OFFSET_MASK;
        if (!data) {
            if (table[i] & QCOW2_BME_TABLE_ENTRY_FLAG_ALL_ONES) {
                bdrv_dirty_bitmap_deserialize_ones(bitmap, offset, count);
            }
            continue;
        }
        int ret = bdrv_co_pread(bs->file, data, s->cluster_size, buf.data(), 0);
        if (ret < 0) {
            return ret;
        }
        bdrv_dirty_bitmap_deserialize_part(bitmap, buf.data(), offset, count);
    }
    return 0;
}

// The directory written to new clusters; nothing on disk refers to them yet.
int coroutine_fn list_store(BlockDriverState *bs, const std::vector<Qcow2BitmapEntry> &bms,
                            uint64_t *offset, uint64_t *size, bool in_place)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<uint8_t> dir = qcow2_bitmap_dir_serialize(bms);
    if (dir.empty() || dir.size() > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        return -EINVAL;
    }
    for (const Qcow2BitmapEntry &e : bms) {
        if (!qcow2_bitmap_entry_ok(e, s->cluster_size, s->hdr.size)) {
            return -EINVAL;
        }
    }
    int64_t dir_offset;
    if (in_place) {
        if (*size != dir.size() || !*offset) {
            return -EINVAL;
        }
        dir_offset = (int64_t)*offset;
    } else {
        dir_offset = qcow2_alloc_clusters(bs, div_round_up(dir.size(), s->cluster_size));
        if (dir_offset < 0) {
            return (int)dir_offset;
        }
    }
    int ret = bdrv_co_pwrite(bs->file, dir_offset, dir.size(), dir.data(), 0);
    if (ret < 0) {
        if (!in_place) {
            qcow2_update_refcount(bs, dir_offset, dir.size(), -1, Qcow2DiscardType::Other);
        }
        return ret;
    }
    *offset = dir_offset;
    *size = dir.size();
    return 0;
}

// Rewrites the directory where it is (only flags change): the autoclear
// bit is cleared on disk first, so that a crash in between leaves the
// bitmaps stale (dropped on the next open, their clusters leaked), never a
// half-written directory that claims to be valid.
int coroutine_fn update_dir_in_place(BlockDriverState *bs, const std::vector<Qcow2BitmapEntry> &bms,
                                     const Qcow2BitmapsExt &ext)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!(s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS) || bms.empty() ||
        bms.size() != ext.nb_bitmaps) {
        return -EINVAL;
    }
    s->hdr.autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
    int ret = update_header_sync(bs);
    if (ret < 0) {
        return ret;
    }
    uint64_t off = ext.dir_offset, size = ext.dir_size;
    ret = list_store(bs, bms, &off, &size, true);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        return ret;
    }
    s->hdr.autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    return update_header_sync(bs);
}

// Writes a new directory, flushes, switches the header to it, then frees
// the old one.
int coroutine_fn update_ext_and_dir(BlockDriverState *bs, const std::vector<Qcow2BitmapEntry> &bms,
                                    const Qcow2BitmapsExt &old)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Qcow2BitmapsExt nw;
    uint64_t old_autoclear = s->hdr.autoclear_features;
    auto saved_exts = s->hdr.unknown_exts;
    if (!bms.empty()) {
        if (bms.size() > QCOW2_MAX_BITMAPS) {
            return -EINVAL;
        }
        int ret = list_store(bs, bms, &nw.dir_offset, &nw.dir_size, false);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            qcow2_update_refcount(bs, nw.dir_offset, nw.dir_size, -1, Qcow2DiscardType::Other);
            return ret;
        }
        nw.nb_bitmaps = (uint32_t)bms.size();
        s->hdr.autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    } else {
        s->hdr.autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
    }
    set_ext(s, nw);
    int ret = update_header_sync(bs);
    if (ret < 0) {
        if (nw.dir_offset) {
            qcow2_update_refcount(bs, nw.dir_offset, nw.dir_size, -1, Qcow2DiscardType::Other);
        }
        s->hdr.autoclear_features = old_autoclear;
        s->hdr.unknown_exts = saved_exts;
        return ret;
    }
    if (old.dir_size) {
        qcow2_update_refcount(bs, old.dir_offset, old.dir_size, -1, Qcow2DiscardType::Other);
    }
    return 0;
}

// Writes @bitmap's dirty clusters and its table to new clusters; sets the
// entry's table.  Clean clusters stay unallocated (entry 0).
int coroutine_fn store_bitmap(BlockDriverState *bs, Qcow2BitmapEntry *bm,
                              const BdrvDirtyBitmap *bitmap, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    const char *name = bdrv_dirty_bitmap_name(bitmap);
    uint64_t bm_size = (uint64_t)bdrv_dirty_bitmap_size(bitmap);
    uint64_t tb_size = table_size_for(s, bitmap);
    if (tb_size > QCOW2_BME_MAX_TABLE_SIZE || tb_size * s->cluster_size > QCOW2_BME_MAX_PHYS_SIZE) {
        error_setg(errp, "Bitmap '%s' is too big", name);
        return -EINVAL;
    }
    std::vector<uint64_t> tb(tb_size, 0);
    std::vector<uint8_t> buf(s->cluster_size);
    uint64_t limit = bdrv_dirty_bitmap_serialization_coverage(s->cluster_size, bitmap);
    int64_t offset = 0;
    int ret = 0;
    while ((offset = bdrv_dirty_bitmap_next_dirty(bitmap, offset, -1)) >= 0) {
        uint64_t cluster = (uint64_t)offset / limit;
        uint64_t start = cluster * limit;
        uint64_t end = std::min(bm_size, start + limit);
        uint64_t write_size = bdrv_dirty_bitmap_serialization_size(bitmap, start, end - start);
        int64_t off = qcow2_alloc_clusters(bs, 1);
        if (off < 0) {
            error_setg_errno(errp, (int)-off, "Failed to allocate clusters for bitmap '%s'", name);
            ret = (int)off;
            goto fail;
        }
        tb[cluster] = (uint64_t)off;
        memset(buf.data(), 0, buf.size());
        bdrv_dirty_bitmap_serialize_part(bitmap, buf.data(), start, end - start);
        (void)write_size;
        ret = bdrv_co_pwrite(bs->file, off, s->cluster_size, buf.data(), 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to write bitmap '%s' to file", name);
            goto fail;
        }
        offset = (int64_t)end;
        if (end >= bm_size) {
            break;
        }
    }
    {
        int64_t tb_offset = qcow2_alloc_clusters(bs, div_round_up(tb_size * 8, s->cluster_size));
        if (tb_offset < 0) {
            error_setg_errno(errp, (int)-tb_offset, "Failed to allocate clusters for bitmap '%s'",
                             name);
            ret = (int)tb_offset;
            goto fail;
        }
        std::vector<uint8_t> raw(tb_size * 8);
        for (uint64_t i = 0; i < tb_size; i++) {
            be64_store(&raw[i * 8], tb[i]);
        }
        ret = bdrv_co_pwrite(bs->file, tb_offset, raw.size(), raw.data(), 0);
        if (ret < 0) {
            qcow2_update_refcount(bs, tb_offset, raw.size(), -1, Qcow2DiscardType::Other);
            error_setg_errno(errp, -ret, "Failed to write bitmap '%s' to file", name);
            goto fail;
        }
        bm->table_offset = (uint64_t)tb_offset;
        bm->table_size = (uint32_t)tb_size;
    }
    return 0;
fail:
    clear_table(bs, &tb);
    return ret;
}

Qcow2BitmapEntry *find_by_name(std::vector<Qcow2BitmapEntry> &bms, const char *name)
{
    for (Qcow2BitmapEntry &b : bms) {
        if (b.name == name) {
            return &b;
        }
    }
    return nullptr;
}

int check_constraints(BlockDriverState *bs, const char *name, uint32_t granularity, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int gbits = std::countr_zero(granularity);
    int64_t len = round_up(bs->total_bytes, (int64_t)512);
    if (gbits > (int)QCOW2_BME_MAX_GRANULARITY_BITS) {
        error_setg(errp, "Granularity exceeds maximum (%llu bytes)",
                   1ULL << QCOW2_BME_MAX_GRANULARITY_BITS);
        return -EINVAL;
    }
    if (gbits < (int)QCOW2_BME_MIN_GRANULARITY_BITS) {
        error_setg(errp, "Granularity is under minimum (%llu bytes)",
                   1ULL << QCOW2_BME_MIN_GRANULARITY_BITS);
        return -EINVAL;
    }
    uint64_t bytes = div_round_up(div_round_up((uint64_t)len, (uint64_t)granularity), 8);
    if (bytes > QCOW2_BME_MAX_PHYS_SIZE ||
        bytes > (uint64_t)QCOW2_BME_MAX_TABLE_SIZE * s->cluster_size) {
        error_setg(errp, "Too much space will be occupied by the bitmap. Use larger granularity");
        return -EINVAL;
    }
    if (strlen(name) > QCOW2_BME_MAX_NAME_SIZE) {
        error_setg(errp, "Name length exceeds maximum (%u characters)", QCOW2_BME_MAX_NAME_SIZE);
        return -EINVAL;
    }
    return 0;
}

const char *node_name(BlockDriverState *bs)
{
    return bs->node_name.empty() ? "" : bs->node_name.c_str();
}

}  // namespace

int coroutine_fn qcow2_load_dirty_bitmaps(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    CoMutexGuard guard(&s->lock);
    Qcow2BitmapsExt ext;
    if (!get_ext(s, &ext, errp)) {
        return -EINVAL;
    }
    if (!ext.nb_bitmaps) {
        return 0;
    }
    std::vector<Qcow2BitmapEntry> bms;
    if (!list_load(bs, ext, &bms, errp)) {
        return -EINVAL;
    }
    std::vector<BdrvDirtyBitmap *> created;
    bool needs_update = false;
    for (Qcow2BitmapEntry &bm : bms) {
        BdrvDirtyBitmap *bitmap =
            bdrv_create_dirty_bitmap(bs, 1u << bm.granularity_bits, bm.name.c_str(), errp);
        if (!bitmap) {
            goto fail;
        }
        created.push_back(bitmap);
        if (!(bm.flags & QCOW2_BME_FLAG_IN_USE)) {
            std::vector<uint64_t> table;
            int ret = table_load(bs, bm, &table);
            if (ret < 0) {
                error_setg_errno(errp, -ret,
                                 "Could not read bitmap_table table from image for bitmap '%s'",
                                 bm.name.c_str());
                goto fail;
            }
            ret = load_data(bs, table, bitmap);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not read bitmap '%s' from image",
                                 bm.name.c_str());
                goto fail;
            }
        }
        bdrv_dirty_bitmap_set_persistence(bitmap, true);
        if (bm.flags & QCOW2_BME_FLAG_IN_USE) {
            bdrv_dirty_bitmap_set_inconsistent(bitmap);
        } else {
            bm.flags |= QCOW2_BME_FLAG_IN_USE;
            needs_update = true;
        }
        if (!(bm.flags & QCOW2_BME_FLAG_AUTO)) {
            bdrv_disable_dirty_bitmap(bitmap);
        }
    }
    if (needs_update && !bs->read_only) {
        int ret = update_dir_in_place(bs, bms, ext);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Can't update bitmap directory");
            goto fail;
        }
    }
    if (bs->read_only) {
        for (BdrvDirtyBitmap *b : created) {
            bdrv_dirty_bitmap_set_readonly(b, true);
        }
    }
    return 0;
fail:
    for (BdrvDirtyBitmap *b : created) {
        bdrv_release_dirty_bitmap(b);
    }
    return -EINVAL;
}

namespace {

bool coroutine_fn store_locked(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Qcow2BitmapsExt ext;
    if (!get_ext(s, &ext, errp)) {
        return false;
    }
    std::vector<Qcow2BitmapEntry> bms;
    if (ext.nb_bitmaps && !list_load(bs, ext, &bms, errp)) {
        return false;
    }
    std::vector<Qcow2BitmapEntry> drop;  // old tables of rewritten bitmaps
    std::vector<const BdrvDirtyBitmap *> src(bms.size(), nullptr);
    uint32_t nb = ext.nb_bitmaps;
    uint64_t dir_size = ext.dir_size;
    bool need_write = false;
    for (BdrvDirtyBitmap *bitmap : bdrv_dirty_bitmaps(bs)) {
        const char *name = bdrv_dirty_bitmap_name(bitmap);
        if (!bdrv_dirty_bitmap_get_persistence(bitmap) || bdrv_dirty_bitmap_inconsistent(bitmap) ||
            bdrv_dirty_bitmap_readonly(bitmap)) {
            continue;
        }
        need_write = true;
        uint32_t gran = bdrv_dirty_bitmap_granularity(bitmap);
        if (check_constraints(bs, name, gran, errp) < 0) {
            error_prepend(errp, "Bitmap '%s' doesn't satisfy the constraints: ", name);
            return false;
        }
        Qcow2BitmapEntry *bm = find_by_name(bms, name);
        if (!bm) {
            if (++nb > QCOW2_MAX_BITMAPS) {
                error_setg(errp, "Too many persistent bitmaps");
                return false;
            }
            dir_size += qcow2_bitmap_dir_entry_size(strlen(name));
            if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
                error_setg(errp, "Bitmap directory is too large");
                return false;
            }
            bms.push_back(Qcow2BitmapEntry{});
            src.push_back(nullptr);
            bm = &bms.back();
            bm->name = name;
        } else {
            if (!(bm->flags & QCOW2_BME_FLAG_IN_USE)) {
                error_setg(errp, "Bitmap '%s' already exists in the image", name);
                return false;
            }
            drop.push_back(*bm);
            bm->table_offset = 0;
            bm->table_size = 0;
        }
        bm->flags = bdrv_dirty_bitmap_enabled(bitmap) ? QCOW2_BME_FLAG_AUTO : 0;
        bm->granularity_bits = (uint8_t)std::countr_zero(gran);
        src[bm - bms.data()] = bitmap;
    }
    if (!need_write) {
        return true;
    }
    if (bs->read_only) {
        error_setg(errp, "No write access");
        return false;
    }
    for (size_t i = 0; i < bms.size(); i++) {
        if (!src[i]) {
            continue;
        }
        if (store_bitmap(bs, &bms[i], src[i], errp) < 0) {
            goto fail;
        }
    }
    {
        int ret = update_ext_and_dir(bs, bms, ext);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to update bitmap extension");
            goto fail;
        }
    }
    // The directory no longer refers to the old tables.
    for (const Qcow2BitmapEntry &t : drop) {
        free_bitmap_clusters(bs, t);
    }
    return true;
fail:
    for (size_t i = 0; i < bms.size(); i++) {
        if (src[i] && bms[i].table_offset) {
            free_bitmap_clusters(bs, bms[i]);
        }
    }
    return false;
}

}  // namespace

void coroutine_fn qcow2_store_dirty_bitmaps(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    ErrorPtr err;
    bool ok;
    {
        CoMutexGuard guard(&s->lock);
        ok = store_locked(bs, &err);
    }
    if (!ok) {
        error_report("Lost persistent bitmaps during inactivation of node '%s': %s", node_name(bs),
                     error_get_pretty(err.get()));
    }
}

bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    return qcow2_state(bs)->hdr.version >= 3;
}

bool coroutine_fn qcow2_co_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                      uint32_t granularity, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (bdrv_find_dirty_bitmap(bs, name)) {
        error_setg(errp, "Bitmap already exists: %s", name);
        return false;
    }
    if (s->hdr.version < 3) {
        error_setg(errp, "Cannot store dirty bitmaps in qcow2 v2 files");
    } else if (check_constraints(bs, name, granularity, errp) == 0) {
        uint32_t nb = 1;
        uint64_t dir_size = qcow2_bitmap_dir_entry_size(strlen(name));
        for (BdrvDirtyBitmap *b : bdrv_dirty_bitmaps(bs)) {
            if (bdrv_dirty_bitmap_get_persistence(b)) {
                nb++;
                dir_size += qcow2_bitmap_dir_entry_size(strlen(bdrv_dirty_bitmap_name(b)));
            }
        }
        if (nb > QCOW2_MAX_BITMAPS) {
            error_setg(errp, "Maximum number of persistent bitmaps is already reached");
        } else if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
            error_setg(errp, "Not enough space in the bitmap directory");
        } else {
            return true;
        }
    }
    error_prepend(errp, "Can't make bitmap '%s' persistent in '%s': ", name, node_name(bs));
    return false;
}

int coroutine_fn qcow2_co_remove_persistent_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                         Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    CoMutexGuard guard(&s->lock);
    Qcow2BitmapsExt ext;
    if (!get_ext(s, &ext, errp)) {
        return -EIO;
    }
    if (!ext.nb_bitmaps) {
        return 0;  // absent: not an error, as QEMU
    }
    std::vector<Qcow2BitmapEntry> bms;
    if (!list_load(bs, ext, &bms, errp)) {
        return -EIO;
    }
    Qcow2BitmapEntry *bm = find_by_name(bms, name);
    if (!bm) {
        return 0;
    }
    Qcow2BitmapEntry gone = *bm;
    bms.erase(bms.begin() + (bm - bms.data()));
    int ret = update_ext_and_dir(bs, bms, ext);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update bitmap extension");
        return ret;
    }
    free_bitmap_clusters(bs, gone);
    return 0;
}

bool qcow2_get_bitmap_info_list(BlockDriverState *bs, std::vector<Qcow2BitmapEntry> *out,
                                Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    out->clear();
    Qcow2BitmapsExt ext;
    if (!get_ext(s, &ext, errp)) {
        return false;
    }
    if (!ext.nb_bitmaps) {
        return true;
    }
    // info runs outside coroutines: read the directory in one.
    struct Call {
        BlockDriverState *bs;
        const Qcow2BitmapsExt *ext;
        std::vector<Qcow2BitmapEntry> *out;
        Error **errp;
        bool ok;
    } call{bs, &ext, out, errp, false};
    aio_run_coroutine_sync(
        bs->ctx,
        [](void *p) coroutine_fn {
            auto *c = static_cast<Call *>(p);
            c->ok = list_load(c->bs, *c->ext, c->out, c->errp);
        },
        &call);
    return call.ok;
}

int coroutine_fn qcow2_reopen_bitmaps_ro(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    {
        CoMutexGuard guard(&s->lock);
        if (!store_locked(bs, errp)) {
            return -EINVAL;
        }
    }
    for (BdrvDirtyBitmap *b : bdrv_dirty_bitmaps(bs)) {
        if (bdrv_dirty_bitmap_get_persistence(b)) {
            bdrv_dirty_bitmap_set_readonly(b, true);
        }
    }
    return 0;
}

int coroutine_fn qcow2_reopen_bitmaps_rw(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    CoMutexGuard guard(&s->lock);
    Qcow2BitmapsExt ext;
    if (!get_ext(s, &ext, errp)) {
        return -EINVAL;
    }
    if (!ext.nb_bitmaps) {
        return 0;
    }
    std::vector<Qcow2BitmapEntry> bms;
    if (!list_load(bs, ext, &bms, errp)) {
        return -EINVAL;
    }
    std::vector<BdrvDirtyBitmap *> ro;
    bool need_update = false;
    for (Qcow2BitmapEntry &bm : bms) {
        BdrvDirtyBitmap *b = bdrv_find_dirty_bitmap(bs, bm.name.c_str());
        if (!b) {
            error_setg(errp, "Unexpected bitmap '%s' in image '%s'", bm.name.c_str(),
                       bs->filename.c_str());
            return -EINVAL;
        }
        if (!(bm.flags & QCOW2_BME_FLAG_IN_USE)) {
            bm.flags |= QCOW2_BME_FLAG_IN_USE;
            need_update = true;
        }
        if (bdrv_dirty_bitmap_readonly(b)) {
            ro.push_back(b);
        }
    }
    if (need_update) {
        int ret = update_dir_in_place(bs, bms, ext);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Cannot update bitmap directory");
            return ret;
        }
    }
    for (BdrvDirtyBitmap *b : ro) {
        bdrv_dirty_bitmap_set_readonly(b, false);
    }
    return 0;
}
