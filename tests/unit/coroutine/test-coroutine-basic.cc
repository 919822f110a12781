// Coroutine lifecycle: create/enter/yield/terminate, nesting, state
// queries, the pool, and the reschedule hook.
#include <cstring>
#include <vector>

#include "co-test.h"

static void set_flag(void *opaque) { *static_cast<int *>(opaque) = 1; }

static void test_create_enter_terminate(void **)
{
    int done = 0;
    Coroutine *co = qemu_coroutine_create(set_flag, &done);
    assert_non_null(co);
    assert_false(qemu_coroutine_entered(co));
    assert_false(qemu_coroutine_terminated(co));
    qemu_coroutine_enter(co);
    assert_int_equal(done, 1);
    assert_true(qemu_coroutine_terminated(co));
    assert_false(qemu_coroutine_entered(co));
}

struct Counter {
    long count = 0;
    long limit = 0;
};

static void count_and_yield(void *opaque)
{
    auto *c = static_cast<Counter *>(opaque);
    while (c->count < c->limit) {
        c->count++;
        qemu_coroutine_yield();
    }
}

static void test_yield_million(void **)
{
    Counter c;
    c.limit = co_test_iterations(1000000);
    Coroutine *co = qemu_coroutine_create(count_and_yield, &c);
    long entries = 0;
    while (!qemu_coroutine_terminated(co)) {
        qemu_coroutine_enter(co);
        entries++;
        // Each enter resumes exactly one step: the counter tracks entries.
        if (!qemu_coroutine_terminated(co) && c.count != entries) {
            fail_msg("after %ld entries the coroutine counted %ld", entries, c.count);
        }
    }
    assert_int_equal(c.count, c.limit);
    assert_int_equal(entries, c.limit + 1);
}

// Three levels: outer enters middle enters inner; each records the order
// and the inner yield returns to middle, not to plain code.
struct Nest {
    std::vector<int> trace;
    Coroutine *level[3] = {};
    Coroutine *self_seen[3] = {};
};

static Nest *nest_state;

static void nest_inner(void *)
{
    Nest *n = nest_state;
    n->self_seen[2] = qemu_coroutine_self();
    n->trace.push_back(3);
    qemu_coroutine_yield();
    n->trace.push_back(6);
}

static void nest_middle(void *)
{
    Nest *n = nest_state;
    n->self_seen[1] = qemu_coroutine_self();
    n->trace.push_back(2);
    n->level[2] = qemu_coroutine_create(nest_inner, nullptr);
    qemu_coroutine_enter(n->level[2]);
    n->trace.push_back(4);
    // Outer (our enterer) is running too: both are "entered".
    if (!qemu_coroutine_entered(n->level[0]) || qemu_coroutine_entered(n->level[2])) {
        n->trace.push_back(-1);
    }
    qemu_coroutine_yield();
    qemu_coroutine_enter(n->level[2]);
    n->trace.push_back(7);
}

static void nest_outer(void *)
{
    Nest *n = nest_state;
    n->self_seen[0] = qemu_coroutine_self();
    n->trace.push_back(1);
    n->level[1] = qemu_coroutine_create(nest_middle, nullptr);
    qemu_coroutine_enter(n->level[1]);
    n->trace.push_back(5);
    qemu_coroutine_enter(n->level[1]);
    n->trace.push_back(8);
}

static void test_nested_three_deep(void **)
{
    Nest n;
    nest_state = &n;
    n.level[0] = qemu_coroutine_create(nest_outer, nullptr);
    qemu_coroutine_enter(n.level[0]);
    std::vector<int> want = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(n.trace.size(), want.size());
    assert_memory_equal(n.trace.data(), want.data(), want.size() * sizeof(int));
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(n.self_seen[i], n.level[i]);
        assert_true(qemu_coroutine_terminated(n.level[i]));
    }
}

struct Queries {
    Coroutine *co = nullptr;
    bool in_coroutine = false;
    bool self_ok = false;
    bool entered_ok = false;
};

static void record_queries(void *opaque)
{
    auto *q = static_cast<Queries *>(opaque);
    q->in_coroutine = qemu_in_coroutine();
    q->self_ok = qemu_coroutine_self() == q->co;
    q->entered_ok = qemu_coroutine_entered(q->co) && !qemu_coroutine_terminated(q->co);
    qemu_coroutine_yield();
}

