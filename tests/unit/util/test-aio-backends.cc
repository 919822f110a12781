// AIO backends under load: 10,000 concurrent coroutine requests with
// verified content, submission batching (from the syscall counters) and
// queueing when the kernel ring is full.  Counts, not timings.
#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "tests/unit/util/test-aio-io.h"
#include "util/iov.h"

// 10,000 coroutines, all in flight at once, each writing its block and
// reading it back: far more than the ring holds, so most wait in the
// engine's queue; content checked per block.
struct WriteReadJob {
    AioBackend b;
    int fd;
    uint64_t offset;
    uint8_t *data;
    uint8_t *back;
    size_t len;
    unsigned *left;
    int wret = 0, rret = 0;
};

static void coroutine_fn write_read_entry(void *opaque)
{
    auto *j = static_cast<WriteReadJob *>(opaque);
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, j->data, j->len);
    j->wret = aio_backend_co_submit(j->b, j->fd, j->offset, &q, AioOp::Write);
    qemu_iovec_init_buf(&q, j->back, j->len);
    j->rret = aio_backend_co_submit(j->b, j->fd, j->offset, &q, AioOp::Read);
    --*j->left;
}

static void test_concurrent_10k(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    const unsigned kCoroutines = 10000;
    const size_t kBlock = 512;
    CtxGuard g;
    TempFile f;
    std::vector<uint8_t> data(kCoroutines * kBlock), back(kCoroutines * kBlock, 0);
    fill_pattern(data.data(), 0, data.size());
    std::vector<WriteReadJob> jobs;
    unsigned left = kCoroutines;
    // Reverse order: the file grows from its far end first.
    for (unsigned i = kCoroutines; i-- > 0;) {
        jobs.push_back(WriteReadJob{b, f.fd, i * kBlock, data.data() + i * kBlock,
                                    back.data() + i * kBlock, kBlock, &left});
    }
    AioBackendStats before = aio_backend_stats(b);
    for (WriteReadJob &j : jobs) {
        aio_co_enter(g.ctx, qemu_coroutine_create_sized(write_read_entry, &j, 32 * 1024));
    }
    AIO_WAIT_WHILE(g.ctx, left > 0);
    for (const WriteReadJob &j : jobs) {
        assert_int_equal(j.wret, (int)kBlock);
        assert_int_equal(j.rret, (int)kBlock);
    }
    assert_memory_equal(data.data(), back.data(), data.size());
    AioBackendStats after = aio_backend_stats(b);
    assert_int_equal(after.requests - before.requests, 2 * kCoroutines);
    if (b != AioBackend::Threads) {
        assert_int_equal(after.completions - before.completions, 2 * kCoroutines);
        assert_true(after.ring_full > before.ring_full);  // 10,000 > ring size
    }
    assert_int_equal(aio_context_in_flight(g.ctx), 0);
}

// N coroutine requests made in one loop iteration reach the kernel in one
// submission syscall.
static void test_batch_one_iteration(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    const unsigned kReqs = 32;
    CtxGuard g;
    TempFile f;
    write_pattern_file(f, kReqs * 4096);
    std::vector<uint8_t> back(kReqs * 4096);
    std::vector<IoJob> jobs = block_read_jobs(b, f.fd, back.data(), kReqs);
    AioBackendStats before = aio_backend_stats(b);
    unsigned left;
    run_jobs(g.ctx, jobs, &left);
    AioBackendStats after = aio_backend_stats(b);
    assert_true(check_pattern(back.data(), 0, back.size()));
    assert_int_equal(after.requests - before.requests, kReqs);
    assert_int_equal(after.submit_syscalls - before.submit_syscalls, 1);
    assert_true(after.max_batch >= kReqs);
}

// Coroutines that issue their next request as soon as the previous one
// completes: the new requests made from one completion batch share a
// syscall too (submission happens at the end of the iteration).
struct ChainJob {
    AioBackend b;
    int fd;
    unsigned index;
    unsigned rounds;
    unsigned *left;
    bool ok = true;
};

