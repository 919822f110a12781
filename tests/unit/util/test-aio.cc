// AioContext: bottom halves, timers, fd handlers, coroutine scheduling,
// deferred calls, GLib integration and the BQL.  No timing assertions.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"
#include "util/bql.h"

static AioContext *ctx;

static int setup(void **)
{
    ctx = qemu_get_aio_context();
    return 0;
}

static void count_cb(void *opaque) { static_cast<std::atomic<int> *>(opaque)->fetch_add(1); }

// 4 foreign threads x 10,000 oneshot BHs: every schedule runs exactly once.
static void test_bh_foreign_threads(void **)
{
    const int kThreads = 4, kEach = 10000;
    std::atomic<int> ran{0};
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&] {
            for (int i = 0; i < kEach; i++) {
                aio_bh_schedule_oneshot(ctx, count_cb, &ran);
            }
            finished.fetch_add(1);
            aio_notify(ctx);
        });
    }
    while (finished.load() < kThreads || ran.load() < kThreads * kEach) {
        aio_poll(ctx, true);
    }
    for (auto &t : threads) {
        t.join();
    }
    while (aio_poll(ctx, false)) {
    }
    assert_int_equal(ran.load(), kThreads * kEach);
}

// A BH scheduled many times before it runs runs once; cancel and delete.
static void test_bh_collapse_cancel(void **)
{
    std::atomic<int> ran{0};
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &ran);
    for (int i = 0; i < 100; i++) {
        qemu_bh_schedule(bh);
    }
    while (aio_poll(ctx, false)) {
    }
    assert_int_equal(ran.load(), 1);
    qemu_bh_schedule(bh);
    qemu_bh_cancel(bh);
    aio_poll(ctx, false);
    assert_int_equal(ran.load(), 1);
    qemu_bh_schedule(bh);
    qemu_bh_delete(bh);  // deleted while pending: must not run or leak
    aio_poll(ctx, false);
    assert_int_equal(ran.load(), 1);
}

struct SelfDeleteBH {
    QEMUBH *bh;
    int runs;
};

static void self_delete_cb(void *opaque)
{
    SelfDeleteBH *s = static_cast<SelfDeleteBH *>(opaque);
    s->runs++;
    qemu_bh_delete(s->bh);
}

static void test_bh_delete_in_cb(void **)
{
    SelfDeleteBH s{nullptr, 0};
    s.bh = aio_bh_new(ctx, self_delete_cb, &s);
    qemu_bh_schedule(s.bh);
    while (aio_poll(ctx, false)) {
    }
    assert_int_equal(s.runs, 1);
}

struct TimerLog {
    std::vector<int> order;
    QEMUTimer *rearm = nullptr;
    int rearms = 0;
};

struct TimerArg {
    TimerLog *log;
    int id;
};

static void timer_cb(void *opaque)
{
    TimerArg *a = static_cast<TimerArg *>(opaque);
    a->log->order.push_back(a->id);
    if (a->id == 99 && a->log->rearms++ < 2) {
        timer_mod_ns(a->log->rearm, qemu_clock_get_ns() + 1000);
    }
}

static void test_timers_order_cancel(void **)
{
    TimerLog log;
    const int kN = 6;
    TimerArg args[kN];
    QEMUTimer *t[kN];
    int64_t now = qemu_clock_get_ns();
    // Armed out of order; ids encode the expected firing order.
    const int delays_ms[kN] = {5, 1, 4, 2, 3, 6};
    const int ids[kN] = {4, 0, 3, 1, 2, 5};
    for (int i = 0; i < kN; i++) {
        args[i] = TimerArg{&log, ids[i]};
        t[i] = aio_timer_new(ctx, timer_cb, &args[i]);
        timer_mod_ns(t[i], now + delays_ms[i] * 1000000LL);
    }
    timer_del(t[0]);  // id 4: cancelled
    assert_false(timer_pending(t[0]));
    timer_mod_ns(t[5], now + 500000LL);  // id 5 re-armed to fire first
    TimerArg rearm_arg{&log, 99};
    log.rearm = aio_timer_new(ctx, timer_cb, &rearm_arg);
    timer_mod_ns(log.rearm, now + 8000000LL);
    while (log.order.size() < 7) {
        aio_poll(ctx, true);
    }
    std::vector<int> want = {5, 0, 1, 2, 3, 99, 99};
    assert_true(log.order == want);
    while (timer_pending(log.rearm)) {
        aio_poll(ctx, true);
    }
    assert_int_equal(log.rearms, 3);
    for (int i = 0; i < kN; i++) {
        timer_free(t[i]);
    }
    timer_free(log.rearm);
}

