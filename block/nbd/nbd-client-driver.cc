// The `nbd` protocol driver: opens one connection (or multi-conn=N when the
// server advertises MULTI_CONN), maps block-layer requests to NBD commands,
// and optionally reconnects (reconnect-delay=N) replaying failed requests.
#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "block/block-int.h"
#include "block/nbd/nbd-client-driver-int.h"
#include "block/nbd/nbd-client-int.h"
#include "crypto/crypto.h"
#include "util/aio.h"

namespace {

struct NbdDriverState {
    NbdClientConfig cfg;
    AioContext *ctx = nullptr;
    std::vector<std::unique_ptr<NbdClientConn>> conns;
    std::vector<std::unique_ptr<NbdClientConn>> retired;  // dead, freed at close
    NbdExportInfo info;
    NbdClientTls tls;  // creds null: plaintext
    unsigned next = 0;
    bool reconnecting = false;
    int reconnect_ret = 0;        // result of the last attempt, for its waiters
    int64_t outage_deadline = 0;  // end of the current outage's grace period
    CoQueue reconnect_wait;
};

NbdDriverState *state(BlockDriverState *bs) { return (NbdDriverState *)bs->opaque; }

int coroutine_fn connect_one(NbdDriverState *s, std::unique_ptr<NbdClientConn> *out, Error **errp)
{
    int fd = nbd_socket_connect(s->cfg.addr, errp);
    if (fd < 0) return fd;
    auto conn = std::make_unique<NbdClientConn>();
    conn->info.meta_context = s->cfg.x_dirty_bitmap;
    conn->ch = std::make_unique<NbdChannel>();
    nbd_channel_init(conn->ch.get(), fd, s->ctx);
    int ret = nbd_client_handshake(conn->ch.get(), s->cfg.export_name, &conn->info, errp, &s->tls);
    if (ret < 0) return ret;  // ~NbdChannel closes the fd
    nbd_conn_start(conn.get(), s->ctx);
    *out = std::move(conn);
    return 0;
}

// Replaces dead connections; one coroutine does it while others wait.
int coroutine_fn reconnect(NbdDriverState *s)
{
    if (s->reconnecting) {
        qemu_co_queue_wait(&s->reconnect_wait, nullptr);
        return s->reconnect_ret;
    }
    s->reconnecting = true;
    int ret = 0;
    for (auto &c : s->conns) {
        if (!c->dead) continue;
        nbd_conn_close(c.get());
        std::unique_ptr<NbdClientConn> fresh;
        ErrorPtr err;
        ret = connect_one(s, &fresh, &err);
        if (ret == 0 && fresh->info.size != s->info.size) {
            nbd_conn_close(fresh.get());
            ret = -EIO;  // a different export came back: do not write to it
        }
        if (ret < 0) break;
        s->retired.push_back(std::move(c));
        c = std::move(fresh);
    }
    s->reconnecting = false;
    s->reconnect_ret = ret;
    qemu_co_queue_restart_all(&s->reconnect_wait);
    return ret;
}

// The live connection with the fewest requests in flight.
NbdClientConn *pick_conn(NbdDriverState *s)
{
    NbdClientConn *best = nullptr;
    size_t n = s->conns.size();
    for (size_t i = 0; i < n; i++) {
        NbdClientConn *c = s->conns[(s->next + i) % n].get();
        if (!c->dead && (!best || c->in_flight < best->in_flight)) best = c;
    }
    s->next++;
    return best;
}

// Runs @op, retrying on a fresh connection.  As QEMU's reconnect-delay: the
// first reconnect-delay seconds of an outage hold requests back and replay
// them once a connection is back; after that, requests fail at once (each
// still tries one reconnect) until a connection succeeds again.
int coroutine_fn nbd_do(BlockDriverState *bs, NbdClientOp *op)
{
    NbdDriverState *s = state(bs);
    for (;;) {
        NbdClientConn *c = pick_conn(s);
        int ret = c ? nbd_conn_request(c, op) : -ENOTCONN;
        bool lost = ret == -ENOTCONN || (ret == -EIO && c && c->dead);
        if (!lost) return ret;
        if (s->cfg.reconnect_delay_s == 0) return -EIO;
        int64_t now = qemu_clock_get_ns();
        if (s->outage_deadline == 0) {
            s->outage_deadline = now + int64_t(s->cfg.reconnect_delay_s) * 1000000000LL;
        }
        if (reconnect(s) == 0) {
            s->outage_deadline = 0;
            continue;
        }
        int64_t left = s->outage_deadline - qemu_clock_get_ns();
        if (left <= 0) return -EIO;
        qemu_co_sleep_ns(std::min<int64_t>(left, 200000000LL));
    }
}

int coroutine_fn nbd_co_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    auto s = std::make_unique<NbdDriverState>();
    if (!nbd_client_parse_options(options, &s->cfg, errp)) return -EINVAL;
    if (!s->cfg.tls_creds.empty()) {
        s->tls.creds = tls_creds_find(s->cfg.tls_creds.c_str(), TlsEndpoint::Client, errp);
        if (!s->tls.creds) return -EINVAL;
        // As QEMU: the certificate is checked against tls-hostname, else the
        // TCP host; a Unix socket without tls-hostname checks no name.
        if (!s->cfg.tls_hostname.empty()) {
            s->tls.hostname = s->cfg.tls_hostname.c_str();
        } else if (!s->cfg.addr.is_unix) {
            s->tls.hostname = s->cfg.addr.host.c_str();
        }
    }
    s->ctx = bs->ctx ? bs->ctx : qemu_get_current_aio_context();
    qemu_co_queue_init(&s->reconnect_wait);
    std::unique_ptr<NbdClientConn> first;
    int ret = connect_one(s.get(), &first, errp);
    if (ret < 0) return ret;
    s->info = first->info;
    s->conns.push_back(std::move(first));
    if (!s->cfg.x_dirty_bitmap.empty() && !s->info.base_allocation) {
        nbd_conn_close(s->conns[0].get());
        // QEMU 7.2 drops its "requested x-dirty-bitmap ... not found" on the
        // way up; the generic open failure is what its tools print.
        error_setg_errno(errp, EINVAL, "Could not open image");
        return -EINVAL;
    }
    if ((flags & BDRV_O_RDWR) && (s->info.flags & NBD_FLAG_READ_ONLY)) {
        nbd_conn_close(s->conns[0].get());
        error_setg(errp, "Block node is read-only");
        return -EACCES;
    }
    if (s->info.flags & NBD_FLAG_CAN_MULTI_CONN) {
        for (int i = 1; i < s->cfg.multi_conn; i++) {
            std::unique_ptr<NbdClientConn> more;
            if (connect_one(s.get(), &more, nullptr) < 0) break;  // fewer is fine
            s->conns.push_back(std::move(more));
        }
    }
    bs->total_bytes = int64_t(s->info.size);
    bs->filename = nbd_client_canonical_filename(s->cfg);
    if (s->info.flags & NBD_FLAG_SEND_FUA) {
        bs->supported_write_flags = BDRV_REQ_FUA;
        bs->supported_zero_flags = BDRV_REQ_FUA;
    }
    if (s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES) bs->supported_zero_flags |= BDRV_REQ_MAY_UNMAP;
    if (s->info.flags & NBD_FLAG_SEND_FAST_ZERO) bs->supported_zero_flags |= BDRV_REQ_NO_FALLBACK;
    bs->opaque = s.release();
    return 0;
}

