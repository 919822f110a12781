// Emptying a qcow2 image (qemu-img commit's last step, blk_make_empty).
//
// Two ways, chosen as QEMU 7.2 chooses: a v3 image with nothing that
// reserves clusters of its own (snapshots, persistent bitmaps, a LUKS
// header) and whose L1 table fits with three more clusters under one
// refcount block is reset in place (header, refcount table, one refcount
// block, L1 table; the file truncated after them); any other image has
// every cluster of its active tree deallocated.
//
// The reset raises QEMU's blkdebug events at QEMU's points and writes what
// QEMU writes between them, so that an error injected at any of them
// leaves the image QEMU leaves (the dirty bit set first: the next
// read-write open rebuilds the refcounts).  Once the on-disk refcount
// structures may no longer match memory, the node is ejected (no driver,
// nothing written at close), as QEMU does.
#include <cerrno>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

struct LockGuard {
    CoMutex *m;
    coroutine_fn explicit LockGuard(CoMutex *m_) : m(m_) { qemu_co_mutex_lock(m); }
    coroutine_fn ~LockGuard() { qemu_co_mutex_unlock(m); }
};

bool has_persistent_bitmaps(const BDRVQcow2State *s)
{
    if (!(s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) return false;
    for (const Qcow2HeaderExt &e : s->hdr.unknown_exts) {
        if (e.type == QCOW2_EXT_BITMAPS) return true;
    }
    return false;
}

uint64_t l1_clusters(const BDRVQcow2State *s)
{
    uint64_t per_cluster = s->cluster_size / sizeof(uint64_t);
    return (s->hdr.l1_size + per_cluster - 1) / per_cluster;
}

bool can_reset(const BDRVQcow2State *s)
{
    return s->hdr.version >= 3 && s->snapshots.empty() && !has_persistent_bitmaps(s) &&
           3 + l1_clusters(s) <= s->g.refblock_entries() && s->hdr.crypt_method != QCOW2_CRYPT_LUKS;
}

// Header fields l1_table_offset, refcount_table_offset and
// refcount_table_clusters (contiguous at byte 40) pointed at the new layout.
int coroutine_fn write_reset_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint8_t buf[20];
    be64_store(buf, 3 * s->cluster_size);
    be64_store(buf + 8, s->cluster_size);
    be32_store(buf + 16, 1);
    return bdrv_co_pwrite_sync(bs->file, 40, sizeof(buf), buf, 0);
}

// The part after which memory and disk disagree on refcounts: any failure
// here leaves the node unusable (*broken).
int coroutine_fn reset_tables(BlockDriverState *bs, bool *broken)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t l1c = l1_clusters(s);
    *broken = true;

    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    int ret = bdrv_co_pwrite_zeroes(bs->file, s->hdr.l1_table_offset, l1c * cs, 0);
    if (ret < 0) return ret;
    std::fill(s->l1_table.begin(), s->l1_table.end(), 0);

    // Room for the refcount table, one refcount block and the L1 table right
    // after the header; this may overwrite the old tables (the image is
    // dirty: losing them is the point).
    BLKDBG_EVENT(bs->file, BLKDBG_EMPTY_IMAGE_PREPARE);
    ret = bdrv_co_pwrite_zeroes(bs->file, cs, (2 + l1c) * cs, 0);
    if (ret < 0) return ret;

    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    BLKDBG_EVENT(bs->file, BLKDBG_REFTABLE_UPDATE);
    ret = write_reset_header(bs);
    if (ret < 0) return ret;
    s->hdr.l1_table_offset = 3 * cs;
    s->hdr.refcount_table_offset = cs;
    s->hdr.refcount_table_clusters = 1;
    s->refcount_table.assign(cs / sizeof(uint64_t), 0);
    qcow2_reft_rescan(s);

    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC);
    uint8_t entry[8];
    be64_store(entry, 2 * cs);
    ret = bdrv_co_pwrite_sync(bs->file, cs, sizeof(entry), entry, 0);
    if (ret < 0) return ret;
    qcow2_reft_set(s, 0, 2 * cs);

    // The clusters in use now (header, refcount table and block, L1 table)
    // are the first ones: counted as an allocation from cluster 0.
    s->free_cluster_index = 0;
    s->free_byte_offset = 0;
    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC);
    ret = qcow2_update_refcount(bs, 0, 3 * cs + s->hdr.l1_size * sizeof(uint64_t), 1);
    if (ret < 0) return ret;
    s->free_cluster_index = 3 + l1c;
    *broken = false;
    return 0;
}

int coroutine_fn reset_image(BlockDriverState *bs, bool *broken)
{
    BDRVQcow2State *s = qcow2_state(bs);
    *broken = false;
    int ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) return ret;
    qcow2_cache_empty(s->l2_cache);
    ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret < 0) return ret;
    qcow2_cache_empty(s->refblock_cache);
    ret = qcow2_mark_dirty(bs);  // refcounts are about to be wrong on disk
    if (ret < 0) return ret;
    ret = reset_tables(bs, broken);
    if (ret < 0) return ret;
    ret = qcow2_mark_clean(bs);
    if (ret < 0) return ret;
    ErrorPtr err;
    ret = bdrv_co_truncate(bs->file, (int64_t)((3 + l1_clusters(s)) * s->cluster_size), false,
                           PreallocMode::Off, &err);
    if (ret < 0) error_report_err(err.release());
    return ret;
}

// Every L2 table's clusters deallocated (reads fall through to the backing
// file), one table at a time so that the in-flight set stays small.
int coroutine_fn deallocate_all(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t span = s->g.l2_span();
    for (uint64_t i = 0; i < s->l1_table.size(); i++) {
        if (!(s->l1_table[i] & L1E_OFFSET_MASK)) continue;
        uint64_t off = i * span;
        uint64_t first = off >> s->g.cluster_bits;
        qcow2_inflight_begin(s, first, s->g.l2_entries());
        int ret = qcow2_discard_clusters(bs, off, span, Qcow2DiscardMode::Deallocate,
                                         Qcow2DiscardType::Snapshot);
        qcow2_inflight_end(s, first);
        if (ret < 0) return ret;
    }
    return 0;
}

}  // namespace

int coroutine_fn qcow2_co_make_empty(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    bool broken = false;
    int ret;
    {
        LockGuard guard(&s->lock);
        ret = can_reset(s) ? reset_image(bs, &broken) : deallocate_all(bs);
    }
    if (broken) qcow2_eject(bs);
    return ret;
}
