// Growing, emptying and re-pointing qcow2 images.  Not written yet: every
// entry refuses with ENOTSUP so `qemu-img-lite resize/commit/rebase` report a
// clear error instead of touching the image.
#include <cerrno>

#include "block/qcow2/qcow2.h"

int coroutine_fn qcow2_co_truncate(BlockDriverState *, int64_t, bool, PreallocMode, Error **errp)
{
    error_setg(errp, "qcow2 resize is not supported yet");
    return -ENOTSUP;
}

int coroutine_fn qcow2_co_make_empty(BlockDriverState *)
{
    return -ENOTSUP;
}

int coroutine_fn qcow2_co_change_backing_file(BlockDriverState *, const char *, const char *)
{
    return -ENOTSUP;
}
