// Refcount table and blocks: lookups, updates, cluster and byte allocation,
// refcount block allocation and refcount table growth.  Caller holds s->lock.
//
// Allocation follows QEMU 7.2's order, so host offsets match its images: a
// run of free clusters is searched from free_cluster_index (a range without
// a refcount block reads as free) and the index moves past it; then the
// refcounts are raised.  When that meets a range without a refcount block,
// the block is placed at the next free cluster (usually just past the run),
// hooked up, and the whole allocation starts again from the run's start
// (-EAGAIN inside this file).  A refcount table too small for the new block
// is replaced by a larger one placed, with the blocks describing it, at the
// first refcount range past everything in use.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

int coroutine_fn update_refcount(BlockDriverState *bs, uint64_t offset, uint64_t length,
                                 int64_t addend);
int coroutine_fn refcount_area(BlockDriverState *bs, uint64_t start_offset, uint64_t new_ri,
                               uint64_t new_block);

// QEMU's alloc_clusters_noref: the first run of @n clusters with refcount 0
// at or after free_cluster_index; the index moves past the run.  Nothing is
// marked used.
int coroutine_fn alloc_noref(BlockDriverState *bs, uint64_t n, uint64_t *first)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t run = 0;
    while (run < n) {
        uint64_t idx = s->free_cluster_index++, rc;
        int ret = qcow2_get_refcount(bs, idx, &rc);
        if (ret < 0) return ret;
        run = rc ? 0 : run + 1;
    }
    *first = s->free_cluster_index - n;
    if ((s->free_cluster_index << s->g.cluster_bits) > L2E_OFFSET_MASK + 1) return -EFBIG;
    return 0;
}

// Creates the missing refcount block for host cluster @idx (QEMU's
// alloc_refcount_block): at the next free cluster, counting itself when it
// lies in its own range, else counted in the range it lies in (which may
// need a block first).  The block is written and flushed before the
// refcount table points at it; a table too small is replaced.  Returns
// -EAGAIN on success: the caller's search must start again.
int coroutine_fn alloc_refblock(BlockDriverState *bs, uint64_t idx)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t ri = idx >> s->g.refblock_bits;
    // The refcount table is written to, which L2 tables may depend on.
    int ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) return ret;
    uint64_t nb;
    ret = alloc_noref(bs, 1, &nb);
    if (ret < 0) return ret;
    uint64_t host = nb << s->g.cluster_bits;
    if (host == 0) {
        return qcow2_signal_corruption(bs, "Preventing invalid allocation of refcount block "
                                           "at offset 0");
    }
    void *block;
    if ((nb >> s->g.refblock_bits) == ri) {
        ret = qcow2_cache_get_empty(bs, s->refblock_cache, host, &block);
        if (ret < 0) return ret;
        memset(block, 0, s->cluster_size);
        qcow2_refblock_set(block, s->g.refcount_order, nb & (s->g.refblock_entries() - 1), 1);
    } else {
        ret = update_refcount(bs, host, s->cluster_size, 1);
        if (ret == 0) ret = qcow2_cache_flush(bs, s->refblock_cache);
        if (ret < 0) return ret;
        ret = qcow2_cache_get_empty(bs, s->refblock_cache, host, &block);
        if (ret < 0) return ret;
        memset(block, 0, s->cluster_size);
    }
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE);
    qcow2_cache_mark_dirty(s->refblock_cache, block);
    qcow2_cache_put(s->refblock_cache, &block);
    ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret < 0) return ret;
    if (ri < s->refcount_table.size()) {
        uint8_t be[8];
        be64_store(be, host);
        BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_HOOKUP);
        ret = bdrv_co_pwrite_sync(bs->file, s->hdr.refcount_table_offset + ri * 8, 8, be, 0);
        if (ret < 0) return ret;
        qcow2_reft_set(s, ri, host);
        return -EAGAIN;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_GROW);
    uint64_t used = std::max(idx + 1, nb + 1);
    uint64_t ranges = (used + s->g.refblock_entries() - 1) >> s->g.refblock_bits;
    ret = refcount_area(bs, (ranges << s->g.refblock_bits) << s->g.cluster_bits, ri, host);
    return ret < 0 ? ret : -EAGAIN;
}

