// The generic request path, once for every driver: request checks,
// alignment to request_alignment (bounce buffers and read-modify-write),
// splitting to max_transfer, tracked requests and serialisation of
// overlapping read-modify-write regions, FUA emulation, zero detection,
// write-zeroes fallback, copy-on-read and in-flight accounting.
#include <algorithm>
#include <cassert>
#include <cstring>

#include "block/block-core-int.h"

static constexpr int64_t ZERO_BUF_MAX = 1 << 20;

// ---- in-flight accounting -------------------------------------------------
void bdrv_inc_in_flight(BlockDriverState *bs) { bs->in_flight++; }

void bdrv_dec_in_flight(BlockDriverState *bs)
{
    assert(bs->in_flight > 0);
    if (--bs->in_flight == 0 && bs->ctx) {
        aio_notify(bs->ctx);  // a drain may be polling for this
    }
}

bool bdrv_has_in_flight(BlockDriverState *bs)
{
    if (bs->in_flight) {
        return true;
    }
    for (BdrvChild *c : bs->children) {
        if (bdrv_has_in_flight(c->bs)) {
            return true;
        }
    }
    return false;
}

void coroutine_mixed_fn bdrv_drain(BlockDriverState *bs)
{
    if (qemu_in_coroutine()) {
        while (bdrv_has_in_flight(bs)) {
            qemu_coroutine_yield_to_loop();
        }
    } else {
        AIO_WAIT_WHILE(bs->ctx, bdrv_has_in_flight(bs));
    }
}

void bdrv_drained_begin(BlockDriverState *bs)
{
    bs->quiesce_counter++;
    bdrv_drain(bs);
}

void bdrv_drained_end(BlockDriverState *bs)
{
    assert(bs->quiesce_counter > 0);
    if (--bs->quiesce_counter == 0) {
        qemu_co_queue_restart_all(&bs->drain_queue);
    }
}

// ---- tracked requests --------------------------------------------------
static void tracked_begin(BdrvTrackedRequest *req, BlockDriverState *bs, int64_t offset,
                          int64_t bytes, bool serialising, int64_t align)
{
    req->bs = bs;
    req->offset = offset;
    req->bytes = bytes;
    req->serialising = serialising;
    req->overlap_offset = round_down(offset, align);
    req->overlap_bytes = round_up(offset + bytes, align) - req->overlap_offset;
    req->co = qemu_coroutine_self();
    qemu_co_queue_init(&req->wait_queue);
    req->waiting = false;
    req->prev = nullptr;
    req->next = bs->tracked_requests;
    if (req->next) {
        req->next->prev = req;
    }
    bs->tracked_requests = req;
}

static void tracked_end(BdrvTrackedRequest *req)
{
    if (req->prev) {
        req->prev->next = req->next;
    } else {
        req->bs->tracked_requests = req->next;
    }
    if (req->next) {
        req->next->prev = req->prev;
    }
    qemu_co_queue_restart_all(&req->wait_queue);
}

static bool overlaps(const BdrvTrackedRequest *a, const BdrvTrackedRequest *b)
{
    return a->overlap_offset < b->overlap_offset + b->overlap_bytes &&
           b->overlap_offset < a->overlap_offset + a->overlap_bytes;
}

// As QEMU: a serialising request waits for every overlapping request, any
// request for overlapping serialising ones, but never for a request that is
// itself waiting (it will wait for us when it wakes): no deadlock cycles,
// and a request held up behind a stalled one does not hold up the rest.
static void coroutine_fn wait_serialising(BdrvTrackedRequest *req)
{
    bool retry = true;
    while (retry) {
        retry = false;
        for (BdrvTrackedRequest *o = req->bs->tracked_requests; o; o = o->next) {
            if (o == req || o->waiting || !(req->serialising || o->serialising) ||
                !overlaps(req, o)) {
                continue;
            }
            req->waiting = true;
            qemu_co_queue_wait(&o->wait_queue, nullptr);
            req->waiting = false;
            retry = true;
            break;
        }
    }
}

static void mark_serialising(BdrvTrackedRequest *req, int64_t align)
{
    req->serialising = true;
    int64_t end = round_up(req->overlap_offset + req->overlap_bytes, align);
    req->overlap_offset = round_down(req->overlap_offset, align);
    req->overlap_bytes = end - req->overlap_offset;
}

