// CoQueue: a FIFO of coroutines waiting for something; see coroutine.h for
// the wake-up rule (woken coroutines run after the waker yields).
#include "coroutine/coroutine-int.h"

void co_queue_push(CoQueue *q, CoWaitRecord *rec)
{
    rec->next = nullptr;
    rec->dequeued = false;
    if (q->tail) {
        q->tail->next = rec;
    } else {
        q->head = rec;
    }
    q->tail = rec;
}

CoWaitRecord *co_queue_pop(CoQueue *q)
{
    CoWaitRecord *rec = q->head;
    if (rec) {
        q->head = rec->next;
        if (!q->head) {
            q->tail = nullptr;
        }
        rec->next = nullptr;
        rec->dequeued = true;
    }
    return rec;
}

void coroutine_fn co_queue_park(CoQueue *q, CoWaitRecord *rec, const char *who)
{
    Coroutine *self = qemu_coroutine_self();
    if (!self) {
        co_fatal(who, "called outside a coroutine");
    }
    rec->co = self;
    co_queue_push(q, rec);
    qemu_coroutine_yield();
    // Only the queue's owner may resume a parked coroutine; anything else
    // would leave the record (on this stack) linked into the queue.
    if (!rec->dequeued) {
        co_fatal(who, "waiting coroutine entered without being woken");
    }
}

void qemu_co_queue_init(CoQueue *q) { q->head = q->tail = nullptr; }

void coroutine_fn qemu_co_queue_wait(CoQueue *q, CoMutex *unlock_mutex)
{
    CoWaitRecord rec;
    if (unlock_mutex) {
        qemu_co_mutex_unlock(unlock_mutex);
    }
    co_queue_park(q, &rec, "qemu_co_queue_wait");
    if (unlock_mutex) {
        qemu_co_mutex_lock(unlock_mutex);
    }
}

bool qemu_co_queue_next(CoQueue *q)
{
    CoWaitRecord *rec = co_queue_pop(q);
    if (!rec) {
        return false;
    }
    co_wake(rec->co);
    return true;
}

void qemu_co_queue_restart_all(CoQueue *q)
{
    while (qemu_co_queue_next(q)) {
    }
}

bool qemu_co_queue_empty(const CoQueue *q) { return q->head == nullptr; }
