// Growing and shrinking qcow2 images (qemu-img resize, blk_truncate),
// preallocation of a guest range and re-pointing its backing file (qemu-img rebase).
//
// Everything here runs in coroutine context with s->lock held for the whole
// operation: these are rare, exclusive metadata operations.
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

struct LockGuard {
    CoMutex *m;
    coroutine_fn explicit LockGuard(CoMutex *m_) : m(m_) { qemu_co_mutex_lock(m); }
    coroutine_fn ~LockGuard() { qemu_co_mutex_unlock(m); }
};

int coroutine_fn write_header_size(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint8_t be[8];
    be64_store(be, size);
    int ret = bdrv_co_pwrite_sync(bs->file, 24, 8, be, 0);
    if (ret == 0) {
        s->hdr.size = size;
        bs->total_bytes = (int64_t)size;
    }
    return ret;
}

// Makes [host, host+len) of the file, about to be linked as guest data,
// read as zeroes and be allocated as @mode asks.  Runs before the L2 update
// so that a crash never exposes stale contents of a reused cluster.
int coroutine_fn prepare_data(BlockDriverState *bs, uint64_t host, uint64_t len, PreallocMode mode)
{
    int64_t flen = bdrv_co_getlength(bs->file->bs);
    if (flen < 0) return (int)flen;
    uint64_t end = host + len;
    if (host < (uint64_t)flen) {
        // A reused cluster inside the file: zero it explicitly.
        uint64_t n = end < (uint64_t)flen ? len : (uint64_t)flen - host;
        int flags =
            mode == PreallocMode::Metadata || mode == PreallocMode::Off ? BDRV_REQ_MAY_UNMAP : 0;
        int ret = bdrv_co_pwrite_zeroes(bs->file, (int64_t)host, (int64_t)n, flags);
        if (ret < 0) return ret;
    }
    if (end <= (uint64_t)flen) return 0;
    // Past EOF the file reads as zeroes; grow it (with falloc/full as asked)
    // so every mapped cluster lies inside the file.
    PreallocMode fmode = mode == PreallocMode::Metadata ? PreallocMode::Off : mode;
    return bdrv_co_truncate(bs->file, (int64_t)end, false, fmode, nullptr);
}

}  // namespace

// Allocates host clusters for every unallocated (or plain zero) guest
// cluster of [from, to) and links them as normal clusters reading zeroes.
int coroutine_fn qcow2_preallocate(BlockDriverState *bs, uint64_t from, uint64_t to,
                                   PreallocMode mode)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t off = from & ~(cs - 1);
    while (off < to) {
        Qcow2Mapping m;
        int ret = qcow2_get_mapping(bs, off, to - off, &m);
        if (ret < 0) return ret;
        uint64_t n = (m.bytes + cs - 1) >> s->g.cluster_bits;
        if ((m.type == Qcow2ClusterType::Unallocated || m.type == Qcow2ClusterType::ZeroPlain) &&
            qcow2_has_data_file(s)) {
            // The data file was sized (and preallocated) by the truncate;
            // its clusters sit at the guest offsets, without refcounts.
            ret = qcow2_set_l2_entries(bs, off, n, off | QCOW_OFLAG_COPIED, false, nullptr);
            if (ret < 0) return ret;
        } else if (m.type == Qcow2ClusterType::Unallocated ||
                   m.type == Qcow2ClusterType::ZeroPlain) {
            int64_t host = qcow2_alloc_clusters(bs, n);
            if (host < 0) return (int)host;
            ret = prepare_data(bs, (uint64_t)host, n * cs, mode);
            if (ret == 0) {
                ret = qcow2_set_l2_entries(bs, off, n, (uint64_t)host | QCOW_OFLAG_COPIED, false,
                                           nullptr);
            }
            if (ret < 0) {
                qcow2_update_refcount(bs, (uint64_t)host, n * cs, -1);
                return ret;
            }
        }
        off += n * cs;
    }
    return 0;
}

namespace {

// Frees the L2 tables past the new L1 size (the L1 keeps its size, as in
// QEMU): L1 entries reach the disk cleared before the tables are freed.
int coroutine_fn shrink_l1(BlockDriverState *bs, uint64_t new_l1_size)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t old = s->l1_table.size();
    if (new_l1_size >= old) return 0;
    std::vector<uint8_t> zero((old - new_l1_size) * 8, 0);
    BLKDBG_EVENT(bs->file, BLKDBG_L1_SHRINK_WRITE_TABLE);
    int ret = bdrv_co_pwrite_sync(bs->file, s->hdr.l1_table_offset + new_l1_size * 8, zero.size(),
                                  zero.data(), 0);
    if (ret < 0) return ret;
    BLKDBG_EVENT(bs->file, BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS);
    for (uint64_t i = new_l1_size; i < old; i++) {
        uint64_t l2 = s->l1_table[i] & L1E_OFFSET_MASK;
        s->l1_table[i] = 0;
        if (!l2) continue;
        ret = qcow2_update_refcount(bs, l2, s->cluster_size, -1, Qcow2DiscardType::Always);
        if (ret < 0) return ret;
    }
    return 0;
}

