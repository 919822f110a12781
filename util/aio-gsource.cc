// AioContext as a GSource: lets a GMainLoop (the emulator's main loop) drive
// the context.  GLib polls the epoll fd, which is readable whenever any fd
// handler's fd (or the notify eventfd) is; dispatch is one non-blocking
// aio_poll.
#include <cassert>

#include "util/aio-int.h"

namespace {

struct AioSource {
    GSource base;
    AioContext *ctx;
    gpointer epoll_tag;
};

bool timers_due(AioContext *ctx) { return aio_compute_timeout_ns(ctx) == 0; }

gboolean aio_source_prepare(GSource *src, gint *timeout)
{
    AioContext *ctx = reinterpret_cast<AioSource *>(src)->ctx;
    aio_run_deferred(ctx);  // submit what plain code queued before sleeping
    ctx->notify_me.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (aio_bh_pending(ctx) || timers_due(ctx)) {
        *timeout = 0;
        return TRUE;
    }
    int64_t ns = aio_compute_timeout_ns(ctx);
    *timeout = ns < 0 ? -1 : int((ns + 999999) / 1000000);
    return FALSE;
}

gboolean aio_source_check(GSource *src)
{
    AioSource *s = reinterpret_cast<AioSource *>(src);
    AioContext *ctx = s->ctx;
    ctx->notify_me.store(false, std::memory_order_relaxed);
    return (g_source_query_unix_fd(src, s->epoll_tag) & G_IO_IN) || aio_bh_pending(ctx) ||
           timers_due(ctx);
}

gboolean aio_source_dispatch(GSource *src, GSourceFunc, gpointer)
{
    aio_poll(reinterpret_cast<AioSource *>(src)->ctx, false);
    return G_SOURCE_CONTINUE;
}

GSourceFuncs aio_source_funcs = {
    aio_source_prepare, aio_source_check, aio_source_dispatch, nullptr, nullptr, nullptr,
};

}  // namespace

GSource *aio_get_g_source(AioContext *ctx)
{
    if (!ctx->source) {
        GSource *src = g_source_new(&aio_source_funcs, sizeof(AioSource));
        AioSource *s = reinterpret_cast<AioSource *>(src);
        s->ctx = ctx;
        s->epoll_tag = g_source_add_unix_fd(src, ctx->epfd, G_IO_IN);
        g_source_set_name(src, "AioContext");
        ctx->source = src;
    }
    g_source_ref(ctx->source);
    return ctx->source;
}
