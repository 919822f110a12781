// CoQueue, CoMutex and CoRwlock: FIFO fairness, writer preference, and the
// rule that a woken coroutine runs after its waker yields.
#include <algorithm>
#include <vector>

#include "co-test.h"

// --- CoMutex fairness --------------------------------------------------------

struct MutexRun {
    CoMutex mutex;
    std::vector<int> arrivals;
    std::vector<int> acquisitions;
    bool overlap = false;
    bool inside = false;
};

struct MutexUser {
    MutexRun *run;
    int id;
};

static void mutex_user(void *opaque)
{
    auto *u = static_cast<MutexUser *>(opaque);
    MutexRun *run = u->run;
    run->arrivals.push_back(u->id);
    qemu_co_mutex_lock(&run->mutex);
    qemu_co_mutex_assert_locked(&run->mutex);
    run->overlap |= run->inside;
    run->inside = true;
    run->acquisitions.push_back(u->id);
    qemu_coroutine_yield();  // hold the lock across a yield
    run->inside = false;
    qemu_co_mutex_unlock(&run->mutex);
}

static void test_comutex_fairness(void **)
{
    const int n = 100;
    MutexRun run;
    qemu_co_mutex_init(&run.mutex);
    std::vector<MutexUser> users(n);
    std::vector<Coroutine *> cos(n);
    // Arrival order deliberately differs from creation order.
    for (int i = 0; i < n; i++) {
        users[i] = {&run, (i * 37) % n};
        cos[i] = qemu_coroutine_create(mutex_user, &users[i]);
    }
    for (int i = 0; i < n; i++) {
        qemu_coroutine_enter(cos[(i * 37) % n]);
    }
    // Only the first holds the lock (and is suspended inside it); resuming
    // the holder releases it, which hands the lock to the next arrival.
    for (int round = 0; round < n; round++) {
        assert_int_equal(run.acquisitions.size(), static_cast<size_t>(round + 1));
        int holder = run.acquisitions.back();
        int idx = -1;
        for (int i = 0; i < n; i++) {
            if (users[i].id == holder) {
                idx = i;
            }
        }
        qemu_coroutine_enter(cos[idx]);
        if (round + 1 == n) {
            break;
        }
    }
    assert_false(run.overlap);
    assert_int_equal(run.acquisitions.size(), static_cast<size_t>(n));
    assert_memory_equal(run.acquisitions.data(), run.arrivals.data(), n * sizeof(int));
    assert_false(run.mutex.locked);
}

// --- CoRwlock ----------------------------------------------------------------

struct RwRun {
    CoRwlock lock;
    std::vector<char> log;  // 'r' / 'w' in acquisition order
    int readers_inside = 0;
    bool writer_inside = false;
    bool violation = false;
    bool stop = false;
};

static RwRun *rw_run;

// A reader that keeps re-taking the read lock, yielding while holding it:
// with a naive rwlock, overlapping readers like these starve any writer.
static void busy_reader(void *)
{
    RwRun *r = rw_run;
    while (!r->stop) {
        qemu_co_rwlock_rdlock(&r->lock);
        r->violation |= r->writer_inside;
        r->readers_inside++;
        r->log.push_back('r');
        qemu_coroutine_yield();
        r->readers_inside--;
        qemu_co_rwlock_unlock(&r->lock);
    }
}

static void one_writer(void *)
{
    RwRun *r = rw_run;
    qemu_co_rwlock_wrlock(&r->lock);
    r->violation |= r->readers_inside > 0 || r->writer_inside;
    r->writer_inside = true;
    r->log.push_back('w');
    qemu_coroutine_yield();
    r->writer_inside = false;
    qemu_co_rwlock_unlock(&r->lock);
}

