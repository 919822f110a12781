// Placeholder for aio=native and aio=io_uring until their engines land:
// both report themselves unavailable with a clear reason.
#include <cerrno>

#include "util/aio-backend-int.h"

bool aio_native_available(Error **errp)
{
    error_setg(errp, "aio=native is not supported by this build yet");
    return false;
}

int coroutine_fn aio_native_co_submit(int, uint64_t, QEMUIOVector *, AioOp)
{
    return -ENOTSUP;
}

AioBackendStats aio_native_stats(void)
{
    return {};
}

bool aio_io_uring_available(Error **errp)
{
    error_setg(errp, "aio=io_uring is not supported by this build yet");
    return false;
}

int coroutine_fn aio_io_uring_co_submit(int, uint64_t, QEMUIOVector *, AioOp)
{
    return -ENOTSUP;
}

AioBackendStats aio_io_uring_stats(void)
{
    return {};
}
