// Image creation: bdrv_create runs a format driver's create in a coroutine;
// formats create their file through the protocol driver.
#include "block/block-core-int.h"

struct CreateCall {
    const BlockDriver *drv;
    const char *filename;
    QDict *opts;
    Error **errp;
    int ret;
};

int bdrv_create(const char *fmt, const char *filename, QDict *opts, Error **errp)
{
    bdrv_init();
    const BlockDriver *drv = bdrv_find_format(fmt);
    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return -ENOENT;
    }
    if (!drv->bdrv_co_create_opts) {
        error_setg(errp, "Format driver '%s' does not support image creation", fmt);
        return -ENOTSUP;
    }
    QDict empty;
    CreateCall c{drv, filename, opts ? opts : &empty, errp, -EINPROGRESS};
    aio_run_coroutine_sync(
        qemu_get_aio_context(),
        [](void *o) coroutine_fn {
            auto *call = (CreateCall *)o;
            call->ret = call->drv->bdrv_co_create_opts(call->filename, call->opts, call->errp);
        },
        &c);
    return c.ret;
}

int coroutine_fn bdrv_co_create_file(const char *filename, QDict *opts, Error **errp)
{
    const BlockDriver *drv = bdrv_find_protocol(filename, errp);
    if (!drv) {
        return -ENOENT;
    }
    if (!drv->bdrv_co_create_opts) {
        error_setg(errp, "Protocol driver '%s' does not support image creation", drv->format_name);
        return -ENOTSUP;
    }
    QDict empty;
    return drv->bdrv_co_create_opts(filename, opts ? opts : &empty, errp);
}

BdrvChild *coroutine_fn bdrv_co_open_created_file(const char *filename, Error **errp)
{
    QDict opts;
    BlockDriverState *bs = bdrv_co_open_node(filename, &opts, BDRV_O_RDWR | BDRV_O_PROTOCOL, errp);
    if (!bs) {
        return nullptr;
    }
    // attach_child takes over our reference (and drops it on failure).
    return bdrv_co_attach_child(nullptr, bs, "create",
                                BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE,
                                BLK_PERM_ALL, errp);
}

void coroutine_fn bdrv_co_close_created_file(BdrvChild *c) { bdrv_co_detach_child(c); }