static void test_corwlock_writer_not_starved(void **)
{
    RwRun r;
    rw_run = &r;
    qemu_co_rwlock_init(&r.lock);
    const int nreaders = 4;
    Coroutine *readers[nreaders];
    for (auto &co : readers) {
        co = qemu_coroutine_create(busy_reader, nullptr);
        qemu_coroutine_enter(co);  // each now holds a read lock
    }
    Coroutine *writer = qemu_coroutine_create(one_writer, nullptr);
    qemu_coroutine_enter(writer);  // must wait: readers inside
    assert_int_equal(r.lock.pending_writers, 1);
    // Round-robin the readers: each releases and tries to re-take.  Once
    // they are all out the writer must get in before any of them.
    for (int round = 0; round < 10 && r.log.back() != 'w'; round++) {
        for (auto &co : readers) {
            if (!qemu_coroutine_terminated(co) && !qemu_coroutine_entered(co)) {
                qemu_coroutine_enter(co);
            }
        }
    }
    assert_int_equal(r.log.back(), 'w');
    assert_true(r.writer_inside);
    assert_int_equal(r.lock.pending_writers, 0);
    r.stop = true;
    qemu_coroutine_enter(writer);  // releases: queued readers get in
    assert_true(qemu_coroutine_terminated(writer));
    for (auto &co : readers) {
        while (!qemu_coroutine_terminated(co)) {
            qemu_coroutine_enter(co);
        }
    }
    assert_false(r.violation);
    // Writer got in after exactly the 4 initial read locks.
    assert_int_equal(std::count(r.log.begin(), r.log.begin() + 5, 'r'), 4);
    assert_int_equal(r.log[4], 'w');
    assert_int_equal(r.lock.readers, 0);
    assert_false(r.lock.writer);
}

// Readers that queued behind a writer are admitted together, in order.
static void test_corwlock_shared_after_writer(void **)
{
    RwRun r;
    rw_run = &r;
    r.stop = true;  // readers take the lock once
    qemu_co_rwlock_init(&r.lock);
    Coroutine *writer = qemu_coroutine_create(one_writer, nullptr);
    qemu_coroutine_enter(writer);
    Coroutine *readers[3];
    for (auto &co : readers) {
        r.stop = false;
        co = qemu_coroutine_create(busy_reader, nullptr);
        qemu_coroutine_enter(co);  // queued behind the writer
    }
    assert_int_equal(r.log.size(), 1u);
    r.stop = true;
    qemu_coroutine_enter(writer);  // unlock wakes all three readers
    assert_int_equal(r.log.size(), 4u);
    assert_int_equal(r.lock.readers, 3);
    for (auto &co : readers) {
        qemu_coroutine_enter(co);
        assert_true(qemu_coroutine_terminated(co));
    }
    assert_false(r.violation);
    assert_int_equal(r.lock.readers, 0);
}

// --- CoQueue -------------------------------------------------------------------

struct Channel {
    CoMutex mutex;
    CoQueue not_empty;
    CoQueue not_full;
    static constexpr int capacity = 16;
    long items[capacity];
    int head = 0, count = 0;
    long total = 0;
    long received_sum = 0;
    long received = 0;
    bool out_of_order = false;
};

static void producer(void *opaque)
{
    auto *ch = static_cast<Channel *>(opaque);
    for (long i = 0; i < ch->total; i++) {
        CoMutexGuard guard(&ch->mutex);
        while (ch->count == Channel::capacity) {
            qemu_co_queue_wait(&ch->not_full, &ch->mutex);
        }
        ch->items[(ch->head + ch->count) % Channel::capacity] = i;
        ch->count++;
        qemu_co_queue_next(&ch->not_empty);
    }
}

static void consumer(void *opaque)
{
    auto *ch = static_cast<Channel *>(opaque);
    while (ch->received < ch->total) {
        CoMutexGuard guard(&ch->mutex);
        while (ch->count == 0) {
            qemu_co_queue_wait(&ch->not_empty, &ch->mutex);
        }
        long item = ch->items[ch->head];
        ch->out_of_order |= item != ch->received;
        ch->head = (ch->head + 1) % Channel::capacity;
        ch->count--;
        ch->received++;
        ch->received_sum += item;
        qemu_co_queue_next(&ch->not_full);
    }
}

static void test_producer_consumer(void **)
{
    Channel ch;
    qemu_co_mutex_init(&ch.mutex);
    qemu_co_queue_init(&ch.not_empty);
    qemu_co_queue_init(&ch.not_full);
    ch.total = co_test_iterations(100000);
    Coroutine *cons = qemu_coroutine_create(consumer, &ch);
    Coroutine *prod = qemu_coroutine_create(producer, &ch);
    qemu_coroutine_enter(cons);  // waits: nothing produced yet
    qemu_coroutine_enter(prod);  // runs until both are done
    assert_true(qemu_coroutine_terminated(prod));
    assert_true(qemu_coroutine_terminated(cons));
    assert_int_equal(ch.received, ch.total);
    assert_int_equal(ch.received_sum, ch.total * (ch.total - 1) / 2);
    assert_false(ch.out_of_order);
    assert_true(qemu_co_queue_empty(&ch.not_empty));
    assert_true(qemu_co_queue_empty(&ch.not_full));
}

