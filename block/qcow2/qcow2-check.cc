// qemu-img check: recomputes every cluster's refcount from the metadata,
// compares with the refcount blocks and checks the COPIED flags.  Messages,
// counting and repair follow QEMU 7.2's qcow2 check so that qemu-img(-lite)
// check prints the same report.
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

struct CheckState {
    BlockDriverState *bs;
    BDRVQcow2State *s;
    BdrvCheckResult *res;
    int fix;
    std::vector<uint64_t> refs;  // computed refcount per cluster
    uint64_t next_contiguous = 0;
    int64_t file_len = 0;
};

void inc_refs(CheckState &c, uint64_t offset, uint64_t size)
{
    if (!size) return;
    // As QEMU: the last cluster may be half written, anything further is a
    // corrupted offset (and must not size the refs array: a hostile L1
    // entry asked for terabytes, found by the qcow2-image fuzzer).
    if ((int64_t)(offset + size) - c.file_len >= (int64_t)c.s->cluster_size) {
        fprintf(stderr,
                "ERROR: counting reference for region exceeding the end of the file by "
                "one cluster or more: offset 0x%" PRIx64 " size 0x%" PRIx64 "\n",
                offset, size);
        c.res->corruptions++;
        return;
    }
    uint64_t first = offset >> c.s->g.cluster_bits;
    uint64_t last = (offset + size - 1) >> c.s->g.cluster_bits;
    if (last >= c.refs.size()) c.refs.resize(last + 1, 0);
    for (uint64_t i = first; i <= last; i++) {
        // As QEMU: a count the image's width cannot hold is reported here
        // and stays at the maximum (no repair can store it).
        if (c.refs[i] == c.s->g.refcount_max()) {
            fprintf(stderr, "ERROR: overflow cluster offset=0x%" PRIx64 "\n",
                    i << c.s->g.cluster_bits);
            fprintf(stderr, "Use qemu-img amend to increase the refcount entry width or "
                            "qemu-img convert to create a clean copy if the image cannot be "
                            "opened for writing\n");
            c.res->corruptions++;
            continue;
        }
        c.refs[i]++;
    }
}

int coroutine_fn check_l2(CheckState &c, uint64_t l2_offset, bool active)
{
    BDRVQcow2State *s = c.s;
    uint64_t cs = s->cluster_size;
    std::vector<uint8_t> buf(cs);
    int ret = bdrv_co_pread(c.bs->file, l2_offset, cs, buf.data(), 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l2\n");
        c.res->check_errors++;
        return ret;
    }
    for (uint64_t i = 0; i < s->g.l2_entries(); i++) {
        uint64_t e = be64_load(&buf[i * 8]);
        Qcow2ClusterType type = qcow2_entry_type(s, e);
        if (type != Qcow2ClusterType::Compressed && (e & L2E_STD_RESERVED_MASK)) {
            // Reported, not repaired (as QEMU): which bits were meant is unknown.
            fprintf(stderr, "ERROR found l2 entry with reserved bits set: %" PRIx64 "\n", e);
            c.res->corruptions++;
        }
        switch (type) {
        case Qcow2ClusterType::Compressed: {
            if (e & QCOW_OFLAG_COPIED) {
                fprintf(stderr,
                        "ERROR: coffset=0x%" PRIx64 ": copied flag must never be set "
                        "for compressed clusters\n",
                        e & s->g.cluster_offset_mask);
                c.res->corruptions++;
            }
            uint64_t host = e & s->g.cluster_offset_mask;
            uint64_t nb = ((e >> s->g.csize_shift) & s->g.csize_mask) + 1;
            if (active) {
                c.res->allocated_clusters++;
                c.res->compressed_clusters++;
                c.res->fragmented_clusters++;
            }
            inc_refs(c, host & ~511ULL, nb * 512);
            break;
        }
        case Qcow2ClusterType::Normal:
        case Qcow2ClusterType::ZeroAlloc: {
            uint64_t off = e & L2E_OFFSET_MASK;
            if (active) {
                c.res->allocated_clusters++;
                if (c.next_contiguous && off != c.next_contiguous) c.res->fragmented_clusters++;
                c.next_contiguous = off + cs;
            }
            if (off & (cs - 1)) {
                fprintf(stderr,
                        "ERROR offset=%" PRIx64 ": Cluster is not properly aligned; "
                        "L2 entry corrupted.\n",
                        off);
                c.res->corruptions++;
                break;
            }
            // Data file clusters have no refcounts (QEMU's check agrees).
            if (!qcow2_has_data_file(s)) inc_refs(c, off, cs);
            break;
        }
        default: break;
        }
    }
    return 0;
}