static int check_request(int64_t offset, int64_t bytes, QEMUIOVector *qiov, size_t qiov_offset)
{
    if (offset < 0 || bytes < 0 || offset > BDRV_MAX_LENGTH - bytes) {
        return -EIO;
    }
    if (qiov && qiov->size < qiov_offset + bytes) {
        return -EINVAL;
    }
    return 0;
}

// ---- driver calls (aligned, within max_transfer) -------------------------
static int coroutine_fn driver_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qoff, int flags)
{
    if (!bs->drv->bdrv_co_preadv) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_preadv(bs, offset, bytes, qiov, qoff, flags & BDRV_REQ_PREFETCH);
}

static int coroutine_fn driver_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov, size_t qoff, int flags)
{
    if (flags & BDRV_REQ_WRITE_COMPRESSED) {
        // From a filter above (driver=compress), as QEMU's
        // bdrv_driver_pwritev_compressed.
        if (!bs->drv->bdrv_co_pwritev_compressed) {
            return -ENOTSUP;
        }
        int ret = bs->drv->bdrv_co_pwritev_compressed(bs, offset, bytes, qiov, qoff);
        bs->write_gen++;
        return ret < 0 ? ret : 0;
    }
    if (!bs->drv->bdrv_co_pwritev) {
        return -ENOTSUP;
    }
    bool emulate_fua = (flags & BDRV_REQ_FUA) && !(bs->supported_write_flags & BDRV_REQ_FUA);
    int ret =
        bs->drv->bdrv_co_pwritev(bs, offset, bytes, qiov, qoff, flags & bs->supported_write_flags);
    bs->write_gen++;
    if (ret >= 0 && emulate_fua) {
        ret = bdrv_co_flush(bs);
    }
    return ret < 0 ? ret : 0;
}

static int64_t chunk_limit(BlockDriverState *bs, int64_t align)
{
    int64_t max = bs->bl.max_transfer ? (int64_t)bs->bl.max_transfer : INT32_MAX;
    return std::max(round_down(std::min<int64_t>(max, INT32_MAX), align), align);
}

// Reads an aligned range, zero-filling whatever lies past the node's end
// (only alignment padding can reach there: users are bounds-checked).
static int coroutine_fn aligned_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       int64_t align, QEMUIOVector *qiov, size_t qoff, int flags)
{
    int64_t in_file =
        std::min(bytes, round_up(std::max<int64_t>(0, bs->total_bytes - offset), align));
    if (!bs->drv->bdrv_co_getlength) {
        in_file = bytes;  // no cached length to trust
    }
    int64_t max = chunk_limit(bs, align);
    for (int64_t done = 0; done < in_file;) {
        int64_t n = std::min(in_file - done, max);
        int ret = driver_preadv(bs, offset + done, n, qiov, qoff + done, flags);
        if (ret < 0) {
            return ret;
        }
        done += n;
    }
    if (in_file < bytes) {
        qemu_iovec_memset(qiov, qoff + in_file, 0, bytes - in_file);
    }
    return 0;
}

static int coroutine_fn zero_fallback(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      int flags)
{
    int64_t len = std::min<int64_t>(bytes, ZERO_BUF_MAX);
    size_t memalign = std::max<size_t>(bs->bl.min_mem_alignment, 512);
    void *buf = qemu_memalign(memalign, round_up(len, memalign));
    memset(buf, 0, round_up(len, memalign));
    int ret = 0;
    for (int64_t done = 0; done < bytes && ret >= 0;) {
        int64_t n = std::min(bytes - done, len);
        QEMUIOVector q;
        qemu_iovec_init_buf(&q, buf, n);
        ret = driver_pwritev(bs, offset + done, n, &q, 0, flags & BDRV_REQ_FUA);
        done += n;
    }
    qemu_vfree(buf);
    return ret;
}