struct FdTest {
    int fd;
    int reads;
};

static void fd_read_remove_self(void *opaque)
{
    FdTest *f = static_cast<FdTest *>(opaque);
    uint64_t v;
    assert_int_equal(read(f->fd, &v, sizeof(v)), 8);
    f->reads++;
    aio_set_fd_handler(ctx, f->fd, nullptr, nullptr, nullptr);
}

static void test_fd_handler_removes_itself(void **)
{
    FdTest f{eventfd(0, EFD_NONBLOCK), 0};
    aio_set_fd_handler(ctx, f.fd, fd_read_remove_self, nullptr, &f);
    uint64_t one = 1;
    assert_int_equal(write(f.fd, &one, 8), 8);
    while (f.reads == 0) {
        aio_poll(ctx, true);
    }
    assert_int_equal(write(f.fd, &one, 8), 8);  // no handler: nothing runs
    while (aio_poll(ctx, false)) {
    }
    assert_int_equal(f.reads, 1);
    close(f.fd);
}

static void fd_write_cb(void *opaque)
{
    int *n = static_cast<int *>(opaque);
    (*n)++;
}

static void test_fd_handler_write_and_modify(void **)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int writes = 0;
    aio_set_fd_handler(ctx, fds[1], nullptr, fd_write_cb, &writes);
    assert_true(aio_poll(ctx, true));
    assert_int_equal(writes, 1);
    aio_set_fd_handler(ctx, fds[1], nullptr, nullptr, nullptr);
    assert_false(aio_poll(ctx, false));
    assert_int_equal(writes, 1);
    close(fds[0]);
    close(fds[1]);
}

static void deferred_cb(void *opaque) { (*static_cast<int *>(opaque))++; }

static void test_defer_call_dedup(void **)
{
    int n = 0, m = 0;
    for (int i = 0; i < 10; i++) {
        aio_defer_call(ctx, deferred_cb, &n);
        aio_defer_call(ctx, deferred_cb, &m);
    }
    assert_true(aio_poll(ctx, false));
    assert_int_equal(n, 1);
    assert_int_equal(m, 1);
}

struct CoSleep {
    int steps;
};

static void coroutine_fn sleeper(void *opaque)
{
    CoSleep *s = static_cast<CoSleep *>(opaque);
    s->steps++;
    qemu_co_sleep_ns(1000000);
    s->steps++;
    qemu_coroutine_yield_to_loop();
    s->steps++;
}

static void test_run_coroutine_sync(void **)
{
    CoSleep s{0};
    aio_run_coroutine_sync(ctx, sleeper, &s);
    assert_int_equal(s.steps, 3);
}

// aio_co_schedule from another thread enters in the loop's thread.
struct CrossThread {
    std::thread::id loop_thread;
    bool ran_in_loop_thread;
    bool done;
};

static void coroutine_fn cross_entry(void *opaque)
{
    CrossThread *c = static_cast<CrossThread *>(opaque);
    c->ran_in_loop_thread = std::this_thread::get_id() == c->loop_thread;
    c->done = true;
}

static void test_co_schedule_foreign(void **)
{
    CrossThread c{std::this_thread::get_id(), false, false};
    Coroutine *co = qemu_coroutine_create(cross_entry, &c);
    std::thread t([co] { aio_co_schedule(ctx, co); });
    while (!c.done) {
        aio_poll(ctx, true);
    }
    t.join();
    assert_true(c.ran_in_loop_thread);
}

