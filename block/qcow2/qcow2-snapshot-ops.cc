// Internal snapshots: create, apply (goto) and delete.
//
// Refcounts count paths: every L1 table (the active one and each
// snapshot's) adds one to each L2 table it points at and one to each data
// cluster reached through those tables, whether or not an L2 table is
// shared with another L1.  A snapshot therefore adds 1 along its whole tree
// and deleting it subtracts 1 along the same tree.  Anything reachable from
// the active L1 with a refcount above 1 has its COPIED flag clear, so the
// write path copies it (qcow2-io.cc allocates for a cluster without COPIED,
// qcow2-cluster.cc copies an L2 table without COPIED in its L1 entry).
//
// Crash safety, as in the rest of the driver: refcount increments reach the
// disk before the pointer that needs them (snapshot table or active L1),
// and a pointer is gone from the disk before the refcounts it held drop.
// A crash between the steps leaks clusters; it never frees a cluster that
// is still referenced.  COPIED flags are set only after the refcounts that
// justify them are on disk.
//
// Callers quiesce guest I/O (qemu-img does none while these run); the ops
// hold s->lock throughout and wait for in-flight allocations to finish.
#include <cassert>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

// Host range an L2 entry holds a reference on; false for entries that hold
// none (unallocated, plain zero).
bool l2_entry_extent(BDRVQcow2State *s, uint64_t e, uint64_t *off, uint64_t *len)
{
    switch (qcow2_entry_type(s, e)) {
    case Qcow2ClusterType::Compressed: {
        uint64_t host = e & s->g.cluster_offset_mask;
        *off = host & ~511ULL;
        *len = (((e >> s->g.csize_shift) & s->g.csize_mask) + 1) * 512;
        return true;
    }
    case Qcow2ClusterType::Normal:
    case Qcow2ClusterType::ZeroAlloc:
        *off = e & L2E_OFFSET_MASK;
        *len = s->cluster_size;
        return true;
    default: return false;
    }
}

bool is_copied_type(BDRVQcow2State *s, uint64_t e)
{
    Qcow2ClusterType t = qcow2_entry_type(s, e);
    return t == Qcow2ClusterType::Normal || t == Qcow2ClusterType::ZeroAlloc;
}

// Checks that a table of @len bytes at @off is cluster aligned and inside
// the file, so that a damaged snapshot entry cannot make us touch refcounts
// of unrelated clusters.
int coroutine_fn check_table(BlockDriverState *bs, uint64_t off, uint64_t len, const char *what)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int64_t flen = bdrv_co_getlength(bs->file->bs);
    if (flen < 0) return (int)flen;
    if ((off & (s->cluster_size - 1)) || off == 0 || off + len > (uint64_t)flen ||
        off + len < off) {
        return qcow2_signal_corruption(bs, "Invalid %s offset %#" PRIx64, what, off);
    }
    return 0;
}

int coroutine_fn read_l1(BlockDriverState *bs, uint64_t off, uint32_t n, std::vector<uint64_t> *l1)
{
    l1->assign(n, 0);
    if (!n) return 0;
    if ((uint64_t)n * 8 > QCOW2_MAX_L1_BYTES) return -EFBIG;
    int ret = check_table(bs, off, (uint64_t)n * 8, "snapshot L1 table");
    if (ret < 0) return ret;
    return qcow2_read_table(bs, off, n, l1);
}

// Copies the L2 table at @off (host-endian) out of the cache, so that no
// table is pinned while refcounts change (a freed cluster is dropped from
// the caches).
int coroutine_fn read_l2(BlockDriverState *bs, uint64_t off, std::vector<uint64_t> *out)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = check_table(bs, off, s->cluster_size, "L2 table");
    if (ret < 0) return ret;
    void *l2;
    ret = qcow2_cache_get(bs, s->l2_cache, off, &l2);
    if (ret < 0) return ret;
    const uint64_t *t = (const uint64_t *)l2;
    out->resize(s->g.l2_entries());
    for (uint64_t i = 0; i < s->g.l2_entries(); i++)
        (*out)[i] = be64_load(&t[i]);
    qcow2_cache_put(s->l2_cache, &l2);
    return 0;
}

