// NBD client internals: the handshake, one connection's transmission phase
// (request slots, reply reader) and the driver state that owns connections.
//
// Concurrency model (all in the node's AioContext thread): each request runs
// in its caller's coroutine; it takes a slot, sends its message under the
// channel's send lock and waits on the slot.  One reader coroutine per
// connection reads every reply, validates it against the slot its cookie
// names, lands data directly in the request's buffer, and wakes the request
// on its final chunk.  Any protocol violation fails every request of the
// connection with -EIO and shuts the connection down.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "block/nbd/nbd-proto.h"
#include "block/nbd/nbd-socket.h"
#include "util/iov.h"

struct AioContext;

constexpr unsigned NBD_CLIENT_MAX_REQUESTS = 64;

// ---- handshake (nbd-client-handshake.cc) --------------------------------------
struct TlsCreds;
// tls-creds: STARTTLS first, and nothing in plaintext if it fails.
struct NbdClientTls {
    TlsCreds *creds = nullptr;
    const char *hostname = nullptr;  // the server certificate must match it (x509)
};
// Negotiates @export_name over @ch: [STARTTLS,] fixed newstyle,
// STRUCTURED_REPLY, base:allocation, GO with block sizes (EXPORT_NAME for
// old servers).
int coroutine_fn nbd_client_handshake(NbdChannel *ch, const std::string &export_name,
                                      NbdExportInfo *info, Error **errp,
                                      const NbdClientTls *tls = nullptr);

// The listing conversation of nbd_client_list_exports (nbd-client-list.h)
// over a connected @ch.
struct NbdExportListing;
int coroutine_fn nbd_client_list_handshake(NbdChannel *ch, const NbdClientTls *tls,
                                           std::vector<NbdExportListing> *out, Error **errp);

// ---- one connection (nbd-client-conn.cc) ----------------------------------------
struct NbdClientSlot {
    bool in_use = false;
    uint64_t cookie = 0;
    uint16_t type = 0;
    uint64_t offset = 0;
    uint32_t len = 0;
    QEMUIOVector *qiov = nullptr;  // read destination
    size_t qiov_offset = 0;
    uint64_t received = 0;  // read bytes delivered by chunks
    bool done = false;
    int ret = 0;
    bool have_extent = false;  // block status answer
    uint32_t extent_len = 0;
    uint32_t extent_flags = 0;
    CoQueue wait;
};

struct NbdClientConn {
    std::unique_ptr<NbdChannel> ch;
    NbdExportInfo info;
    NbdClientSlot slots[NBD_CLIENT_MAX_REQUESTS];
    unsigned in_flight = 0;
    uint64_t generation = 0;
    CoQueue free_wait;  // requests waiting for a slot
    bool reader_running = false;
    CoQueue reader_exit;  // close waits here for the reader to stop
    bool dead = false;
};

// Starts the reply reader of a freshly negotiated connection.
void nbd_conn_start(NbdClientConn *conn, AioContext *ctx);
// One request/response.  @qiov: read destination or write payload.  For
// BLOCK_STATUS, *extent_len / *extent_flags receive the first extent.
struct NbdClientOp {
    uint16_t type;
    uint16_t flags;
    uint64_t offset;
    uint32_t len;
    QEMUIOVector *qiov;
    size_t qiov_offset;
    uint32_t extent_len;
    uint32_t extent_flags;
};
// Returns 0, -errno from the server, or -EIO when the connection failed
// (then conn->dead is set; ret -ENOTCONN if it failed before the send).
int coroutine_fn nbd_conn_request(NbdClientConn *conn, NbdClientOp *op);
// Sends DISC (best effort), shuts down, waits for the reader to exit.
void coroutine_fn nbd_conn_close(NbdClientConn *conn);
// Fails all in-flight requests with -EIO and shuts the channel down.
void nbd_conn_fail(NbdClientConn *conn);
