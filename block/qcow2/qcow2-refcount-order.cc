// qemu-img amend -o refcount_bits=N: rewrites the refcount structures with
// another entry width, as QEMU 7.2 does, so that the new blocks and table
// land where QEMU puts them and the progress it reports is the same.
//
// The old structures stay live (and count every allocation) until the
// header switches to the new table in one write; a failure or crash before
// that leaves the old structures in charge and at most leaks the new
// clusters.  Walks over the old table: allocation walks (new refcount
// blocks, then a new table) repeat until one allocates nothing, since each
// allocation changes the refcounts being copied; a last walk fills and
// writes the new blocks.  Caller holds s->lock.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <vector>

#include "block/qcow2/qcow2-int.h"

namespace {

struct OrderChange {
    BlockDriverState *bs;
    BDRVQcow2State *s;
    int order;                    // new refcount order
    uint64_t new_block_entries;   // entries per new refcount block
    std::vector<uint64_t> table;  // new refcount table (host order)
    std::vector<uint8_t> block;   // the new block being filled (write walk)
    bool write;                   // false: allocation walk
    bool allocated = false;       // the walk allocated a cluster
    BdrvAmendStatusCB *cb;
    void *opaque;
};

// Called for each complete new refcount block (index @ri): an allocation
// walk gives a non-empty one a cluster (and the table room for it), the
// write walk writes it.
int coroutine_fn finish_block(OrderChange &oc, uint64_t ri, bool empty, Error **errp)
{
    BDRVQcow2State *s = oc.s;
    if (oc.write) {
        if (ri < oc.table.size() && oc.table[ri]) {
            int ret = bdrv_co_pwrite(oc.bs->file, (int64_t)oc.table[ri], (int64_t)s->cluster_size,
                                     oc.block.data(), 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to write refblock");
                return ret;
            }
        }
        return 0;
    }
    if (empty) return 0;
    if (ri >= oc.table.size()) {
        uint64_t per_cluster = s->cluster_size / 8;
        uint64_t n = (ri + 1 + per_cluster - 1) / per_cluster * per_cluster;
        if (n > QCOW2_MAX_REFTABLE_BYTES / 8) {
            error_setg(errp, "This operation would make the refcount table grow beyond the "
                             "maximum size supported by QEMU, aborting");
            return -ENOTSUP;
        }
        oc.table.resize(n, 0);
    }
    if (!oc.table[ri]) {
        int64_t off = qcow2_alloc_clusters(oc.bs, 1);
        if (off < 0) {
            error_setg_errno(errp, (int)-off, "Failed to allocate refblock");
            return (int)off;
        }
        oc.table[ri] = (uint64_t)off;
        oc.allocated = true;
    }
    return 0;
}

// One walk over every entry the old table can describe (ranges without a
// block count as zero), regrouped into new blocks.  Progress: walk @index
// of @total, in steps of one old table entry.
int coroutine_fn walk(OrderChange &oc, int index, int total, Error **errp)
{
    BDRVQcow2State *s = oc.s;
    uint64_t new_ri = 0, fill = 0;
    bool empty = true;
    uint64_t old_entries = s->g.refblock_entries();
    // The old table may grow during the walk (allocations), so its size is
    // read afresh each step.
    for (uint64_t ri = 0; ri < s->refcount_table.size(); ri++) {
        uint64_t table_size = s->refcount_table.size();
        if (oc.cb)
            oc.cb(oc.bs, (int64_t)(index * table_size + ri), (int64_t)(total * table_size),
                  oc.opaque);
        uint64_t off = s->refcount_table[ri] & REFT_OFFSET_MASK;
        if (off & (s->cluster_size - 1)) {
            qcow2_signal_corruption(
                oc.bs, "Refblock offset %#" PRIx64 " unaligned (reftable index: %#" PRIx64 ")", off,
                ri);
            error_setg(errp, "Image is corrupt (unaligned refblock offset)");
            return -EIO;
        }
        void *old = nullptr;
        if (off) {
            int ret = qcow2_cache_get(oc.bs, s->refblock_cache, off, &old);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to retrieve refblock");
                return ret;
            }
        }
        uint64_t i = 0;
        while (i < old_entries) {
            if (fill == oc.new_block_entries) {
                int ret = finish_block(oc, new_ri, empty, errp);
                if (ret < 0) {
                    if (old) qcow2_cache_put(s->refblock_cache, &old);
                    return ret;
                }
                new_ri++;
                fill = 0;
                empty = true;
                if (oc.write) std::fill(oc.block.begin(), oc.block.end(), 0);
            }
            uint64_t n = std::min(old_entries - i, oc.new_block_entries - fill);
            if (!old) {  // a range without a block: all zero, nothing to copy
                i += n;
                fill += n;
                continue;
            }
            for (uint64_t end = i + n; i < end; i++, fill++) {
                uint64_t rc = qcow2_refblock_get(old, s->g.refcount_order, i);
                if (oc.order < 6 && (rc >> (1 << oc.order))) {
                    qcow2_cache_put(s->refblock_cache, &old);
                    uint64_t cluster = ((ri << s->g.refblock_bits) + i) << s->g.cluster_bits;
                    error_setg(errp,
                               "Cannot decrease refcount entry width to %i bits: Cluster at "
                               "offset %#" PRIx64 " has a refcount of %" PRIu64,
                               1 << oc.order, cluster, rc);
                    return -EINVAL;
                }
                if (oc.write && rc) qcow2_refblock_set(oc.block.data(), oc.order, fill, rc);
                empty = empty && rc == 0;
            }
        }
        if (old) qcow2_cache_put(s->refblock_cache, &old);
    }
    if (fill > 0) {
        int ret = finish_block(oc, new_ri, empty, errp);
        if (ret < 0) return ret;
    }
    uint64_t table_size = s->refcount_table.size();
    if (oc.cb)
        oc.cb(oc.bs, (int64_t)((index + 1) * table_size), (int64_t)(total * table_size), oc.opaque);
    return 0;
}