struct WakeOrder {
    CoQueue q;
    std::vector<int> log;
};

static WakeOrder *wake_order;

static void waiter(void *opaque)
{
    int id = static_cast<int>(reinterpret_cast<intptr_t>(opaque));
    qemu_co_queue_wait(&wake_order->q, nullptr);
    wake_order->log.push_back(id);
}

static void waker(void *)
{
    qemu_co_queue_restart_all(&wake_order->q);
    wake_order->log.push_back(0);  // runs before any woken waiter
    qemu_coroutine_yield();
    wake_order->log.push_back(99);
}

static void test_queue_wakes_after_waker_yields(void **)
{
    WakeOrder w;
    wake_order = &w;
    qemu_co_queue_init(&w.q);
    assert_false(qemu_co_queue_next(&w.q));
    for (intptr_t id = 1; id <= 3; id++) {
        qemu_coroutine_enter(qemu_coroutine_create(waiter, reinterpret_cast<void *>(id)));
    }
    Coroutine *wk = qemu_coroutine_create(waker, nullptr);
    qemu_coroutine_enter(wk);
    std::vector<int> want = {0, 1, 2, 3};
    assert_int_equal(w.log.size(), want.size());
    assert_memory_equal(w.log.data(), want.data(), want.size() * sizeof(int));
    qemu_coroutine_enter(wk);
    // From plain code, next() enters the waiter at once.
    qemu_coroutine_enter(qemu_coroutine_create(waiter, reinterpret_cast<void *>(7)));
    assert_true(qemu_co_queue_next(&w.q));
    assert_int_equal(w.log.back(), 7);
}

// Wake chains: the waker X hands control to the coroutines it woke, in wake
// order, and each runs what it woke itself before the rest of X's list.
// All of them run on behalf of X's enterer E (a coroutine here), which
// continues only after the whole chain.
struct WakeChain {
    CoQueue first;   // W1, W2 wait here; X wakes both
    CoQueue second;  // V waits here; W1 wakes it
    std::vector<int> log;
    Coroutine *enterer = nullptr;
    Coroutine *waker = nullptr;
};

static WakeChain *chain;

static void chain_waiter(void *opaque)
{
    int id = static_cast<int>(reinterpret_cast<intptr_t>(opaque));
    qemu_co_queue_wait(id == 3 ? &chain->second : &chain->first, nullptr);
    // The waker is off the chain of running coroutines; its enterer is on it.
    assert_false(qemu_coroutine_entered(chain->waker));
    assert_true(qemu_coroutine_entered(chain->enterer));
    chain->log.push_back(id);
    if (id == 1) {
        qemu_co_queue_next(&chain->second);
        chain->log.push_back(10);  // still before V runs
    }
}

static void chain_waker(void *)
{
    qemu_co_queue_restart_all(&chain->first);
    chain->log.push_back(0);
}

static void chain_enterer(void *)
{
    chain->waker = qemu_coroutine_create(chain_waker, nullptr);
    qemu_coroutine_enter(chain->waker);
    assert_true(qemu_coroutine_terminated(chain->waker));
    chain->log.push_back(99);
}

static void test_queue_wake_chain_order(void **)
{
    WakeChain c;
    chain = &c;
    qemu_co_queue_init(&c.first);
    qemu_co_queue_init(&c.second);
    Coroutine *w[3];
    for (intptr_t id = 1; id <= 3; id++) {
        w[id - 1] = qemu_coroutine_create(chain_waiter, reinterpret_cast<void *>(id));
        qemu_coroutine_enter(w[id - 1]);
    }
    c.enterer = qemu_coroutine_create(chain_enterer, nullptr);
    qemu_coroutine_enter(c.enterer);
    std::vector<int> want = {0, 1, 10, 3, 2, 99};
    assert_int_equal(c.log.size(), want.size());
    assert_memory_equal(c.log.data(), want.data(), want.size() * sizeof(int));
    for (Coroutine *co : w) {
        assert_true(qemu_coroutine_terminated(co));
    }
    assert_true(qemu_coroutine_terminated(c.enterer));
    assert_null(qemu_coroutine_self());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comutex_fairness),
        cmocka_unit_test(test_corwlock_writer_not_starved),
        cmocka_unit_test(test_corwlock_shared_after_writer),
        cmocka_unit_test(test_producer_consumer),
        cmocka_unit_test(test_queue_wakes_after_waker_yields),
        cmocka_unit_test(test_queue_wake_chain_order),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
