// qemu-nbd -L: connect, run the listing conversation in a coroutine, hang up.
#include "block/nbd/nbd-client-list.h"

#include <unistd.h>

#include "block/nbd/nbd-client-int.h"
#include "util/aio.h"

int nbd_client_list_exports(const NbdAddress &addr, TlsCreds *creds, const char *hostname,
                            std::vector<NbdExportListing> *out, Error **errp)
{
    int fd = nbd_socket_connect(addr, errp);
    if (fd < 0) return fd;
    struct Call {
        NbdChannel ch;
        NbdClientTls tls;
        std::vector<NbdExportListing> *out;
        Error **errp;
        int ret = -EINPROGRESS;
    } c;
    c.tls.creds = creds;
    c.tls.hostname = hostname;
    c.out = out;
    c.errp = errp;
    AioContext *ctx = qemu_get_aio_context();
    nbd_channel_init(&c.ch, fd, ctx);
    aio_run_coroutine_sync(
        ctx,
        [](void *o) coroutine_fn {
            auto *call = (Call *)o;
            call->ret = nbd_client_list_handshake(&call->ch, &call->tls, call->out, call->errp);
        },
        &c);
    return c.ret;  // ~NbdChannel closes the socket
}
