// aio-max-batch: the kernel engines hand at most that many requests to the
// kernel per submission syscall, whether the limit comes with the request
// (the file driver's aio-max-batch option) or from the AioContext; 0 leaves
// the default (one syscall for everything queued in a loop iteration).
// Counted with the engines' statistics, no timing.
#include "tests/unit/util/test-aio-io.h"

namespace {

constexpr unsigned kReqs = 32;

// Reads kReqs blocks queued in one loop iteration, each with @max_batch,
// in a context whose aio_max_batch is @ctx_max; returns the submission
// syscalls they took (*ring_full: how many requests found the ring full).
uint64_t syscalls_for(AioBackend b, unsigned max_batch, unsigned ctx_max,
                      uint64_t *ring_full = nullptr)
{
    CtxGuard g;
    aio_context_set_aio_max_batch(g.ctx, ctx_max);
    TempFile f;
    write_pattern_file(f, kReqs * 4096);
    std::vector<uint8_t> back(kReqs * 4096);
    std::vector<IoJob> jobs = block_read_jobs(b, f.fd, back.data(), kReqs);
    for (IoJob &j : jobs) {
        j.max_batch = max_batch;
    }
    AioBackendStats before = aio_backend_stats(b);
    unsigned left;
    run_jobs(g.ctx, jobs, &left);
    AioBackendStats after = aio_backend_stats(b);
    for (const IoJob &j : jobs) {
        assert_int_equal(j.ret, 4096);
    }
    assert_true(check_pattern(back.data(), 0, back.size()));
    assert_int_equal(after.requests - before.requests, kReqs);
    if (ring_full) {
        *ring_full = after.ring_full - before.ring_full;
    }
    return after.submit_syscalls - before.submit_syscalls;
}

void test_default_one_batch(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    assert_int_equal(syscalls_for(b, 0, 0), 1);
}

void test_request_max_batch(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    assert_int_equal(syscalls_for(b, 4, 0), kReqs / 4);
    assert_int_equal(syscalls_for(b, 1, 0), kReqs);
    assert_int_equal(syscalls_for(b, 1000, 0), 1);  // above the queue: no effect
}

void test_context_max_batch(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    assert_int_equal(syscalls_for(b, 0, 5), (kReqs + 4) / 5);
    // The smaller of the two limits wins, either way round.
    assert_int_equal(syscalls_for(b, 3, 5), (kReqs + 2) / 3);
    assert_int_equal(syscalls_for(b, 8, 2), kReqs / 2);
}

// The cap holds when the ring is the tighter limit too: never more than
// the free slots, never more than max_batch.
void test_max_batch_with_small_ring(void **state)
{
    AioBackend b = backend_of(state);
    if (!backend_usable(b)) {
        skip();
    }
    constexpr unsigned kRing = 8;
    aio_backend_set_ring_size(kRing);
    uint64_t ring_full = 0;
    uint64_t n = syscalls_for(b, 3, 0, &ring_full);
    aio_backend_set_ring_size(256);
    // All kReqs are queued in one loop iteration before the first submit:
    // exactly those beyond the ring wait for room.
    assert_int_equal(ring_full, kReqs - kRing);
    // How many later syscalls the ring splits depends on how completions
    // arrive; at most 3 per syscall and at least one each bound it.
    assert_true(n >= (kReqs + 2) / 3);
    assert_true(n <= kReqs);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        AIO_TEST_KERNEL_BACKENDS(test_default_one_batch),
        AIO_TEST_KERNEL_BACKENDS(test_request_max_batch),
        AIO_TEST_KERNEL_BACKENDS(test_context_max_batch),
        AIO_TEST_KERNEL_BACKENDS(test_max_batch_with_small_ring),
    };
    aio_test_apply_filter();
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
