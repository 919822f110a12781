// NBD server: serves one BlockBackend as a named export to any number of
// clients over sockets registered with an AioContext (qemu-nbd-lite uses it;
// so can tests, through a socketpair).
//
// Every client runs as a coroutine (handshake, then a receive loop); every
// request it receives runs in its own coroutine, so requests of one client
// proceed concurrently up to NBD_SERVER_MAX_REQUESTS.  All of it runs in the
// server's AioContext thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/error.h"

struct AioContext;
struct BlockBackend;
struct NbdServer;
struct TlsCreds;
struct BdrvDirtyBitmap;

struct NbdExportConfig {
    std::string name;             // "" is the default export
    std::string description;      // -D
    BlockBackend *blk = nullptr;  // not owned
    bool read_only = false;
    bool multi_conn = false;  // advertise NBD_FLAG_CAN_MULTI_CONN
    bool can_trim = true;     // --discard=unmap (advertise TRIM anyway: it may no-op)
    int max_clients = 1;      // -e; 0: unlimited
    bool verbose = false;
    // --tls-creds: every option before NBD_OPT_STARTTLS is refused with
    // NBD_REP_ERR_TLS_REQD.  --tls-authz: authz object id ("" for none).
    TlsCreds *tls_creds = nullptr;  // not owned (objects live until exit)
    std::string tls_authz;
    // -B: dirty bitmaps offered as meta contexts "qemu:dirty-bitmap:NAME"
    // (not owned; the caller keeps them busy while exported).
    std::vector<std::pair<std::string, BdrvDirtyBitmap *>> bitmaps;
    // -A: the meta context "qemu:allocation-depth" (0 unallocated, 1 in the
    // exported node, N in the (N-1)th node of its backing chain).
    bool allocation_depth = false;
};

constexpr unsigned NBD_SERVER_MAX_REQUESTS = 16;

NbdServer *nbd_server_new(AioContext *ctx, const NbdExportConfig &cfg);
// Starts accepting clients on @listen_fd (takes ownership).
void nbd_server_listen(NbdServer *srv, int listen_fd);
// Serves an already-connected socket (takes ownership); the handshake starts
// on the next loop iteration.
void nbd_server_add_client(NbdServer *srv, int fd);
// Called after a client went away, with the number still connected.
void nbd_server_set_client_gone_cb(NbdServer *srv, void (*cb)(void *opaque, int remaining),
                                   void *opaque);
int nbd_server_client_count(NbdServer *srv);
// Clients that completed a handshake so far (qemu-nbd's "first client came").
int nbd_server_clients_served(NbdServer *srv);
// Stops accepting and disconnects every client (their in-flight requests
// still complete); poll until nbd_server_client_count() is 0, then free.
void nbd_server_shutdown(NbdServer *srv);
void nbd_server_free(NbdServer *srv);