// Whether refblock @ri counts nothing but (possibly) itself.
int coroutine_fn refblock_unused(BlockDriverState *bs, uint64_t ri, bool *unused)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t self = s->refcount_table[ri] & REFT_OFFSET_MASK;
    uint64_t first = ri << s->g.refblock_bits;
    *unused = true;
    for (uint64_t i = 0; i < s->g.refblock_entries() && *unused; i++) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, first + i, &rc);
        if (ret < 0) return ret;
        bool is_self = ((first + i) << s->g.cluster_bits) == self;
        if (rc && !(is_self && rc == 1)) *unused = false;
    }
    return 0;
}

// Drops refcount blocks that describe only free clusters (after a shrink
// the tail ranges are empty), so the file can be truncated behind them.
int coroutine_fn shrink_reftable(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret < 0) return ret;
    for (uint64_t ri = s->refcount_table.size(); ri-- > 1;) {
        uint64_t off = s->refcount_table[ri] & REFT_OFFSET_MASK;
        if (!off) continue;
        bool unused;
        ret = refblock_unused(bs, ri, &unused);
        if (ret < 0) return ret;
        if (!unused) continue;
        uint8_t zero[8] = {};
        ret = bdrv_co_pwrite_sync(bs->file, s->hdr.refcount_table_offset + ri * 8, 8, zero, 0);
        if (ret < 0) return ret;
        s->refcount_table[ri] = 0;
        qcow2_cache_discard(s->refblock_cache, off);
        // A block living in its own range vanished with it; one elsewhere
        // loses its reference there.
        uint64_t home = off >> (s->g.cluster_bits + s->g.refblock_bits);
        if (home != ri) {
            ret = qcow2_update_refcount(bs, off, s->cluster_size, -1, Qcow2DiscardType::Always);
            if (ret < 0) return ret;
        }
        if ((off >> s->g.cluster_bits) < s->free_cluster_index) {
            s->free_cluster_index = off >> s->g.cluster_bits;
        }
    }
    return 0;
}

// Index of the last cluster with a non-zero refcount.
int coroutine_fn last_used_cluster(BlockDriverState *bs, uint64_t nb_clusters, uint64_t *last)
{
    *last = 0;
    for (uint64_t i = nb_clusters; i-- > 0;) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, i, &rc);
        if (ret < 0) return ret;
        if (rc) {
            *last = i;
            return 0;
        }
    }
    return 0;
}

int coroutine_fn truncate_file_tail(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int64_t flen = bdrv_co_getlength(bs->file->bs);
    if (flen < 0) return (int)flen;
    uint64_t last;
    int ret = last_used_cluster(bs, s->g.size_to_clusters((uint64_t)flen), &last);
    if (ret < 0) return ret;
    uint64_t end = (last + 1) * s->cluster_size;
    if (end >= (uint64_t)flen) return 0;
    ErrorPtr err;
    if (bdrv_co_truncate(bs->file, (int64_t)end, false, PreallocMode::Off, &err) < 0) {
        warn_report("Failed to truncate the tail of the image: %s", error_get_pretty(err.get()));
    }
    return 0;
}

int coroutine_fn do_shrink(BlockDriverState *bs, uint64_t offset, uint64_t old_length, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t start = (offset + cs - 1) & ~(cs - 1);
    uint64_t end = (old_length + cs - 1) & ~(cs - 1);
    int ret = 0;
    if (end > start) {
        qcow2_inflight_begin(s, start >> s->g.cluster_bits, (end - start) >> s->g.cluster_bits);
        ret = qcow2_discard_clusters(bs, start, end - start, Qcow2DiscardMode::Deallocate,
                                     Qcow2DiscardType::Always);
        qcow2_inflight_end(s, start >> s->g.cluster_bits);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to discard cropped clusters");
        return ret;
    }
    ret = qcow2_flush_caches(bs);
    if (ret == 0) ret = shrink_l1(bs, s->g.size_to_l1(offset));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to reduce the number of L2 tables");
        return ret;
    }
    ret = shrink_reftable(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to discard unused refblocks");
        return ret;
    }
    return truncate_file_tail(bs);
}

// Whether a backing file would show through a new area past @old_length.
int coroutine_fn backing_reaches(BlockDriverState *bs, uint64_t old_length, bool *reaches)
{
    *reaches = false;
    if (!bs->backing) return 0;
    int64_t blen = bdrv_co_getlength(bs->backing->bs);
    if (blen < 0) return (int)blen;
    *reaches = (uint64_t)blen > old_length;
    return 0;
}