int coroutine_fn refcount_of(BlockDriverState *bs, uint64_t off, uint64_t *rc)
{
    return qcow2_get_refcount(bs, off >> qcow2_state(bs)->g.cluster_bits, rc);
}

// Sets the COPIED flag of every allocated entry of the L2 table at @off to
// (refcount == 1), writing through the cache only when something changes.
int coroutine_fn fix_l2_copied(BlockDriverState *bs, uint64_t off,
                               const std::vector<uint64_t> &entries)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<std::pair<uint64_t, uint64_t>> changes;
    for (uint64_t i = 0; i < entries.size(); i++) {
        uint64_t e = entries[i], rc;
        if (!is_copied_type(s, e)) continue;
        int ret = refcount_of(bs, e & L2E_OFFSET_MASK, &rc);
        if (ret < 0) return ret;
        uint64_t nv = rc == 1 ? e | QCOW_OFLAG_COPIED : e & ~QCOW_OFLAG_COPIED;
        if (nv != e) changes.push_back({i, nv});
    }
    if (changes.empty()) return 0;
    void *l2;
    int ret = qcow2_cache_get(bs, s->l2_cache, off, &l2);
    if (ret < 0) return ret;
    uint64_t *t = (uint64_t *)l2;
    for (const auto &c : changes)
        be64_store(&t[c.first], c.second);
    qcow2_cache_mark_dirty(s->l2_cache, l2);
    qcow2_cache_put(s->l2_cache, &l2);
    return 0;
}

// One walk over a tree: adds @addend (+1, -1 or 0) to the refcount of
// each L2 table and of each cluster its entries reference, one cluster at a
// time, stopping after @limit updates (so a failed walk can be undone
// exactly by replaying its first @done updates with the opposite sign).
struct TreeUpdate {
    int64_t addend;
    bool fix_copied = false;  // then set COPIED flags from the new refcounts
    uint64_t limit = UINT64_MAX;
    uint64_t done = 0;
};

int coroutine_fn update_range(BlockDriverState *bs, TreeUpdate *u, uint64_t off, uint64_t len)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t last = (off + len - 1) >> s->g.cluster_bits;
    for (uint64_t c = off >> s->g.cluster_bits; c <= last && u->done < u->limit; c++) {
        int ret = qcow2_update_refcount(bs, c << s->g.cluster_bits, s->cluster_size, u->addend,
                                        Qcow2DiscardType::Snapshot);
        if (ret < 0) return ret;
        u->done++;
    }
    return 0;
}

// Walks @l1's tree.  With fix_copied (never with a negative addend: tables
// may be gone), the COPIED flags in the L2 tables and in *l1 are set from
// the resulting refcounts.
int coroutine_fn update_tree(BlockDriverState *bs, std::vector<uint64_t> *l1, TreeUpdate *u)
{
    BDRVQcow2State *s = qcow2_state(bs);
    assert(!(u->fix_copied && u->addend < 0));
    std::vector<uint64_t> entries;
    for (uint64_t &l1e : *l1) {
        uint64_t off = l1e & L1E_OFFSET_MASK;
        if (!off || u->done >= u->limit) continue;
        int ret = read_l2(bs, off, &entries);
        for (uint64_t e : entries) {
            uint64_t eoff, elen;
            if (ret == 0 && u->addend && l2_entry_extent(s, e, &eoff, &elen)) {
                ret = update_range(bs, u, eoff, elen);
            }
        }
        if (ret == 0 && u->addend) ret = update_range(bs, u, off, s->cluster_size);
        if (ret < 0) return ret;
        if (!u->fix_copied) continue;
        ret = fix_l2_copied(bs, off, entries);
        uint64_t rc = 0;
        if (ret == 0) ret = refcount_of(bs, off, &rc);
        if (ret < 0) return ret;
        l1e = rc == 1 ? l1e | QCOW_OFLAG_COPIED : l1e & ~QCOW_OFLAG_COPIED;
    }
    return 0;
}

