// Cross-thread wake-ups of a sleeping AioContext, one at a time: a worker
// schedules a BH only after the previous one ran, so every BH must wake a
// loop blocked in epoll_wait.  A lost aio_notify hangs here (the meson
// timeout fails the test) instead of in the thread pool under load.
#include <atomic>
#include <thread>
#include <vector>

#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

struct Pinger {
    AioContext *ctx;
    std::atomic<unsigned> ran{0};
};

void pong_cb(void *opaque)
{
    static_cast<Pinger *>(opaque)->ran.fetch_add(1, std::memory_order_release);
}

}  // namespace

// Several workers, each waiting for its previous BH to run before
// scheduling the next: notifications reach the loop at every point of its
// iteration, including while it is consuming an earlier one.
static void test_notify_ping_pong(void **)
{
    const unsigned kThreads = 4, kRounds = 30000;
    AioContext *ctx = aio_context_new();
    Pinger pingers[kThreads];
    std::atomic<unsigned> finished{0};
    std::vector<std::thread> workers;
    for (Pinger &p : pingers) {
        p.ctx = ctx;
        workers.emplace_back([&p, &finished] {
            for (unsigned i = 0; i < kRounds; i++) {
                aio_bh_schedule_oneshot(p.ctx, pong_cb, &p);
                while (p.ran.load(std::memory_order_acquire) <= i) {
                    std::this_thread::yield();
                }
            }
            finished.fetch_add(1);
            aio_notify(p.ctx);
        });
    }
    while (finished.load() < kThreads) {
        aio_poll(ctx, true);
    }
    for (std::thread &t : workers) {
        t.join();
    }
    for (Pinger &p : pingers) {
        assert_int_equal(p.ran.load(), kRounds);
    }
    aio_context_unref(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_ping_pong),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
