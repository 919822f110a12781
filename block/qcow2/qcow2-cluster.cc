// Guest-to-host mapping: L1/L2 lookups, L2 allocation (and COW of shared L2
// tables), L2 entry updates, L1 growth and discard/zero of cluster ranges.
// Every function here runs with s->lock held.
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

// Writes L1 entry @i to disk (after the L2 table it points to is there).
int coroutine_fn write_l1_entry(BlockDriverState *bs, uint64_t i)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint8_t be[8];
    be64_store(be, s->l1_table[i]);
    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    return bdrv_co_pwrite(bs->file, s->hdr.l1_table_offset + i * 8, 8, be, 0);
}

// Allocates a new L2 table for L1 index @i, copying @old_off's contents when
// the old table was shared (no COPIED flag), and links it into the L1.
int coroutine_fn alloc_l2_table(BlockDriverState *bs, uint64_t i, uint64_t old_off, void **l2)
{
    BDRVQcow2State *s = qcow2_state(bs);
    const uint64_t old_entry = s->l1_table[i];
    int64_t off = qcow2_alloc_clusters(bs, 1, true);
    if (off < 0) return (int)off;
    int ret = qcow2_cache_get_empty(bs, s->l2_cache, off, l2);
    if (ret < 0) return ret;
    if (old_off) {
        void *old;
        BLKDBG_EVENT(bs->file, BLKDBG_L2_ALLOC_COW_READ);
        ret = qcow2_cache_get(bs, s->l2_cache, old_off, &old);
        if (ret < 0) goto fail;
        memcpy(*l2, old, s->cluster_size);
        qcow2_cache_put(s->l2_cache, &old);
    } else {
        memset(*l2, 0, s->cluster_size);
    }
    // The table's refcount, then the table, then the L1 entry (also with
    // lazy refcounts, as QEMU: only data clusters' refcounts may lag).
    ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret < 0) goto fail;
    BLKDBG_EVENT(bs->file, BLKDBG_L2_ALLOC_WRITE);
    // QEMU writes the new table through its L2 cache, which announces
    // every table write-back as l2_update.
    BLKDBG_EVENT(bs->file, BLKDBG_L2_UPDATE);
    ret = bdrv_co_pwrite(bs->file, off, s->cluster_size, *l2, 0);
    if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) goto fail;
    s->l1_table[i] = (uint64_t)off | QCOW_OFLAG_COPIED;
    ret = write_l1_entry(bs, i);
    if (ret < 0) {
        // The L1 entry on disk still names the old table: so must the one
        // in memory (the next request would use the unlinked table, and
        // free clusters through it), and the new table goes back, as QEMU.
        s->l1_table[i] = old_entry;
        qcow2_cache_put(s->l2_cache, l2);
        qcow2_cache_discard(s->l2_cache, off);
        qcow2_update_refcount(bs, (uint64_t)off, s->cluster_size, -1, Qcow2DiscardType::Always);
        return ret;
    }
    if (old_off) {
        // A shared table loses one reference; write through so the L1 no
        // longer points at it before its refcount drops.
        ret = bdrv_co_flush(bs->file->bs);
        if (ret == 0)
            ret = qcow2_update_refcount(bs, old_off, s->cluster_size, -1, Qcow2DiscardType::Other);
        // The new table is linked now: a failure here leaks the old one's
        // reference at worst; the table in use stays pinned for the caller
        // to release.
        if (ret < 0) {
            qcow2_cache_put(s->l2_cache, l2);
            return ret;
        }
    }
    return 0;
fail:
    qcow2_cache_put(s->l2_cache, l2);
    qcow2_cache_discard(s->l2_cache, off);
    qcow2_update_refcount(bs, (uint64_t)off, s->cluster_size, -1, Qcow2DiscardType::Always);
    return ret;
}

// Pins the L2 table covering @guest_off.  Without @alloc, *l2 is nullptr
// for an unallocated table; with it, a missing or shared table is created.
int coroutine_fn get_l2_table(BlockDriverState *bs, uint64_t guest_off, bool alloc, void **l2)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t i = s->g.l1_index(guest_off);
    *l2 = nullptr;
    if (i >= s->l1_table.size()) {
        if (!alloc) return 0;
        int ret = qcow2_grow_l1_table(bs, i + 1);
        if (ret < 0) return ret;
    }
    uint64_t e = s->l1_table[i];
    uint64_t off = e & L1E_OFFSET_MASK;
    if (off & (s->cluster_size - 1)) {
        return qcow2_signal_corruption(
            bs, "L2 table offset %#" PRIx64 " unaligned (L1 index: %#" PRIx64 ")", off, i);
    }
    // An L2 offset past the end of the file is not corruption to QEMU: the
    // table reads as zeroes (the file pads short reads), so its clusters
    // read as unallocated.
    if (off && (!alloc || (e & QCOW_OFLAG_COPIED))) {
        return qcow2_cache_get(bs, s->l2_cache, off, l2);
    }
    if (!alloc) return 0;
    return alloc_l2_table(bs, i, off, l2);
}

}  // namespace