// Adds one reference along @l1's tree and clears COPIED in it.  On failure
// (a refcount would overflow: -EINVAL, as QEMU reports it) the updates
// made so far are undone, so the refcounts are left as they were.
int coroutine_fn share_tree(BlockDriverState *bs, std::vector<uint64_t> *l1)
{
    std::vector<uint64_t> orig = *l1;
    TreeUpdate u{1, true};
    int ret = update_tree(bs, l1, &u);
    if (ret == 0) return 0;
    TreeUpdate undo{-1, false, u.done};
    update_tree(bs, &orig, &undo);
    return ret == -ERANGE ? -EINVAL : ret;
}

std::vector<uint8_t> l1_to_disk(const std::vector<uint64_t> &l1, uint64_t cluster_size)
{
    uint64_t bytes = (l1.size() * 8 + cluster_size - 1) & ~(cluster_size - 1);
    std::vector<uint8_t> buf(bytes, 0);
    for (size_t i = 0; i < l1.size(); i++)
        be64_store(&buf[i * 8], l1[i]);
    return buf;
}

// Writes @l1 into newly allocated clusters; returns their offset (0 for
// an empty table) or -errno.  The clusters' refcounts are in the cache.
int64_t coroutine_fn write_new_l1(BlockDriverState *bs, const std::vector<uint64_t> &l1)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (l1.empty()) return 0;
    std::vector<uint8_t> buf = l1_to_disk(l1, s->cluster_size);
    int64_t off = qcow2_alloc_clusters(bs, buf.size() >> s->g.cluster_bits);
    if (off < 0) return off;
    int ret = bdrv_co_pwrite(bs->file, off, buf.size(), buf.data(), 0);
    if (ret < 0) {
        qcow2_update_refcount(bs, (uint64_t)off, buf.size(), -1, Qcow2DiscardType::Snapshot);
        return ret;
    }
    return off;
}

// Rewrites the active L1 in place (after its COPIED flags changed).
int coroutine_fn write_active_l1(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (s->l1_table.empty()) return 0;
    std::vector<uint8_t> buf = l1_to_disk(s->l1_table, s->cluster_size);
    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    return bdrv_co_pwrite_sync(bs->file, s->hdr.l1_table_offset, s->l1_table.size() * 8, buf.data(),
                               0);
}

// Makes the refcounts and L2 tables in the caches durable.
int coroutine_fn flush_metadata(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret == 0) ret = qcow2_cache_flush(bs, s->l2_cache);
    return ret;
}

// Replaces the snapshot table with @sns: new table in new clusters, then
// the header (count and offset in one sector write), then the old table's
// clusters are freed.  *stage tells how far it got: the header may point
// at the new table from TABLE_MAYBE on, does from TABLE_SWITCHED on (an
// error after that only leaks the old table).
enum TableStage { TABLE_OLD, TABLE_MAYBE, TABLE_SWITCHED };
int coroutine_fn write_snapshot_table(BlockDriverState *bs, std::vector<Qcow2Snapshot> sns,
                                      TableStage *stage)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<uint8_t> buf = qcow2_snapshots_serialize(sns);
    int64_t off = 0;
    if (!sns.empty()) {
        off = qcow2_alloc_clusters(bs, s->g.size_to_clusters(buf.size()));
        if (off < 0) return (int)off;
        int ret = bdrv_co_pwrite(bs->file, off, buf.size(), buf.data(), 0);
        if (ret < 0) {
            qcow2_update_refcount(bs, (uint64_t)off, buf.size(), -1, Qcow2DiscardType::Snapshot);
            return ret;
        }
    }
    int ret = flush_metadata(bs);
    if (ret < 0) {
        if (off)
            qcow2_update_refcount(bs, (uint64_t)off, buf.size(), -1, Qcow2DiscardType::Snapshot);
        return ret;
    }
    uint8_t hdr[12];
    be32_store(hdr, (uint32_t)sns.size());
    be64_store(hdr + 4, (uint64_t)off);
    *stage = TABLE_MAYBE;  // a failed write may still have reached the disk
    ret = bdrv_co_pwrite_sync(bs->file, 60, sizeof(hdr), hdr, 0);
    if (ret < 0) return ret;
    *stage = TABLE_SWITCHED;
    uint64_t old_off = s->hdr.snapshots_offset, old_size = s->snapshots_size;
    s->hdr.nb_snapshots = (uint32_t)sns.size();
    s->hdr.snapshots_offset = (uint64_t)off;
    s->snapshots = std::move(sns);
    s->snapshots_size = buf.size();
    if (old_off && old_size) qcow2_free_clusters(bs, old_off, old_size, Qcow2DiscardType::Snapshot);
    return 0;
}

}  // namespace

