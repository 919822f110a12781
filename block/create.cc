// Image creation: bdrv_create runs a format driver's create in a coroutine;
// formats create their file through the protocol driver.  A protocol that
// cannot create (create_opens_existing) gets QEMU's generic fallback: the
// existing node is opened, grown if it must and can be, and its first
// sector zeroed, so a format probe does not find the old contents.
#include <algorithm>
#include <cstring>

#include "block/block-core-int.h"
#include "util/cutils.h"

const CreateOptDesc bdrv_create_opts_simple[] = {
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {"preallocation", CreateOptType::String, "Preallocation mode (allowed values: off)", nullptr},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

namespace {

struct CreateCall {
    const BlockDriver *drv;
    const char *filename;
    QDict *opts;
    Error **errp;
    int ret;
};

// Opens @filename as a protocol node (@opts: its options) for the creator:
// writable and resizable.
BdrvChild *coroutine_fn open_for_create(const char *filename, QDict *opts, Error **errp)
{
    BlockDriverState *bs = bdrv_co_open_node(filename, opts, BDRV_O_RDWR | BDRV_O_PROTOCOL, errp);
    if (!bs) {
        return nullptr;
    }
    // attach_child takes over our reference (and drops it on failure).
    return bdrv_co_attach_child(nullptr, bs, "create",
                                BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE,
                                BLK_PERM_ALL, errp);
}

// Grows the node to @min_size if it is smaller (not exact: a larger node
// stays as it is).  Returns the node's length, or -errno.
int64_t coroutine_fn simple_create_truncate(BdrvChild *c, int64_t min_size, Error **errp)
{
    ErrorPtr local;
    int ret = bdrv_co_truncate(c, min_size, false, PreallocMode::Off, &local);
    if (ret < 0 && ret != -ENOTSUP) {
        error_propagate(errp, local.release());
        return ret;
    }
    int64_t size = bdrv_co_getlength(c->bs);
    if (size < 0) {
        error_setg_errno(errp, int(-size), "Failed to inquire the new image file's length");
        return size;
    }
    if (size < min_size) {
        // It had to grow and could not: the resize error says why.
        error_propagate(errp, local.release());
        return -ENOTSUP;
    }
    return size;
}

int coroutine_fn simple_create(const BlockDriver *drv, const char *filename, QDict *opts,
                               Error **errp)
{
    uint64_t size = 0;
    if (const char *v = opts->get("size")) {
        if (qemu_strtosz(v, &size) < 0 || size > uint64_t(INT64_MAX)) {
            error_setg(errp, "Parameter 'size' expects a non-negative number below 2^64");
            return -EINVAL;
        }
    }
    PreallocMode prealloc = PreallocMode::Off;
    if (const char *p = opts->get("preallocation")) {
        if (!prealloc_mode_parse(p, &prealloc)) {
            error_setg(errp, "invalid parameter value: %s", p);
            return -EINVAL;
        }
    }
    if (prealloc != PreallocMode::Off) {
        error_setg(errp, "Unsupported preallocation mode '%s'", prealloc_mode_name(prealloc));
        return -ENOTSUP;
    }
    QDict node_opts;
    node_opts.set("driver", drv->format_name);
    BdrvChild *c = open_for_create(filename, &node_opts, errp);
    if (!c) {
        error_prepend(errp,
                      "Protocol driver '%s' does not support image creation, and opening the "
                      "image failed: ",
                      drv->format_name);
        return -EINVAL;
    }
    int64_t len = simple_create_truncate(c, int64_t(size), errp);
    int ret = len < 0 ? int(len) : 0;
    int64_t head = std::min<int64_t>(std::max<int64_t>(len, 0), 512);
    if (head > 0) {
        ret = bdrv_co_pwrite_zeroes(c, 0, head, BDRV_REQ_MAY_UNMAP);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to clear the new image's first sector");
        }
    }
    bdrv_co_detach_child(c);
    return ret;
}

int coroutine_fn driver_co_create(const BlockDriver *drv, const char *filename, QDict *opts,
                                  Error **errp)
{
    if (drv->create_opens_existing) {
        return simple_create(drv, filename, opts, errp);
    }
    return drv->bdrv_co_create_opts(filename, opts, errp);
}

}  // namespace

int bdrv_create(const char *fmt, const char *filename, QDict *opts, Error **errp)
{
    bdrv_init();
    const BlockDriver *drv = bdrv_find_format(fmt);
    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return -ENOENT;
    }
    if (!bdrv_driver_can_create(drv)) {
        error_setg(errp, "Format driver '%s' does not support image creation", fmt);
        return -ENOTSUP;
    }
    QDict empty;
    CreateCall c{drv, filename, opts ? opts : &empty, errp, -EINPROGRESS};
    aio_run_coroutine_sync(
        qemu_get_aio_context(),
        [](void *o) coroutine_fn {
            auto *call = (CreateCall *)o;
            call->ret = driver_co_create(call->drv, call->filename, call->opts, call->errp);
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
    if (!bdrv_driver_can_create(drv)) {
        error_setg(errp, "Protocol driver '%s' does not support image creation", drv->format_name);
        return -ENOTSUP;
    }
    QDict empty;
    return driver_co_create(drv, filename, opts ? opts : &empty, errp);
}

BdrvChild *coroutine_fn bdrv_co_open_created_file(const char *filename, Error **errp)
{
    QDict opts;
    return open_for_create(filename, &opts, errp);
}

void coroutine_fn bdrv_co_close_created_file(BdrvChild *c) { bdrv_co_detach_child(c); }
