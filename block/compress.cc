// The compress filter (QEMU 7.2's driver=compress): every write it passes
// down carries BDRV_REQ_WRITE_COMPRESSED, aligned to the child's cluster
// size (the generic request code reads, modifies and writes whole
// clusters).  Reads and everything else pass through.  Only a child whose
// driver writes compressed data can be below it.
#include "block/block-int.h"

static int coroutine_fn compress_co_open(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    (void)o;
    (void)flags;
    BlockDriverState *child = bs->file->bs;
    if (!child->drv || !bdrv_driver_supports_compressed(child->drv)) {
        const char *name = child->drv ? bdrv_get_format_name(child) : nullptr;
        error_setg(errp, "Compression is not supported for underlying format: %s",
                   name ? name : "(no format)");
        return -ENOTSUP;
    }
    bs->supported_write_flags = BDRV_REQ_FUA & child->supported_write_flags;
    bs->supported_zero_flags = (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP) & child->supported_zero_flags;
    return 0;
}

static void compress_refresh_limits(BlockDriverState *bs, Error **errp)
{
    (void)errp;
    BlockDriverInfo bdi;
    if (bdrv_get_info(bs->file->bs, &bdi) < 0 || bdi.cluster_size == 0) return;
    bs->bl.request_alignment = (uint32_t)bdi.cluster_size;
}

static int coroutine_fn compress_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                           QEMUIOVector *qiov, size_t qoff, int flags)
{
    return bdrv_co_preadv_part(bs->file, offset, bytes, qiov, qoff, flags);
}

static int coroutine_fn compress_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov, size_t qoff, int flags)
{
    return bdrv_co_pwritev_part(bs->file, offset, bytes, qiov, qoff,
                                flags | BDRV_REQ_WRITE_COMPRESSED);
}

static int coroutine_fn compress_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                                  int64_t bytes, int flags)
{
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn compress_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn compress_co_block_status(BlockDriverState *bs, bool want_zero,
                                                 int64_t offset, int64_t bytes, int64_t *pnum,
                                                 int64_t *map, BlockDriverState **file)
{
    (void)want_zero;
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t coroutine_fn compress_co_getlength(BlockDriverState *bs)
{
    return bdrv_co_getlength(bs->file->bs);
}

BlockDriver bdrv_compress = [] {
    BlockDriver d{};
    d.format_name = "compress";
    d.is_filter = true;
    d.bdrv_co_open = compress_co_open;
    d.bdrv_refresh_limits = compress_refresh_limits;
    d.bdrv_co_preadv = compress_co_preadv;
    d.bdrv_co_pwritev = compress_co_pwritev;
    d.bdrv_co_pwrite_zeroes = compress_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = compress_co_pdiscard;
    d.bdrv_co_block_status = compress_co_block_status;
    d.bdrv_co_getlength = compress_co_getlength;
    return d;
}();
