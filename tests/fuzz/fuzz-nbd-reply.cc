// libFuzzer target: the NBD client's parsers for everything a server sends.
//
// Input byte 0 picks the phase; the rest is the server's side of the stream,
// written into a socketpair and followed by EOF:
//   even: the handshake (greeting, option replies, NBD_REP_INFO payloads),
//   odd:  (bit 1: structured replies negotiated) the transmission phase with a read, a block-status
//   and a write
//         request in flight (simple and structured replies, chunks, errors).
// The client must fail cleanly (-EIO / an Error) and never crash or hang.
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <memory>
#include <vector>

#include "block/nbd/nbd-client-int.h"
#include "tests/fuzz/fuzz-common.h"
#include "util/aio.h"
#include "util/util.h"

namespace {

AioContext *ctx() { return qemu_get_aio_context(); }

// Writes what fits without blocking (the socket buffer is far larger than
// libFuzzer's default input size), then says EOF.
void server_says(int fd, const uint8_t *data, size_t size)
{
    nbd_socket_set_nonblock(fd, true);
    while (size) {
        ssize_t n = write(fd, data, size);
        if (n <= 0) break;
        data += n;
        size -= (size_t)n;
    }
    shutdown(fd, SHUT_WR);
}

struct Shake {
    NbdChannel *ch;
    NbdExportInfo info;
    ErrorPtr err;
};

void shake_entry(void *opaque)
{
    Shake *s = (Shake *)opaque;
    nbd_client_handshake(s->ch, "fuzz", &s->info, &s->err);
}

void fuzz_handshake(int client_fd, int server_fd, const uint8_t *data, size_t size)
{
    server_says(server_fd, data, size);
    NbdChannel ch;
    nbd_channel_init(&ch, client_fd, ctx());
    Shake s{&ch, {}, {}};
    aio_run_coroutine_sync(ctx(), shake_entry, &s);
}

struct Req {
    NbdClientConn *conn;
    NbdClientOp op;
    std::vector<uint8_t> buf;
    QEMUIOVector qiov;
    bool done = false;
};

void req_entry(void *opaque)
{
    Req *r = (Req *)opaque;
    nbd_conn_request(r->conn, &r->op);
    r->done = true;
}

void close_entry(void *opaque) { nbd_conn_close((NbdClientConn *)opaque); }

void fuzz_transmission(int client_fd, int server_fd, bool structured, const uint8_t *data,
                       size_t size)
{
    NbdClientConn conn;
    conn.ch = std::make_unique<NbdChannel>();
    nbd_channel_init(conn.ch.get(), client_fd, ctx());
    // Which reply style the server agreed to is the fuzzer's choice too.
    conn.info.structured = structured;
    conn.info.base_allocation = conn.info.structured;
    conn.info.meta_context_id = 1;
    conn.info.size = 1 << 20;
    nbd_conn_start(&conn, ctx());
    static const uint16_t types[] = {NBD_CMD_READ, NBD_CMD_BLOCK_STATUS, NBD_CMD_WRITE,
                                     NBD_CMD_READ};
    Req reqs[4];
    for (int i = 0; i < 4; i++) {
        Req &r = reqs[i];
        r.conn = &conn;
        r.buf.assign(4096, 0);
        qemu_iovec_init_buf(&r.qiov, r.buf.data(), r.buf.size());
        r.op = {types[i], 0, (uint64_t)i * 4096, 4096, &r.qiov, 0, 0, 0};
        qemu_coroutine_enter(qemu_coroutine_create(req_entry, &r));
    }
    server_says(server_fd, data, size);
    time_t deadline = time(nullptr) + 10;  // a 10 s stall is a hang
    while (time(nullptr) <= deadline) {
        bool all = true;
        for (Req &r : reqs)
            all &= r.done;
        if (all) break;
        aio_poll(ctx(), true);
    }
    for (Req &r : reqs) {
        if (!r.done) abort();  // a request hung on a closed connection
    }
    aio_run_coroutine_sync(ctx(), close_entry, &conn);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return 0;
    }
    if (data[0] & 1) {
        fuzz_transmission(sv[0], sv[1], data[0] & 2, data + 1, size - 1);
    } else {
        fuzz_handshake(sv[0], sv[1], data + 1, size - 1);
    }
    close(sv[1]);
    return 0;
}