int coroutine_fn check_l1(CheckState &c, uint64_t l1_offset, const std::vector<uint64_t> &l1,
                          bool active)
{
    inc_refs(c, l1_offset, l1.size() * 8);
    for (uint64_t e : l1) {
        uint64_t off = e & L1E_OFFSET_MASK;
        if (!off) continue;
        if (e & L1E_RESERVED_MASK) {
            fprintf(stderr, "ERROR found L1 entry with reserved bits set: %" PRIx64 "\n", e);
            c.res->corruptions++;
        }
        if (off & (c.s->cluster_size - 1)) {
            fprintf(stderr,
                    "ERROR l2_offset=%" PRIx64 ": Table is not cluster aligned; L1 "
                    "entry corrupted\n",
                    off);
            c.res->corruptions++;
            continue;
        }
        inc_refs(c, off, c.s->cluster_size);
        int ret = check_l2(c, off, active);
        if (ret < 0) return ret;
    }
    return 0;
}

int coroutine_fn check_snapshots(CheckState &c)
{
    BDRVQcow2State *s = c.s;
    for (const Qcow2Snapshot &sn : s->snapshots) {
        std::vector<uint64_t> l1;
        int ret = qcow2_read_table(c.bs, sn.l1_table_offset, sn.l1_size, &l1);
        if (ret < 0) {
            c.res->check_errors++;
            return ret;
        }
        ret = check_l1(c, sn.l1_table_offset, l1, false);
        if (ret < 0) return ret;
    }
    inc_refs(c, s->hdr.snapshots_offset, s->snapshots_size);
    return 0;
}

// Reserved bits in a refcount table entry: QEMU skips the entry and asks for
// a rebuild of the whole refcount structure.  Under -r all we clear the bits
// in place instead (the offset bits are kept and checked like any other
// entry), which keeps every refcount block where it is.
bool coroutine_fn refblock_reserved_bits(CheckState &c, uint64_t i, bool *rebuild)
{
    BDRVQcow2State *s = c.s;
    if (!(s->refcount_table[i] & REFT_RESERVED_MASK)) return false;
    bool fix = c.fix & BDRV_FIX_ERRORS;
    fprintf(stderr, "%s refcount table entry %" PRIu64 " has reserved bits set\n",
            fix ? "Repairing" : "ERROR", i);
    if (fix) {
        uint8_t be[8];
        be64_store(be, s->refcount_table[i] & ~REFT_RESERVED_MASK);
        if (bdrv_co_pwrite(c.bs->file, s->hdr.refcount_table_offset + i * 8, 8, be, 0) == 0) {
            s->refcount_table[i] &= ~REFT_RESERVED_MASK;
            c.res->corruptions_fixed++;
            return false;
        }
        // Counted with the offset bits alone, as every lookup reads it.
        fprintf(stderr, "ERROR could not clear the reserved bits\n");
        c.res->check_errors++;
        c.res->corruptions++;
        return false;
    }
    c.res->corruptions++;
    *rebuild = true;
    return true;
}

void coroutine_fn check_refblocks(CheckState &c, uint64_t nb_clusters, bool *rebuild)
{
    BDRVQcow2State *s = c.s;
    for (uint64_t i = 0; i < s->refcount_table.size(); i++) {
        if (refblock_reserved_bits(c, i, rebuild)) continue;
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;
        if (!off) continue;
        if (off & (s->cluster_size - 1)) {
            fprintf(stderr,
                    "ERROR refcount block %" PRIu64 " is not cluster aligned; "
                    "refcount table entry corrupted\n",
                    i);
            c.res->corruptions++;
            continue;
        }
        if ((off >> s->g.cluster_bits) >= nb_clusters) {
            fprintf(stderr, "ERROR refcount block %" PRIu64 " is outside image\n", i);
            c.res->corruptions++;
            continue;
        }
        inc_refs(c, off, s->cluster_size);
    }
}