struct GLoopTest {
    GMainLoop *loop;
    int bh_runs;
    bool co_done;
};

static void coroutine_fn gloop_co(void *opaque)
{
    GLoopTest *g = static_cast<GLoopTest *>(opaque);
    qemu_co_sleep_ns(1000000);  // needs the context's timers
    g->co_done = true;
    g_main_loop_quit(g->loop);
}

static void gloop_bh(void *opaque) { static_cast<GLoopTest *>(opaque)->bh_runs++; }

static void test_gmainloop_drives(void **)
{
    GMainContext *gctx = g_main_context_new();
    GSource *src = aio_get_g_source(ctx);
    g_source_attach(src, gctx);
    GLoopTest g{g_main_loop_new(gctx, FALSE), 0, false};
    aio_bh_schedule_oneshot(ctx, gloop_bh, &g);
    aio_co_schedule(ctx, qemu_coroutine_create(gloop_co, &g));
    g_main_loop_run(g.loop);
    assert_int_equal(g.bh_runs, 1);
    assert_true(g.co_done);
    g_source_destroy(src);
    g_source_unref(src);
    g_main_loop_unref(g.loop);
    g_main_context_unref(gctx);
}

static void test_bql_assertions(void **)
{
    assert_false(bql_locked());
    bql_lock();
    assert_true(bql_locked());
    BQL_ASSERT_LOCKED();
    std::thread([] { assert_false(bql_locked()); }).join();
    bql_unlock();
    assert_false(bql_locked());
    pid_t pid = fork();
    if (pid == 0) {
        close(2);  // the abort message is expected
        BQL_ASSERT_LOCKED();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

// While aio_poll blocks, another thread can take the BQL; it is held again
// when aio_poll returns.
static void test_bql_released_while_polling(void **)
{
    std::atomic<int> ran{0};
    bool other_had_bql = false;
    bql_lock();
    aio_context_set_release_bql(ctx, true);
    std::thread t([&] {
        BqlGuard g;
        other_had_bql = bql_locked();
        aio_bh_schedule_oneshot(ctx, count_cb, &ran);
    });
    while (ran.load() == 0) {
        aio_poll(ctx, true);
        assert_true(bql_locked());
    }
    t.join();
    aio_context_set_release_bql(ctx, false);
    bql_unlock();
    assert_true(other_had_bql);
}

// aio_drain returns only after the other thread's decrement: the flag it
// sets just before decrementing must be visible as soon as aio_drain
// returns, before the join (after the join in_flight is 0 whether or not
// aio_drain waited, so checking it there proves nothing).  The sleep makes
// a drain that does not wait return while the flag is still clear.
static void test_drain(void **)
{
    std::atomic<bool> decrementing{false};
    aio_context_inc_in_flight(ctx);
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        decrementing = true;
        aio_context_dec_in_flight(ctx);
    });
    aio_drain(ctx);
    bool waited = decrementing;
    unsigned left = aio_context_in_flight(ctx);
    t.join();
    assert_true(waited);
    assert_int_equal(left, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bh_foreign_threads),
        cmocka_unit_test(test_bh_collapse_cancel),
        cmocka_unit_test(test_bh_delete_in_cb),
        cmocka_unit_test(test_timers_order_cancel),
        cmocka_unit_test(test_fd_handler_removes_itself),
        cmocka_unit_test(test_fd_handler_write_and_modify),
        cmocka_unit_test(test_defer_call_dedup),
        cmocka_unit_test(test_run_coroutine_sync),
        cmocka_unit_test(test_co_schedule_foreign),
        cmocka_unit_test(test_gmainloop_drives),
        cmocka_unit_test(test_bql_assertions),
        cmocka_unit_test(test_bql_released_while_polling),
        cmocka_unit_test(test_drain),
    };
    return cmocka_run_group_tests(tests, setup, nullptr);
}