int coroutine_fn qcow2_prepare_l2_table(BlockDriverState *bs, uint64_t guest_offset)
{
    BDRVQcow2State *s = qcow2_state(bs);
    void *l2;
    int ret = get_l2_table(bs, guest_offset, true, &l2);
    if (ret < 0) return ret;
    qcow2_cache_put(s->l2_cache, &l2);
    return 0;
}

namespace {

bool same_run(BDRVQcow2State *s, Qcow2ClusterType t, uint64_t first, uint64_t e, uint64_t k)
{
    if (qcow2_entry_type(s, e) != t) return false;
    switch (t) {
    case Qcow2ClusterType::Normal:
    case Qcow2ClusterType::ZeroAlloc:
        return (e & L2E_OFFSET_MASK) == (first & L2E_OFFSET_MASK) + k * s->cluster_size &&
               (e & QCOW_OFLAG_COPIED) == (first & QCOW_OFLAG_COPIED);
    case Qcow2ClusterType::Compressed: return false;
    default: return true;
    }
}

}  // namespace

int coroutine_fn qcow2_get_mapping(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                                   Qcow2Mapping *m)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t in_cluster = offset & (s->cluster_size - 1);
    uint64_t to_l2_end = s->g.l2_span() - (offset & (s->g.l2_span() - 1));
    uint64_t limit = bytes < to_l2_end ? bytes : to_l2_end;
    void *l2;
    int ret = get_l2_table(bs, offset, false, &l2);
    if (ret < 0) return ret;
    if (!l2) {
        *m = {Qcow2ClusterType::Unallocated, 0, 0, limit};
        return 0;
    }
    const uint64_t *t = (const uint64_t *)l2;
    uint64_t idx = s->g.l2_index(offset);
    uint64_t first = be64_load(&t[idx]);
    Qcow2ClusterType type = qcow2_entry_type(s, first);
    uint64_t max_clusters = (in_cluster + limit + s->cluster_size - 1) >> s->g.cluster_bits;
    uint64_t k = 1;
    while (k < max_clusters && same_run(s, type, first, be64_load(&t[idx + k]), k))
        k++;
    qcow2_cache_put(s->l2_cache, &l2);

    uint64_t run = (k << s->g.cluster_bits) - in_cluster;
    *m = {type, 0, first, run < limit ? run : limit};
    if (type == Qcow2ClusterType::Normal || type == Qcow2ClusterType::ZeroAlloc) {
        uint64_t host = first & L2E_OFFSET_MASK;
        if (host & (s->cluster_size - 1)) {
            return qcow2_signal_corruption(
                bs,
                "Cluster allocation offset %#" PRIx64 " unaligned (L2 offset: %#" PRIx64
                ", L2 index: %#" PRIx64 ")",
                host, s->l1_table[s->g.l1_index(offset)] & L1E_OFFSET_MASK, idx);
        }
        m->host_offset = host + in_cluster;
    }
    return 0;
}

int coroutine_fn qcow2_set_l2_entries(BlockDriverState *bs, uint64_t guest_offset, uint64_t n,
                                      uint64_t new_entry, bool same, std::vector<uint64_t> *old)
{
    BDRVQcow2State *s = qcow2_state(bs);
    void *l2;
    int ret = get_l2_table(bs, guest_offset, true, &l2);
    if (ret < 0) return ret;
    uint64_t *t = (uint64_t *)l2;
    uint64_t idx = s->g.l2_index(guest_offset);
    for (uint64_t i = 0; i < n; i++) {
        if (old) old->push_back(be64_load(&t[idx + i]));
        be64_store(&t[idx + i], same ? new_entry : new_entry + i * s->cluster_size);
    }
    qcow2_cache_mark_dirty(s->l2_cache, l2);
    qcow2_cache_put(s->l2_cache, &l2);
    return 0;
}

int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t old_size = s->l1_table.size();
    if (min_size <= old_size) return 0;
    if (min_size * 8 > QCOW2_MAX_L1_BYTES) return -EFBIG;
    uint64_t cs = s->cluster_size;
    uint64_t clusters = (min_size * 8 + cs - 1) / cs;
    BLKDBG_EVENT(bs->file, BLKDBG_L1_GROW_ALLOC_TABLE);
    int64_t off = qcow2_alloc_clusters(bs, clusters);
    if (off < 0) return (int)off;
    int ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret < 0) return ret;
    uint8_t *buf = (uint8_t *)qemu_memalign(4096, clusters * cs);
    memset(buf, 0, clusters * cs);
    for (uint64_t i = 0; i < old_size; i++)
        be64_store(buf + 8 * i, s->l1_table[i]);
    BLKDBG_EVENT(bs->file, BLKDBG_L1_GROW_WRITE_TABLE);
    ret = bdrv_co_pwrite(bs->file, off, clusters * cs, buf, 0);
    qemu_vfree(buf);
    if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) return ret;
    uint8_t hdr[12];
    be32_store(hdr, (uint32_t)min_size);
    be64_store(hdr + 4, off);
    BLKDBG_EVENT(bs->file, BLKDBG_L1_GROW_ACTIVATE_TABLE);
    ret = bdrv_co_pwrite_sync(bs->file, 36, sizeof(hdr), hdr, 0);
    if (ret < 0) return ret;
    uint64_t old_off = s->hdr.l1_table_offset;
    s->hdr.l1_table_offset = off;
    s->hdr.l1_size = (uint32_t)min_size;
    s->l1_table.resize(min_size, 0);
    if (old_off && old_size) {
        ret = qcow2_update_refcount(bs, old_off, old_size * 8, -1, Qcow2DiscardType::Other);
    }
    return ret;
}