// Write-zeroes through the driver where it can (aligned to its zeroes
// alignment), with a zero-buffer fallback unless NO_FALLBACK.
static int coroutine_fn do_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                         int flags)
{
    int64_t zalign = std::max<int64_t>(bs->bl.pwrite_zeroes_alignment, bs->bl.request_alignment);
    int64_t max = bs->bl.max_pwrite_zeroes ? (int64_t)bs->bl.max_pwrite_zeroes : INT32_MAX;
    max = std::max(round_down(std::min<int64_t>(max, INT32_MAX), zalign), zalign);
    if (!(bs->open_flags & BDRV_O_UNMAP)) {
        flags &= ~BDRV_REQ_MAY_UNMAP;
    }
    while (bytes > 0) {
        int64_t n = bytes;
        if (offset % zalign) {
            n = std::min(bytes, zalign - offset % zalign);
        } else if (bytes >= zalign) {
            n = std::min(round_down(bytes, zalign), max);
        }
        bool aligned = !(offset % zalign) && !(n % zalign);
        int ret = -ENOTSUP;
        if (aligned && bs->drv->bdrv_co_pwrite_zeroes) {
            int zflags = flags & (bs->supported_zero_flags | BDRV_REQ_NO_FALLBACK);
            ret = bs->drv->bdrv_co_pwrite_zeroes(bs, offset, n, zflags & ~BDRV_REQ_FUA);
            bs->write_gen++;
            if (ret >= 0 && (flags & BDRV_REQ_FUA)) {
                ret = bdrv_co_flush(bs);
            }
        }
        if (ret == -ENOTSUP && !(flags & BDRV_REQ_NO_FALLBACK)) {
            ret = zero_fallback(bs, offset, n, flags);
        }
        if (ret < 0) {
            return ret;
        }
        offset += n;
        bytes -= n;
    }
    return 0;
}

static int coroutine_fn aligned_pwritev(BdrvChild *child, int64_t offset, int64_t bytes,
                                        int64_t align, QEMUIOVector *qiov, size_t qoff, int flags)
{
    BlockDriverState *bs = child->bs;
    if (bs->read_only) {
        return -EPERM;
    }
    assert(child->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED));
    BLKDBG_EVENT(child, BLKDBG_PWRITEV);
    if (bs->detect_zeroes && !(flags & BDRV_REQ_ZERO_WRITE) && qiov &&
        qemu_iovec_is_zero(qiov, qoff, bytes)) {
        flags |= BDRV_REQ_ZERO_WRITE;
        if (bs->detect_zeroes == DETECT_ZEROES_UNMAP) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
    }
    int ret = 0;
    if (flags & BDRV_REQ_ZERO_WRITE) {
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_ZERO);
        ret = do_pwrite_zeroes(bs, offset, bytes, flags);
    } else {
        int64_t max = chunk_limit(bs, align);
        for (int64_t done = 0; done < bytes && ret >= 0;) {
            int64_t n = std::min(bytes - done, max);
            ret = driver_pwritev(bs, offset + done, n, qiov, qoff + done, flags);
            done += n;
        }
    }
    BLKDBG_EVENT(child, BLKDBG_PWRITEV_DONE);
    // Dirty bitmaps see every write and zero write, failed ones too (they
    // may have changed part of the range).
    bdrv_set_dirty(bs, offset, bytes);
    if (ret >= 0 && offset + bytes > bs->total_bytes) {
        bs->total_bytes = offset + bytes;  // writes may grow protocol nodes
    }
    return ret;
}

// ---- padding to request_alignment ------------------------------------------
// An unaligned request becomes an aligned one whose head and tail parts go
// to a bounce block; for writes those blocks are first read (RMW).
struct Padding {
    int64_t offset = 0, bytes = 0;  // the aligned request
    int64_t head = 0, tail = 0;     // bytes of padding before and after
    int64_t align = 1;
    uint8_t *buf = nullptr;  // head block, then tail block
    QEMUIOVector local;
    QEMUIOVector *qiov = nullptr;
    size_t qoff = 0;
    ~Padding() { qemu_vfree(buf); }
    bool needed() const { return head || tail; }
    uint8_t *tail_block() const { return buf + align; }
};

static void pad_init(Padding *p, BlockDriverState *bs, int64_t offset, int64_t bytes, int64_t align,
                     QEMUIOVector *qiov, size_t qoff)
{
    p->align = align;
    p->head = offset % align;
    p->tail = (align - (offset + bytes) % align) % align;
    p->offset = offset - p->head;
    p->bytes = p->head + bytes + p->tail;
    p->qiov = qiov;
    p->qoff = qoff;
    if (!p->needed()) {
        return;
    }
    size_t memalign = std::max<size_t>(bs->bl.min_mem_alignment, 512);
    p->buf = (uint8_t *)qemu_memalign(memalign, 2 * align);
    memset(p->buf, 0, 2 * align);
    qemu_iovec_init(&p->local);
    if (p->head) {
        qemu_iovec_add(&p->local, p->buf, p->head);
    }
    assert(qiov);  // unaligned zero writes were split into data edges
    qemu_iovec_concat(&p->local, qiov, qoff, bytes);
    if (p->tail) {
        qemu_iovec_add(&p->local, p->tail_block() + align - p->tail, p->tail);
    }
    p->qiov = &p->local;
    p->qoff = 0;
}