// The new area must read as zeroes: hide a backing file that reaches into
// it, and clear the stale tail of an allocated partial last cluster (left
// by an earlier unaligned shrink; QEMU 7.2 exposes it).
int coroutine_fn zero_grown_area(BlockDriverState *bs, uint64_t old_length, uint64_t offset,
                                 bool backing_reaches)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t aligned = (old_length + cs - 1) & ~(cs - 1);
    uint64_t zero_end = offset;
    if (!backing_reaches) {
        zero_end = aligned < offset ? aligned : offset;
        if (zero_end <= old_length) return 0;
        Qcow2Mapping m;
        int ret = qcow2_get_mapping(bs, old_length, zero_end - old_length, &m);
        if (ret < 0) return ret;
        if (m.type != Qcow2ClusterType::Normal && m.type != Qcow2ClusterType::Compressed) {
            return 0;
        }
    }
    // Drop the lock: the write path takes it.
    qemu_co_mutex_unlock(&s->lock);
    int ret = qcow2_co_pwrite_zeroes(bs, (int64_t)old_length, (int64_t)(zero_end - old_length),
                                     BDRV_REQ_MAY_UNMAP);
    qemu_co_mutex_lock(&s->lock);
    return ret;
}

int coroutine_fn do_grow(BlockDriverState *bs, uint64_t offset, uint64_t old_length,
                         PreallocMode prealloc, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    bool reaches;
    int ret = backing_reaches(bs, old_length, &reaches);
    if (ret == 0 && reaches && s->hdr.version < 3) {
        // v2 has no zero clusters to hide the backing file with.
        error_setg(errp, "Block driver does not support requested flags");
        return -ENOTSUP;
    }
    if (ret == 0) ret = qcow2_grow_l1_table(bs, s->g.size_to_l1(offset));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to grow the L1 table");
        return ret;
    }
    ret = write_header_size(bs, offset);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image size");
        return ret;
    }
    ret = zero_grown_area(bs, old_length, offset, reaches);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to zero out new clusters");
        return ret;
    }
    if (prealloc != PreallocMode::Off) {
        uint64_t from = old_length;
        if (bs->backing) from = (from + s->cluster_size - 1) & ~(s->cluster_size - 1);
        ret = qcow2_preallocate(bs, from, offset, prealloc);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Preallocation failed");
            return ret;
        }
    }
    return 0;
}

}  // namespace

int coroutine_fn qcow2_co_truncate(BlockDriverState *bs, int64_t offset, bool,
                                   PreallocMode prealloc, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (offset & 511) {
        error_setg(errp, "The new size must be a multiple of 512");
        return -EINVAL;
    }
    LockGuard guard(&s->lock);
    if (!s->snapshots.empty() && s->hdr.version < 3) {
        error_setg(errp, "Can't resize a v2 image which has snapshots");
        return -ENOTSUP;
    }
    uint64_t old_length = s->hdr.size;
    int ret = 0;
    // As QEMU: a raw data file stays fully mapped.
    if (qcow2_data_file_is_raw(s) && prealloc == PreallocMode::Off &&
        (uint64_t)offset > old_length) {
        prealloc = PreallocMode::Metadata;
    }
    if (qcow2_has_data_file(s) && (uint64_t)offset > old_length) {
        // The data file grows first (preallocated as asked), so that the
        // preallocated metadata maps clusters inside it.
        PreallocMode fmode = prealloc == PreallocMode::Metadata ? PreallocMode::Off : prealloc;
        ret = bdrv_co_truncate(s->data_file, offset, false, fmode, errp);
        if (ret < 0) return ret;
    }
    if ((uint64_t)offset < old_length) {
        if (prealloc != PreallocMode::Off) {
            error_setg(errp, "Preallocation can't be used for shrinking an image");
            return -EINVAL;
        }
        ret = do_shrink(bs, (uint64_t)offset, old_length, errp);
        if (ret == 0) ret = write_header_size(bs, (uint64_t)offset);
        if (ret < 0 && errp && !*errp)
            error_setg_errno(errp, -ret, "Failed to update the image size");
    } else if ((uint64_t)offset > old_length) {
        ret = do_grow(bs, (uint64_t)offset, old_length, prealloc, errp);
    }
    if (ret == 0 && qcow2_has_data_file(s) && (uint64_t)offset < old_length) {
        ret = bdrv_co_truncate(s->data_file, offset, false, PreallocMode::Off, errp);
    }
    if (ret == 0) ret = qcow2_flush_caches(bs);
    if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0 && errp && !*errp) error_setg_errno(errp, -ret, "Could not resize image");
    return ret < 0 ? ret : 0;
}

int coroutine_fn qcow2_co_change_backing_file(BlockDriverState *bs, const char *backing_file,
                                              const char *backing_fmt)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (backing_file && strlen(backing_file) > QCOW2_MAX_BACKING_NAME) return -EINVAL;
    LockGuard guard(&s->lock);
    Qcow2Header saved = s->hdr;
    s->hdr.backing_file = backing_file ? backing_file : "";
    s->hdr.backing_format = backing_file && backing_fmt ? backing_fmt : "";
    int ret = qcow2_update_header(bs);
    if (ret < 0) {
        s->hdr = saved;
        return ret;
    }
    bs->backing_file = s->hdr.backing_file;
    bs->backing_format = s->hdr.backing_format;
    return 0;
}