int coroutine_fn compare_refcounts(CheckState &c, int fix, uint64_t *highest, bool *rebuild)
{
    BDRVQcow2State *s = c.s;
    uint64_t n = c.refs.size();
    uint64_t coverage = s->refcount_table.size() << s->g.refblock_bits;
    for (uint64_t i = 0; i < coverage; i++) {
        uint64_t rb = s->refcount_table[i >> s->g.refblock_bits] & REFT_OFFSET_MASK;
        if (rb && !(rb & (s->cluster_size - 1)) && i + 1 > n) n = i + 1;
        if (!rb) i |= s->g.refblock_entries() - 1;  // skip the whole range
    }
    *highest = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r1, r2 = i < c.refs.size() ? c.refs[i] : 0;
        int ret = qcow2_get_refcount(c.bs, i, &r1);
        if (ret < 0) {
            fprintf(stderr, "Can't get refcount for cluster %" PRIu64 ": %s\n", i, strerror(-ret));
            c.res->check_errors++;
            continue;
        }
        if (r1 || r2) *highest = i;
        if (r1 == r2) continue;
        int *fixed = nullptr;
        if (r1 == 0) *rebuild = true;
        if (r1 > r2 && (fix & BDRV_FIX_LEAKS)) fixed = &c.res->leaks_fixed;
        if (r1 < r2 && (fix & BDRV_FIX_ERRORS)) fixed = &c.res->corruptions_fixed;
        fprintf(stderr, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64 "\n",
                fixed     ? "Repairing"
                : r1 < r2 ? "ERROR"
                          : "Leaked",
                i, r1, r2);
        if (fixed && qcow2_set_refcount(c.bs, i, r2) == 0) {
            // As QEMU (QCOW2_DISCARD_ALWAYS): a repaired leak goes back to the file.
            if (!r2) bdrv_co_pdiscard(c.bs->file, i << s->g.cluster_bits, s->cluster_size);
            (*fixed)++;
            continue;
        }
        if (r1 < r2)
            c.res->corruptions++;
        else
            c.res->leaks++;
    }
    return 0;
}

int coroutine_fn fix_l1_copied(CheckState &c, uint64_t i, bool set)
{
    BDRVQcow2State *s = c.s;
    if (set)
        s->l1_table[i] |= QCOW_OFLAG_COPIED;
    else
        s->l1_table[i] &= ~QCOW_OFLAG_COPIED;
    uint8_t be[8];
    be64_store(be, s->l1_table[i]);
    return bdrv_co_pwrite(c.bs->file, s->hdr.l1_table_offset + i * 8, 8, be, 0);
}

// Whether L2 entry @e's OFLAG_COPIED disagrees with its refcount (*rc).
bool coroutine_fn l2_copied_wrong(CheckState &c, uint64_t e, uint64_t *rc)
{
    BDRVQcow2State *s = c.s;
    Qcow2ClusterType ty = qcow2_entry_type(s, e);
    if (ty != Qcow2ClusterType::Normal && ty != Qcow2ClusterType::ZeroAlloc) return false;
    uint64_t off = e & L2E_OFFSET_MASK;
    if (off & (s->cluster_size - 1)) return false;
    if (qcow2_has_data_file(s)) {
        *rc = 1;  // never shared: the only reference is this entry
    } else if (qcow2_get_refcount(c.bs, off >> s->g.cluster_bits, rc) < 0) {
        return false;
    }
    return (*rc == 1) != ((e & QCOW_OFLAG_COPIED) != 0);
}

