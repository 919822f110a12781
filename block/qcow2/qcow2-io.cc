// Guest I/O: reads (normal, zero, compressed, backing), writes (in place or
// allocating with copy-on-write of partial clusters), compressed writes,
// write-zeroes, discard and block status.
//
// Metadata is looked up and updated under s->lock; guest data moves with the
// lock released.  An allocating write registers its guest clusters in
// s->inflight from allocation until its L2 update, so concurrent writers to
// the same cluster wait instead of allocating it twice.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <memory>

#include "block/qcow2/qcow2-int.h"

namespace {

struct AlignedBuf {
    void *p;
    explicit AlignedBuf(size_t n) : p(qemu_memalign(4096, n ? n : 1)) {}
    ~AlignedBuf() { qemu_vfree(p); }
    AlignedBuf(const AlignedBuf &) = delete;
    AlignedBuf &operator=(const AlignedBuf &) = delete;
};

bool overlaps(const Qcow2InflightAlloc &a, uint64_t first, uint64_t n)
{
    return first < a.first_cluster + a.nb_clusters && a.first_cluster < first + n;
}

// Reads [offset, offset+bytes) from the backing chain, zeroes past its end.
int coroutine_fn read_backing(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                              QEMUIOVector *qiov, size_t qoff)
{
    if (!bs->backing) {
        qemu_iovec_memset(qiov, qoff, 0, bytes);
        return 0;
    }
    int64_t blen = bdrv_co_getlength(bs->backing->bs);
    if (blen < 0) return (int)blen;
    uint64_t n = 0;
    if ((int64_t)offset < blen) n = bytes < (uint64_t)blen - offset ? bytes : blen - offset;
    if (n < bytes) qemu_iovec_memset(qiov, qoff + n, 0, bytes - n);
    if (!n) return 0;
    BLKDBG_EVENT(bs->file, BLKDBG_READ_BACKING_AIO);
    return bdrv_co_preadv_part(bs->backing, offset, n, qiov, qoff, 0);
}

int coroutine_fn read_compressed(BlockDriverState *bs, uint64_t entry, uint64_t in_cluster,
                                 uint64_t bytes, QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (qcow2_has_data_file(s)) {
        return qcow2_signal_corruption(bs, "Compressed cluster entry found in image with external "
                                           "data file");
    }
    uint64_t host, csize;
    qcow2_compressed_decode(s->g, entry, &host, &csize);
    AlignedBuf in(csize), out(s->cluster_size);
    BLKDBG_EVENT(bs->file, BLKDBG_READ_COMPRESSED);
    int ret = bdrv_co_pread(bs->file, host, csize, in.p, 0);
    if (ret < 0) return ret;
    ret = qcow2_co_decompress((Qcow2CompressionType)s->hdr.compression_type, out.p, s->cluster_size,
                              in.p, csize);
    if (ret < 0) return -EIO;
    qemu_iovec_from_buf(qiov, qoff, (uint8_t *)out.p + in_cluster, bytes);
    return 0;
}

// Reads one mapped run into the qiov.
int coroutine_fn read_run(BlockDriverState *bs, const Qcow2Mapping &m, uint64_t offset,
                          QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = qcow2_state(bs);
    switch (m.type) {
    case Qcow2ClusterType::Unallocated: return read_backing(bs, offset, m.bytes, qiov, qoff);
    case Qcow2ClusterType::ZeroPlain:
    case Qcow2ClusterType::ZeroAlloc: qemu_iovec_memset(qiov, qoff, 0, m.bytes); return 0;
    case Qcow2ClusterType::Compressed:
        return read_compressed(bs, m.l2_entry, offset & (s->cluster_size - 1), m.bytes, qiov, qoff);
    case Qcow2ClusterType::Normal:
        if (s->crypto) return qcow2_crypto_co_read(bs, m.host_offset, offset, m.bytes, qiov, qoff);
        BLKDBG_EVENT(bs->file, BLKDBG_READ_AIO);
        return bdrv_co_preadv_part(s->data_file, m.host_offset, m.bytes, qiov, qoff, 0);
    }
    return -EIO;
}

}  // namespace

