// Reading an internal snapshot without applying it (qemu-img convert -l).
// The format
// driver does the work; this layer checks what QEMU checks, with its
// messages, so that every format reports alike.
#include <cerrno>

#include "block/block-int.h"

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