// Returns the refcount block for host cluster @idx in *block (pinned), or
// nullptr when it does not exist and @alloc is false.  With @alloc a
// missing block is created and -EAGAIN returned (see alloc_refblock).
int coroutine_fn get_refblock(BlockDriverState *bs, uint64_t idx, bool alloc, void **block)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t ri = idx >> s->g.refblock_bits;
    *block = nullptr;
    uint64_t off = ri < s->refcount_table.size() ? s->refcount_table[ri] & REFT_OFFSET_MASK : 0;
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
    return alloc_refblock(bs, idx);
}

// QEMU's qcow2_refcount_metadata_size: the refcount blocks needed to count
// @clusters clusters plus the refcount structures themselves; @generous
// adds room for half the table again.
uint64_t refblocks_for(const Qcow2Geometry &g, uint64_t clusters, uint64_t cs, bool generous)
{
    uint64_t per_block = g.refblock_entries(), per_table = cs / 8;
    uint64_t table = 0, blocks = 0, n = 0, last;
    do {
        last = n;
        blocks = (clusters + table + blocks + per_block - 1) / per_block;
        table = (blocks + per_table - 1) / per_table;
        n = clusters + blocks + table;
        if (n == last && generous) {
            clusters += (table + 1) / 2;
            n = 0;
            generous = false;
        }
    } while (n != last);
    return blocks;
}

// QEMU's qcow2_refcount_area for a growing table: at @start_offset (only
// free space beyond it), the refcount blocks missing for the ranges from
// there to the end of the new structures, then a new refcount table (50 %
// spare) that also points at @new_block for index @new_ri.  Blocks first,
// then the table, then the header switch, then the old table is freed.
int coroutine_fn refcount_area(BlockDriverState *bs, uint64_t start_offset, uint64_t new_ri,
                               uint64_t new_block)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size, per_block = s->g.refblock_entries();
    uint64_t total = refblocks_for(s->g, start_offset / cs, cs, true);
    if (total > QCOW2_MAX_REFTABLE_BYTES) return -EFBIG;
    uint64_t area_ri = (start_offset / cs) / per_block;
    uint64_t table_size = total + (total + 1) / 2;
    table_size = (table_size + cs / 8 - 1) / (cs / 8) * (cs / 8);
    uint64_t table_clusters = table_size * 8 / cs;
    if (table_size > QCOW2_MAX_REFTABLE_BYTES) return -EFBIG;

    std::vector<uint64_t> table(table_size, 0);
    uint64_t keep = std::min<uint64_t>(table_size, s->refcount_table.size());
    std::copy(s->refcount_table.begin(), s->refcount_table.begin() + keep, table.begin());
    if (new_block && new_ri < table_size) table[new_ri] = new_block;
    uint64_t added = 0;
    for (uint64_t i = area_ri; i < total; i++)
        added += !table[i];
    uint64_t table_offset = start_offset + added * cs;
    uint64_t end_offset = table_offset + table_clusters * cs;

    uint64_t block_offset = start_offset;
    for (uint64_t i = area_ri; i < total; i++) {
        void *rb;
        int ret;
        if (table[i]) {
            ret = qcow2_cache_get(bs, s->refblock_cache, table[i], &rb);
            if (ret < 0) return ret;
        } else {
            ret = qcow2_cache_get_empty(bs, s->refblock_cache, block_offset, &rb);
            if (ret < 0) return ret;
            memset(rb, 0, cs);
            qcow2_cache_mark_dirty(s->refblock_cache, rb);
            table[i] = block_offset;
            block_offset += cs;
        }
        uint64_t covered = i * per_block * cs;
        if (covered < end_offset) {
            uint64_t j = covered < start_offset ? (start_offset - covered) / cs : 0;
            uint64_t jend = std::min<uint64_t>((end_offset - covered) / cs, per_block);
            for (; j < jend; j++)
                qcow2_refblock_set(rb, s->g.refcount_order, j, 1);
            qcow2_cache_mark_dirty(s->refblock_cache, rb);
        }
        qcow2_cache_put(s->refblock_cache, &rb);
    }

    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS);
    int ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret < 0) return ret;
    uint8_t *tb = (uint8_t *)qemu_memalign(4096, table_size * 8);
    for (uint64_t i = 0; i < table_size; i++)
        be64_store(tb + 8 * i, table[i]);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE);
    ret = bdrv_co_pwrite_sync(bs->file, table_offset, table_size * 8, tb, 0);
    qemu_vfree(tb);
    if (ret < 0) return ret;

    uint8_t hdr[12];
    be64_store(hdr, table_offset);
    be32_store(hdr + 8, (uint32_t)table_clusters);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE);
    ret = bdrv_co_pwrite_sync(bs->file, 48, sizeof(hdr), hdr, 0);
    if (ret < 0) return ret;
    uint64_t old_off = s->hdr.refcount_table_offset;
    uint64_t old_bytes = s->refcount_table.size() * 8;
    s->hdr.refcount_table_offset = table_offset;
    s->hdr.refcount_table_clusters = (uint32_t)table_clusters;
    s->refcount_table = std::move(table);
    qcow2_reft_rescan(s);
    // A failure only leaks.
    qcow2_update_refcount(bs, old_off, old_bytes, -1, Qcow2DiscardType::Other);
    return 0;
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
    int ret = get_refblock(bs, idx, false, &block);
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

