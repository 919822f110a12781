// Block status: what a range of a node holds (data, zeroes, unallocated,
// where in which file), for one node and over the backing chain.
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
    if (!bdrv_node_usable(bs)) {
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

// The node below @bs in its chain: the backing node, or for a filter the
// node it filters (QEMU's bdrv_filter_or_cow_bs).
static BlockDriverState *filter_or_cow_bs(BlockDriverState *bs)
{
    if (bs->backing) {
        return bs->backing->bs;
    }
    if (bs->drv && bs->drv->bdrv_filtered_bs) {
        return bs->drv->bdrv_filtered_bs(bs);
    }
    if (bs->drv && bs->drv->is_filter && bs->file) {
        return bs->file->bs;
    }
    return nullptr;
}

int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                                            int64_t offset, int64_t bytes, int64_t *pnum,
                                            int64_t *map, BlockDriverState **file)
{
    int ret = bdrv_co_block_status(bs, offset, bytes, pnum, map, file);
    BlockDriverState *p = filter_or_cow_bs(bs);
    if (ret < 0 || *pnum == 0 || (ret & BDRV_BLOCK_ALLOCATED) || !p || p == base) {
        return ret;
    }
    // Unallocated here: the answer comes from below, for at most *pnum bytes.
    int64_t n = *pnum;
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

// As QEMU's bdrv_is_allocated_above(top, NULL, false, ...): the first layer
// from the top that allocates the range decides; a layer shorter than the
// range's offset counts as allocating it (it reads zeroes there).
int coroutine_fn bdrv_co_allocation_depth(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                          int64_t *pnum)
{
    int depth = 0;
    for (BlockDriverState *p = bs; p; p = filter_or_cow_bs(p)) {
        depth++;
        int ret = bdrv_co_block_status(p, offset, bytes, pnum, nullptr, nullptr);
        if (ret < 0) {
            return ret;
        }
        if (*pnum == 0) {
            if (p == bs) {
                return 0;  // past the end of the top node itself
            }
            *pnum = bytes;
            return depth;
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            return depth;
        }
        bytes = *pnum;
    }
    return 0;
}
