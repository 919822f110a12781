// Reading an internal snapshot without applying it (qemu-img convert -l)
// and the persistent-bitmap queries convert --bitmaps makes.  The format
// driver does the work; this layer checks what QEMU checks, with its
// messages, so that every format reports alike.
#include <cerrno>

#include "block/block-int.h"

namespace {

// Filters (blkdebug) sit above the format that owns the metadata.
BlockDriverState *skip_filters(BlockDriverState *bs)
{
    while (bs && bs->drv && bs->drv->is_filter && bs->file) {
        bs = bs->file->bs;
    }
    return bs;
}

}  // namespace

int coroutine_fn bdrv_co_snapshot_load_tmp(BlockDriverState *bs, const char *id, const char *name,
                                           Error **errp)
{
    if (!bdrv_has_medium(bs, errp)) {
        return -ENOMEDIUM;
    }
    if (!id && !name) {
        error_setg(errp, "snapshot_id and name are both NULL");
        return -EINVAL;
    }
    // The active image's metadata no longer describes what the node reads:
    // a write would corrupt it.
    if (!bs->read_only) {
        error_setg(errp, "Device is not readonly");
        return -EINVAL;
    }
    if (bs->drv->bdrv_co_snapshot_load_tmp) {
        return bs->drv->bdrv_co_snapshot_load_tmp(bs, id, name, errp);
    }
    // Block nodes here have no device names: QEMU prints '' for qemu-img's
    // anonymous backends too.
    error_setg(errp,
               "Block format '%s' used by device '' does not support temporarily "
               "loading internal snapshots",
               bs->drv->format_name);
    return -ENOTSUP;
}

int coroutine_fn bdrv_co_snapshot_load_tmp_by_id_or_name(BlockDriverState *bs,
                                                         const char *id_or_name, Error **errp)
{
    ErrorPtr err;
    int ret = bdrv_co_snapshot_load_tmp(bs, id_or_name, nullptr, &err);
    if (ret == -ENOENT || ret == -EINVAL) {
        err.reset();
        ret = bdrv_co_snapshot_load_tmp(bs, nullptr, id_or_name, &err);
    }
    if (err) {
        error_propagate(errp, err.release());
    }
    return ret;
}

bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    bs = skip_filters(bs);
    return bs && bs->drv && bs->drv->bdrv_persistent_bitmap_count;
}

int bdrv_persistent_bitmap_count(BlockDriverState *bs)
{
    bs = skip_filters(bs);
    if (!bdrv_supports_persistent_dirty_bitmap(bs)) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_persistent_bitmap_count(bs);
}