// May return -EAGAIN when a refcount block had to be created first.
int coroutine_fn change_refcount(BlockDriverState *bs, uint64_t idx, int64_t addend, bool set,
                                 uint64_t value)
{
    BDRVQcow2State *s = qcow2_state(bs);
    void *block;
    int ret = get_refblock(bs, idx, addend > 0 || set, &block);
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

// QEMU's update_refcount: on any error (-EAGAIN included) the clusters
// already changed are changed back; -EAGAIN also moves free_cluster_index
// back to the range's start, so an allocation retries the same clusters.
int coroutine_fn update_refcount(BlockDriverState *bs, uint64_t offset, uint64_t length,
                                 int64_t addend)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (length == 0) return 0;
    uint64_t first = offset >> s->g.cluster_bits;
    uint64_t last = (offset + length - 1) >> s->g.cluster_bits;
    uint64_t idx = first;
    int ret = 0;
    for (; idx <= last; idx++) {
        // As QEMU's update_refcount: refblock_alloc fires each time the
        // update moves to a refcount block, whether or not it is new.
        if (idx == first || !(idx & (s->g.refblock_entries() - 1))) {
            BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC);
        }
        ret = change_refcount(bs, idx, addend, false, 0);
        if (ret == -EAGAIN && s->free_cluster_index > first) s->free_cluster_index = first;
        if (ret < 0) break;
    }
    if (ret < 0 && idx > first) {
        update_refcount(bs, first << s->g.cluster_bits, (idx - first) << s->g.cluster_bits,
                        -addend);
    }
    return ret;
}

}  // namespace

int coroutine_fn qcow2_update_refcount(BlockDriverState *bs, uint64_t offset, uint64_t length,
                                       int64_t addend, Qcow2DiscardType type)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (length == 0) return 0;
    if (addend < 0) BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_FREE);
    int ret;
    do {
        // Not an allocation: once the missing block exists, the same
        // update goes through.
        ret = update_refcount(bs, offset, length, addend);
    } while (ret == -EAGAIN);
    if (ret < 0) return ret;
    if (addend < 0 && s->discard_passthrough[(int)type]) {
        // Best effort: the runs of whole clusters that became free.
        uint64_t first = offset >> s->g.cluster_bits;
        uint64_t last = (offset + length - 1) >> s->g.cluster_bits;
        uint64_t run = 0;
        for (uint64_t idx = first; idx <= last + 1; idx++) {
            uint64_t rc = 1;
            if (idx <= last && qcow2_get_refcount(bs, idx, &rc) < 0) rc = 1;
            if (rc == 0) {
                run++;
                continue;
            }
            if (run) {
                bdrv_co_pdiscard(bs->file, (idx - run) << s->g.cluster_bits,
                                 run << s->g.cluster_bits);
            }
            run = 0;
        }
    }
    return 0;
}

