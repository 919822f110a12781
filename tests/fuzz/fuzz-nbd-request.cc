// libFuzzer target: the NBD server's parsers for everything a client sends.
//
// The input is the client's side of the stream (client flags, options with
// their payloads, then requests with write payloads), fed through a
// socketpair to a server exporting a 1 MiB raw scratch image, followed by
// EOF.  The server must answer or drop the client, never crash, hang or
// touch memory it should not; the replies are read and discarded.
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <vector>

#include "block/block.h"
#include "block/nbd/nbd-server.h"
#include "block/nbd/nbd-socket.h"
#include "tests/fuzz/fuzz-common.h"
#include "util/aio.h"
#include "util/util.h"

namespace {

AioContext *ctx() { return qemu_get_aio_context(); }

BlockBackend *export_backend()
{
    static BlockBackend *blk = [] {
        bdrv_init();
        const std::string &path = fuzz_scratch_path("nbd");
        std::vector<uint8_t> img(1 << 20, 0);
        fuzz_write_file(path, img.data(), img.size());
        QDict opts;
        opts.set("driver", "raw");
        ErrorPtr err;
        BlockBackend *b = blk_new_open(path.c_str(), &opts, BDRV_O_RDWR, &err);
        if (!b) abort();
        return b;
    }();
    return blk;
}

// Reads whatever the server replied so its writes never block on us.
void drain(int fd)
{
    static uint8_t sink[65536];
    while (read(fd, sink, sizeof(sink)) > 0) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    NbdExportConfig cfg;
    cfg.name = "";
    cfg.blk = export_backend();
    cfg.max_clients = 0;
    cfg.read_only = size && (data[0] & 0x80);  // the flags' top bit is reserved
    NbdServer *srv = nbd_server_new(ctx(), cfg);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    nbd_socket_set_nonblock(sv[1], true);
    nbd_server_add_client(srv, sv[0]);
    size_t off = 0;
    bool eof_sent = false;
    time_t deadline = time(nullptr) + 10;  // a 10 s stall is a hang
    while (time(nullptr) <= deadline) {
        if (off < size) {
            ssize_t n = write(sv[1], data + off, size - off);
            off += n > 0 ? (size_t)n : 0;
        } else if (!eof_sent) {
            shutdown(sv[1], SHUT_WR);
            eof_sent = true;
        }
        drain(sv[1]);
        if (eof_sent && nbd_server_client_count(srv) == 0) {
            break;
        }
        // Never block in poll: the server may be waiting for us to read.
        if (!aio_poll(ctx(), false) && off >= size) {
            usleep(20);
        }
    }
    if (nbd_server_client_count(srv) != 0) {
        abort();  // the server kept a client whose socket reached EOF
    }
    nbd_server_shutdown(srv);
    nbd_server_free(srv);
    close(sv[1]);
    return 0;
}