int coroutine_fn qcow2_rewrite_snapshot_table(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    TableStage stage = TABLE_OLD;
    return write_snapshot_table(bs, s->snapshots, &stage);
}

namespace {

// Index of the snapshot whose id is @id_or_name, else of the first whose
// name is, else -1 (QEMU's lookup order).
int find_snapshot(BDRVQcow2State *s, const char *id_or_name)
{
    for (size_t i = 0; i < s->snapshots.size(); i++) {
        if (s->snapshots[i].id_str == id_or_name) return (int)i;
    }
    for (size_t i = 0; i < s->snapshots.size(); i++) {
        if (s->snapshots[i].name == id_or_name) return (int)i;
    }
    return -1;
}

// One more than the largest numeric id (ids that are not numbers count 0).
std::string next_snapshot_id(BDRVQcow2State *s)
{
    unsigned long max = 0;
    for (const Qcow2Snapshot &sn : s->snapshots) {
        unsigned long id = strtoul(sn.id_str.c_str(), nullptr, 10);
        if (id > max) max = id;
    }
    return std::to_string(max + 1);
}

// Takes the lock and waits for allocating writes, then makes everything
// cached durable so the ops start from a consistent on-disk state.
int coroutine_fn begin_op(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    qemu_co_mutex_lock(&s->lock);
    while (!s->inflight.empty())
        qemu_co_queue_wait(&s->inflight_wait, &s->lock);
    int ret = qcow2_flush_caches(bs);
    if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
    return ret;
}

// Restores COPIED flags on the active tree after refcounts dropped (the
// refcounts are flushed first: a COPIED flag must never be on disk with a
// refcount above 1 behind it).
int coroutine_fn fix_active_copied(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = qcow2_cache_flush(bs, s->refblock_cache);
    if (ret < 0) return ret;
    std::vector<uint64_t> l1 = s->l1_table;
    TreeUpdate u{0, true};
    ret = update_tree(bs, &l1, &u);
    if (ret < 0) return ret;
    ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0 || l1 == s->l1_table) return ret;
    s->l1_table = l1;
    return write_active_l1(bs);
}

// The part of create before the snapshot exists: writes the L1 copy into
// the clusters at sn->l1_table_offset; on failure the caller rolls the
// shared tree back.
int coroutine_fn create_prepare(BlockDriverState *bs, std::vector<uint64_t> l1, Qcow2Snapshot *sn)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = flush_metadata(bs);
    if (ret < 0) return ret;
    if (l1 != s->l1_table) {
        s->l1_table = l1;
        ret = write_active_l1(bs);
        if (ret < 0) return ret;
    }
    for (uint64_t &e : l1)
        e &= ~QCOW_OFLAG_COPIED;  // only meaningful when active
    if (!l1.empty()) {
        std::vector<uint8_t> buf = l1_to_disk(l1, s->cluster_size);
        ret = bdrv_co_pwrite(bs->file, sn->l1_table_offset, buf.size(), buf.data(), 0);
        if (ret < 0) return ret;
    }
    sn->l1_size = (uint32_t)l1.size();
    return 0;
}

