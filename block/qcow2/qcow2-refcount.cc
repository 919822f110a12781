// Refcount table and blocks: lookups, updates, cluster and byte allocation,
// refcount block allocation and refcount table growth.  Caller holds s->lock.
//
// New refcount blocks describe themselves: the block for refblock index r
// lives in the first cluster of the range it covers, which is free by
// definition (no block means every refcount in the range is zero).
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

int coroutine_fn grow_reftable(BlockDriverState *bs, uint64_t min_entries);

// Returns the refcount block for refblock index @ri in *block (pinned), or
// nullptr when it does not exist and @alloc is false.
int coroutine_fn get_refblock(BlockDriverState *bs, uint64_t ri, bool alloc, void **block)
{
    BDRVQcow2State *s = qcow2_state(bs);
    *block = nullptr;
    if (ri >= s->refcount_table.size()) {
        if (!alloc) return 0;
        int ret = grow_reftable(bs, ri + 1);
        if (ret < 0) return ret;
    }
    uint64_t off = s->refcount_table[ri] & REFT_OFFSET_MASK;
    if (off & (s->cluster_size - 1)) {
        return qcow2_signal_corruption(
            bs, "Refblock offset %#" PRIx64 " unaligned (reftable index: %#" PRIx64 ")", off, ri);
    }
    if (off) {
        // As QEMU, refblock_load belongs to refcount updates only (reading
        // a refcount, e.g. in check, raises no event), cached or not.
        if (alloc) BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_LOAD);
        return qcow2_cache_get(bs, s->refblock_cache, off, block);
    }
    if (!alloc) return 0;

    // Self-describing block at the start of its own range.
    uint64_t host = (ri << s->g.refblock_bits) << s->g.cluster_bits;
    int ret = qcow2_cache_get_empty(bs, s->refblock_cache, host, block);
    if (ret < 0) return ret;
    memset(*block, 0, s->cluster_size);
    qcow2_refblock_set(*block, s->g.refcount_order, 0, 1);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE);
    ret = bdrv_co_pwrite(bs->file, host, s->cluster_size, *block, 0);
    if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        qcow2_cache_put(s->refblock_cache, block);
        qcow2_cache_discard(s->refblock_cache, host);
        return ret;
    }
    uint8_t be[8];
    be64_store(be, host);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_HOOKUP);
    ret = bdrv_co_pwrite_sync(bs->file, s->hdr.refcount_table_offset + ri * 8, 8, be, 0);
    if (ret < 0) {
        qcow2_cache_put(s->refblock_cache, block);
        qcow2_cache_discard(s->refblock_cache, host);
        return ret;
    }
    qcow2_reft_set(s, ri, host);
    return 0;
}

// Sizes the area [refblocks][table] placed at the first cluster past the
// current table's coverage (free by definition).
void size_reftable_area(BDRVQcow2State *s, uint64_t min_entries, uint64_t *nblocks,
                        uint64_t *tclusters, uint64_t *entries)
{
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t old = s->refcount_table.size();
    uint64_t want = old + old / 2;
    if (want < min_entries) want = min_entries;
    uint64_t r = 1, t = 1;
    for (;;) {
        uint64_t e = want > old + r ? want : old + r;
        uint64_t t2 = (e + per_cluster - 1) / per_cluster;
        uint64_t r2 = (r + t2 + s->g.refblock_entries() - 1) / s->g.refblock_entries();
        if (t2 == t && r2 == r) {
            *entries = t * per_cluster;
            break;
        }
        t = t2;
        r = r2;
    }
    *nblocks = r;
    *tclusters = t;
}

