// NBD server: export setup, accepting clients and client lifetime.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>
#include <cstdio>

#include "block/nbd/nbd-server-int.h"
#include "util/aio.h"
#include "util/error.h"

static void update_accept_watch(NbdServer *srv);

static uint16_t export_tx_flags(const NbdExportConfig &cfg)
{
    // CACHE as qemu-nbd advertises it; it is a hint, answered at once.
    uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_DF |
                 NBD_FLAG_SEND_CACHE;
    if (cfg.read_only) {
        f |= NBD_FLAG_READ_ONLY;
    } else {
        f |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
        if (cfg.can_trim) f |= NBD_FLAG_SEND_TRIM;
    }
    if (cfg.multi_conn) f |= NBD_FLAG_CAN_MULTI_CONN;
    return f;
}

NbdServer *nbd_server_new(AioContext *ctx, const NbdExportConfig &cfg)
{
    NbdServer *srv = new NbdServer;
    srv->ctx = ctx;
    srv->cfg = cfg;
    int64_t len = blk_getlength(cfg.blk);
    srv->size = len > 0 ? uint64_t(len) : 0;
    srv->tx_flags = export_tx_flags(cfg);
    return srv;
}

static void coroutine_fn client_coroutine(void *opaque)
{
    NbdServerClient *c = (NbdServerClient *)opaque;
    NbdServer *srv = c->server;
    if (nbd_server_negotiate(c) == 0) {
        c->handshake_done = true;
        srv->served++;
        nbd_server_serve(c);
    } else if (!c->tls_error.empty()) {
        // As qemu-nbd: a refused TLS client is worth a line even without -v.
        error_report("option negotiation failed: %s", c->tls_error.c_str());
    } else if (!c->plain_refusal.empty()) {
        error_report("%s", c->plain_refusal.c_str());
    }
    nbd_channel_shutdown(&c->ch);
    while (c->in_flight > 0) {
        qemu_co_queue_wait(&c->idle_wait, nullptr);
    }
    nbd_channel_close(&c->ch);
    srv->clients.remove(c);
    int remaining = int(srv->clients.size());
    delete c;
    update_accept_watch(srv);
    if (srv->gone_cb) srv->gone_cb(srv->gone_opaque, remaining);
}

static void start_client_bh(void *opaque)
{
    NbdServerClient *c = (NbdServerClient *)opaque;
    aio_co_enter(c->server->ctx, qemu_coroutine_create(client_coroutine, c));
}

void nbd_server_add_client(NbdServer *srv, int fd)
{
    NbdServerClient *c = new NbdServerClient;
    c->server = srv;
    qemu_co_queue_init(&c->slot_wait);
    qemu_co_queue_init(&c->idle_wait);
    nbd_channel_init(&c->ch, fd, srv->ctx);
    srv->clients.push_back(c);
    aio_bh_schedule_oneshot(srv->ctx, start_client_bh, c);
}

static void server_accept(void *opaque);

// Like qemu-nbd, at the -e limit the server stops polling the listener:
// further clients wait in the backlog until one leaves, rather than being
// turned away.
static void update_accept_watch(NbdServer *srv)
{
    if (srv->listen_fd < 0) return;
    bool full = srv->cfg.max_clients > 0 && int(srv->clients.size()) >= srv->cfg.max_clients;
    bool want = !full && !srv->shutting_down;
    if (want == srv->accepting) return;
    srv->accepting = want;
    aio_set_fd_handler(srv->ctx, srv->listen_fd, want ? server_accept : nullptr, nullptr, srv);
}

static void server_accept(void *opaque)
{
    NbdServer *srv = (NbdServer *)opaque;
    int fd = accept4(srv->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    nbd_server_add_client(srv, fd);
    update_accept_watch(srv);
}

void nbd_server_listen(NbdServer *srv, int listen_fd)
{
    srv->listen_fd = listen_fd;
    nbd_socket_set_nonblock(listen_fd, true);
    update_accept_watch(srv);
}

void nbd_server_set_client_gone_cb(NbdServer *srv, void (*cb)(void *, int), void *opaque)
{
    srv->gone_cb = cb;
    srv->gone_opaque = opaque;
}

int nbd_server_client_count(NbdServer *srv) { return int(srv->clients.size()); }

int nbd_server_clients_served(NbdServer *srv) { return srv->served; }

void nbd_server_shutdown(NbdServer *srv)
{
    srv->shutting_down = true;
    if (srv->listen_fd >= 0) {
        update_accept_watch(srv);
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
    // Waking a client's coroutine may finish it and unlink it from the
    // list: walk a copy, and only touch clients still listed.
    std::vector<NbdServerClient *> snapshot(srv->clients.begin(), srv->clients.end());
    for (NbdServerClient *c : snapshot) {
        if (std::find(srv->clients.begin(), srv->clients.end(), c) != srv->clients.end()) {
            nbd_channel_shutdown(&c->ch);
        }
    }
}

void nbd_server_free(NbdServer *srv)
{
    if (!srv) return;
    nbd_server_shutdown(srv);
    while (!srv->clients.empty()) {
        aio_poll(srv->ctx, true);
    }
    delete srv;
}
