// Whole-image maintenance the tools ask for (qemu-img check, commit,
// rebase): one check for a missing driver or operation here, the work in
// the format driver.
#include <cerrno>

#include "block/block-int.h"

int coroutine_fn bdrv_co_check(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    *res = BdrvCheckResult{};
    if (!bdrv_has_medium(bs, nullptr)) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_check) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_check(bs, res, fix);
}

int coroutine_fn bdrv_co_amend(BlockDriverState *bs, const QDict *opts,
                               BdrvAmendStatusCB *status_cb, void *cb_opaque, bool force,
                               Error **errp)
{
    if (!bs->drv) {
        error_setg(errp, "Node is ejected");
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_amend) {
        error_setg(errp, "Block driver '%s' does not support option amendment",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_amend(bs, opts, status_cb, cb_opaque, force, errp);
}

int coroutine_fn bdrv_co_make_empty(BlockDriverState *bs)
{
    if (!bdrv_has_medium(bs, nullptr)) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_make_empty) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_make_empty(bs);
}

int coroutine_fn bdrv_co_change_backing_file(BlockDriverState *bs, const char *backing_file,
                                             const char *backing_fmt)
{
    if (!bdrv_has_medium(bs, nullptr)) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_change_backing_file) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_change_backing_file(bs, backing_file, backing_fmt);
}

int coroutine_fn bdrv_co_pread_backing(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       void *buf)
{
    if (!bs->backing) {
        return -ENOENT;
    }
    return bdrv_co_pread(bs->backing, offset, bytes, buf, 0);
}
