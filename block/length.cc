// A node's size: truncate (resize), its length in whole sectors, and the
// space its file takes on the host.
#include "block/block-core-int.h"

#include <cinttypes>

int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset, bool exact,
                                  PreallocMode prealloc, Error **errp)
{
    BlockDriverState *bs = child->bs;
    if (!bdrv_node_usable(bs)) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (offset < 0) {
        error_setg(errp, "Image size cannot be negative");
        return -EINVAL;
    }
    if (offset > BDRV_MAX_LENGTH) {  // QEMU's request check
        error_setg(errp, "offset(%" PRId64 ") exceeds maximum(%" PRId64 ")", offset,
                   BDRV_MAX_LENGTH);
        return -EIO;
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
        bdrv_dirty_bitmap_truncate(bs, bdrv_sector_rounded_length(bs->total_bytes));
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
    if (!bdrv_node_usable(bs)) {
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
    if (!bdrv_node_usable(bs)) {
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