void coroutine_fn qcow2_inflight_begin(BDRVQcow2State *s, uint64_t first, uint64_t n)
{
    for (;;) {
        bool busy = false;
        for (const auto &a : s->inflight)
            busy |= overlaps(a, first, n);
        if (!busy) break;
        qemu_co_queue_wait(&s->inflight_wait, &s->lock);
    }
    s->inflight.push_back({first, n});
}

void qcow2_inflight_end(BDRVQcow2State *s, uint64_t first)
{
    for (auto it = s->inflight.begin(); it != s->inflight.end(); ++it) {
        if (it->first_cluster == first) {
            s->inflight.erase(it);
            break;
        }
    }
    qemu_co_queue_restart_all(&s->inflight_wait);
}

int coroutine_fn qcow2_co_preadv_part(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qoff, int)
{
    BDRVQcow2State *s = qcow2_state(bs);
    while (bytes > 0) {
        Qcow2Mapping m;
        qemu_co_mutex_lock(&s->lock);
        int ret = qcow2_get_mapping(bs, offset, bytes, &m);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) return ret;
        ret = read_run(bs, m, offset, qiov, qoff);
        if (ret < 0) return ret;
        offset += m.bytes;
        qoff += m.bytes;
        bytes -= m.bytes;
    }
    return 0;
}

namespace {

// Fills @buf with the current contents of guest [offset, offset+len) as
// mapped by @old (one cluster's previous L2 entry): the COW source.
int coroutine_fn cow_read(BlockDriverState *bs, uint64_t old, uint64_t offset, uint64_t len,
                          void *buf, bool event = true)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!len) return 0;
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, buf, len);
    Qcow2Mapping m{qcow2_entry_type(s, old), 0, old, len};
    if (m.type == Qcow2ClusterType::Normal) {
        m.host_offset = (old & L2E_OFFSET_MASK) + (offset & (s->cluster_size - 1));
    }
    if (event) BLKDBG_EVENT(bs->file, BLKDBG_COW_READ);
    return read_run(bs, m, offset, &q, 0);
}

struct AllocPlan {
    uint64_t guest;       // cluster-aligned guest offset of the first cluster
    uint64_t nb;          // clusters
    uint64_t host;        // host offset of the first new cluster
    uint64_t head_entry;  // previous L2 entries of the first/last cluster
    uint64_t tail_entry;
    bool reuse;  // preallocated zero clusters written in place (host kept)
};

// Whether the COW source described by L2 entry @e reads as zeroes.
bool cow_reads_zero(BlockDriverState *bs, uint64_t e)
{
    switch (qcow2_entry_type(qcow2_state(bs), e)) {
    case Qcow2ClusterType::ZeroPlain:
    case Qcow2ClusterType::ZeroAlloc: return true;
    case Qcow2ClusterType::Unallocated: return !bs->backing;
    default: return false;
    }
}

// When the COW areas read as zeroes, zeroes the new clusters in the file
// (fallocate in a pool worker, like QEMU's handle_alloc_space) and writes
// only the guest data.  A write that extends the file would otherwise make
// io_submit block on the main thread.  Returns -ENOTSUP to use the plain
// path (also when the file cannot zero without writing).
int coroutine_fn write_allocated_zeroed(BlockDriverState *bs, const AllocPlan &p, uint64_t host,
                                        uint64_t head, uint64_t tail, uint64_t bytes,
                                        QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (s->crypto) return -ENOTSUP;  // zeroes in the file are not zeroes
    if ((!head && !tail) || (head && !cow_reads_zero(bs, p.head_entry)) ||
        (tail && !cow_reads_zero(bs, p.tail_entry))) {
        return -ENOTSUP;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_CLUSTER_ALLOC_SPACE);
    int ret = bdrv_co_pwrite_zeroes(s->data_file, host, head + bytes + tail, BDRV_REQ_NO_FALLBACK);
    // As QEMU, only "cannot zero cheaply" falls back to writing the COW
    // areas; a real I/O error fails the guest write.
    if (ret == -ENOTSUP || ret == -EAGAIN) return -ENOTSUP;
    if (ret < 0) return ret;
    BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
    return bdrv_co_pwritev_part(s->data_file, host + head, bytes, qiov, qoff, 0);
}

