// NBD client: one connection's transmission phase.  Requests take a slot and
// wait; the reader coroutine validates every reply against the slot its
// cookie names before a single payload byte lands anywhere.
#include <cassert>
#include <cerrno>
#include <cstring>

#include "block/nbd/nbd-client-int.h"
#include "util/aio.h"

namespace {

constexpr unsigned SLOT_BITS = 16;
constexpr uint32_t MAX_STATUS_PAYLOAD = 4 + 8 * 65536;

NbdClientSlot *find_slot(NbdClientConn *conn, uint64_t cookie)
{
    uint64_t idx = cookie & ((1u << SLOT_BITS) - 1);
    if (idx >= NBD_CLIENT_MAX_REQUESTS) return nullptr;
    NbdClientSlot *s = &conn->slots[idx];
    return s->in_use && !s->done && s->cookie == cookie ? s : nullptr;
}

void complete(NbdClientSlot *s)
{
    s->done = true;
    qemu_co_queue_next(&s->wait);
}

// Reads @len bytes into the slot's buffer at request-relative offset @rel.
int coroutine_fn read_into_slot(NbdClientConn *conn, NbdClientSlot *s, uint64_t rel, uint32_t len)
{
    QEMUIOVector part;
    qemu_iovec_concat(&part, s->qiov, s->qiov_offset + rel, len);
    return nbd_channel_readv(conn->ch.get(), part.iov.data(), part.niov());
}

int coroutine_fn handle_simple(NbdClientConn *conn, const NbdReply &r, NbdClientSlot *s)
{
    // With structured replies negotiated, reads and block status must use them.
    if (s->type == NBD_CMD_BLOCK_STATUS || (s->type == NBD_CMD_READ && conn->info.structured)) {
        return -EIO;
    }
    if (r.error) {
        s->ret = -nbd_wire_to_errno(r.error);
    } else if (s->type == NBD_CMD_READ && s->len) {
        if (read_into_slot(conn, s, 0, s->len) < 0) return -EIO;
    }
    complete(s);
    return 0;
}

int coroutine_fn handle_data(NbdClientConn *conn, const NbdReply &r, NbdClientSlot *s)
{
    uint8_t b[8];
    uint64_t off;
    uint32_t len = r.length - 8;
    if (nbd_channel_read(conn->ch.get(), b, 8) < 0) return -EIO;
    NbdCursor(b, 8).get_u64(&off);
    if (!nbd_range_inside(off, len, s->offset, s->len) || s->received + len > s->len) return -EIO;
    if (read_into_slot(conn, s, off - s->offset, len) < 0) return -EIO;
    s->received += len;
    return 0;
}

int coroutine_fn handle_hole(NbdClientConn *conn, NbdClientSlot *s)
{
    uint8_t b[12];
    uint64_t off;
    uint32_t len;
    if (nbd_channel_read(conn->ch.get(), b, 12) < 0) return -EIO;
    NbdCursor c(b, 12);
    c.get_u64(&off);
    c.get_u32(&len);
    if (len == 0 || !nbd_range_inside(off, len, s->offset, s->len) || s->received + len > s->len) {
        return -EIO;
    }
    qemu_iovec_memset(s->qiov, s->qiov_offset + (off - s->offset), 0, len);
    s->received += len;
    return 0;
}

int coroutine_fn handle_status(NbdClientConn *conn, const NbdReply &r, NbdClientSlot *s)
{
    if (r.length > MAX_STATUS_PAYLOAD || s->have_extent) return -EIO;
    std::vector<uint8_t> p(r.length);
    if (nbd_channel_read(conn->ch.get(), p.data(), p.size()) < 0) return -EIO;
    NbdCursor c(p.data(), p.size());
    uint32_t id, len, flags;
    c.get_u32(&id);
    c.get_u32(&len);
    c.get_u32(&flags);
    if (id != conn->info.meta_context_id || len == 0) return -EIO;
    // Only the first extent is used; a longer one than asked is clamped.
    s->have_extent = true;
    s->extent_len = len < s->len ? len : s->len;
    s->extent_flags = flags;
    return 0;
}

int coroutine_fn handle_error(NbdClientConn *conn, const NbdReply &r, NbdClientSlot *s)
{
    std::vector<uint8_t> p(r.length);
    if (nbd_channel_read(conn->ch.get(), p.data(), p.size()) < 0) return -EIO;
    NbdErrorChunk e;
    bool known = r.type == NBD_REPLY_TYPE_ERROR || r.type == NBD_REPLY_TYPE_ERROR_OFFSET;
    if (known) {
        if (!nbd_error_chunk_decode(p.data(), p.size(), r.type == NBD_REPLY_TYPE_ERROR_OFFSET,
                                    &e)) {
            return -EIO;
        }
        if (e.has_offset && !nbd_range_inside(e.offset, 1, s->offset, s->len)) return -EIO;
    } else {
        NbdCursor(p.data(), p.size()).get_u32(&e.error);
    }
    if (e.error == 0) return -EIO;  // an error chunk must carry an error
    if (s->ret == 0) s->ret = -nbd_wire_to_errno(e.error);
    return 0;
}

int coroutine_fn handle_chunk(NbdClientConn *conn, const NbdReply &r, NbdClientSlot *s)
{
    bool is_read = s->type == NBD_CMD_READ;
    bool is_status = s->type == NBD_CMD_BLOCK_STATUS;
    if (!conn->info.structured || nbd_chunk_check(r, is_read, is_status) < 0) return -EIO;
    int ret = 0;
    switch (r.type) {
    case NBD_REPLY_TYPE_NONE: break;
    case NBD_REPLY_TYPE_OFFSET_DATA: ret = handle_data(conn, r, s); break;
    case NBD_REPLY_TYPE_OFFSET_HOLE: ret = handle_hole(conn, s); break;
    case NBD_REPLY_TYPE_BLOCK_STATUS: ret = handle_status(conn, r, s); break;
    default: ret = handle_error(conn, r, s); break;
    }
    if (ret < 0 || !(r.flags & NBD_REPLY_FLAG_DONE)) return ret;
    // Final chunk: a successful read must have covered every byte exactly
    // once, a successful block status must have said something.
    if (s->ret == 0 && ((is_read && s->received != s->len) || (is_status && !s->have_extent))) {
        return -EIO;
    }
    complete(s);
    return 0;
}

int coroutine_fn read_one_reply(NbdClientConn *conn)
{
    uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE];
    NbdReply r;
    if (nbd_channel_read(conn->ch.get(), hdr, 4) < 0) return -EIO;
    uint32_t magic =
        uint32_t(hdr[0]) << 24 | uint32_t(hdr[1]) << 16 | uint32_t(hdr[2]) << 8 | hdr[3];
    size_t size = nbd_reply_header_size(magic);
    if (size == 0 || nbd_channel_read(conn->ch.get(), hdr + 4, size - 4) < 0 ||
        !nbd_reply_decode(hdr, size, &r)) {
        return -EIO;
    }
    NbdClientSlot *s = find_slot(conn, r.cookie);
    if (!s) return -EIO;  // unknown or already completed cookie
    return r.structured ? handle_chunk(conn, r, s) : handle_simple(conn, r, s);
}