// Points the header at the new table and width, then the in-memory state.
int coroutine_fn switch_structures(OrderChange &oc, uint64_t table_off, Error **errp)
{
    BDRVQcow2State *s = oc.s;
    int ret = qcow2_cache_flush(oc.bs, s->refblock_cache);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush the refblock cache");
        return ret;
    }
    Qcow2Header old = s->hdr;
    s->hdr.refcount_order = (uint32_t)oc.order;
    s->hdr.refcount_table_offset = table_off;
    s->hdr.refcount_table_clusters = (uint32_t)(oc.table.size() * 8 / s->cluster_size);
    ret = qcow2_update_header(oc.bs);
    if (ret < 0) {
        s->hdr = old;
        error_setg_errno(errp, -ret, "Failed to update the qcow2 header");
        return ret;
    }
    // The cached blocks are of the old width: none may be used again.
    qcow2_cache_empty(s->refblock_cache);
    std::swap(s->refcount_table, oc.table);
    qcow2_reft_rescan(s);
    s->g.init(s->g.cluster_bits, oc.order);
    return 0;
}

}  // namespace

int coroutine_fn qcow2_change_refcount_order(BlockDriverState *bs, int order, BdrvAmendStatusCB *cb,
                                             void *opaque, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    OrderChange oc{bs,    s,  order, 1ULL << (s->g.cluster_bits + 3 - order), {}, {}, false,
                   false, cb, opaque};
    int64_t table_off = 0;
    uint64_t table_bytes = 0;
    uint64_t old_table_off = s->hdr.refcount_table_offset;
    int ret = 0, index = 0;
    do {
        // At least this walk, one to see that nothing moved, and the write.
        int total = std::max(index + 2, 3);
        oc.allocated = false;
        ret = walk(oc, index++, total, errp);
        if (ret < 0) break;
        if (oc.allocated) {
            if (table_off)
                qcow2_free_clusters(bs, (uint64_t)table_off, table_bytes, Qcow2DiscardType::Never);
            table_off = qcow2_alloc_clusters(bs, s->g.size_to_clusters(oc.table.size() * 8));
            if (table_off < 0) {
                error_setg_errno(errp, (int)-table_off, "Failed to allocate the new reftable");
                ret = (int)table_off;
                table_off = 0;
                break;
            }
            table_bytes = oc.table.size() * 8;
        }
    } while (oc.allocated);
    if (ret == 0) {
        oc.write = true;
        oc.block.assign(s->cluster_size, 0);
        ret = walk(oc, index, index + 1, errp);
    }
    if (ret == 0) {
        std::vector<uint8_t> buf(oc.table.size() * 8);
        for (size_t i = 0; i < oc.table.size(); i++)
            be64_store(&buf[i * 8], oc.table[i]);
        ret = bdrv_co_pwrite(bs->file, table_off, (int64_t)buf.size(), buf.data(), 0);
        if (ret < 0) error_setg_errno(errp, -ret, "Failed to write the new reftable");
    }
    uint64_t old_table_bytes = s->refcount_table.size() * 8;
    if (ret == 0) ret = switch_structures(oc, (uint64_t)table_off, errp);
    if (ret == 0) {
        // oc.table now holds the old table: its blocks and itself go.
        table_off = (int64_t)old_table_off;
        table_bytes = old_table_bytes;
    }
    for (uint64_t e : oc.table) {
        uint64_t off = e & REFT_OFFSET_MASK;
        if (off) qcow2_free_clusters(bs, off, s->cluster_size, Qcow2DiscardType::Other);
    }
    if (table_off > 0)
        qcow2_free_clusters(bs, (uint64_t)table_off, table_bytes, Qcow2DiscardType::Other);
    return ret;
}