// Writes data plus COW head/tail into the new clusters in one request.
int coroutine_fn write_allocated(BlockDriverState *bs, const AllocPlan &p, uint64_t offset,
                                 uint64_t bytes, QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t head = offset - p.guest;
    uint64_t end = p.guest + (p.nb << s->g.cluster_bits);
    uint64_t tail = end - (offset + bytes);
    // Do not copy past the virtual disk end.
    uint64_t vend = (uint64_t)bs->total_bytes;
    if (end > vend && offset + bytes <= vend) tail = vend - (offset + bytes);
    if (offset + bytes > vend) tail = 0;
    uint64_t host = p.host;
    if (p.reuse) {
        // Normal clusters at the ends keep their data: no COW there.
        if (qcow2_entry_type(s, p.head_entry) == Qcow2ClusterType::Normal) {
            host += head;
            head = 0;
        }
        if (qcow2_entry_type(s, p.tail_entry) == Qcow2ClusterType::Normal) {
            tail = 0;
        }
    }
    int zret = write_allocated_zeroed(bs, p, host, head, tail, bytes, qiov, qoff);
    if (zret != -ENOTSUP) return zret;
    AlignedBuf hb(head), tb(tail);
    // QEMU reads both COW areas in one request (one cow_read event) when
    // the guest data between them is at most 16 KiB.
    bool merged_read = head && tail && bytes <= 16384;
    int ret = cow_read(bs, p.head_entry, p.guest, head, hb.p);
    if (ret == 0) ret = cow_read(bs, p.tail_entry, offset + bytes, tail, tb.p, !merged_read);
    if (ret < 0) return ret;
    QEMUIOVector q;
    qemu_iovec_init(&q);
    if (head) qemu_iovec_add(&q, hb.p, head);
    qemu_iovec_concat(&q, qiov, qoff, bytes);
    if (tail) qemu_iovec_add(&q, tb.p, tail);
    // As QEMU's perform_cow: one write, but both the data's write_aio and,
    // with COW areas, cow_write fire before it.
    BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
    if (head || tail) BLKDBG_EVENT(bs->file, BLKDBG_COW_WRITE);
    if (s->crypto) {
        return qcow2_crypto_co_write(bs, host, p.guest + (host - p.host), head + bytes + tail, &q,
                                     0);
    }
    return bdrv_co_pwritev(s->data_file, host, head + bytes + tail, &q, 0);
}

// Links the new clusters into the L2 table and frees what they replace.
// With lazy refcounts the image is marked dirty first (QEMU does it in
// qcow2_alloc_cluster_link_l2): from then on the L2 tables are written
// without waiting for the refcount blocks.
int coroutine_fn link_allocated(BlockDriverState *bs, const AllocPlan &p)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<uint64_t> old;
    int ret = s->lazy_refcounts ? qcow2_mark_dirty(bs) : 0;
    if (ret < 0) return ret;
    ret = qcow2_set_l2_entries(bs, p.guest, p.nb, p.host | QCOW_OFLAG_COPIED, false,
                               p.reuse ? nullptr : &old);
    if (ret < 0) return ret;
    bool need_free = false;
    for (uint64_t e : old)
        need_free |= (e & L2E_OFFSET_MASK) != 0;
    if (!need_free) return 0;
    ret = qcow2_cache_flush(bs, s->l2_cache);
    for (uint64_t e : old) {
        if (ret == 0) ret = qcow2_free_l2_entry(bs, e, Qcow2DiscardType::Never);
    }
    return ret;
}

// Whether a mapping run is written without a new allocation.
bool in_place(const Qcow2Mapping &m)
{
    return (m.type == Qcow2ClusterType::Normal || m.type == Qcow2ClusterType::ZeroAlloc) &&
           (m.l2_entry & QCOW_OFLAG_COPIED);
}