void coroutine_fn reader_entry(void *opaque)
{
    NbdClientConn *conn = (NbdClientConn *)opaque;
    while (!conn->dead && read_one_reply(conn) == 0) {
    }
    nbd_conn_fail(conn);
    conn->reader_running = false;
    qemu_co_queue_restart_all(&conn->reader_exit);
}

// Claims a free slot; nullptr if the connection died while waiting.
NbdClientSlot *coroutine_fn claim_slot(NbdClientConn *conn)
{
    while (!conn->dead && conn->in_flight >= NBD_CLIENT_MAX_REQUESTS) {
        qemu_co_queue_wait(&conn->free_wait, nullptr);
    }
    if (conn->dead) return nullptr;
    for (unsigned i = 0; i < NBD_CLIENT_MAX_REQUESTS; i++) {
        NbdClientSlot *s = &conn->slots[i];
        if (!s->in_use) {
            s->in_use = true;
            s->done = false;
            s->ret = 0;
            s->received = 0;
            s->have_extent = false;
            s->cookie = (++conn->generation << SLOT_BITS) | i;
            conn->in_flight++;
            return s;
        }
    }
    abort();  // in_flight < MAX guarantees a free slot
}

void release_slot(NbdClientConn *conn, NbdClientSlot *s)
{
    s->in_use = false;
    conn->in_flight--;
    qemu_co_queue_next(&conn->free_wait);
}