// Gives back the reference a failed create or goto added along @l1's tree
// (and the L1 copy it wrote), then recomputes the active COPIED flags, so
// that an I/O error leaves the image as it was.  A crash instead leaves
// the leaks and COPIED flags that `qemu-img check -r all` repairs.
void coroutine_fn unshare_tree(BlockDriverState *bs, std::vector<uint64_t> l1, uint64_t l1_copy)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (l1_copy) {
        uint64_t bytes = (l1.size() * 8 + s->cluster_size - 1) & ~(s->cluster_size - 1);
        qcow2_update_refcount(bs, l1_copy, bytes, -1, Qcow2DiscardType::Snapshot);
    }
    TreeUpdate undo{-1};
    if (update_tree(bs, &l1, &undo) == 0) fix_active_copied(bs);
}

int coroutine_fn do_create(BlockDriverState *bs, Qcow2Snapshot *sn)
{
    BDRVQcow2State *s = qcow2_state(bs);
    // Share the tree first: afterwards nothing active carries COPIED, so no
    // write can land in place in a cluster the snapshot will own.
    std::vector<uint64_t> orig = s->l1_table, l1 = orig;
    // As QEMU, the L1 copy's clusters are taken first, so they land where
    // QEMU's do, and a share that fails (a refcount at its limit) leaks
    // them as QEMU's does.
    int64_t l1_copy = 0;
    if (!orig.empty()) {
        l1_copy = qcow2_alloc_clusters(bs, s->g.size_to_clusters(orig.size() * 8));
        if (l1_copy < 0) return (int)l1_copy;
    }
    int ret = share_tree(bs, &l1);
    if (ret < 0) {
        fix_active_copied(bs);  // flags cleared before the walk failed
        return ret;
    }
    sn->l1_table_offset = (uint64_t)l1_copy;
    ret = create_prepare(bs, l1, sn);
    TableStage stage = TABLE_OLD;
    if (ret == 0) {
        std::vector<Qcow2Snapshot> sns = s->snapshots;
        sns.push_back(*sn);
        ret = write_snapshot_table(bs, std::move(sns), &stage);
    }
    if (ret < 0 && stage == TABLE_OLD) unshare_tree(bs, orig, sn->l1_table_offset);
    return ret;
}

}  // namespace