// Fills the head and tail padding with the data currently on disk.  As
// QEMU, padding that covers the whole aligned request (one block, or a head
// and a tail block that meet) is read at once; the events still name each
// edge read, so rmw_tail fires for a tail-only pad too.
static int coroutine_fn pad_read_edges(BdrvChild *child, Padding *p)
{
    BlockDriverState *bs = child->bs;
    QEMUIOVector q;
    int ret;
    bool merge = p->bytes == p->align || (p->head && p->tail && p->bytes == 2 * p->align);
    if (p->head || merge) {
        int64_t n = merge ? p->bytes : p->align;
        if (p->head) {
            BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_HEAD);
        }
        if (merge && p->tail) {
            BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_TAIL);
        }
        qemu_iovec_init_buf(&q, p->buf, n);
        ret = aligned_preadv(bs, p->offset, n, p->align, &q, 0, 0);
        if (ret < 0) {
            return ret;
        }
        if (p->head) {
            BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_AFTER_HEAD);
        }
        if (merge && p->tail) {
            BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_AFTER_TAIL);
        }
        if (merge) {
            if (p->tail && n == p->align) {
                memcpy(p->tail_block(), p->buf, p->align);  // one block: both edges
            }
            return 0;
        }
    }
    if (p->tail) {
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_TAIL);
        qemu_iovec_init_buf(&q, p->tail_block(), p->align);
        ret = aligned_preadv(bs, p->offset + p->bytes - p->align, p->align, p->align, &q, 0, 0);
        if (ret < 0) {
            return ret;
        }
        BLKDBG_EVENT(child, BLKDBG_PWRITEV_RMW_AFTER_TAIL);
    }
    return 0;
}

static int64_t request_align(BlockDriverState *bs)
{
    return bs->bl.request_alignment ? bs->bl.request_alignment : 1;
}

// ---- copy-on-read ------------------------------------------------------------
// Reads [offset, offset+bytes) (aligned) and copies the parts this node does
// not hold itself (from the backing chain, or unallocated zeroes when there
// is none, as QEMU) into it, so later reads are local.  Zeroes are written
// as zero writes, so copying a sparse backing file stays sparse.
static int coroutine_fn cor_preadv(BdrvChild *child, int64_t offset, int64_t bytes, int64_t align,
                                   QEMUIOVector *qiov, size_t qoff)
{
    BlockDriverState *bs = child->bs;
    while (bytes > 0) {
        int64_t pnum = 0;
        int status = bdrv_co_block_status(bs, offset, bytes, &pnum, nullptr, nullptr);
        if (status < 0 || pnum <= 0) {
            return status < 0 ? status : -EIO;
        }
        pnum = std::max(round_up(pnum, align), align);
        pnum = std::min(pnum, bytes);
        int ret = aligned_preadv(bs, offset, pnum, align, qiov, qoff, 0);
        if (ret >= 0 && !(status & BDRV_BLOCK_ALLOCATED) && !bs->read_only &&
            (child->perm & BLK_PERM_WRITE_UNCHANGED || child->perm & BLK_PERM_WRITE)) {
            BLKDBG_EVENT(child, BLKDBG_COR_WRITE);
            if (bs->drv->bdrv_co_pwrite_zeroes && qemu_iovec_is_zero(qiov, qoff, (size_t)pnum)) {
                ret = do_pwrite_zeroes(bs, offset, pnum, 0);
            } else {
                ret = driver_pwritev(bs, offset, pnum, qiov, qoff, 0);
            }
        }
        if (ret < 0) {
            return ret;
        }
        offset += pnum;
        bytes -= pnum;
        qoff += pnum;
    }
    return 0;
}