namespace {

// New L2 entry for a discarded (or zeroed) cluster, or false to leave it
// (QEMU's discard_in_l2_slice and zero_in_l2_slice).
bool discard_entry(BlockDriverState *bs, uint64_t old, Qcow2DiscardMode mode, uint64_t *nv)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Qcow2ClusterType t = qcow2_entry_type(s, old);
    bool allocated = t == Qcow2ClusterType::Normal || t == Qcow2ClusterType::ZeroAlloc ||
                     t == Qcow2ClusterType::Compressed;
    switch (mode) {
    case Qcow2DiscardMode::Deallocate: *nv = 0; return old != 0;
    case Qcow2DiscardMode::Zero:
    case Qcow2DiscardMode::ZeroKeepAlloc: {
        // The zero flag on what is there; a compressed cluster, and with
        // unmap any allocated one, is freed.
        bool unmap =
            t == Qcow2ClusterType::Compressed || (mode == Qcow2DiscardMode::Zero && allocated);
        *nv = (unmap ? 0 : old) | QCOW_OFLAG_ZERO;
        return *nv != old;
    }
    case Qcow2DiscardMode::Discard: break;
    }
    if (!allocated && !bs->backing) return false;
    *nv = s->hdr.version >= 3 ? QCOW_OFLAG_ZERO : 0;
    return *nv != old;
}

}  // namespace

int coroutine_fn qcow2_discard_clusters(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                                        Qcow2DiscardMode mode, Qcow2DiscardType type)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<uint64_t> freed;
    while (bytes > 0) {
        uint64_t to_l2_end = s->g.l2_span() - (offset & (s->g.l2_span() - 1));
        uint64_t chunk = bytes < to_l2_end ? bytes : to_l2_end;
        uint64_t n = chunk >> s->g.cluster_bits;
        void *l2;
        int ret = get_l2_table(bs, offset, false, &l2);
        if (ret < 0) return ret;
        // As QEMU (get_cluster_table), discard and zeroing allocate the L2
        // table even where nothing changes.
        bool need_table = mode != Qcow2DiscardMode::Deallocate;
        if (!l2 && need_table) ret = get_l2_table(bs, offset, true, &l2);
        if (ret < 0) return ret;
        if (l2 && !(s->l1_table[s->g.l1_index(offset)] & QCOW_OFLAG_COPIED)) {
            qcow2_cache_put(s->l2_cache, &l2);
            ret = get_l2_table(bs, offset, true, &l2);  // COW a shared table
            if (ret < 0) return ret;
        }
        if (l2) {
            uint64_t *t = (uint64_t *)l2;
            uint64_t idx = s->g.l2_index(offset);
            bool dirty = false;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t old = be64_load(&t[idx + i]), nv;
                if (!discard_entry(bs, old, mode, &nv)) continue;
                be64_store(&t[idx + i], nv);
                dirty = true;
                if ((old & L2E_OFFSET_MASK) && (nv & L2E_OFFSET_MASK) == 0) freed.push_back(old);
            }
            if (dirty) qcow2_cache_mark_dirty(s->l2_cache, l2);
            qcow2_cache_put(s->l2_cache, &l2);
        }
        offset += chunk;
        bytes -= chunk;
    }
    if (freed.empty()) return 0;
    // The L2 tables must stop referencing the clusters before they are free.
    int ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) return ret;
    for (uint64_t e : freed) {
        ret = qcow2_free_l2_entry(bs, e, type);
        if (ret < 0) return ret;
    }
    return 0;
}

int coroutine_fn qcow2_has_compressed_clusters(BlockDriverState *bs, bool *found)
{
    BDRVQcow2State *s = qcow2_state(bs);
    *found = false;
    uint64_t size = s->hdr.size, off = 0;
    while (off < size) {
        Qcow2Mapping m;
        int ret = qcow2_get_mapping(bs, off, size - off, &m);
        if (ret < 0) return ret;
        if (m.type == Qcow2ClusterType::Compressed) {
            *found = true;
            return 0;
        }
        off += m.bytes;
    }
    return 0;
}
