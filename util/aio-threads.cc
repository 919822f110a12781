// aio=threads: each request is one blocking preadv/pwritev/fdatasync in a
// thread-pool worker; the coroutine yields until the pool's BH re-enters it.
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "util/aio-backend-int.h"
#include "util/thread-pool.h"

namespace {

struct ThreadsReq {
    int fd;
    uint64_t offset;
    QEMUIOVector *qiov;
    AioOp op;
};

// Loops over short transfers so callers see a short count only at EOF.
int threads_worker(void *opaque)
{
    auto *r = (ThreadsReq *)opaque;
    if (r->op == AioOp::Flush) {
        return fdatasync(r->fd) < 0 ? -errno : 0;
    }
    size_t total = r->qiov->size;
    size_t done = 0;
    while (done < total) {
        QEMUIOVector tail;
        qemu_iovec_concat(&tail, r->qiov, done, total - done);
        int cnt = tail.niov() < IOV_MAX ? tail.niov() : IOV_MAX;
        ssize_t n = r->op == AioOp::Read
                        ? preadv(r->fd, tail.iov.data(), cnt, (off_t)(r->offset + done))
                        : pwritev(r->fd, tail.iov.data(), cnt, (off_t)(r->offset + done));
        int err = errno;
        if (n < 0) {
            if (err == EINTR) {
                continue;
            }
            return -err;
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    return (int)done;
}

thread_local AioBackendStats threads_stats;

}  // namespace

int coroutine_fn aio_threads_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op)
{
    ThreadsReq r{fd, offset, qiov, op};
    threads_stats.requests++;
    threads_stats.submit_syscalls++;
    return thread_pool_submit_co(threads_worker, &r);
}

AioBackendStats aio_threads_stats(void)
{
    return threads_stats;
}