int coroutine_fn check_l2_copied(CheckState &c, uint64_t l2_off, bool fix)
{
    BDRVQcow2State *s = c.s;
    // As QEMU, the table is read from the file (the caches were written
    // back before the check), not loaded into the L2 cache: a check is not
    // an L2 load (no l2_load event) and does not evict the tables in use.
    // Only a repair goes through the cache, to change the cached copy.
    std::vector<uint8_t> buf(s->cluster_size);
    int ret = bdrv_co_pread(c.bs->file, l2_off, (int64_t)s->cluster_size, buf.data(), 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR: Could not read L2 table: %s\n", strerror(-ret));
        c.res->check_errors++;
        return ret;
    }
    bool any = false;
    for (uint64_t j = 0; j < s->g.l2_entries(); j++) {
        uint64_t e = be64_load(&buf[j * 8]), rc;
        if (!l2_copied_wrong(c, e, &rc)) continue;
        any = true;
        fprintf(stderr, "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                fix ? "Repairing" : "ERROR", e, rc);
        if (!fix) c.res->corruptions++;
    }
    if (!any || !fix) return 0;
    void *l2;
    ret = qcow2_cache_get(c.bs, s->l2_cache, l2_off, &l2);
    if (ret < 0) return ret;
    uint64_t *t = (uint64_t *)l2;
    for (uint64_t j = 0; j < s->g.l2_entries(); j++) {
        uint64_t e = be64_load(&t[j]), rc;
        if (!l2_copied_wrong(c, e, &rc)) continue;
        be64_store(&t[j], rc == 1 ? e | QCOW_OFLAG_COPIED : e & ~QCOW_OFLAG_COPIED);
        qcow2_cache_mark_dirty(s->l2_cache, l2);
        c.res->corruptions_fixed++;
    }
    qcow2_cache_put(s->l2_cache, &l2);
    return 0;
}

int coroutine_fn check_oflag_copied(CheckState &c)
{
    BDRVQcow2State *s = c.s;
    // As QEMU: -r all always repairs; -r leaks only when the refcounts are
    // known good (this runs after their repair), so the flags derived from
    // them are right.
    bool fix = (c.fix & BDRV_FIX_ERRORS) || ((c.fix & BDRV_FIX_LEAKS) && !c.res->check_errors &&
                                             !c.res->corruptions && !c.res->leaks);
    for (uint64_t i = 0; i < s->l1_table.size(); i++) {
        uint64_t e = s->l1_table[i], off = e & L1E_OFFSET_MASK, rc;
        if (!off || (off & (s->cluster_size - 1))) continue;
        int ret = qcow2_get_refcount(c.bs, off >> s->g.cluster_bits, &rc);
        if (ret < 0) continue;
        if ((rc == 1) != ((e & QCOW_OFLAG_COPIED) != 0)) {
            fprintf(stderr,
                    "%s OFLAG_COPIED L2 cluster: l1_index=%" PRIu64 " l1_entry=%" PRIx64
                    " refcount=%" PRIu64 "\n",
                    fix ? "Repairing" : "ERROR", i, e, rc);
            if (fix && fix_l1_copied(c, i, rc == 1) == 0)
                c.res->corruptions_fixed++;
            else
                c.res->corruptions++;
        }
        ret = check_l2_copied(c, off, fix);
        if (ret < 0) return ret;
    }
    return 0;
}

int coroutine_fn count_bitmaps(CheckState &c)
{
    auto count = [](void *opaque, uint64_t offset, uint64_t size) {
        inc_refs(*(CheckState *)opaque, offset, size);
    };
    return qcow2_check_bitmaps(c.bs, c.res, count, &c);
}

}  // namespace

