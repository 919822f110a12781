// Backend selection and dispatch.  The threads backend always works; native
// (libaio) and io_uring are added by their own files and report themselves
// unavailable until then, so aio=native fails with a clear message rather
// than silently degrading.
#include "util/aio-backend.h"

#include <cerrno>
#include <cstring>

#include "util/aio-backend-int.h"

bool aio_backend_parse(const char *str, AioBackend *out)
{
    if (!strcmp(str, "threads")) {
        *out = AioBackend::Threads;
    } else if (!strcmp(str, "native")) {
        *out = AioBackend::Native;
    } else if (!strcmp(str, "io_uring")) {
        *out = AioBackend::IoUring;
    } else {
        return false;
    }
    return true;
}

const char *aio_backend_name(AioBackend b)
{
    switch (b) {
    case AioBackend::Threads:
        return "threads";
    case AioBackend::Native:
        return "native";
    case AioBackend::IoUring:
        return "io_uring";
    }
    return "?";
}

bool aio_backend_available(AioBackend b, Error **errp)
{
    switch (b) {
    case AioBackend::Threads:
        return true;
    case AioBackend::Native:
        return aio_native_available(errp);
    case AioBackend::IoUring:
        return aio_io_uring_available(errp);
    }
    return false;
}

int coroutine_fn aio_backend_co_submit(AioBackend b, int fd, uint64_t offset,
                                       QEMUIOVector *qiov, AioOp op)
{
    switch (b) {
    case AioBackend::Threads:
        return aio_threads_co_submit(fd, offset, qiov, op);
    case AioBackend::Native:
        return aio_native_co_submit(fd, offset, qiov, op);
    case AioBackend::IoUring:
        return aio_io_uring_co_submit(fd, offset, qiov, op);
    }
    return -EINVAL;
}

AioBackendStats aio_backend_stats(AioBackend b)
{
    switch (b) {
    case AioBackend::Threads:
        return aio_threads_stats();
    case AioBackend::Native:
        return aio_native_stats();
    case AioBackend::IoUring:
        return aio_io_uring_stats();
    }
    return {};
}