void coroutine_fn nbd_co_close(BlockDriverState *bs)
{
    NbdDriverState *s = state(bs);
    if (!s) return;
    for (auto &c : s->conns)
        nbd_conn_close(c.get());
    for (auto &c : s->retired)
        nbd_conn_close(c.get());
    delete s;
    bs->opaque = nullptr;
}

void nbd_refresh_limits(BlockDriverState *bs, Error **)
{
    const NbdExportInfo &i = state(bs)->info;
    uint32_t min = std::max<uint32_t>(i.min_block, 1);
    uint64_t max = std::min<uint64_t>(i.max_block, NBD_MAX_BUFFER);
    bs->bl.request_alignment = min;
    bs->bl.max_transfer = max / min * min;
    bs->bl.opt_transfer = i.opt_block;
    uint64_t big = (1ULL << 31) / min * min;  // a 32-bit length, aligned
    bs->bl.max_pwrite_zeroes = big;
    bs->bl.max_pdiscard = big;
    bs->bl.pwrite_zeroes_alignment = min;
    bs->bl.pdiscard_alignment = min;
}

int coroutine_fn nbd_rw(BlockDriverState *bs, uint16_t type, uint16_t flags, int64_t offset,
                        int64_t bytes, QEMUIOVector *qiov, size_t qiov_offset)
{
    NbdClientOp op = {type, flags, uint64_t(offset), uint32_t(bytes), qiov, qiov_offset, 0, 0};
    if (bytes > UINT32_MAX) return -EINVAL;  // the block layer splits by our limits
    return nbd_do(bs, &op);
}

int coroutine_fn nbd_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, size_t qiov_offset, int)
{
    if (bytes == 0) return 0;
    return nbd_rw(bs, NBD_CMD_READ, 0, offset, bytes, qiov, qiov_offset);
}

int coroutine_fn nbd_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, size_t qiov_offset, int flags)
{
    if (bytes == 0) return 0;
    uint16_t f = (flags & BDRV_REQ_FUA) ? NBD_CMD_FLAG_FUA : 0;
    return nbd_rw(bs, NBD_CMD_WRITE, f, offset, bytes, qiov, qiov_offset);
}

