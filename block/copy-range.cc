// Copy offloading through the node graph, as QEMU's bdrv_co_copy_range:
// the source's drivers translate the range down to the protocol holding
// the data (bdrv_co_copy_range_from), which hands it to the destination's
// drivers (bdrv_co_copy_range_to) down to the protocol that copies.  Any
// node that cannot take part answers -ENOTSUP and the caller reads and
// writes instead.
//
// Both nodes count the request as in flight, so a drain waits for it.  A
// destination node's write is not serialised against overlapping guest
// writes: the only user (qemu-img-lite convert) owns its target.
#include <cerrno>

#include "block/block-core-int.h"
#include "block/block-int.h"

namespace {

// Checks shared by both directions; 1: nothing to do.
int check_copy(BdrvChild *src, int64_t src_offset, BdrvChild *dst, int64_t dst_offset,
               int64_t bytes)
{
    if (!src || !dst || !src->bs || !dst->bs) {
        return -ENOMEDIUM;
    }
    if (!bdrv_node_usable(src->bs) || !bdrv_node_usable(dst->bs)) {
        return -ENOMEDIUM;
    }
    if (src_offset < 0 || dst_offset < 0 || bytes < 0) {
        return -EIO;
    }
    if (dst->bs->read_only) {
        return -EPERM;
    }
    return bytes == 0 ? 1 : 0;
}

// Counts @a and @b in flight for the life of the request.
struct InFlightPair {
    BlockDriverState *a, *b;
    InFlightPair(BlockDriverState *x, BlockDriverState *y) : a(x), b(y)
    {
        bdrv_inc_in_flight(a);
        bdrv_inc_in_flight(b);
    }
    ~InFlightPair()
    {
        bdrv_dec_in_flight(b);
        bdrv_dec_in_flight(a);
    }
};

// Calls the source's (@from) or the destination's driver.
int coroutine_fn copy_range(BdrvChild *src, int64_t src_offset, BdrvChild *dst, int64_t dst_offset,
                            int64_t bytes, int read_flags, int write_flags, bool from)
{
    int ret = check_copy(src, src_offset, dst, dst_offset, bytes);
    if (ret != 0) {
        return ret < 0 ? ret : 0;
    }
    BlockDriverState *bs = from ? src->bs : dst->bs;
    auto *fn = from ? bs->drv->bdrv_co_copy_range_from : bs->drv->bdrv_co_copy_range_to;
    if (!fn) {
        return -ENOTSUP;
    }
    InFlightPair g(src->bs, dst->bs);
    ret = fn(bs, src, src_offset, dst, dst_offset, bytes, read_flags, write_flags);
    bdrv_set_dirty(dst->bs, dst_offset, bytes);  // as a write to the destination
    return ret;
}

}  // namespace

int coroutine_fn bdrv_co_copy_range_from(BdrvChild *src, int64_t src_offset, BdrvChild *dst,
                                         int64_t dst_offset, int64_t bytes, int read_flags,
                                         int write_flags)
{
    return copy_range(src, src_offset, dst, dst_offset, bytes, read_flags, write_flags, true);
}

int coroutine_fn bdrv_co_copy_range_to(BdrvChild *src, int64_t src_offset, BdrvChild *dst,
                                       int64_t dst_offset, int64_t bytes, int read_flags,
                                       int write_flags)
{
    return copy_range(src, src_offset, dst, dst_offset, bytes, read_flags, write_flags, false);
}