int coroutine_fn qcow2_co_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *info)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = begin_op(bs);
    Qcow2Snapshot sn;
    if (ret == 0) {
        if (info->id_str.empty()) info->id_str = next_snapshot_id(s);
        for (const Qcow2Snapshot &o : s->snapshots) {
            if (o.id_str == info->id_str) ret = -EEXIST;
        }
        if (s->snapshots.size() >= QCOW2_MAX_SNAPSHOTS) ret = -EFBIG;
        // As QEMU: data in an external file cannot be shared by snapshots.
        if (ret == 0 && qcow2_has_data_file(s)) ret = -ENOTSUP;
        if (info->id_str.size() > 127 || info->name.size() > 255) ret = -EINVAL;
    }
    if (ret == 0) {
        sn.id_str = info->id_str;
        sn.name = info->name;
        sn.date_sec = info->date_sec;
        sn.date_nsec = info->date_nsec;
        sn.vm_clock_nsec = info->vm_clock_nsec;
        sn.vm_state_size = info->vm_state_size;
        sn.icount = info->icount;
        sn.disk_size = s->hdr.size;
        sn.extra_size = QCOW2_SNAPSHOT_EXTRA_KNOWN;
        ret = do_create(bs, &sn);
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

namespace {

// Makes the snapshot's tree the active one.  The new active L1 goes to new
// clusters and the header switches size, L1 size and L1 offset in a single
// sector write; only then does the old tree lose its references.
int coroutine_fn do_goto(BlockDriverState *bs, const Qcow2Snapshot &sn)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<uint64_t> l1;
    int ret = read_l1(bs, sn.l1_table_offset, sn.l1_size, &l1);
    if (ret < 0) return ret;
    uint64_t size = sn.disk_size;
    uint64_t want = s->g.size_to_l1(size);
    if (l1.size() < want) l1.resize(want, 0);
    std::vector<uint64_t> orig = l1;
    ret = share_tree(bs, &l1);
    if (ret < 0) return ret;
    int64_t off = write_new_l1(bs, l1);
    ret = off < 0 ? (int)off : flush_metadata(bs);
    if (ret < 0) {
        unshare_tree(bs, orig, off < 0 ? 0 : (uint64_t)off);
        return ret;
    }
    uint8_t hdr[24];
    be64_store(hdr, size);
    be32_store(hdr + 8, s->hdr.crypt_method);
    be32_store(hdr + 12, (uint32_t)l1.size());
    be64_store(hdr + 16, (uint64_t)off);
    BLKDBG_EVENT(bs->file, BLKDBG_L1_UPDATE);
    ret = bdrv_co_pwrite_sync(bs->file, 24, sizeof(hdr), hdr, 0);
    if (ret < 0) return ret;  // the header may be either: keep both trees (leak)
    std::vector<uint64_t> old = std::move(s->l1_table);
    uint64_t old_off = s->hdr.l1_table_offset;
    s->l1_table = std::move(l1);
    s->hdr.l1_table_offset = (uint64_t)off;
    s->hdr.l1_size = (uint32_t)s->l1_table.size();
    s->hdr.size = size;
    bs->total_bytes = (int64_t)size;
    TreeUpdate drop{-1};
    ret = update_tree(bs, &old, &drop);
    if (ret == 0 && !old.empty())
        ret = qcow2_update_refcount(bs, old_off, old.size() * 8, -1, Qcow2DiscardType::Snapshot);
    if (ret == 0) ret = qcow2_flush_caches(bs);
    return ret;
}

// Drops the entry first (the table no longer points at the snapshot's L1),
// then its references, then restores COPIED where the active tree became
// the only owner.  Once the entry is gone an error only leaks clusters; as
// QEMU, the first failing step names itself and ends the deletion.
int coroutine_fn do_delete(BlockDriverState *bs, size_t idx, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Qcow2Snapshot sn = s->snapshots[idx];
    std::vector<uint64_t> l1;
    int ret = read_l1(bs, sn.l1_table_offset, sn.l1_size, &l1);
    if (ret < 0) return ret;
    std::vector<Qcow2Snapshot> sns = s->snapshots;
    sns.erase(sns.begin() + (ptrdiff_t)idx);
    TableStage stage = TABLE_OLD;
    ret = write_snapshot_table(bs, std::move(sns), &stage);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to remove snapshot from snapshot list");
        return ret;
    }
    TreeUpdate drop{-1};
    ret = update_tree(bs, &l1, &drop);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to free the cluster and L1 table");
        return ret;
    }
    if (sn.l1_size) {
        qcow2_free_clusters(bs, sn.l1_table_offset, (uint64_t)sn.l1_size * 8,
                            Qcow2DiscardType::Snapshot);
    }
    ret = fix_active_copied(bs);
    if (ret == 0) ret = qcow2_flush_caches(bs);
    if (ret < 0) error_setg_errno(errp, -ret, "Failed to update snapshot status in disk");
    return ret;
}

}  // namespace

int coroutine_fn qcow2_co_snapshot_goto(BlockDriverState *bs, const char *id_or_name)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = begin_op(bs);
    if (ret == 0) {
        int idx = find_snapshot(s, id_or_name);
        ret = idx < 0 ? -ENOENT : do_goto(bs, s->snapshots[idx]);
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

int coroutine_fn qcow2_co_snapshot_delete(BlockDriverState *bs, const char *id_or_name,
                                          Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = begin_op(bs);
    int idx = -1;
    if (ret == 0) {
        idx = find_snapshot(s, id_or_name);
        if (idx < 0) {
            error_setg(errp, "Can't find the snapshot");
            ret = -ENOENT;
        }
    }
    if (ret == 0) ret = do_delete(bs, (size_t)idx, errp);
    if (ret < 0 && errp && !*errp) {
        error_setg_errno(errp, -ret, "Failed to delete snapshot");
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}
