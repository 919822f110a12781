// The main thread: a GLib main loop whose only event source of substance is
// the main AioContext (device request coroutines, AIO completions, timers).
// Like QEMU's os_host_main_loop_wait it holds the BQL except inside poll(),
// so vCPU I/O exits and completions never run at the same time.
#include <glib.h>

#include "hw/machine-int.h"
#include "qemu-system-lite/system.h"
#include "util/aio.h"
#include "util/bql.h"
#include "util/error.h"

namespace {

gint poll_without_bql(GPollFD *fds, guint nfds, gint timeout)
{
    if (timeout == 0) return g_poll(fds, nfds, 0);
    bql_unlock();
    gint r = g_poll(fds, nfds, timeout);
    bql_lock();
    return r;
}

// Runs in the main loop (BQL held): the machine asked to stop or exit.
void wake_main_loop(void *) { g_main_context_wakeup(g_main_context_default()); }

}  // namespace

int main_loop_run(Machine *m)
{
    GMainContext *gctx = g_main_context_default();
    GSource *aio = aio_get_g_source(qemu_get_aio_context());
    g_source_attach(aio, gctx);
    g_main_context_set_poll_func(gctx, poll_without_bql);
    machine_set_event_notifier(m, wake_main_loop, nullptr);

    int status = 0;
    // Termination signals reach us through the AioContext (signals.cc).
    while (!machine_exit_requested(m, &status)) {
        g_main_context_iteration(gctx, TRUE);
    }

    machine_set_event_notifier(m, nullptr, nullptr);
    g_source_unref(aio);
    g_main_context_set_poll_func(gctx, g_poll);
    return status;
}