namespace {

// Everything the metadata references, counted into c.refs (QEMU's
// calculate_refcounts); c.refs starts with one entry per cluster of a file
// of @nb_clusters.
int coroutine_fn calculate_refs(CheckState &c, uint64_t nb_clusters, bool *rebuild)
{
    BDRVQcow2State *s = c.s;
    c.refs.assign(nb_clusters, 0);
    c.next_contiguous = 0;
    inc_refs(c, 0, s->cluster_size);
    int ret = check_l1(c, s->hdr.l1_table_offset, s->l1_table, true);
    if (ret == 0) ret = check_snapshots(c);
    if (ret < 0) return ret;
    inc_refs(c, s->hdr.refcount_table_offset,
             (uint64_t)s->hdr.refcount_table_clusters * s->cluster_size);
    if (s->crypto_hdr_length) inc_refs(c, s->crypto_hdr_offset, s->crypto_hdr_length);
    ret = count_bitmaps(c);
    if (ret < 0) return ret;
    check_refblocks(c, nb_clusters, rebuild);
    return 0;
}

// A used cluster with refcount 0 and -r all: QEMU's rebuild, then a
// recount against the new structure whose leaks (the old structure) are
// fixed without showing in the result.
int coroutine_fn rebuild_and_recount(CheckState &c, uint64_t *highest)
{
    BdrvCheckResult *res = c.res, old = *res;
    fprintf(stderr, "Rebuilding refcount structure\n");
    int ret = qcow2_rebuild_refcount_structure(c.bs, &c.refs);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    res->corruptions = 0;
    res->leaks = 0;
    // The recount repeats the walk; the statistics stay those of the first.
    BdrvCheckResult stats = *res;
    int fix = c.fix;
    c.fix = 0;
    bool rebuild = false;
    // The file grew by the new structures; the array as far as they reach.
    int64_t flen = bdrv_co_getlength(c.bs->file->bs);
    if (flen >= 0) c.file_len = flen;
    ret = calculate_refs(c, c.refs.size(), &rebuild);
    c.fix = fix;
    res->allocated_clusters = stats.allocated_clusters;
    res->fragmented_clusters = stats.fragmented_clusters;
    res->compressed_clusters = stats.compressed_clusters;
    if (ret < 0) return ret;
    int fresh_leaks = 0;
    if (fix & BDRV_FIX_LEAKS) {
        BdrvCheckResult saved = *res;
        *res = BdrvCheckResult();
        compare_refcounts(c, BDRV_FIX_LEAKS, highest, &rebuild);
        if (rebuild) fprintf(stderr, "ERROR rebuilt refcount structure is still broken\n");
        fresh_leaks = res->leaks;
        *res = saved;
    }
    if (res->corruptions < old.corruptions) {
        res->corruptions_fixed += old.corruptions - res->corruptions;
    }
    if (res->leaks < old.leaks) res->leaks_fixed += old.leaks - res->leaks;
    res->leaks += fresh_leaks;
    return 0;
}

}  // namespace

int coroutine_fn qcow2_check_locked(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    BDRVQcow2State *s = qcow2_state(bs);
    *res = BdrvCheckResult();
    int64_t flen = bdrv_co_getlength(bs->file->bs);
    if (flen < 0) {
        res->check_errors++;
        return (int)flen;
    }
    // The walk reads L2 tables from the file, refcounts through the cache:
    // only dirty L2 tables must reach the file first.  Nothing else is
    // written (QEMU writes nothing here), so a recheck after repairs whose
    // write-back fails still sees the repaired counts.
    int ret = qcow2_cache_write(bs, s->l2_cache);
    if (ret < 0) return ret;
    CheckState c{bs, s, res, fix, {}, 0, flen};
    uint64_t nb_clusters = s->g.size_to_clusters((uint64_t)flen);
    res->total_clusters = (int64_t)s->g.size_to_clusters(s->hdr.size);
    bool rebuild = false;
    ret = calculate_refs(c, nb_clusters, &rebuild);
    if (ret < 0) return ret;
    uint64_t highest;
    // As QEMU: report first, then repair in a second pass.
    BdrvCheckResult pre = *res;
    compare_refcounts(c, 0, &highest, &rebuild);
    if (rebuild && (fix & BDRV_FIX_ERRORS)) {
        ret = rebuild_and_recount(c, &highest);
        if (ret < 0) return ret;
    } else if (fix) {
        if (rebuild) {
            fprintf(stderr, "ERROR need to rebuild refcount structures\n");
            res->check_errors++;
            return -EIO;
        }
        if (res->leaks || res->corruptions) {
            *res = pre;
            compare_refcounts(c, fix, &highest, &rebuild);
        }
    }
    ret = check_oflag_copied(c);
    if (ret < 0) return ret;
    res->image_end_offset = (int64_t)((highest + 1) * s->cluster_size);
    // As QEMU, repairs stay in the caches: a failing write-back is not the
    // check's failure (the recheck sees the repaired counts); close or the
    // dirty bit's clearing writes them back and reports its own errors.
    return 0;
}

int coroutine_fn qcow2_co_check(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    BDRVQcow2State *s = qcow2_state(bs);
    CoMutexGuard guard(&s->lock);
    int ret = qcow2_check_locked(bs, res, fix);
    if (ret == 0 && fix && !res->corruptions && !res->check_errors && !bs->read_only) {
        ret = qcow2_mark_clean(bs);
    }
    return ret;
}
