// The copy-on-read filter: every read it passes down carries
// BDRV_REQ_COPY_ON_READ, so what the node below reads from its backing
// chain (or as unallocated zeroes) is written into it.  It needs to write
// unchanged data below, so a read-only open fails, as QEMU's does.
#include "block/block-int.h"

static int coroutine_fn cor_co_open(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    (void)o;
    if (!(flags & BDRV_O_RDWR)) {
        error_setg(errp, "Block node is read-only");
        return -EPERM;
    }
    bs->supported_write_flags = BDRV_REQ_FUA & bs->file->bs->supported_write_flags;
    bs->supported_zero_flags = (BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
                               bs->file->bs->supported_zero_flags;
    return 0;
}

static int coroutine_fn cor_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qoff, int flags)
{
    return bdrv_co_preadv_part(bs->file, offset, bytes, qiov, qoff, flags | BDRV_REQ_COPY_ON_READ);
}

static int coroutine_fn cor_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov, size_t qoff, int flags)
{
    return bdrv_co_pwritev_part(bs->file, offset, bytes, qiov, qoff, flags);
}

static int coroutine_fn cor_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                             int flags)
{
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn cor_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn cor_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum, int64_t *map,
                                            BlockDriverState **file)
{
    (void)want_zero;
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t coroutine_fn cor_co_getlength(BlockDriverState *bs)
{
    return bdrv_co_getlength(bs->file->bs);
}

static int coroutine_fn cor_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                                        PreallocMode prealloc, Error **errp)
{
    return bdrv_co_truncate(bs->file, offset, exact, prealloc, errp);
}

// Parents' view passed through, plus writing unchanged data (the copies).
static void cor_child_perm(BlockDriverState *bs, BdrvChild *child, uint64_t perm, uint64_t shared,
                           uint64_t *nperm, uint64_t *nshared)
{
    (void)child;
    *nperm = perm | BLK_PERM_WRITE_UNCHANGED;
    *nshared = bs->force_share ? BLK_PERM_ALL : (shared | BLK_PERM_WRITE_UNCHANGED);
}

BlockDriver bdrv_copy_on_read = [] {
    BlockDriver d{};
    d.format_name = "copy-on-read";
    d.is_filter = true;
    d.bdrv_co_open = cor_co_open;
    d.bdrv_co_preadv = cor_co_preadv;
    d.bdrv_co_pwritev = cor_co_pwritev;
    d.bdrv_co_pwrite_zeroes = cor_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = cor_co_pdiscard;
    d.bdrv_co_block_status = cor_co_block_status;
    d.bdrv_co_getlength = cor_co_getlength;
    d.bdrv_co_truncate = cor_co_truncate;
    d.bdrv_child_perm = cor_child_perm;
    return d;
}();