static void coroutine_fn chain_entry(void *opaque)
{
    auto *c = static_cast<ChainJob *>(opaque);
    uint8_t buf[512];
    for (unsigned r = 0; r < c->rounds; r++) {
        uint64_t off = (uint64_t)(r * 16 + c->index) * sizeof(buf);
        QEMUIOVector q;
        qemu_iovec_init_buf(&q, buf, sizeof(buf));
        int ret = aio_backend_co_submit(c->b, c->fd, off, &q, AioOp::Read);
        c->ok &= ret == (int)sizeof(buf) && check_pattern(buf, off, sizeof(buf));
    }
    --*c->left;
}

static void test_batch_completion_chains(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    const unsigned kCoroutines = 16, kRounds = 8;
    CtxGuard g;
    TempFile f;
    std::vector<uint8_t> data(kCoroutines * kRounds * 512);
    fill_pattern(data.data(), 0, data.size());
    assert_int_equal(pwrite(f.fd, data.data(), data.size(), 0), (ssize_t)data.size());
    std::vector<ChainJob> chains;
    unsigned left = kCoroutines;
    for (unsigned i = 0; i < kCoroutines; i++) {
        chains.push_back(ChainJob{b, f.fd, i, kRounds, &left});
    }
    AioBackendStats before = aio_backend_stats(b);
    for (ChainJob &c : chains) {
        aio_co_enter(g.ctx, qemu_coroutine_create_sized(chain_entry, &c, 64 * 1024));
    }
    AIO_WAIT_WHILE(g.ctx, left > 0);
    AioBackendStats after = aio_backend_stats(b);
    for (const ChainJob &c : chains) {
        assert_true(c.ok);
    }
    uint64_t reqs = after.requests - before.requests;
    uint64_t calls = after.submit_syscalls - before.submit_syscalls;
    assert_int_equal(reqs, kCoroutines * kRounds);
    // One per round when completions arrive together; never one per request.
    assert_true(calls * 4 <= reqs);
}

// A ring of 4 with 64 requests made at once: the rest wait in the queue and
// go in as completions free slots; nobody sees EAGAIN.
static void test_ring_full_queues(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    const unsigned kRing = 4, kReqs = 64;
    aio_backend_set_ring_size(kRing);
    CtxGuard g;  // its engine is created with the small ring
    TempFile f;
    write_pattern_file(f, kReqs * 4096);
    std::vector<uint8_t> back(kReqs * 4096);
    std::vector<IoJob> jobs = block_read_jobs(b, f.fd, back.data(), kReqs);
    AioBackendStats before = aio_backend_stats(b);
    unsigned left;
    run_jobs(g.ctx, jobs, &left);
    AioBackendStats after = aio_backend_stats(b);
    aio_backend_set_ring_size(256);
    for (const IoJob &j : jobs) {
        assert_int_equal(j.ret, 4096);
    }
    assert_true(check_pattern(back.data(), 0, back.size()));
    assert_int_equal(after.ring_full - before.ring_full, kReqs - kRing);
    assert_true(after.submit_syscalls - before.submit_syscalls >= kReqs / kRing);
}

// Reads @n blocks of the pattern file at once in @ctx; returns the number
// of requests that came back wrong.
static unsigned batch_read_errors(AioContext *ctx, AioBackend b, int fd, unsigned n)
{
    std::vector<uint8_t> back(n * 4096);
    std::vector<IoJob> jobs = block_read_jobs(b, fd, back.data(), n);
    unsigned left, bad = 0;
    run_jobs(ctx, jobs, &left);
    for (unsigned i = 0; i < n; i++) {
        bad += jobs[i].ret != 4096 || !check_pattern(back.data() + i * 4096, i * 4096, 4096);
    }
    return bad;
}