// Under s->lock: plans the write of [offset, offset+bytes) (one mapping
// run).  Returns 1 with *host set for an in-place write, 0 with @p filled
// for an allocation, or -errno.
int coroutine_fn plan_write(BlockDriverState *bs, uint64_t offset, uint64_t *bytes, uint64_t *host,
                            AllocPlan *p)
{
    BDRVQcow2State *s = qcow2_state(bs);
    for (;;) {
        Qcow2Mapping m;
        int ret = qcow2_get_mapping(bs, offset, *bytes, &m);
        if (ret < 0) return ret;
        uint64_t cs = s->cluster_size;
        uint64_t last_entry = m.l2_entry;
        if (in_place(m)) {
            // As QEMU's handle_copied: contiguous COPIED clusters, normal or
            // preallocated zero, within one L2 table are written in place.
            bool any_zero = m.type == Qcow2ClusterType::ZeroAlloc;
            uint64_t l2_end = (offset | (s->g.l2_span() - 1)) + 1;
            uint64_t limit = std::min<uint64_t>(*bytes, l2_end - offset);
            uint64_t next_host = m.host_offset + m.bytes;
            last_entry = m.l2_entry + (((m.host_offset & (cs - 1)) + m.bytes - 1) &
                                       ~(cs - 1));  // offsets grow with the run
            while (m.bytes < limit) {
                Qcow2Mapping m2;
                ret = qcow2_get_mapping(bs, offset + m.bytes, limit - m.bytes, &m2);
                if (ret < 0) return ret;
                if (!in_place(m2) || m2.host_offset != next_host) break;
                any_zero |= m2.type == Qcow2ClusterType::ZeroAlloc;
                last_entry = m2.l2_entry + ((m2.bytes - 1) & ~(cs - 1));
                m.bytes += m2.bytes;
                next_host += m2.bytes;
            }
            // Host offsets in a data file cannot hit the image's metadata.
            const char *what = qcow2_has_data_file(s)
                                   ? nullptr
                                   : qcow2_metadata_overlap(s, m.host_offset, m.bytes, false);
            if (what) {
                return qcow2_signal_corruption(bs,
                                               "Preventing invalid write on metadata "
                                               "(overlaps with %s)",
                                               what);
            }
            if (!any_zero) {
                *bytes = m.bytes;
                *host = m.host_offset;
                return 1;
            }
        }
        p->guest = offset & ~(cs - 1);
        uint64_t end = offset + m.bytes;
        p->nb = (end - p->guest + cs - 1) >> s->g.cluster_bits;
        uint64_t first = p->guest >> s->g.cluster_bits;
        bool busy = false;
        for (const auto &a : s->inflight)
            busy |= overlaps(a, first, p->nb);
        if (busy) {
            qemu_co_queue_wait(&s->inflight_wait, &s->lock);
            continue;  // the mapping may have changed
        }
        *bytes = m.bytes;
        p->head_entry = m.l2_entry;
        p->tail_entry = m.l2_entry;
        if (p->nb > 1 && m.type != Qcow2ClusterType::Unallocated &&
            m.type != Qcow2ClusterType::ZeroPlain) {
            // Runs of these types are single clusters (compressed) or
            // contiguous; the last cluster's entry is the first's + offset.
            p->tail_entry = m.l2_entry + ((p->nb - 1) << s->g.cluster_bits);
        }
        if (in_place(m)) {
            // Preallocated zero clusters among them keep their host
            // clusters; what the write leaves of them is written as zeroes.
            p->host = m.l2_entry & L2E_OFFSET_MASK;
            p->tail_entry = last_entry;
            p->reuse = true;
            s->inflight.push_back({first, p->nb});
            return 0;
        }
        // The L2 table first, then the data clusters (QEMU's order: a
        // fresh image gets its L2 table at 0x40000 and data at 0x50000).
        int ret2 = qcow2_prepare_l2_table(bs, p->guest);
        if (ret2 < 0) return ret2;
        if (qcow2_has_data_file(s)) {
            // As QEMU: data file clusters sit at their guest offsets and
            // have no refcounts (nothing to give back on failure).
            p->host = p->guest;
            p->reuse = true;
            s->inflight.push_back({first, p->nb});
            return 0;
        }
        int64_t h = qcow2_alloc_clusters(bs, p->nb);
        if (h < 0) return (int)h;
        p->host = (uint64_t)h;
        s->inflight.push_back({first, p->nb});
        return 0;
    }
}

}  // namespace

