// Rebuilding the refcount structure from the refcounts a check computed
// (qemu-img check -r all when a used cluster has refcount 0, and the repair
// of a dirty image on open).  QEMU 7.2's algorithm, so that the new
// structures land where QEMU puts them and the leaks the second pass
// reports (the old table and blocks) read the same:
//   1. for every refblock range holding a used cluster, a new block is
//      allocated in the first free cluster at or after the range start
//      (counted in the computed refcounts themselves) and written;
//   2. the new table goes to the first free run; the blocks covering it are
//      written again, and if the table had to grow, a new place is sought;
//   3. the table is written and the header switched to it.
// Nothing old is freed here: the caller's leak pass does that.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

struct Rebuild {
    BlockDriverState *bs;
    BDRVQcow2State *s;
    std::vector<uint64_t> *refs;
    std::vector<uint64_t> reftable;  // host order, a whole number of clusters
};

// QEMU's alloc_clusters_imrt: the first run of @count free clusters at or
// after *ffc (growing the array past the image end when needed), marked
// used; *ffc moves to the first free cluster seen.
uint64_t alloc_imrt(Rebuild &r, uint64_t count, uint64_t *ffc)
{
    std::vector<uint64_t> &refs = *r.refs;
    uint64_t cl = *ffc, contig = 0;
    bool first_gap = true;
    for (; cl < refs.size() && contig < count; cl++) {
        if (!refs[cl]) {
            contig++;
            if (first_gap) {
                *ffc = cl;
                first_gap = false;
            }
        } else {
            contig = 0;
        }
    }
    if (contig < count) refs.resize(cl + count - contig, 0);
    cl -= contig;
    for (uint64_t i = 0; i < count; i++)
        refs[cl + i] = 1;
    return cl << r.s->g.cluster_bits;
}

// Writes the refblocks of every range in [first, end) that has a used
// cluster.  Returns 1 when the reftable grew, 0, or -errno.
int coroutine_fn write_refblocks(Rebuild &r, uint64_t first, uint64_t end)
{
    BDRVQcow2State *s = r.s;
    uint64_t cs = s->cluster_size, per = s->g.refblock_entries();
    uint64_t ffc = 0;
    bool grown = false;
    std::vector<uint8_t> buf(cs);
    for (uint64_t cl = first; cl < end; cl++) {
        if (cl >= r.refs->size() || !(*r.refs)[cl]) continue;
        uint64_t ri = cl >> s->g.refblock_bits, start = ri << s->g.refblock_bits;
        uint64_t off;
        if (ri < r.reftable.size() && r.reftable[ri]) {
            off = r.reftable[ri];
        } else {
            if (ffc < start) ffc = start;
            off = alloc_imrt(r, 1, &ffc);
            // The block counting this new block must be written too.
            if ((off >> s->g.cluster_bits) >= end) end = (off >> s->g.cluster_bits) + 1;
            if (r.reftable.size() <= ri) {
                uint64_t n = ((ri + 1) * 8 + cs - 1) / cs * cs / 8;
                r.reftable.resize(n, 0);
                grown = true;
            }
            r.reftable[ri] = off;
        }
        memset(buf.data(), 0, cs);
        for (uint64_t j = 0; j < per && start + j < r.refs->size(); j++) {
            uint64_t v = (*r.refs)[start + j];
            if (v > s->g.refcount_max()) v = s->g.refcount_max();
            qcow2_refblock_set(buf.data(), s->g.refcount_order, j, v);
        }
        BLKDBG_EVENT(r.bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE);
        int ret = bdrv_co_pwrite(r.bs->file, off, cs, buf.data(), 0);
        if (ret < 0) {
            fprintf(stderr, "ERROR writing refblock: %s\n", strerror(-ret));
            return ret;
        }
        cl = start + per - 1;  // this range is done
    }
    return grown;
}

}  // namespace

int coroutine_fn qcow2_rebuild_refcount_structure(BlockDriverState *bs, std::vector<uint64_t> *refs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Rebuild r{bs, s, refs, {}};
    uint64_t cs = s->cluster_size;
    // The old blocks are abandoned, pending updates with them.
    qcow2_cache_clear(s->refblock_cache);
    int ret = write_refblocks(r, 0, refs->size());
    if (ret < 0) return ret;
    uint64_t rt_off, rt_clusters;
    do {
        rt_clusters = (r.reftable.size() * 8 + cs - 1) / cs;
        uint64_t ffc = 0;
        rt_off = alloc_imrt(r, rt_clusters, &ffc);
        uint64_t first = rt_off >> s->g.cluster_bits;
        ret = write_refblocks(r, first, first + rt_clusters);
        if (ret < 0) return ret;
    } while (ret == 1);

    std::vector<uint8_t> tb(rt_clusters * cs, 0);
    for (uint64_t i = 0; i < r.reftable.size(); i++)
        be64_store(&tb[i * 8], r.reftable[i]);
    BLKDBG_EVENT(bs->file, BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE);
    ret = bdrv_co_pwrite(bs->file, rt_off, tb.size(), tb.data(), 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR writing reftable: %s\n", strerror(-ret));
        return ret;
    }
    uint8_t hdr[12];
    be64_store(hdr, rt_off);
    be32_store(hdr + 8, (uint32_t)rt_clusters);
    ret = bdrv_co_pwrite_sync(bs->file, 48, sizeof(hdr), hdr, 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR setting reftable: %s\n", strerror(-ret));
        return ret;
    }
    s->hdr.refcount_table_offset = rt_off;
    s->hdr.refcount_table_clusters = (uint32_t)rt_clusters;
    s->refcount_table = std::move(r.reftable);
    qcow2_reft_rescan(s);
    s->free_cluster_index = 0;
    return 0;
}