int coroutine_fn send_request(NbdClientConn *conn, NbdClientSlot *s, const NbdClientOp *op)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    NbdRequest req;
    req.flags = op->flags;
    req.type = op->type;
    req.cookie = s->cookie;
    req.offset = op->offset;
    req.len = op->len;
    nbd_request_encode(req, hdr);
    QEMUIOVector msg;
    qemu_iovec_add(&msg, hdr, sizeof(hdr));
    if (op->type == NBD_CMD_WRITE && op->len) {
        qemu_iovec_concat(&msg, op->qiov, op->qiov_offset, op->len);
    }
    CoMutexGuard g(&conn->ch->send_lock);
    return nbd_channel_writev(conn->ch.get(), msg.iov.data(), msg.niov());
}

}  // namespace

void nbd_conn_start(NbdClientConn *conn, AioContext *ctx)
{
    qemu_co_queue_init(&conn->free_wait);
    qemu_co_queue_init(&conn->reader_exit);
    for (NbdClientSlot &s : conn->slots)
        qemu_co_queue_init(&s.wait);
    conn->reader_running = true;
    aio_co_schedule(ctx, qemu_coroutine_create(reader_entry, conn));
}

int coroutine_fn nbd_conn_request(NbdClientConn *conn, NbdClientOp *op)
{
    assert(qemu_in_coroutine());
    NbdClientSlot *s = claim_slot(conn);
    if (!s) return -ENOTCONN;
    s->type = op->type;
    s->offset = op->offset;
    s->len = op->len;
    s->qiov = op->qiov;
    s->qiov_offset = op->qiov_offset;
    if (send_request(conn, s, op) < 0) nbd_conn_fail(conn);
    while (!s->done) {
        qemu_co_queue_wait(&s->wait, nullptr);
    }
    int ret = s->ret;
    op->extent_len = s->extent_len;
    op->extent_flags = s->extent_flags;
    release_slot(conn, s);
    return ret;
}

void nbd_conn_fail(NbdClientConn *conn)
{
    if (!conn->ch) return;
    conn->dead = true;
    nbd_channel_shutdown(conn->ch.get());
    for (NbdClientSlot &s : conn->slots) {
        if (s.in_use && !s.done) {
            s.ret = -EIO;
            complete(&s);
        }
    }
    qemu_co_queue_restart_all(&conn->free_wait);
}

void coroutine_fn nbd_conn_close(NbdClientConn *conn)
{
    if (!conn->ch) return;
    if (!conn->dead) {
        NbdClientOp disc = {NBD_CMD_DISC, 0, 0, 0, nullptr, 0, 0, 0};
        NbdClientSlot tmp;
        tmp.cookie = 0;
        send_request(conn, &tmp, &disc);  // best effort: the server closes anyway
    }
    nbd_conn_fail(conn);
    while (conn->reader_running) {
        qemu_co_queue_wait(&conn->reader_exit, nullptr);
    }
    nbd_channel_close(conn->ch.get());
}