int coroutine_fn qcow2_co_pwritev_part(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov, size_t qoff, int)
{
    BDRVQcow2State *s = qcow2_state(bs);
    while (bytes > 0) {
        uint64_t n = (uint64_t)bytes, host = 0;
        AllocPlan p{};
        qemu_co_mutex_lock(&s->lock);
        int ret = plan_write(bs, offset, &n, &host, &p);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) return ret;
        if (ret == 1) {
            BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
            ret = s->crypto ? qcow2_crypto_co_write(bs, host, offset, n, qiov, qoff)
                            : bdrv_co_pwritev_part(s->data_file, host, n, qiov, qoff, 0);
        } else {
            ret = write_allocated(bs, p, offset, n, qiov, qoff);
            qemu_co_mutex_lock(&s->lock);
            if (ret == 0)
                ret = link_allocated(bs, p);
            else if (!p.reuse)
                qcow2_update_refcount(bs, p.host, p.nb * s->cluster_size, -1);
            qcow2_inflight_end(s, p.guest >> s->g.cluster_bits);
            qemu_co_mutex_unlock(&s->lock);
        }
        if (ret < 0) return ret;
        offset += n;
        qoff += n;
        bytes -= n;
    }
    return 0;
}

namespace {

// Clusters compressed in parallel per batch of a multi-cluster request.
constexpr int kCompressBatch = 8;

// Stores one compressed cluster (or @in as a normal cluster when it did
// not compress): allocation and L2 update under the lock, data outside.
int coroutine_fn write_compressed_cluster(BlockDriverState *bs, int64_t offset, uint64_t n,
                                          void *in, const void *out, int64_t csize)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    if (csize < 0) {
        QEMUIOVector q;
        qemu_iovec_init_buf(&q, in, n);
        return qcow2_co_pwritev_part(bs, offset, n, &q, 0, 0);  // incompressible
    }
    uint64_t first = (uint64_t)offset >> s->g.cluster_bits;
    qemu_co_mutex_lock(&s->lock);
    qcow2_inflight_begin(s, first, 1);
    // As QEMU: the L2 table first (so it lands before the data, where
    // QEMU's does), then the data's bytes.
    int ret = qcow2_prepare_l2_table(bs, (uint64_t)offset);
    Qcow2Mapping m;
    if (ret == 0) ret = qcow2_get_mapping(bs, offset, cs, &m);
    if (ret == 0 && (m.l2_entry & L2E_OFFSET_MASK)) ret = -EIO;  // as QEMU
    int64_t host = ret == 0 ? qcow2_alloc_bytes(bs, csize) : ret;
    qemu_co_mutex_unlock(&s->lock);
    ret = host < 0 ? (int)host : 0;
    if (ret == 0) {
        BLKDBG_EVENT(bs->file, BLKDBG_WRITE_COMPRESSED);
        ret = bdrv_co_pwrite(bs->file, host, csize, out, 0);
    }
    qemu_co_mutex_lock(&s->lock);
    if (ret == 0) {
        BLKDBG_EVENT(bs->file, BLKDBG_L2_UPDATE_COMPRESSED);
        ret = qcow2_set_l2_entries(bs, offset, 1, qcow2_compressed_entry(s->g, host, csize), true,
                                   nullptr);
    }
    qcow2_inflight_end(s, first);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

}  // namespace

// Clusters of one request are compressed in parallel (pool workers), then
// stored in guest order, so the host layout follows the guest's.
int coroutine_fn qcow2_co_pwritev_compressed(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    if (s->crypto || qcow2_has_data_file(s)) return -ENOTSUP;
    if (offset & (cs - 1)) return -EINVAL;
    if (bytes & (cs - 1) && offset + bytes != bs->total_bytes) return -EINVAL;
    uint64_t nb = ((uint64_t)bytes + cs - 1) / cs;
    int batch = (int)(nb < (uint64_t)kCompressBatch ? nb : kCompressBatch);
    AlignedBuf in(batch * cs), out(batch * cs);
    int64_t csize[kCompressBatch];
    while (bytes > 0) {
        uint64_t len = (uint64_t)bytes < batch * cs ? (uint64_t)bytes : batch * cs;
        int k = (int)((len + cs - 1) / cs);
        memset((uint8_t *)in.p + (len & ~(cs - 1)), 0, k * cs - (len & ~(cs - 1)));
        qemu_iovec_to_buf(qiov, qoff, in.p, len);
        qcow2_co_compress_clusters((Qcow2CompressionType)s->hdr.compression_type, cs, k,
                                   (uint8_t *)out.p, (const uint8_t *)in.p, csize);
        for (int i = 0; i < k; i++) {
            uint64_t n = len - i * cs < cs ? len - i * cs : cs;
            int ret = write_compressed_cluster(bs, offset + (int64_t)(i * cs), n,
                                               (uint8_t *)in.p + i * cs, (uint8_t *)out.p + i * cs,
                                               csize[i]);
            if (ret < 0) return ret;
        }
        offset += len;
        qoff += len;
        bytes -= len;
    }
    return 0;
}

