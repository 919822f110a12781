// The rest of the generic request path: block status (one node and over
// the backing chain), flush, discard, truncate and lengths.
#include <algorithm>
#include <cassert>

#include "block/block-core-int.h"

// Status from the driver, or "all data here" for drivers without one.
static int coroutine_fn driver_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                            int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    if (!bs->drv->bdrv_co_block_status) {
        *pnum = bytes;
        *map = offset;
        *file = bs;
        if (bs->drv->is_format || bs->drv->is_filter) {
            *file = bs->file ? bs->file->bs : nullptr;
            return bs->file ? BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID : BDRV_BLOCK_DATA;
        }
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    int64_t align = bs->bl.request_alignment ? bs->bl.request_alignment : 1;
    int64_t aoff = round_down(offset, align);
    int64_t abytes = round_up(offset + bytes, align) - aoff;
    int ret = bs->drv->bdrv_co_block_status(bs, true, aoff, abytes, pnum, map, file);
    if (ret < 0) {
        return ret;
    }
    // Translate back to the unaligned request.
    int64_t skip = offset - aoff;
    if (*pnum <= skip) {
        *pnum = std::min<int64_t>(bytes, align - skip);
    } else {
        *pnum = std::min(*pnum - skip, bytes);
    }
    if (ret & BDRV_BLOCK_OFFSET_VALID) {
        *map += skip;
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    int64_t local_map = 0;
    BlockDriverState *local_file = nullptr;
    map = map ? map : &local_map;
    file = file ? file : &local_file;
    *pnum = 0;
    *file = nullptr;
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    int64_t total = bs->drv->bdrv_co_getlength ? bdrv_co_getlength(bs) : bs->total_bytes;
    if (total < 0) {
        return (int)total;
    }
    if (offset < 0 || bytes < 0) {
        return -EINVAL;
    }
    if (offset >= total) {
        return BDRV_BLOCK_EOF;
    }
    bytes = std::min(bytes, total - offset);
    if (bytes == 0) {
        return 0;
    }
    bdrv_inc_in_flight(bs);
    int ret = driver_block_status(bs, offset, bytes, pnum, map, file);
    if (ret >= 0 && (ret & BDRV_BLOCK_RAW)) {
        assert((ret & BDRV_BLOCK_OFFSET_VALID) && *file);
        BlockDriverState *f = *file;
        ret = bdrv_co_block_status(f, *map, *pnum, pnum, map, file);
        bdrv_dec_in_flight(bs);
        return ret;
    }
    if (ret >= 0) {
        if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
            ret |= BDRV_BLOCK_ALLOCATED;
        } else if (bs->drv->supports_backing) {
            BlockDriverState *cow = bs->backing ? bs->backing->bs : nullptr;
            if (!cow || offset >= bdrv_co_getlength(cow)) {
                ret |= BDRV_BLOCK_ZERO;  // unallocated and nothing below: reads zeroes
            }
        }
        // A format's data may still sit in a hole of its file; only asked
        // where the format says so (RECURSE: preallocated metadata), as QEMU
        // does: two lseeks and an fstat per data run otherwise.
        if ((ret & BDRV_BLOCK_RECURSE) && *file && *file != bs && (ret & BDRV_BLOCK_DATA) &&
            (ret & BDRV_BLOCK_OFFSET_VALID) && !(ret & BDRV_BLOCK_ZERO)) {
            int64_t fnum;
            int fret = bdrv_co_block_status(*file, *map, *pnum, &fnum, nullptr, nullptr);
            if (fret >= 0) {  // errors: the extra detail is only lost
                if ((fret & BDRV_BLOCK_EOF) && (!fnum || (fret & BDRV_BLOCK_ZERO))) {
                    ret |= BDRV_BLOCK_ZERO;  // past the file's end reads zeroes
                } else {
                    *pnum = fnum;  // the answer holds as far as the file's does
                    ret |= fret & BDRV_BLOCK_ZERO;
                }
            }
        }
        if (offset + *pnum == total) {
            ret |= BDRV_BLOCK_EOF;
        }
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                                            int64_t offset, int64_t bytes, int64_t *pnum,
                                            int64_t *map, BlockDriverState **file)
{
    int ret = bdrv_co_block_status(bs, offset, bytes, pnum, map, file);
    if (ret < 0 || *pnum == 0 || (ret & BDRV_BLOCK_ALLOCATED) || !bs->backing ||
        bs->backing->bs == base) {
        return ret;
    }
    // Unallocated here: the answer comes from below, for at most *pnum bytes.
    int64_t n = *pnum;
    BlockDriverState *p = bs->backing->bs;
    int64_t plen = bdrv_co_getlength(p);
    if (plen >= 0 && offset >= plen) {
        return ret | BDRV_BLOCK_ZERO;  // past the backing file's end: zeroes
    }
    int ret2 = bdrv_co_block_status_above(p, base, offset, n, pnum, map, file);
    if (ret2 < 0) {
        return ret2;
    }
    if (*pnum == 0) {
        *pnum = n;  // backing ended early: the rest reads as zeroes
        return ret | BDRV_BLOCK_ZERO;
    }
    return ret2 & ~BDRV_BLOCK_EOF;
}

int coroutine_fn bdrv_co_flush(BlockDriverState *bs)
{
    if (!bs || !bs->drv) {
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
    if (!bs->drv) {
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
        if (ret == -ENOTSUP) {
            ret = 0;
        }
        o += n;
        left -= n;
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset, bool exact,
                                  PreallocMode prealloc, Error **errp)
{
    BlockDriverState *bs = child->bs;
    if (!bs->drv) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (offset < 0) {
        error_setg(errp, "Image size cannot be negative");
        return -EINVAL;
    }
    if (bs->read_only) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    if (!bs->drv->bdrv_co_truncate) {
        error_setg(errp, "Image format driver does not support resize");
        return -ENOTSUP;
    }
    bdrv_inc_in_flight(bs);
    int ret = bs->drv->bdrv_co_truncate(bs, offset, exact, prealloc, errp);
    if (ret >= 0) {
        int64_t len = bs->drv->bdrv_co_getlength ? bs->drv->bdrv_co_getlength(bs) : offset;
        bs->total_bytes = len >= 0 ? len : offset;
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

// As in QEMU, a node's length is whole 512-byte sectors: a 1000-byte raw
// file is a 1 KiB disk whose tail reads as zeroes (and writes there grow the
// file).  bs->total_bytes keeps the driver's exact length.
int64_t bdrv_sector_rounded_length(int64_t len) { return len < 0 ? len : round_up(len, 512); }

int64_t coroutine_fn bdrv_co_getlength(BlockDriverState *bs)
{
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->drv->bdrv_co_getlength) {
        int64_t len = bs->drv->bdrv_co_getlength(bs);
        if (len >= 0) {
            bs->total_bytes = len;
        }
        return bdrv_sector_rounded_length(len);
    }
    return bdrv_sector_rounded_length(bs->total_bytes);
}

int64_t coroutine_fn bdrv_co_get_allocated_file_size(BlockDriverState *bs)
{
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->drv->bdrv_co_get_allocated_file_size) {
        return bs->drv->bdrv_co_get_allocated_file_size(bs);
    }
    if (bs->file) {
        return bdrv_co_get_allocated_file_size(bs->file->bs);
    }
    return -ENOTSUP;
}
