// thread backend: one OS thread per coroutine, handing control over with a
// semaphore pair so exactly one of a logical thread's coroutines runs at a
// time.  Slow (a switch is a futex wake plus a sleep), but it needs nothing
// from the platform beyond pthreads, and debuggers and sanitizers see
// ordinary threads.  Each coroutine thread runs on our own mmap'd stack with
// the same guard page as the other backends.
//
// Limitation: thread_local variables other than coroutine/'s own state are
// those of the coroutine's OS thread, not of the thread that entered it.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <pthread.h>
#include <semaphore.h>

#include "coroutine/coroutine-int.h"

namespace {

struct CoroutineThread : Coroutine {
    sem_t run;  // posted to let this context run
    CoroutineAction resumed_by = CO_ACTION_ENTER;
    bool has_thread = false;
    bool quit = false;  // pool eviction: leave the loop
    pthread_t thread{};
};

CoroutineThread *as_thread(Coroutine *co) { return static_cast<CoroutineThread *>(co); }

void wait_turn(CoroutineThread *co)
{
    while (sem_wait(&co->run) != 0) {
        if (errno != EINTR) {
            co_fatal("coroutine-thread", strerror(errno));
        }
    }
}

void *thread_main(void *arg)
{
    auto *co = static_cast<CoroutineThread *>(arg);
    wait_turn(co);
    co_thread_state_adopt(co->owner);
    if (!co->quit) {
        co_run_entry(co);
    }
    return nullptr;
}

CoroutineThread *new_context(void)
{
    auto *co = new CoroutineThread;
    sem_init(&co->run, 0, 0);
    return co;
}

}  // namespace

const char *qemu_coroutine_backend_name(void) { return "thread"; }

Coroutine *co_backend_new(size_t stack_size)
{
    CoroutineThread *co = new_context();
    co_stack_alloc(&co->stack, stack_size);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, co->stack.bottom, co->stack.size);
    int err = pthread_create(&co->thread, &attr, thread_main, co);
    pthread_attr_destroy(&attr);
    if (err) {
        co_fatal("qemu_coroutine_create", strerror(err));
    }
    co->has_thread = true;
    return co;
}

Coroutine *co_backend_new_leader(void) { return new_context(); }

void co_backend_delete(Coroutine *co)
{
    CoroutineThread *t = as_thread(co);
    if (t->has_thread) {
        t->quit = true;
        sem_post(&t->run);
        pthread_join(t->thread, nullptr);
    }
    sem_destroy(&t->run);
    co_stack_free(&t->stack);
    delete t;
}

CoroutineAction co_backend_switch(Coroutine *from, Coroutine *to, CoroutineAction action)
{
    CoroutineThread *self = as_thread(from);
    as_thread(to)->resumed_by = action;
    sem_post(&as_thread(to)->run);
    wait_turn(self);
    return self->resumed_by;
}

bool co_backend_runs_again(Coroutine *co) { return !as_thread(co)->quit; }