void coroutine_fn qcow2_free_clusters(BlockDriverState *bs, uint64_t offset, uint64_t length,
                                      Qcow2DiscardType type)
{
    int ret = qcow2_update_refcount(bs, offset, length, -1, type);
    if (ret < 0) fprintf(stderr, "qcow2_free_clusters failed: %s\n", strerror(-ret));
}

int coroutine_fn qcow2_set_refcount(BlockDriverState *bs, uint64_t idx, uint64_t value)
{
    int ret;
    // QEMU's check repairs through update_refcount, which fires this.
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC);
    do {
        ret = change_refcount(bs, idx, 0, true, value);
    } while (ret == -EAGAIN);
    return ret;
}

int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs, uint64_t n, bool l2_table)
{
    BDRVQcow2State *s = qcow2_state(bs);
    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC);
    for (;;) {
        uint64_t first;
        int ret = alloc_noref(bs, n, &first);
        if (ret < 0) return ret;
        uint64_t off = first << s->g.cluster_bits;
        const char *what = qcow2_metadata_overlap(s, off, n * s->cluster_size, true);
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
        ret = update_refcount(bs, off, n * s->cluster_size, 1);
        if (ret == -EAGAIN) continue;  // a refcount block was created
        if (ret < 0) return ret;
        return (int64_t)off;
    }
}

// As QEMU's qcow2_alloc_bytes: compressed data goes on where the last
// ended; a cluster whose refcount is at its limit (refcount_bits=1) takes
// no more, and data that does not fit spans into the next cluster when
// that is the next free one, else starts a new cluster.
int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = qcow2_state(bs);
    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC_BYTES);
    uint64_t off = s->free_byte_offset;
    if (off) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, off >> s->g.cluster_bits, &rc);
        if (ret < 0) return ret;
        if (rc == s->g.refcount_max()) off = 0;
    }
    uint64_t room = off ? s->cluster_size - (off & (s->cluster_size - 1)) : 0;
    int ret;
    do {
        if (!off || room < size) {
            uint64_t nc;
            ret = alloc_noref(bs, 1, &nc);
            if (ret < 0) return ret;
            uint64_t host = nc << s->g.cluster_bits;
            if (host == 0) {
                return qcow2_signal_corruption(bs, "Preventing invalid allocation of compressed "
                                                   "cluster at offset 0");
            }
            uint64_t next = (off + s->cluster_size - 1) & ~(s->cluster_size - 1);
            if (!off || next != host) {
                off = host;
                room = s->cluster_size;
            } else {
                room += s->cluster_size;
            }
        }
        ret = update_refcount(bs, off, size, 1);
        if (ret < 0) off = 0;
    } while (ret == -EAGAIN);
    if (ret < 0) return ret;
    s->free_byte_offset = off + size;
    if ((s->free_byte_offset & (s->cluster_size - 1)) == 0) s->free_byte_offset = 0;
    return (int64_t)off;
}

int coroutine_fn qcow2_free_l2_entry(BlockDriverState *bs, uint64_t entry, Qcow2DiscardType type)
{
    BDRVQcow2State *s = qcow2_state(bs);
    switch (qcow2_entry_type(s, entry)) {
    case Qcow2ClusterType::Compressed: {
        uint64_t host = entry & s->g.cluster_offset_mask;
        uint64_t nb = ((entry >> s->g.csize_shift) & s->g.csize_mask) + 1;
        return qcow2_update_refcount(bs, host & ~511ULL, nb * 512, -1, type);
    }
    case Qcow2ClusterType::Normal:
    case Qcow2ClusterType::ZeroAlloc: {
        uint64_t host = entry & L2E_OFFSET_MASK;
        if (host & (s->cluster_size - 1)) {
            // As QEMU: reported, the cluster left alone, the caller goes on.
            qcow2_signal_corruption_nonfatal(bs, "Cannot free unaligned cluster %#" PRIx64, host);
            return 0;
        }
        if (qcow2_has_data_file(s)) return qcow2_data_file_release(bs, entry, type);
        return qcow2_update_refcount(bs, host, s->cluster_size, -1, type);
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
