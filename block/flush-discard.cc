// Flush and discard: the requests of the generic path that carry no data.
// Flush walks the children a node writes to; discard is split to the
// node's discard alignment and limits.
#include <algorithm>

#include "block/block-core-int.h"

int coroutine_fn bdrv_co_flush(BlockDriverState *bs)
{
    if (!bs || !bdrv_node_usable(bs)) {
        return 0;
    }
    bdrv_inc_in_flight(bs);
    int ret = 0;
    const uint64_t gen = bs->write_gen;
    // As QEMU: announced on the file child even with cache=unsafe, before
    // the format writes its caches back.
    BLKDBG_EVENT(bs->file, BLKDBG_FLUSH_TO_OS);
    if (bs->drv->bdrv_co_flush_to_os) {
        ret = bs->drv->bdrv_co_flush_to_os(bs);
    }
    // cache=unsafe: data only needs to reach the OS.
    // As QEMU, formats without their own flush_to_disk still announce it
    // (blkdebug rules key on it when the format forces its file to disk).
    // Nothing written since the last successful flush: nothing to force
    // to disk (no event either, as QEMU).
    bool to_disk = ret >= 0 && !(bs->open_flags & BDRV_O_NO_FLUSH) && bs->flushed_gen != gen;
    if (to_disk) {
        BLKDBG_EVENT(bs->file, BLKDBG_FLUSH_TO_DISK);
    }
    if (to_disk && bs->drv->bdrv_co_flush_to_disk) {
        ret = bs->drv->bdrv_co_flush_to_disk(bs);
    }
    for (BdrvChild *c : bs->children) {
        if (ret < 0) {
            break;
        }
        if (c->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)) {
            ret = bdrv_co_flush(c->bs);
        }
    }
    if (ret >= 0) {
        bs->flushed_gen = gen;
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset, int64_t bytes)
{
    BlockDriverState *bs = child->bs;
    if (!bdrv_node_usable(bs)) {
        return -ENOMEDIUM;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    if (offset < 0 || bytes < 0 || offset > INT64_MAX / 2 - bytes) {
        return -EIO;
    }
    // Discard is advisory: ignored without discard=unmap or driver support.
    if (!(bs->open_flags & BDRV_O_UNMAP) || !bs->drv->bdrv_co_pdiscard || bytes == 0) {
        return 0;
    }
    int64_t align = std::max<int64_t>(bs->bl.pdiscard_alignment, bs->bl.request_alignment);
    align = std::max<int64_t>(align, 1);
    int64_t max = bs->bl.max_pdiscard ? (int64_t)bs->bl.max_pdiscard : INT32_MAX;
    max = std::max(round_down(std::min<int64_t>(max, INT32_MAX), align), align);
    // Like QEMU, the unaligned head and tail are passed down as separate
    // small requests rather than dropped: the driver decides (file punches
    // the bytes, qcow2 ignores partial clusters); the middle goes in
    // aligned pieces of at most max_pdiscard.  The pieces are QEMU's: a
    // head up to the next request_alignment boundary first, then up to the
    // discard alignment; a tail shortened to the last aligned point.
    bdrv_inc_in_flight(bs);
    int ret = 0;
    int64_t ralign = std::max<int64_t>(bs->bl.request_alignment, 1);
    int64_t head = offset % align, tail = (offset + bytes) % align;
    for (int64_t o = offset, left = bytes; left > 0 && ret >= 0;) {
        int64_t n = left;
        if (head) {
            n = std::min(left, align - head);
            if (n % ralign) {
                n %= ralign;
            }
            head = (head + n) % align;
        } else if (tail) {
            if (n > align) {
                n -= tail;
            } else if (tail % ralign && tail > ralign) {
                tail %= ralign;
                n -= tail;
            }
        }
        n = std::min(n, max);
        ret = bs->drv->bdrv_co_pdiscard(bs, o, n);
        bs->write_gen++;
        bdrv_set_dirty(bs, o, n);
        if (ret == -ENOTSUP) {
            ret = 0;
        }
        o += n;
        left -= n;
    }
    bdrv_dec_in_flight(bs);
    return ret;
}
