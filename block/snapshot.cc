// Internal snapshots as tools see them (qemu-img snapshot, info): the
// generic layer checks the driver once and speaks QEMU's messages; the
// format driver does the work.  Temporary loads are in snapshot-tmp.cc.
#include <cerrno>
#include <cstring>

#include "block/block-int.h"

// As QEMU's bdrv_snapshot_fallback: a node whose driver has no snapshot
// operation (raw) passes it to its file child (rbd keeps snapshots).
template <typename Op>
static BlockDriverState *snapshot_node(BlockDriverState *bs, Op op)
{
    while (bs->drv && !(bs->drv->*op) && bs->file && !bs->backing && bs->file->bs->drv) {
        bs = bs->file->bs;
    }
    return bs;
}

int bdrv_snapshot_list(BlockDriverState *bs, std::vector<QEMUSnapshotInfo> *out)
{
    out->clear();
    if (!bdrv_has_medium(bs, nullptr)) {
        return -ENOMEDIUM;
    }
    bs = snapshot_node(bs, &BlockDriver::bdrv_snapshot_list);
    if (!bs->drv->bdrv_snapshot_list) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_snapshot_list(bs, out);
}

int coroutine_fn bdrv_co_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn)
{
    if (!bdrv_has_medium(bs, nullptr)) {
        return -ENOMEDIUM;
    }
    bs = snapshot_node(bs, &BlockDriver::bdrv_co_snapshot_create);
    if (!bs->drv->bdrv_co_snapshot_create) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_co_snapshot_create(bs, sn);
}

int coroutine_fn bdrv_co_snapshot_delete(BlockDriverState *bs, const char *id, Error **errp)
{
    if (!bdrv_has_medium(bs, errp)) {
        return -ENOMEDIUM;
    }
    bs = snapshot_node(bs, &BlockDriver::bdrv_co_snapshot_delete);
    if (!bs->drv->bdrv_co_snapshot_delete) {
        error_setg(errp,
                   "Block format '%s' used by device '' does not support internal "
                   "snapshot deletion",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    ErrorPtr err;
    int ret = bs->drv->bdrv_co_snapshot_delete(bs, id, &err);
    if (ret < 0 && !err) {
        error_setg_errno(&err, -ret, "Failed to delete snapshot");
    }
    if (err) {
        error_propagate(errp, err.release());
    }
    return ret;
}

int coroutine_fn bdrv_co_snapshot_goto(BlockDriverState *bs, const char *id_or_name, Error **errp)
{
    if (!bdrv_has_medium(bs, errp)) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_snapshot_goto) {
        error_setg(errp, "Block driver does not support snapshots");
        return -ENOTSUP;
    }
    int ret = bs->drv->bdrv_co_snapshot_goto(bs, id_or_name);
    if (ret < 0) {
        error_setg(errp, "Failed to load snapshot: %s", strerror(-ret));
    }
    return ret;
}
