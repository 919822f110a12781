// Backend selection and dispatch.  The threads backend always works; native
// (libaio, aio-native.cc) and io_uring (aio-io-uring.cc) are probed once at
// run time: where the kernel refuses them, aio_backend_select falls back to
// threads and says why.
#include "util/aio-backend.h"

#include <atomic>
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
    case AioBackend::Threads: return "threads";
    case AioBackend::Native: return "native";
    case AioBackend::IoUring: return "io_uring";
    }
    return "?";
}

bool aio_backend_available(AioBackend b, Error **errp)
{
    switch (b) {
    case AioBackend::Threads: return true;
    case AioBackend::Native: return aio_native_available(errp);
    case AioBackend::IoUring: return aio_io_uring_available(errp);
    }
    return false;
}

AioBackend aio_backend_select(AioBackend want)
{
    ErrorPtr err;
    if (aio_backend_available(want, &err)) {
        return want;
    }
    warn_report("%s; falling back to aio=threads", error_get_pretty(err.get()));
    return AioBackend::Threads;
}

namespace {
std::atomic<unsigned> g_ring_size{256};
}

void aio_backend_set_ring_size(unsigned entries) { g_ring_size.store(entries ? entries : 1); }

unsigned aio_engine_ring_size(void) { return g_ring_size.load(); }

int coroutine_fn aio_backend_co_submit(AioBackend b, int fd, uint64_t offset, QEMUIOVector *qiov,
                                       AioOp op, unsigned max_batch)
{
    switch (b) {
    case AioBackend::Threads: return aio_threads_co_submit(fd, offset, qiov, op);
    case AioBackend::Native: return aio_native_co_submit(fd, offset, qiov, op, max_batch);
    case AioBackend::IoUring: return aio_io_uring_co_submit(fd, offset, qiov, op, max_batch);
    }
    return -EINVAL;
}

AioBackendStats aio_backend_stats(AioBackend b)
{
    switch (b) {
    case AioBackend::Threads: return aio_threads_stats();
    case AioBackend::Native: return aio_native_stats();
    case AioBackend::IoUring: return aio_io_uring_stats();
    }
    return {};
}
