// Server internals shared by nbd-server*.cc.
#pragma once

#include <list>
#include <utility>
#include <vector>

#include "block/block.h"
#include "block/nbd/nbd-proto.h"
#include "block/nbd/nbd-server.h"
#include "block/nbd/nbd-socket.h"
#include "util/iov.h"

struct NbdServerClient {
    NbdServer *server = nullptr;
    NbdChannel ch;
    bool structured = false;
    bool base_allocation = false;
    bool allocation_depth = false;  // qemu:allocation-depth was set
    std::vector<bool> bitmap_ctx;   // per exported bitmap: its context was set
    bool no_zeroes = false;
    unsigned in_flight = 0;
    CoQueue slot_wait;  // receive loop waits here for a free request slot
    CoQueue idle_wait;  // teardown waits here for in_flight == 0
    bool handshake_done = false;
    bool tls = false;           // STARTTLS done
    std::string tls_error;      // why the TLS handshake failed, for the log
    std::string plain_refusal;  // first option refused for want of TLS, for the log
    // Data buffers of finished requests, reused by the next ones (see
    // server_buf_get in nbd-server-io.cc).
    std::vector<std::pair<uint8_t *, size_t>> spare_bufs;
    size_t spare_bytes = 0;

    NbdServerClient() = default;
    NbdServerClient(const NbdServerClient &) = delete;
    NbdServerClient &operator=(const NbdServerClient &) = delete;
    ~NbdServerClient()
    {
        for (auto &b : spare_bufs)
            qemu_vfree(b.first);
    }
};

struct NbdServer {
    AioContext *ctx = nullptr;
    NbdExportConfig cfg;
    uint64_t size = 0;
    uint16_t tx_flags = 0;
    int listen_fd = -1;
    bool accepting = false;  // listener registered (below the -e limit)
    std::list<NbdServerClient *> clients;
    int served = 0;
    bool shutting_down = false;
    // The last data (not zero) extent block status reported, shared by the
    // export's clients: reads inside it skip block status.  Only data is
    // remembered, so a stale entry can cost sparseness but never correctness.
    uint64_t data_lo = 0, data_hi = 0;
    void (*gone_cb)(void *, int) = nullptr;
    void *gone_opaque = nullptr;
};

// Context ids as QEMU's server numbers them.
constexpr uint32_t NBD_META_ID_BASE_ALLOCATION = 0;
constexpr uint32_t NBD_META_ID_ALLOCATION_DEPTH = 1;
constexpr uint32_t NBD_META_ID_DIRTY_BITMAP = 2;  // + index of the bitmap
constexpr const char *NBD_META_ALLOCATION_DEPTH = "qemu:allocation-depth";
constexpr const char *NBD_META_DIRTY_BITMAP_PREFIX = "qemu:dirty-bitmap:";

// Option haggling.  0: enter transmission; <0: close the connection.
int coroutine_fn nbd_server_negotiate(NbdServerClient *c);
// Transmission phase until disconnect or protocol error.
void coroutine_fn nbd_server_serve(NbdServerClient *c);
