// Helpers shared by the AIO backend tests: temp files, a batch of coroutine
// requests entered in one loop iteration, and per-backend test registration.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio-backend.h"

static const AioBackend kThreads = AioBackend::Threads;
static const AioBackend kNative = AioBackend::Native;
static const AioBackend kIoUring = AioBackend::IoUring;

static inline AioBackend backend_of(void **state)
{
    return *static_cast<const AioBackend *>(*state);
}

// Skips the test (cmocka's skip) where the kernel refuses the backend.
static inline bool backend_usable(AioBackend b)
{
    ErrorPtr err;
    if (aio_backend_available(b, &err)) {
        return true;
    }
    fprintf(stderr, "skipping aio=%s: %s\n", aio_backend_name(b), error_get_pretty(err.get()));
    return false;
}

// A temp file removed when the object dies; @flags added to O_RDWR.
struct TempFile {
    std::string path;
    int fd = -1;
    explicit TempFile(int flags = 0)
    {
        const char *dir = getenv("TMPDIR");
        path = std::string(dir && *dir ? dir : "/tmp") + "/test-aio-XXXXXX";
        int tmp = mkstemp(path.data());
        assert_true(tmp >= 0);
        close(tmp);
        fd = open(path.c_str(), O_RDWR | flags);
    }
    ~TempFile()
    {
        if (fd >= 0) {
            close(fd);
        }
        unlink(path.c_str());
    }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;
};

// Each test uses its own AioContext, so engine creation and teardown (on
// the last unref) are exercised every time.
struct CtxGuard {
    AioContext *ctx = aio_context_new();
    ~CtxGuard() { aio_context_unref(ctx); }
    CtxGuard() = default;
    CtxGuard(const CtxGuard &) = delete;
    CtxGuard &operator=(const CtxGuard &) = delete;
};

// One request run by its own coroutine.
struct IoJob {
    AioBackend b;
    int fd;
    uint64_t offset;
    QEMUIOVector qiov;
    AioOp op;
    int ret = -EINPROGRESS;
    unsigned *left;
    unsigned max_batch = 0;  // aio_backend_co_submit's per-request cap
};

static void coroutine_fn io_job_entry(void *opaque)
{
    auto *j = static_cast<IoJob *>(opaque);
    j->ret = aio_backend_co_submit(j->b, j->fd, j->offset, &j->qiov, j->op, j->max_batch);
    --*j->left;
}

// Enters every job's coroutine before polling, so all requests are queued
// in the same loop iteration, then polls until all finished.
static inline void run_jobs(AioContext *ctx, std::vector<IoJob> &jobs, unsigned *left)
{
    *left = (unsigned)jobs.size();
    for (IoJob &j : jobs) {
        j.left = left;
        aio_co_enter(ctx, qemu_coroutine_create_sized(io_job_entry, &j, 64 * 1024));
    }
    AIO_WAIT_WHILE(ctx, *left > 0);
}

static inline IoJob make_job(AioBackend b, int fd, uint64_t off, void *buf, size_t len, AioOp op)
{
    IoJob j{b, fd, off, {}, op, -EINPROGRESS, nullptr};
    qemu_iovec_init_buf(&j.qiov, buf, len);
    return j;
}

// Runs one request from plain code (its own loop iterations).
static inline int run_one(AioContext *ctx, AioBackend b, int fd, uint64_t off, void *buf,
                          size_t len, AioOp op)
{
    std::vector<IoJob> jobs;
    jobs.push_back(make_job(b, fd, off, buf, len, op));
    unsigned left;
    run_jobs(ctx, jobs, &left);
    return jobs[0].ret;
}

// Deterministic content of byte @pos.
static inline uint8_t pattern_byte(uint64_t pos) { return (uint8_t)((pos * 131) ^ (pos >> 9)); }

static inline void fill_pattern(void *buf, uint64_t pos, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        static_cast<uint8_t *>(buf)[i] = pattern_byte(pos + i);
    }
}

static inline bool check_pattern(const void *buf, uint64_t pos, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (static_cast<const uint8_t *>(buf)[i] != pattern_byte(pos + i)) {
            return false;
        }
    }
    return true;
}

// Writes the pattern over [0, len) of @f, through the page cache.
static inline void write_pattern_file(const TempFile &f, size_t len)
{
    std::vector<uint8_t> data(len);
    fill_pattern(data.data(), 0, len);
    assert_int_equal(pwrite(f.fd, data.data(), len, 0), (ssize_t)len);
}

// One 4 KiB read job per block of [0, n * 4096) of @fd, into @back.
static inline std::vector<IoJob> block_read_jobs(AioBackend b, int fd, uint8_t *back, unsigned n)
{
    std::vector<IoJob> jobs;
    for (unsigned i = 0; i < n; i++) {
        jobs.push_back(make_job(b, fd, i * 4096ull, back + i * 4096, 4096, AioOp::Read));
    }
    return jobs;
}

// AIO_TEST_FILTER=pattern (cmocka wildcards) runs only matching tests.
static inline void aio_test_apply_filter(void)
{
    if (const char *f = getenv("AIO_TEST_FILTER")) {
        cmocka_set_test_filter(f);
    }
}

// cmocka tests named "<fn>/<backend>", the backend as initial state.
#define AIO_TEST_ON(fn, b, name)                       \
    {                                                  \
#fn "/" name, fn, nullptr, nullptr, (void *)&b \
    }
#define AIO_TEST_KERNEL_BACKENDS(fn) \
    AIO_TEST_ON(fn, kNative, "native"), AIO_TEST_ON(fn, kIoUring, "io_uring")
#define AIO_TEST_ALL_BACKENDS(fn) AIO_TEST_ON(fn, kThreads, "threads"), AIO_TEST_KERNEL_BACKENDS(fn)