// ---- public child I/O ------------------------------------------------------
int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset, int64_t bytes,
                                     QEMUIOVector *qiov, size_t qiov_offset, int flags)
{
    BlockDriverState *bs = child->bs;
    if (!bdrv_node_usable(bs)) {
        return -ENOMEDIUM;
    }
    int ret = check_request(offset, bytes, qiov, qiov_offset);
    if (ret < 0 || bytes == 0) {
        return ret;
    }
    bdrv_inc_in_flight(bs);
    int64_t align = request_align(bs);
    Padding pad;
    pad_init(&pad, bs, offset, bytes, align, qiov, qiov_offset);
    BdrvTrackedRequest req;
    bool cor = (bs->copy_on_read || (flags & BDRV_REQ_COPY_ON_READ)) && !bs->read_only;
    flags &= ~BDRV_REQ_COPY_ON_READ;
    tracked_begin(&req, bs, offset, bytes, false, align);
    if (cor) {
        mark_serialising(&req, align);
    }
    wait_serialising(&req);
    if (cor) {
        ret = cor_preadv(child, pad.offset, pad.bytes, align, pad.qiov, pad.qoff);
    } else {
        ret = aligned_preadv(bs, pad.offset, pad.bytes, align, pad.qiov, pad.qoff, flags);
    }
    tracked_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

static int coroutine_fn pwritev_padded(BdrvChild *child, BdrvTrackedRequest *req, Padding *pad,
                                       int flags)
{
    if (pad->needed()) {
        mark_serialising(req, pad->align);
    }
    wait_serialising(req);
    if (pad->needed()) {
        // QEMU 7.2's bdrv_co_pwritev_part ignores a failed padding read and
        // writes the block anyway: an error rule armed by pwritev_rmw_head
        // or _tail is used up by that read without failing the write.
        (void)pad_read_edges(child, pad);
    }
    return aligned_pwritev(child, pad->offset, pad->bytes, pad->align, pad->qiov, pad->qoff, flags);
}

// Unaligned zero writes: edges become data writes of zero buffers (with
// RMW), the aligned middle stays a zero write.
static int coroutine_fn pwrite_zeroes_split(BdrvChild *child, int64_t offset, int64_t bytes,
                                            int64_t align, int flags)
{
    int64_t head = offset % align ? std::min(bytes, align - offset % align) : 0;
    int64_t tail = (bytes - head) % align;
    int64_t mid = bytes - head - tail;
    uint8_t *zero = (uint8_t *)qemu_memalign(512, align);
    memset(zero, 0, align);
    int ret = 0;
    int dflags = flags & ~(BDRV_REQ_ZERO_WRITE | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK);
    if (head) {
        ret = bdrv_co_pwrite(child, offset, head, zero, dflags);
    }
    if (ret >= 0 && mid) {
        ret = bdrv_co_pwritev_part(child, offset + head, mid, nullptr, 0, flags);
    }
    if (ret >= 0 && tail) {
        ret = bdrv_co_pwrite(child, offset + head + mid, tail, zero, dflags);
    }
    qemu_vfree(zero);
    return ret;
}

int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qiov_offset, int flags)
{
    BlockDriverState *bs = child->bs;
    if (!bdrv_node_usable(bs)) {
        return -ENOMEDIUM;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    int ret = check_request(offset, bytes, qiov, qiov_offset);
    if (ret < 0 || bytes == 0) {
        return ret;
    }
    int64_t align = request_align(bs);
    if (!qiov) {
        flags |= BDRV_REQ_ZERO_WRITE;
        if ((offset | bytes) % align) {
            return pwrite_zeroes_split(child, offset, bytes, align, flags);
        }
    }
    bdrv_inc_in_flight(bs);
    BdrvTrackedRequest req;
    tracked_begin(&req, bs, offset, bytes, flags & BDRV_REQ_SERIALISING, align);
    if (qiov) {
        Padding pad;
        pad_init(&pad, bs, offset, bytes, align, qiov, qiov_offset);
        ret = pwritev_padded(child, &req, &pad, flags);
    } else {
        wait_serialising(&req);
        ret = aligned_pwritev(child, offset, bytes, align, nullptr, 0, flags);
    }
    tracked_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                                int flags)
{
    return bdrv_co_preadv_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, int flags)
{
    return bdrv_co_pwritev_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset, int64_t bytes, void *buf,
                               int flags)
{
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, buf, bytes);
    return bdrv_co_preadv_part(child, offset, bytes, &q, 0, flags);
}

int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset, int64_t bytes, const void *buf,
                                int flags)
{
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, (void *)buf, bytes);
    return bdrv_co_pwritev_part(child, offset, bytes, &q, 0, flags);
}

int coroutine_fn bdrv_co_pwrite_sync(BdrvChild *child, int64_t offset, int64_t bytes,
                                     const void *buf, int flags)
{
    int ret = bdrv_co_pwrite(child, offset, bytes, buf, flags);
    return ret < 0 ? ret : bdrv_co_flush(child->bs);
}

int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset, int64_t bytes, int flags)
{
    return bdrv_co_pwritev_part(child, offset, bytes, nullptr, 0, flags | BDRV_REQ_ZERO_WRITE);
}