namespace {

// Writes explicit zeroes over [offset, offset+bytes) through the write path.
int coroutine_fn write_zero_buffer(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!bytes) return 0;
    // QEMU's bounce buffer for the fallback holds up to 16 MiB.
    uint64_t chunk = std::min<uint64_t>(bytes, std::max<uint64_t>(16 << 20, s->cluster_size));
    AlignedBuf z(chunk);
    memset(z.p, 0, chunk);
    while (bytes) {
        uint64_t n = bytes < chunk ? bytes : chunk;
        QEMUIOVector q;
        qemu_iovec_init_buf(&q, z.p, n);
        int ret = qcow2_co_pwritev_part(bs, offset, n, &q, 0, 0);
        if (ret < 0) return ret;
        offset += n;
        bytes -= n;
    }
    return 0;
}

int coroutine_fn discard_locked(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                                Qcow2DiscardMode mode)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t first = offset >> s->g.cluster_bits;
    uint64_t n = (bytes + s->cluster_size - 1) >> s->g.cluster_bits;
    if (!n) return 0;
    qemu_co_mutex_lock(&s->lock);
    qcow2_inflight_begin(s, first, n);
    // A partial last cluster at the image end counts as whole.
    int ret =
        qcow2_discard_clusters(bs, offset, n << s->g.cluster_bits, mode, Qcow2DiscardType::Request);
    qcow2_inflight_end(s, first);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

// QEMU's is_zero: whether guest [offset, offset+bytes) reads as zeroes
// (through the backing chain), clamped to the image end.
bool coroutine_fn reads_as_zero(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    uint64_t total = (uint64_t)bs->total_bytes;
    if (offset >= total) return true;
    if (offset + bytes > total) bytes = total - offset;
    while (bytes) {
        int64_t pnum = 0;
        int ret = bdrv_co_block_status_above(bs, nullptr, (int64_t)offset, (int64_t)bytes, &pnum,
                                             nullptr, nullptr);
        if (ret < 0 || !(ret & BDRV_BLOCK_ZERO) || pnum <= 0) return false;
        offset += (uint64_t)pnum;
        bytes -= std::min<uint64_t>(bytes, (uint64_t)pnum);
    }
    return true;
}

// QEMU's qcow2_subcluster_zeroize for cluster-aligned [offset, +bytes) (the
// last cluster may end at the image end): zero clusters on v3; on v2 the
// clusters are deallocated when nothing is below, else -ENOTSUP.
int coroutine_fn zeroize(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    BDRVQcow2State *s = qcow2_state(bs);
    // A raw data file must read as the guest disk: zero it there first.
    if (qcow2_data_file_is_raw(s)) {
        int ret = bdrv_co_pwrite_zeroes(s->data_file, (int64_t)offset, (int64_t)bytes, flags);
        if (ret < 0) return ret;
    }
    if (s->hdr.version < 3) {
        if (bs->backing) return -ENOTSUP;
        return discard_locked(bs, offset, bytes, Qcow2DiscardMode::Discard);
    }
    return discard_locked(bs, offset, bytes,
                          (flags & BDRV_REQ_MAY_UNMAP) ? Qcow2DiscardMode::Zero
                                                       : Qcow2DiscardMode::ZeroKeepAlloc);
}