int coroutine_fn grow_reftable(BlockDriverState *bs, uint64_t min_entries)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t r, t, entries, cs = s->cluster_size;
    size_reftable_area(s, min_entries, &r, &t, &entries);
    if (entries * 8 > QCOW2_MAX_REFTABLE_BYTES) return -EFBIG;
    uint64_t old = s->refcount_table.size();
    uint64_t area = (old << s->g.refblock_bits) << s->g.cluster_bits;
    BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_GROW);

    std::vector<uint64_t> table(s->refcount_table);
    table.resize(entries, 0);
    uint8_t *buf = (uint8_t *)qemu_memalign(4096, (r > t ? r : t) * cs);
    memset(buf, 0, r * cs);
    for (uint64_t i = 0; i < r + t; i++) {
        qcow2_refblock_set(buf + (i >> s->g.refblock_bits) * cs, s->g.refcount_order,
                           i & (s->g.refblock_entries() - 1), 1);
    }
    for (uint64_t j = 0; j < r; j++)
        table[old + j] = area + j * cs;
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS);
    int ret = bdrv_co_pwrite(bs->file, area, r * cs, buf, 0);
    if (ret == 0) {
        uint8_t *tb = (uint8_t *)qemu_memalign(4096, t * cs);
        memset(tb, 0, t * cs);
        for (uint64_t i = 0; i < entries; i++)
            be64_store(tb + 8 * i, table[i]);
        BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE);
        ret = bdrv_co_pwrite(bs->file, area + r * cs, t * cs, tb, 0);
        qemu_vfree(tb);
    }
    qemu_vfree(buf);
    if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) return ret;

    uint8_t hdr[12];
    be64_store(hdr, area + r * cs);
    be32_store(hdr + 8, (uint32_t)t);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE);
    ret = bdrv_co_pwrite_sync(bs->file, 48, sizeof(hdr), hdr, 0);
    if (ret < 0) return ret;
    uint64_t old_off = s->hdr.refcount_table_offset;
    uint64_t old_clusters = s->hdr.refcount_table_clusters;
    s->hdr.refcount_table_offset = area + r * cs;
    s->hdr.refcount_table_clusters = (uint32_t)t;
    s->refcount_table = std::move(table);
    qcow2_reft_rescan(s);
    return qcow2_update_refcount(bs, old_off, old_clusters * cs, -1);
}

}  // namespace

void qcow2_reft_rescan(BDRVQcow2State *s)
{
    s->reft_used_end = 0;
    for (uint64_t i = s->refcount_table.size(); i > 0; i--) {
        if (s->refcount_table[i - 1]) {
            s->reft_used_end = i;
            break;
        }
    }
}

const char *qcow2_metadata_overlap(BDRVQcow2State *s, uint64_t off, uint64_t len, bool l2)
{
    auto hit = [&](uint64_t start, uint64_t n) {
        return n && off < start + n && start < off + len;
    };
    if (hit(0, s->cluster_size)) return "qcow2_header";
    if (hit(s->hdr.l1_table_offset, s->l1_table.size() * 8)) return "active L1 table";
    if (hit(s->hdr.refcount_table_offset, s->hdr.refcount_table_clusters * s->cluster_size)) {
        return "refcount table";
    }
    uint64_t used = std::min<uint64_t>(s->reft_used_end, s->refcount_table.size());
    for (uint64_t i = 0; i < used; i++) {
        uint64_t e = s->refcount_table[i];
        if (hit(e & REFT_OFFSET_MASK, (e & REFT_OFFSET_MASK) ? s->cluster_size : 0)) {
            return "refcount block";
        }
    }
    for (uint64_t e : s->l1_table) {
        if (!l2) break;
        if (hit(e & L1E_OFFSET_MASK, (e & L1E_OFFSET_MASK) ? s->cluster_size : 0)) {
            return "active L2 table";
        }
    }
    return nullptr;
}

int coroutine_fn qcow2_refcount_init(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t n = (uint64_t)s->hdr.refcount_table_clusters * s->cluster_size / 8;
    BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_LOAD);
    int ret = qcow2_read_table(bs, s->hdr.refcount_table_offset, n, &s->refcount_table);
    if (ret < 0) return ret;
    qcow2_reft_rescan(s);
    s->free_cluster_index = 0;
    return 0;
}

int coroutine_fn qcow2_get_refcount(BlockDriverState *bs, uint64_t idx, uint64_t *refcount)
{
    BDRVQcow2State *s = qcow2_state(bs);
    void *block;
    *refcount = 0;
    int ret = get_refblock(bs, idx >> s->g.refblock_bits, false, &block);
    if (ret < 0 || !block) return ret;
    *refcount = qcow2_refblock_get(block, s->g.refcount_order, idx & (s->g.refblock_entries() - 1));
    qcow2_cache_put(s->refblock_cache, &block);
    return 0;
}

namespace {

void cluster_freed(BlockDriverState *bs, uint64_t idx)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t off = idx << s->g.cluster_bits;
    if (idx < s->free_cluster_index) s->free_cluster_index = idx;
    qcow2_cache_discard(s->l2_cache, off);
    qcow2_cache_discard(s->refblock_cache, off);
    if (s->free_byte_offset && (s->free_byte_offset >> s->g.cluster_bits) == idx) {
        s->free_byte_offset = 0;
    }
}