// One engine per AioContext: two threads, each polling its own context,
// batch independently and count in their own thread's statistics.
static void test_context_per_thread(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    const unsigned kReqs = 32;
    TempFile f;
    write_pattern_file(f, kReqs * 4096);
    struct Result {
        unsigned bad = 1;
        uint64_t requests = 0, calls = 0;
    } results[2];
    std::vector<std::thread> threads;
    for (Result &r : results) {
        threads.emplace_back([&r, &f, b] {
            AioContext *ctx = aio_context_new();
            qemu_set_current_aio_context(ctx);
            AioBackendStats before = aio_backend_stats(b);
            r.bad = batch_read_errors(ctx, b, f.fd, kReqs);
            AioBackendStats after = aio_backend_stats(b);
            r.requests = after.requests - before.requests;
            r.calls = after.submit_syscalls - before.submit_syscalls;
            qemu_set_current_aio_context(nullptr);
            aio_context_unref(ctx);
        });
    }
    for (std::thread &t : threads) {
        t.join();
    }
    for (const Result &r : results) {
        assert_int_equal(r.bad, 0);
        assert_int_equal(r.requests, kReqs);
        assert_int_equal(r.calls, 1);
    }
}

// A GMainLoop driving the AioContext (the emulator's setup) batches the
// same way: coroutines scheduled together submit in one syscall.
struct GLoopIo {
    AioBackend b;
    int fd;
    unsigned index;
    unsigned *left;
    GMainLoop *loop;
    bool ok = false;
};

static void coroutine_fn gloop_io_entry(void *opaque)
{
    auto *g = static_cast<GLoopIo *>(opaque);
    uint8_t buf[4096];
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, buf, sizeof(buf));
    int ret = aio_backend_co_submit(g->b, g->fd, g->index * sizeof(buf), &q, AioOp::Read);
    g->ok = ret == (int)sizeof(buf) && check_pattern(buf, g->index * sizeof(buf), sizeof(buf));
    if (--*g->left == 0) {
        g_main_loop_quit(g->loop);
    }
}

static void test_gmainloop_batches(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    const unsigned kReqs = 32;
    TempFile f;
    write_pattern_file(f, kReqs * 4096);
    AioContext *ctx = aio_context_new();
    GMainContext *gctx = g_main_context_new();
    GSource *src = aio_get_g_source(ctx);
    g_source_attach(src, gctx);
    GMainLoop *loop = g_main_loop_new(gctx, FALSE);
    unsigned left = kReqs;
    std::vector<GLoopIo> ios;
    for (unsigned i = 0; i < kReqs; i++) {
        ios.push_back(GLoopIo{b, f.fd, i, &left, loop});
    }
    AioBackendStats before = aio_backend_stats(b);
    for (GLoopIo &io : ios) {
        aio_co_schedule(ctx, qemu_coroutine_create_sized(gloop_io_entry, &io, 64 * 1024));
    }
    g_main_loop_run(loop);
    AioBackendStats after = aio_backend_stats(b);
    for (const GLoopIo &io : ios) {
        assert_true(io.ok);
    }
    assert_int_equal(after.submit_syscalls - before.submit_syscalls, 1);
    g_source_unref(src);
    aio_context_unref(ctx);  // destroys its GSource
    g_main_loop_unref(loop);
    g_main_context_unref(gctx);
}

// Selecting an available backend keeps it; threads always works.
static void test_select(void **)
{
    assert_true(aio_backend_select(AioBackend::Threads) == AioBackend::Threads);
    for (AioBackend b : {AioBackend::Native, AioBackend::IoUring}) {
        AioBackend got = aio_backend_select(b);
        assert_true(got == (aio_backend_available(b, nullptr) ? b : AioBackend::Threads));
    }
    AioBackend parsed;
    assert_true(aio_backend_parse("io_uring", &parsed) && parsed == AioBackend::IoUring);
    assert_false(aio_backend_parse("posix", &parsed));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        AIO_TEST_ALL_BACKENDS(test_concurrent_10k),
        AIO_TEST_KERNEL_BACKENDS(test_batch_one_iteration),
        AIO_TEST_KERNEL_BACKENDS(test_batch_completion_chains),
        AIO_TEST_KERNEL_BACKENDS(test_ring_full_queues),
        AIO_TEST_KERNEL_BACKENDS(test_context_per_thread),
        AIO_TEST_KERNEL_BACKENDS(test_gmainloop_batches),
        cmocka_unit_test(test_select),
    };
    aio_test_apply_filter();
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