static void test_state_queries(void **)
{
    assert_false(qemu_in_coroutine());
    assert_null(qemu_coroutine_self());
    Queries q;
    q.co = qemu_coroutine_create(record_queries, &q);
    qemu_coroutine_enter(q.co);
    assert_true(q.in_coroutine);
    assert_true(q.self_ok);
    assert_true(q.entered_ok);
    // Suspended: neither running nor finished.
    assert_false(qemu_coroutine_entered(q.co));
    assert_false(qemu_coroutine_terminated(q.co));
    assert_null(qemu_coroutine_get_aio_context(q.co));
    auto *fake_ctx = reinterpret_cast<AioContext *>(&q);
    qemu_coroutine_set_aio_context(q.co, fake_ctx);
    assert_ptr_equal(qemu_coroutine_get_aio_context(q.co), fake_ctx);
    qemu_coroutine_enter_if_inactive(q.co);
    assert_true(qemu_coroutine_terminated(q.co));
    assert_string_equal(qemu_coroutine_backend_name(),
#if defined(CONFIG_COROUTINE_ASM)
                        "asm"
#elif defined(CONFIG_COROUTINE_UCONTEXT)
                        "ucontext"
#else
                        "thread"
#endif
    );
}

// enter_if_inactive from inside the coroutine itself is a no-op.
static void enter_self_if_inactive(void *opaque)
{
    qemu_coroutine_enter_if_inactive(qemu_coroutine_self());
    *static_cast<int *>(opaque) += 1;
}

static void test_enter_if_inactive_running(void **)
{
    int runs = 0;
    qemu_coroutine_enter(qemu_coroutine_create(enter_self_if_inactive, &runs));
    assert_int_equal(runs, 1);
}

static void yield_once(void *) { qemu_coroutine_yield(); }

static void test_pool_reuse(void **)
{
    // Warm up: 32 coroutines alive at once, then all terminated.
    const int n = 32;
    for (int round = 0; round < 2; round++) {
        Coroutine *cos[n];
        for (auto &co : cos) {
            co = qemu_coroutine_create(yield_once, nullptr);
            qemu_coroutine_enter(co);
        }
        for (auto &co : cos) {
            qemu_coroutine_enter(co);
        }
    }
    uint64_t mapped = qemu_coroutine_stats_stacks_mapped();
    for (int i = 0; i < 10000; i++) {
        Coroutine *co = qemu_coroutine_create(yield_once, nullptr);
        qemu_coroutine_enter(co);
        qemu_coroutine_enter(co);
    }
    assert_int_equal(qemu_coroutine_stats_stacks_mapped(), mapped);
}

static Coroutine *rescheduled;

static void remember_for_loop(Coroutine *co) { rescheduled = co; }

static void yield_to_loop_twice(void *opaque)
{
    qemu_coroutine_yield_to_loop();
    qemu_coroutine_yield_to_loop();
    *static_cast<int *>(opaque) = 1;
}

// A stand-in main loop: re-enter whatever the hook was handed.
static void test_yield_to_loop_hook(void **)
{
    int done = 0;
    qemu_coroutine_set_reschedule_hook(remember_for_loop);
    Coroutine *co = qemu_coroutine_create(yield_to_loop_twice, &done);
    qemu_coroutine_enter(co);
    int iterations = 0;
    while (rescheduled) {
        Coroutine *next = rescheduled;
        rescheduled = nullptr;
        assert_ptr_equal(next, co);
        qemu_coroutine_enter(next);
        iterations++;
    }
    qemu_coroutine_set_reschedule_hook(nullptr);
    assert_int_equal(iterations, 2);
    assert_int_equal(done, 1);
}

static void check_stack_usable(void *opaque)
{
    // Touch most of a 64 KiB stack: it must all be mapped and writable.
    volatile char buf[48 * 1024];
    memset(const_cast<char *>(buf), 0x5a, sizeof(buf));
    *static_cast<int *>(opaque) = buf[100] + buf[sizeof(buf) - 1];
}

static void test_stack_size_per_coroutine(void **)
{
    int sum = 0;
    Coroutine *co = qemu_coroutine_create_sized(check_stack_usable, &sum, 64 * 1024);
    assert_int_equal(qemu_coroutine_stack_size(co), 64 * 1024);
    qemu_coroutine_enter(co);
    assert_int_equal(sum, 2 * 0x5a);
    // Odd sizes round up to whole pages.
    co = qemu_coroutine_create_sized(yield_once, nullptr, 100000);
    assert_true(qemu_coroutine_stack_size(co) >= 100000);
    assert_int_equal(qemu_coroutine_stack_size(co) % 4096, 0);
    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_enter_terminate),
        cmocka_unit_test(test_yield_million),
        cmocka_unit_test(test_nested_three_deep),
        cmocka_unit_test(test_state_queries),
        cmocka_unit_test(test_enter_if_inactive_running),
        cmocka_unit_test(test_pool_reuse),
        cmocka_unit_test(test_yield_to_loop_hook),
        cmocka_unit_test(test_stack_size_per_coroutine),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
