// Process-wide pool of worker threads for blocking syscalls.  Workers are
// spawned on demand up to max_workers and exit after idling for a while;
// each completion travels back to the submitter's AioContext in a oneshot BH,
// so callbacks (and the coroutines they wake) run in the right thread.
#include "util/thread-pool.h"

#include <cassert>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

enum class ReqState { Queued, Running, Done };

struct ThreadPoolRequest {
    AioContext *ctx;
    ThreadPoolFunc *func;
    void *arg;
    ThreadPoolCompletion *cb;
    void *opaque;
    ReqState state = ReqState::Queued;  // guarded by Pool::lock
    int ret = 0;
};

namespace {

struct Pool {
    std::mutex lock;
    std::condition_variable work_cv;
    std::deque<ThreadPoolRequest *> queue;
    int workers = 0;
    int idle = 0;
    int max_workers = 64;
    std::chrono::milliseconds idle_timeout{10000};
};

// Never destroyed: detached workers may still wait on it at process exit.
Pool &pool()
{
    static Pool *p = new Pool;
    return *p;
}

void complete_bh(void *opaque)
{
    ThreadPoolRequest *req = static_cast<ThreadPoolRequest *>(opaque);
    AioContext *ctx = req->ctx;
    req->cb(req->opaque, req->ret);
    delete req;
    aio_context_dec_in_flight(ctx);
}

void worker_main(void)
{
    Pool &p = pool();
    std::unique_lock<std::mutex> g(p.lock);
    for (;;) {
        while (p.queue.empty()) {
            if (p.workers > p.max_workers) {
                break;
            }
            p.idle++;
            // Re-reads idle_timeout after every wake-up (tests shorten it).
            bool timed_out = p.work_cv.wait_for(g, p.idle_timeout) == std::cv_status::timeout;
            p.idle--;
            if (timed_out && p.queue.empty()) {
                break;
            }
        }
        if (p.queue.empty()) {
            p.workers--;
            return;
        }
        ThreadPoolRequest *req = p.queue.front();
        p.queue.pop_front();
        req->state = ReqState::Running;
        g.unlock();
        int ret = req->func(req->arg);
        g.lock();
        req->ret = ret;
        req->state = ReqState::Done;
        aio_bh_schedule_oneshot(req->ctx, complete_bh, req);
    }
}

}  // namespace

ThreadPoolRequest *thread_pool_submit_aio(AioContext *ctx, ThreadPoolFunc *func, void *arg,
                                          ThreadPoolCompletion *cb, void *opaque)
{
    ThreadPoolRequest *req = new ThreadPoolRequest{ctx, func, arg, cb, opaque};
    aio_context_inc_in_flight(ctx);
    Pool &p = pool();
    std::lock_guard<std::mutex> g(p.lock);
    p.queue.push_back(req);
    // Spawn only when the idle workers cannot absorb the queue.
    if (p.idle < int(p.queue.size()) && p.workers < p.max_workers) {
        p.workers++;
        std::thread(worker_main).detach();
    }
    p.work_cv.notify_one();
    return req;
}

bool thread_pool_cancel(ThreadPoolRequest *req)
{
    Pool &p = pool();
    {
        std::lock_guard<std::mutex> g(p.lock);
        if (req->state != ReqState::Queued) {
            return false;
        }
        for (auto it = p.queue.begin(); it != p.queue.end(); ++it) {
            if (*it == req) {
                p.queue.erase(it);
                break;
            }
        }
        req->state = ReqState::Done;
        req->ret = -ECANCELED;
    }
    // Completion stays asynchronous so callers see one contract either way.
    aio_bh_schedule_oneshot(req->ctx, complete_bh, req);
    return true;
}

namespace {
struct CoWait {
    Coroutine *co;
    int ret;
};

void co_complete(void *opaque, int ret)
{
    CoWait *w = static_cast<CoWait *>(opaque);
    w->ret = ret;
    aio_co_wake(w->co);
}
}  // namespace

int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg)
{
    assert(qemu_in_coroutine());
    CoWait w{qemu_coroutine_self(), 0};
    AioContext *ctx = qemu_coroutine_get_aio_context(w.co);
    if (!ctx) {
        ctx = qemu_get_current_aio_context();
        qemu_coroutine_set_aio_context(w.co, ctx);
    }
    thread_pool_submit_aio(ctx, func, arg, co_complete, &w);
    qemu_coroutine_yield();
    return w.ret;
}

void thread_pool_set_max_workers(int n)
{
    assert(n > 0);
    std::lock_guard<std::mutex> g(pool().lock);
    pool().max_workers = n;
    pool().work_cv.notify_all();  // surplus idle workers exit
}

void thread_pool_set_idle_timeout_ms(int ms)
{
    std::lock_guard<std::mutex> g(pool().lock);
    pool().idle_timeout = std::chrono::milliseconds(ms);
    pool().work_cv.notify_all();
}

int thread_pool_num_workers(void)
{
    std::lock_guard<std::mutex> g(pool().lock);
    return pool().workers;
}