// One piece of a write-zeroes request, inside one cluster or cluster
// aligned (QEMU's qcow2_co_pwrite_zeroes): a partial cluster becomes a zero
// cluster when the rest of it already reads as zeroes and it is not
// allocated; otherwise -ENOTSUP (zeroes are written as data).
int coroutine_fn zero_piece(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t head = offset & (cs - 1);
    uint64_t end = offset + bytes;
    uint64_t tail = ((end + cs - 1) & ~(cs - 1)) - end;
    if (end == (uint64_t)bs->total_bytes) tail = 0;
    if (head || tail) {
        if (!reads_as_zero(bs, offset - head, head) || !reads_as_zero(bs, end, tail)) {
            return -ENOTSUP;
        }
        offset -= head;
        bytes = cs;
        Qcow2Mapping m;
        qemu_co_mutex_lock(&s->lock);
        int ret = qcow2_get_mapping(bs, offset, cs, &m);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) return ret;
        if (m.type != Qcow2ClusterType::Unallocated && m.type != Qcow2ClusterType::ZeroPlain &&
            m.type != Qcow2ClusterType::ZeroAlloc) {
            return -ENOTSUP;
        }
    }
    return zeroize(bs, offset, bytes, flags);
}

}  // namespace

// The block layer hands over any request aligned to 512 bytes; it is cut as
// QEMU's bdrv_co_do_pwrite_zeroes cuts it for a driver with cluster-sized
// zero alignment: the head up to a cluster boundary, the aligned middle,
// the tail.  A piece the driver cannot zero is written as zero data.
int coroutine_fn qcow2_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                        int flags)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t pos = (uint64_t)offset, end = (uint64_t)(offset + bytes);
    while (pos < end) {
        uint64_t n = end - pos;
        if (pos & (cs - 1)) {
            n = std::min(n, cs - (pos & (cs - 1)));
        } else if (n > cs && (end & (cs - 1))) {
            n -= end & (cs - 1);
        }
        int ret = zero_piece(bs, pos, n, flags);
        if (ret == -ENOTSUP && !(flags & BDRV_REQ_NO_FALLBACK)) ret = write_zero_buffer(bs, pos, n);
        if (ret < 0) return ret;
        pos += n;
    }
    return 0;
}

int coroutine_fn qcow2_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size;
    uint64_t start = ((uint64_t)offset + cs - 1) & ~(cs - 1);
    uint64_t end = (uint64_t)(offset + bytes);
    if (end != (uint64_t)bs->total_bytes)
        end &= ~(cs - 1);
    else
        end = (end + cs - 1) & ~(cs - 1);
    if (start >= end) return 0;  // partial clusters are ignored, as QEMU does
    // v2 has no zero clusters: discarding would expose the backing file.
    if (s->hdr.version < 3 && bs->backing) return -ENOTSUP;
    return discard_locked(bs, start, end - start, Qcow2DiscardMode::Discard);
}

int coroutine_fn qcow2_co_block_status(BlockDriverState *bs, bool, int64_t offset, int64_t bytes,
                                       int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Qcow2Mapping m;
    qemu_co_mutex_lock(&s->lock);
    if (!s->metadata_prealloc_checked) {
        s->metadata_prealloc = qcow2_detect_metadata_prealloc(bs) == 1;
        s->metadata_prealloc_checked = true;
    }
    int ret = qcow2_get_mapping(bs, offset, bytes, &m);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) return ret;
    *pnum = (int64_t)m.bytes;
    int status = 0;
    // Encrypted data has no meaningful place in the file (QEMU: no offset).
    if ((m.type == Qcow2ClusterType::Normal || m.type == Qcow2ClusterType::ZeroAlloc) &&
        !s->crypto) {
        *map = (int64_t)m.host_offset;
        *file = s->data_file ? s->data_file->bs : bs->file->bs;
        status |= BDRV_BLOCK_OFFSET_VALID;
    }
    if (m.type == Qcow2ClusterType::ZeroPlain || m.type == Qcow2ClusterType::ZeroAlloc) {
        status |= BDRV_BLOCK_ZERO;
    } else if (m.type != Qcow2ClusterType::Unallocated) {
        status |= BDRV_BLOCK_DATA;
    }
    if (s->metadata_prealloc && (status & BDRV_BLOCK_DATA) && (status & BDRV_BLOCK_OFFSET_VALID)) {
        status |= BDRV_BLOCK_RECURSE;
    }
    if (m.type == Qcow2ClusterType::Compressed) status |= BDRV_BLOCK_COMPRESSED;
    return status;
}
