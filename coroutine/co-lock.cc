// CoMutex and CoRwlock.  Both hand ownership directly to the waiter they
// wake (the waker updates the lock state for it), so waiters acquire in
// arrival order and a newcomer can never overtake a woken waiter.
#include "coroutine/coroutine-int.h"

void qemu_co_mutex_init(CoMutex *m)
{
    m->locked = false;
    m->holder = nullptr;
    qemu_co_queue_init(&m->waiters);
}

void coroutine_fn qemu_co_mutex_lock(CoMutex *m)
{
    Coroutine *self = qemu_coroutine_self();
    if (!self) {
        co_fatal("qemu_co_mutex_lock", "called outside a coroutine");
    }
    if (!m->locked) {
        m->locked = true;
        m->holder = self;
        return;
    }
    if (m->holder == self) {
        co_fatal("qemu_co_mutex_lock", "CoMutex locked twice by the same coroutine");
    }
    CoWaitRecord rec;
    co_queue_park(&m->waiters, &rec, "qemu_co_mutex_lock");
    // The unlocker made us the holder before waking us.
}

void coroutine_fn qemu_co_mutex_unlock(CoMutex *m)
{
    if (!m->locked || m->holder != qemu_coroutine_self()) {
        co_fatal("qemu_co_mutex_unlock", "CoMutex unlocked by a coroutine that does not hold it");
    }
    CoWaitRecord *next = co_queue_pop(&m->waiters);
    if (!next) {
        m->locked = false;
        m->holder = nullptr;
        return;
    }
    m->holder = next->co;
    co_wake(next->co);
}

void qemu_co_mutex_assert_locked(CoMutex *m)
{
    if (!m->locked || m->holder != qemu_coroutine_self()) {
        co_fatal("qemu_co_mutex_assert_locked", "CoMutex not held by the running coroutine");
    }
}

void qemu_co_rwlock_init(CoRwlock *l)
{
    l->readers = 0;
    l->writer = false;
    l->pending_writers = 0;
    qemu_co_queue_init(&l->queue);
}

// Grants the lock to waiters at the head of the queue, in order: a writer
// once the lock is free, or every reader up to the next writer.
static void rwlock_grant(CoRwlock *l)
{
    while (!l->writer && l->queue.head) {
        CoWaitRecord *head = l->queue.head;
        if (head->writer) {
            if (l->readers > 0) {
                return;
            }
            co_queue_pop(&l->queue);
            l->writer = true;
            l->pending_writers--;
        } else {
            co_queue_pop(&l->queue);
            l->readers++;
        }
        co_wake(head->co);
    }
}

void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *l)
{
    // Any waiter (in particular a writer) makes new readers queue behind
    // it: that is what keeps writers from starving.
    if (!l->writer && !l->queue.head) {
        l->readers++;
        return;
    }
    CoWaitRecord rec;
    co_queue_park(&l->queue, &rec, "qemu_co_rwlock_rdlock");
}

void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *l)
{
    if (!l->writer && l->readers == 0 && !l->queue.head) {
        l->writer = true;
        return;
    }
    CoWaitRecord rec;
    rec.writer = true;
    l->pending_writers++;
    co_queue_park(&l->queue, &rec, "qemu_co_rwlock_wrlock");
}

void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *l)
{
    if (l->writer) {
        l->writer = false;
    } else if (l->readers > 0) {
        l->readers--;
    } else {
        co_fatal("qemu_co_rwlock_unlock", "CoRwlock unlocked while not held");
    }
    rwlock_grant(l);
}
