// Thread pool: completion in the submitter's thread, bound on workers,
// cancellation of queued work, idle exit, coroutine wrapper.
#include <atomic>
#include <cerrno>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/unit/util/cmocka-wrap.h"
#include "util/thread-pool.h"

static AioContext *ctx;

static int setup(void **)
{
    ctx = qemu_get_aio_context();
    return 0;
}

struct Work {
    std::atomic<int> *running;
    std::atomic<int> *max_running;
    std::atomic<bool> *gate;  // workers block until it opens (if set)
    int value;
};

static int work_fn(void *arg)
{
    Work *w = static_cast<Work *>(arg);
    int now = w->running->fetch_add(1) + 1;
    int prev = w->max_running->load();
    while (now > prev && !w->max_running->compare_exchange_weak(prev, now)) {
    }
    while (w->gate && !w->gate->load()) {
        usleep(100);
    }
    w->running->fetch_sub(1);
    return w->value;
}

struct Result {
    int ret = 1;
    bool done = false;
    std::thread::id thread;
};

static void result_cb(void *opaque, int ret)
{
    Result *r = static_cast<Result *>(opaque);
    r->ret = ret;
    r->done = true;
    r->thread = std::this_thread::get_id();
}

static void test_bounded_and_completion_thread(void **)
{
    thread_pool_set_max_workers(4);
    std::atomic<int> running{0}, max_running{0};
    const int kN = 200;
    std::vector<Work> work(kN);
    std::vector<Result> res(kN);
    for (int i = 0; i < kN; i++) {
        work[i] = Work{&running, &max_running, nullptr, i};
        thread_pool_submit_aio(ctx, work_fn, &work[i], result_cb, &res[i]);
    }
    aio_drain(ctx);
    for (int i = 0; i < kN; i++) {
        assert_true(res[i].done);
        assert_int_equal(res[i].ret, i);
        assert_true(res[i].thread == std::this_thread::get_id());
    }
    assert_true(max_running.load() <= 4);
    assert_true(thread_pool_num_workers() <= 4);
    thread_pool_set_max_workers(64);
}

static void test_cancel_queued(void **)
{
    thread_pool_set_max_workers(1);
    std::atomic<int> running{0}, max_running{0};
    std::atomic<bool> gate{false};
    Work blocker{&running, &max_running, &gate, 7};
    Result rb;
    ThreadPoolRequest *rq = thread_pool_submit_aio(ctx, work_fn, &blocker, result_cb, &rb);
    while (running.load() == 0) {
        usleep(100);  // wait until the single worker runs the blocker
    }
    assert_false(thread_pool_cancel(rq));  // running: completes normally
    const int kN = 10;
    std::vector<Work> work(kN);
    std::vector<Result> res(kN);
    std::vector<ThreadPoolRequest *> reqs(kN);
    for (int i = 0; i < kN; i++) {
        work[i] = Work{&running, &max_running, nullptr, i};
        reqs[i] = thread_pool_submit_aio(ctx, work_fn, &work[i], result_cb, &res[i]);
    }
    for (int i = 0; i < kN; i += 2) {
        assert_true(thread_pool_cancel(reqs[i]));
    }
    gate.store(true);
    aio_drain(ctx);
    assert_int_equal(rb.ret, 7);
    for (int i = 0; i < kN; i++) {
        assert_true(res[i].done);
        assert_int_equal(res[i].ret, i % 2 == 0 ? -ECANCELED : i);
    }
    thread_pool_set_max_workers(64);
}

static int double_fn(void *arg) { return *static_cast<int *>(arg) * 2; }

static void coroutine_fn co_entry(void *opaque)
{
    int *v = static_cast<int *>(opaque);
    *v = thread_pool_submit_co(double_fn, v);
}

static void test_submit_co_and_idle_exit(void **)
{
    int v = 21;
    aio_run_coroutine_sync(ctx, co_entry, &v);
    assert_int_equal(v, 42);
    assert_true(thread_pool_num_workers() >= 1);
    thread_pool_set_idle_timeout_ms(20);
    for (int i = 0; i < 5000 && thread_pool_num_workers() > 0; i++) {
        usleep(1000);
    }
    assert_int_equal(thread_pool_num_workers(), 0);
    thread_pool_set_idle_timeout_ms(10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_and_completion_thread),
        cmocka_unit_test(test_cancel_queued),
        cmocka_unit_test(test_submit_co_and_idle_exit),
    };
    return cmocka_run_group_tests(tests, setup, nullptr);
}
