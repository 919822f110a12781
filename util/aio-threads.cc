// aio=threads: each request is one blocking preadv/pwritev/fdatasync in a
// thread-pool worker; the coroutine yields until the pool's BH re-enters it.
// Buffered requests may first be tried in the caller (aio_threads_set_inline).
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <ctime>
#include <cstdlib>
#include <cstring>

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

std::atomic<AioThreadsInline> inline_mode{AioThreadsInline::Off};
std::atomic<bool> nowait_unsupported{false};  // a kernel or file without RWF_NOWAIT

// FastWrites: an inline write slower than this (dirty-page throttling,
// reclaim, a journal commit) sends writes to the pool for kWriteBackoffNs,
// so one stalled write does not keep stalling every client of the loop.
std::atomic<int64_t> slow_write_ns{1000000};
const int64_t kWriteBackoffNs = 1000000000;
std::atomic<int64_t> writes_inline_after{0};

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool write_allowed(AioThreadsInline mode)
{
    if (mode == AioThreadsInline::All) {
        return true;
    }
    return mode == AioThreadsInline::FastWrites &&
           now_ns() >= writes_inline_after.load(std::memory_order_relaxed);
}

// One preadv2(RWF_NOWAIT) or pwritev; 0 when the caller should hand the
// rest to the pool, -errno on a real error.
ssize_t inline_once(int fd, const QEMUIOVector &q, uint64_t offset, AioOp op)
{
    int cnt = q.niov() < IOV_MAX ? q.niov() : IOV_MAX;
    for (;;) {
        ssize_t n = op == AioOp::Read ? preadv2(fd, q.iov.data(), cnt, (off_t)offset, RWF_NOWAIT)
                                      : pwritev(fd, q.iov.data(), cnt, (off_t)offset);
        if (n >= 0) {
            return n;
        }
        int err = errno;
        if (err == EINTR) {
            continue;
        }
        if (err == EAGAIN) {
            return 0;  // not in the page cache: the pool waits for the disk
        }
        if (op == AioOp::Read && (err == EOPNOTSUPP || err == EINVAL)) {
            nowait_unsupported.store(true, std::memory_order_relaxed);
            return 0;
        }
        return -err;
    }
}

}  // namespace

// QEMU_LITE_AIO_INLINE=off|cached-reads|fast-writes|all overrides the tool's
// choice (benchmarks, or QEMU's behaviour on demand).
void aio_threads_set_inline(AioThreadsInline mode)
{
    if (const char *env = getenv("QEMU_LITE_AIO_INLINE")) {
        if (!strcmp(env, "off")) {
            mode = AioThreadsInline::Off;
        } else if (!strcmp(env, "cached-reads")) {
            mode = AioThreadsInline::CachedReads;
        } else if (!strcmp(env, "fast-writes")) {
            mode = AioThreadsInline::FastWrites;
        } else if (!strcmp(env, "all")) {
            mode = AioThreadsInline::All;
        }
    }
    inline_mode.store(mode, std::memory_order_relaxed);
}

void aio_threads_set_slow_write_ns(int64_t ns)
{
    slow_write_ns.store(ns, std::memory_order_relaxed);
    writes_inline_after.store(0, std::memory_order_relaxed);
}

int64_t aio_threads_try_inline(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op)
{
    AioThreadsInline mode = inline_mode.load(std::memory_order_relaxed);
    bool allowed = op == AioOp::Read ? mode != AioThreadsInline::Off &&
                                           !nowait_unsupported.load(std::memory_order_relaxed)
                                     : op == AioOp::Write && write_allowed(mode);
    bool timed = allowed && op == AioOp::Write && mode == AioThreadsInline::FastWrites;
    int64_t t0 = timed ? now_ns() : 0;
    size_t total = qiov->size;
    size_t done = 0;
    while (allowed && done < total) {
        QEMUIOVector tail;
        qemu_iovec_concat(&tail, qiov, done, total - done);
        ssize_t n = inline_once(fd, tail, offset + done, op);
        if (n < 0) {
            return n;
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    if (timed) {
        int64_t t1 = now_ns();
        if (t1 - t0 > slow_write_ns.load(std::memory_order_relaxed)) {
            writes_inline_after.store(t1 + kWriteBackoffNs, std::memory_order_relaxed);
            threads_stats.inline_write_stalls++;
        }
    }
    threads_stats.inline_bytes += done;
    return (int64_t)done;
}

int coroutine_fn aio_threads_co_submit(int fd, uint64_t offset, QEMUIOVector *qiov, AioOp op)
{
    ThreadsReq r{fd, offset, qiov, op};
    threads_stats.requests++;
    threads_stats.submit_syscalls++;
    return thread_pool_submit_co(threads_worker, &r);
}

AioBackendStats aio_threads_stats(void) { return threads_stats; }