int coroutine_fn nbd_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      int flags)
{
    uint16_t tx = state(bs)->info.flags;
    if (!(tx & NBD_FLAG_SEND_WRITE_ZEROES)) return -ENOTSUP;
    uint16_t f = (flags & BDRV_REQ_FUA) ? NBD_CMD_FLAG_FUA : 0;
    if (!(flags & BDRV_REQ_MAY_UNMAP)) f |= NBD_CMD_FLAG_NO_HOLE;
    if (flags & BDRV_REQ_NO_FALLBACK) {
        if (!(tx & NBD_FLAG_SEND_FAST_ZERO)) return -ENOTSUP;
        f |= NBD_CMD_FLAG_FAST_ZERO;
    }
    return nbd_rw(bs, NBD_CMD_WRITE_ZEROES, f, offset, bytes, nullptr, 0);
}

int coroutine_fn nbd_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    if (!(state(bs)->info.flags & NBD_FLAG_SEND_TRIM) || bytes == 0) return 0;  // advisory
    return nbd_rw(bs, NBD_CMD_TRIM, 0, offset, bytes, nullptr, 0);
}

// With MULTI_CONN one flush covers every connection's completed writes.
int coroutine_fn nbd_co_flush(BlockDriverState *bs)
{
    if (!(state(bs)->info.flags & NBD_FLAG_SEND_FLUSH)) return 0;
    return nbd_rw(bs, NBD_CMD_FLUSH, 0, 0, 0, nullptr, 0);
}

int coroutine_fn nbd_co_block_status(BlockDriverState *bs, bool, int64_t offset, int64_t bytes,
                                     int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    NbdDriverState *s = state(bs);
    *map = offset;
    *file = bs;
    if (!s->info.base_allocation) {
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    uint32_t min = std::max<uint32_t>(s->info.min_block, 1);
    int64_t len = std::min<int64_t>(bytes, int64_t(UINT32_MAX / min * min));
    NbdClientOp op = {NBD_CMD_BLOCK_STATUS,
                      NBD_CMD_FLAG_REQ_ONE,
                      uint64_t(offset),
                      uint32_t(len),
                      nullptr,
                      0,
                      0,
                      0};
    int ret = nbd_do(bs, &op);
    if (ret < 0) return ret;
    *pnum = op.extent_len;
    return ((op.extent_flags & NBD_STATE_HOLE) ? 0 : BDRV_BLOCK_DATA) |
           ((op.extent_flags & NBD_STATE_ZERO) ? BDRV_BLOCK_ZERO : 0) | BDRV_BLOCK_OFFSET_VALID;
}

int64_t coroutine_fn nbd_co_getlength(BlockDriverState *bs)
{
    return int64_t(state(bs)->info.size);
}

// NBD cannot resize: as QEMU, a size the export already covers (not exact)
// is fine and preallocation is moot, anything else fails.
int coroutine_fn nbd_co_truncate(BlockDriverState *bs, int64_t offset, bool exact, PreallocMode,
                                 Error **errp)
{
    int64_t size = int64_t(state(bs)->info.size);
    if (exact && offset != size) {
        error_setg(errp, "Cannot resize NBD nodes");
        return -ENOTSUP;
    }
    if (offset > size) {
        error_setg(errp, "Cannot grow NBD nodes");
        return -EINVAL;
    }
    return 0;
}

const char *const nbd_runtime_opts[] = {
    "filename", "server.type",     "server.host",  "server.port",    "server.path",
    "export",   "reconnect-delay", "multi-conn",   "host",           "port",
    "path",     "tls-creds",       "tls-hostname", "x-dirty-bitmap", nullptr,
};

BlockDriver make_driver()
{
    BlockDriver d = {};
    d.format_name = "nbd";
    d.protocol_name = "nbd";
    d.bdrv_parse_filename = nbd_client_parse_filename;
    d.bdrv_co_open = nbd_co_open;
    d.bdrv_co_close = nbd_co_close;
    d.bdrv_refresh_limits = nbd_refresh_limits;
    d.bdrv_co_preadv = nbd_co_preadv;
    d.bdrv_co_pwritev = nbd_co_pwritev;
    d.bdrv_co_pwrite_zeroes = nbd_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = nbd_co_pdiscard;
    d.bdrv_co_flush_to_disk = nbd_co_flush;
    d.bdrv_co_block_status = nbd_co_block_status;
    d.bdrv_co_getlength = nbd_co_getlength;
    d.bdrv_co_truncate = nbd_co_truncate;
    d.create_opens_existing = true;
    d.create_opts = bdrv_create_opts_simple;
    d.runtime_opts = nbd_runtime_opts;
    return d;
}

}  // namespace

BlockDriver bdrv_nbd = make_driver();