int coroutine_fn change_refcount(BlockDriverState *bs, uint64_t idx, int64_t addend, bool set,
                                 uint64_t value)
{
    BDRVQcow2State *s = qcow2_state(bs);
    void *block;
    int ret = get_refblock(bs, idx >> s->g.refblock_bits, addend > 0 || set, &block);
    if (ret < 0) return ret;
    if (!block) return addend < 0 ? -EINVAL : 0;
    uint64_t i = idx & (s->g.refblock_entries() - 1);
    uint64_t rc = qcow2_refblock_get(block, s->g.refcount_order, i);
    uint64_t nv = value;
    if (!set) {
        if (addend < 0 && rc < (uint64_t)-addend)
            ret = -EINVAL;
        else if (addend > 0 && s->g.refcount_max() - rc < (uint64_t)addend)
            ret = -ERANGE;
        nv = rc + addend;
    }
    if (ret == 0) {
        qcow2_refblock_set(block, s->g.refcount_order, i, nv);
        qcow2_cache_mark_dirty(s->refblock_cache, block);
    }
    qcow2_cache_put(s->refblock_cache, &block);
    if (ret == 0 && nv == 0 && rc != 0) cluster_freed(bs, idx);
    return ret;
}

}  // namespace

int coroutine_fn qcow2_update_refcount(BlockDriverState *bs, uint64_t offset, uint64_t length,
                                       int64_t addend)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (length == 0) return 0;
    uint64_t first = offset >> s->g.cluster_bits;
    uint64_t last = (offset + length - 1) >> s->g.cluster_bits;
    if (addend < 0) BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_FREE);
    for (uint64_t idx = first; idx <= last; idx++) {
        // As QEMU's update_refcount: refblock_alloc fires each time the
        // update moves to a refcount block, whether or not it is new.
        if (idx == first || !(idx & (s->g.refblock_entries() - 1))) {
            BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC);
        }
        int ret = change_refcount(bs, idx, addend, false, 0);
        if (ret < 0) return ret;
    }
    if (addend < 0 && s->discard_passthrough) {
        // Best effort: only whole clusters that became free.
        for (uint64_t idx = first; idx <= last; idx++) {
            uint64_t rc;
            if (qcow2_get_refcount(bs, idx, &rc) == 0 && rc == 0) {
                bdrv_co_pdiscard(bs->file, idx << s->g.cluster_bits, s->cluster_size);
            }
        }
    }
    return 0;
}

int coroutine_fn qcow2_set_refcount(BlockDriverState *bs, uint64_t idx, uint64_t value)
{
    return change_refcount(bs, idx, 0, true, value);
}

namespace {

bool has_refblock(BDRVQcow2State *s, uint64_t ri)
{
    return ri < s->refcount_table.size() && (s->refcount_table[ri] & REFT_OFFSET_MASK);
}

// First run of @n clusters with refcount 0 at or after @start (a range
// without a refcount block counts as free).
int coroutine_fn find_free_run(BlockDriverState *bs, uint64_t start, uint64_t n, uint64_t *out)
{
    uint64_t run = 0;
    while (run < n) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, start + run, &rc);
        if (ret < 0) return ret;
        if (rc) {
            start += run + 1;
            run = 0;
        } else {
            run++;
        }
    }
    *out = start;
    return 0;
}

// Refblock ranges of [start, start + n) that have no refcount block.
std::vector<uint64_t> missing_ranges(BDRVQcow2State *s, uint64_t start, uint64_t n)
{
    std::vector<uint64_t> m;
    uint64_t last = (start + n - 1) >> s->g.refblock_bits;
    for (uint64_t ri = start >> s->g.refblock_bits; ri <= last; ri++) {
        if (!has_refblock(s, ri)) m.push_back(ri);
    }
    return m;
}

// Creates refcount blocks for @ranges in the free clusters [at, at + k).
// Each block is written (counting the new blocks that live in the ranges
// it describes) and flushed before the refcount table points at it; new
// blocks living in already described ranges are counted there first.  A
// crash leaks at most the new blocks.
int coroutine_fn create_refblocks(BlockDriverState *bs, const std::vector<uint64_t> &ranges,
                                  uint64_t at)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size, k = ranges.size();
    std::vector<uint8_t> buf(k * cs, 0);
    for (uint64_t j = 0; j < k; j++) {
        uint64_t pos = at + j, ri = pos >> s->g.refblock_bits;
        for (uint64_t x = 0; x < k; x++) {
            if (ranges[x] == ri) {
                qcow2_refblock_set(&buf[x * cs], s->g.refcount_order,
                                   pos & (s->g.refblock_entries() - 1), 1);
            }
        }
    }
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE);
    int ret = bdrv_co_pwrite(bs->file, (int64_t)(at * cs), (int64_t)(k * cs), buf.data(), 0);
    for (uint64_t j = 0; ret == 0 && j < k; j++) {
        uint64_t pos = at + j;
        if (has_refblock(s, pos >> s->g.refblock_bits)) {
            ret = qcow2_update_refcount(bs, pos * cs, cs, 1);
        }
    }
    if (ret == 0) ret = qcow2_cache_flush(bs, s->refblock_cache);
    for (uint64_t j = 0; ret == 0 && j < k; j++) {
        uint8_t be[8];
        be64_store(be, (at + j) * cs);
        BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_HOOKUP);
        ret = bdrv_co_pwrite_sync(bs->file, s->hdr.refcount_table_offset + ranges[j] * 8, 8, be, 0);
        if (ret == 0) qcow2_reft_set(s, ranges[j], (at + j) * cs);
    }
    return ret;
}

}  // namespace

