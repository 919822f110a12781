// AIO backend contract at the edges: short reads at EOF reported exactly
// (buffered and O_DIRECT), errors per request (also inside a batch),
// iovec arrays longer than IOV_MAX, partial completions resubmitted, flush.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>

#include "tests/unit/util/test-aio-io.h"
#include "util/iov.h"

// Aligned buffer for O_DIRECT, freed on scope exit.
struct AlignedBuf {
    void *p;
    explicit AlignedBuf(size_t len) : p(qemu_memalign(4096, len)) {}
    ~AlignedBuf() { qemu_vfree(p); }
};

static void test_short_read_eof(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    CtxGuard g;
    TempFile f;
    const size_t kSize = 4096 + 100;
    std::vector<uint8_t> data(kSize);
    fill_pattern(data.data(), 0, kSize);
    assert_int_equal(pwrite(f.fd, data.data(), kSize, 0), (ssize_t)kSize);
    std::vector<uint8_t> buf(8192, 0xee);
    assert_int_equal(run_one(g.ctx, b, f.fd, 0, buf.data(), 8192, AioOp::Read), (int)kSize);
    assert_memory_equal(buf.data(), data.data(), kSize);
    assert_int_equal(buf[kSize], 0xee);  // nothing written past the count
    assert_int_equal(run_one(g.ctx, b, f.fd, 4000, buf.data(), 8192, AioOp::Read), 196);
    assert_int_equal(run_one(g.ctx, b, f.fd, 8192, buf.data(), 4096, AioOp::Read), 0);

    int dfd = open(f.path.c_str(), O_RDONLY | O_DIRECT);
    if (dfd < 0) {
        return;  // filesystem without O_DIRECT (tmpfs): buffered part only
    }
    AlignedBuf abuf(8192);
    assert_int_equal(run_one(g.ctx, b, dfd, 0, abuf.p, 8192, AioOp::Read), (int)kSize);
    assert_memory_equal(abuf.p, data.data(), kSize);
    assert_int_equal(run_one(g.ctx, b, dfd, 8192, abuf.p, 4096, AioOp::Read), 0);
    close(dfd);
}

static void test_errors(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    CtxGuard g;
    TempFile f;
    char buf[4096] = {};
    assert_int_equal(pwrite(f.fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    int ro = open(f.path.c_str(), O_RDONLY);
    assert_int_equal(run_one(g.ctx, b, ro, 0, buf, 512, AioOp::Write), -EBADF);

    // A bad request inside a batch fails alone.
    int bad = dup(ro);
    close(bad);
    char b1[512], b2[512], b3[512];
    std::vector<IoJob> jobs;
    jobs.push_back(make_job(b, ro, 0, b1, sizeof(b1), AioOp::Read));
    jobs.push_back(make_job(b, bad, 0, b2, sizeof(b2), AioOp::Read));
    jobs.push_back(make_job(b, ro, 512, b3, sizeof(b3), AioOp::Read));
    unsigned left;
    run_jobs(g.ctx, jobs, &left);
    assert_int_equal(jobs[0].ret, 512);
    assert_int_equal(jobs[1].ret, -EBADF);
    assert_int_equal(jobs[2].ret, 512);
    close(ro);

    int dfd = open(f.path.c_str(), O_RDONLY | O_DIRECT);
    if (dfd >= 0) {
        AlignedBuf abuf(4096);
        // Misaligned offset under O_DIRECT.
        assert_int_equal(run_one(g.ctx, b, dfd, 1, abuf.p, 512, AioOp::Read), -EINVAL);
        close(dfd);
    }
    assert_int_equal(aio_context_in_flight(g.ctx), 0);
}

// 3000 vectors of 16 bytes: more than IOV_MAX, so the kernel engines send
// them in rounds; the caller sees one request with the whole count.
static void test_iovec_array(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    const int kVecs = 3000;
    const size_t kLen = 16;
    CtxGuard g;
    TempFile f;
    std::vector<uint8_t> data(kVecs * kLen), back(kVecs * kLen, 0);
    fill_pattern(data.data(), 1000, data.size());
    AioBackendStats before = aio_backend_stats(b);
    for (AioOp op : {AioOp::Write, AioOp::Read}) {
        std::vector<IoJob> jobs(1, IoJob{b, f.fd, 1000, {}, op, -EINPROGRESS, nullptr});
        uint8_t *base = op == AioOp::Write ? data.data() : back.data();
        // Scattered order in memory: vector i covers the file's piece i.
        for (int i = 0; i < kVecs; i++) {
            qemu_iovec_add(&jobs[0].qiov, base + i * kLen, kLen);
        }
        unsigned left;
        run_jobs(g.ctx, jobs, &left);
        assert_int_equal(jobs[0].ret, (int)(kVecs * kLen));
    }
    assert_memory_equal(data.data(), back.data(), data.size());
    AioBackendStats after = aio_backend_stats(b);
    if (b != AioBackend::Threads) {
        assert_true(after.resubmits - before.resubmits >= 4);  // 2 extra rounds each way
    }
}

// A pipe delivers half of a read now and half later: io_uring completes the
// first round short and the engine sends the rest again.
static void write_half_cb(void *opaque)
{
    int fd = *static_cast<int *>(opaque);
    char half[100];
    memset(half, 'b', sizeof(half));
    assert_int_equal(write(fd, half, sizeof(half)), (ssize_t)sizeof(half));
}

static void test_partial_completion_resubmitted(void **)
{
    if (!backend_usable(AioBackend::IoUring)) {
        skip();
    }
    CtxGuard g;
    int p[2];
    assert_int_equal(pipe(p), 0);
    char first[100];
    memset(first, 'a', sizeof(first));
    assert_int_equal(write(p[1], first, sizeof(first)), (ssize_t)sizeof(first));
    QEMUTimer *t = aio_timer_new(g.ctx, write_half_cb, &p[1]);
    timer_mod_ns(t, qemu_clock_get_ns() + 1000000);
    char buf[200];
    AioBackendStats before = aio_backend_stats(AioBackend::IoUring);
    int ret = run_one(g.ctx, AioBackend::IoUring, p[0], 0, buf, sizeof(buf), AioOp::Read);
    AioBackendStats after = aio_backend_stats(AioBackend::IoUring);
    timer_free(t);
    close(p[0]);
    close(p[1]);
    assert_int_equal(ret, 200);
    assert_int_equal(buf[0], 'a');
    assert_int_equal(buf[199], 'b');
    assert_true(after.resubmits > before.resubmits);
}

static void test_flush(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    CtxGuard g;
    TempFile f;
    char buf[512] = {1};
    assert_int_equal(run_one(g.ctx, b, f.fd, 0, buf, sizeof(buf), AioOp::Write), 512);
    assert_int_equal(run_one(g.ctx, b, f.fd, 0, nullptr, 0, AioOp::Flush), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        AIO_TEST_ALL_BACKENDS(test_short_read_eof),
        AIO_TEST_ALL_BACKENDS(test_errors),
        AIO_TEST_ALL_BACKENDS(test_iovec_array),
        cmocka_unit_test(test_partial_completion_resubmitted),
        AIO_TEST_ALL_BACKENDS(test_flush),
    };
    aio_test_apply_filter();
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