int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs, uint64_t n, bool l2_table)
{
    BDRVQcow2State *s = qcow2_state(bs);
    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC);
    for (;;) {
        // New refcount blocks go at the head of the run, so runs longer
        // than one refblock range are possible.
        uint64_t start = s->free_cluster_index, k = 0;
        std::vector<uint64_t> missing;
        for (;;) {
            int ret = find_free_run(bs, start, n + k, &start);
            if (ret < 0) return ret;
            missing = missing_ranges(s, start, n + k);
            if (missing.size() <= k) break;
            k = missing.size();
        }
        if (((start + n + k) << s->g.cluster_bits) > L2E_OFFSET_MASK) return -EFBIG;
        if (!missing.empty() && missing.back() >= s->refcount_table.size()) {
            int ret = grow_reftable(bs, missing.back() + 1);
            if (ret < 0) return ret;
            continue;  // the new table took clusters; search again
        }
        // The run may have moved to where fewer blocks are missing: the
        // spare head clusters just stay free.
        k = missing.size();
        uint64_t off = (start + k) << s->g.cluster_bits;
        const char *what =
            qcow2_metadata_overlap(s, start << s->g.cluster_bits, (n + k) * s->cluster_size, true);
        if (what) {
            // Caught before anything is written; the words QEMU prints when
            // it catches the same refcounts later (l2_allocate, or the
            // overlap check of the write).
            if (l2_table && off == 0) {
                return qcow2_signal_corruption(bs, "Preventing invalid allocation of L2 table "
                                                   "at offset 0");
            }
            return qcow2_signal_corruption(bs,
                                           "Preventing invalid write on metadata "
                                           "(overlaps with %s)",
                                           what);
        }
        if (k) {
            int ret = create_refblocks(bs, missing, start);
            if (ret < 0) return ret;
        }
        s->free_cluster_index = start + k + n;
        int ret = qcow2_update_refcount(bs, off, n * s->cluster_size, 1);
        if (ret < 0) return ret;
        return (int64_t)off;
    }
}

int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = qcow2_state(bs);
    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC_BYTES);
    uint64_t off = s->free_byte_offset;
    uint64_t room = off ? s->cluster_size - (off & (s->cluster_size - 1)) : 0;
    if (off && size <= room) {
        int ret = qcow2_update_refcount(bs, off, 1, 1);
        if (ret < 0) return ret;
    } else {
        int64_t c = qcow2_alloc_clusters(bs, 1);
        if (c < 0) return c;
        off = (uint64_t)c;
    }
    s->free_byte_offset = off + size;
    if ((s->free_byte_offset & (s->cluster_size - 1)) == 0) s->free_byte_offset = 0;
    return (int64_t)off;
}

int coroutine_fn qcow2_free_l2_entry(BlockDriverState *bs, uint64_t entry)
{
    BDRVQcow2State *s = qcow2_state(bs);
    switch (qcow2_l2_entry_type(entry, s->hdr.version)) {
    case Qcow2ClusterType::Compressed: {
        uint64_t host = entry & s->g.cluster_offset_mask;
        uint64_t nb = ((entry >> s->g.csize_shift) & s->g.csize_mask) + 1;
        return qcow2_update_refcount(bs, host & ~511ULL, nb * 512, -1);
    }
    case Qcow2ClusterType::Normal:
    case Qcow2ClusterType::ZeroAlloc: {
        uint64_t host = entry & L2E_OFFSET_MASK;
        if (host & (s->cluster_size - 1)) {
            return qcow2_signal_corruption(bs, "Cannot free unaligned cluster %#" PRIx64, host);
        }
        return qcow2_update_refcount(bs, host, s->cluster_size, -1);
    }
    default: return 0;
    }
}

int coroutine_fn qcow2_detect_metadata_prealloc(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int64_t file_len = bdrv_co_getlength(bs->file->bs);
    if (file_len < 0) return (int)file_len;
    int64_t real = bdrv_co_get_allocated_file_size(bs->file->bs);
    if (real < 0) return (int)real;
    int64_t real_clusters = real / (int64_t)s->cluster_size;
    int64_t threshold = std::max(real_clusters * 10 / 9, real_clusters + 2);
    uint64_t end = ((uint64_t)file_len + s->cluster_size - 1) / s->cluster_size;
    int64_t used = 0;
    for (uint64_t i = 0; i < end && used < threshold; i++) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, i, &rc);
        if (ret < 0) return ret;
        used += rc != 0;
    }
    return used >= threshold;
}
