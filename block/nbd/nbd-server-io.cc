// NBD server: transmission phase.  A receive loop reads and validates each
// request (the one place client input is checked) and hands it to its own
// coroutine, which runs it against the BlockBackend and sends the reply as
// one message under the channel's send lock.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "block/nbd/nbd-server-int.h"
#include "util/aio.h"
#include "util/error.h"
#include "util/iov.h"

namespace {

struct ServerRequest {
    NbdServerClient *c;
    NbdRequest req;
    uint8_t *buf = nullptr;  // payload (write) or data (read); from server_buf_get
    size_t buf_size = 0;     // its allocated size (>= req.len)
    int error = 0;           // validation error to reply with, no I/O
};

constexpr uint16_t KNOWN_CMD_FLAGS = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_DF |
                                     NBD_CMD_FLAG_REQ_ONE | NBD_CMD_FLAG_FAST_ZERO;

// ---- data buffers ------------------------------------------------------------
// A fresh 1 MiB buffer per request costs the page faults of new memory each
// time (glibc returns large freed blocks to the kernel), more CPU than the
// copies themselves.  Each client keeps up to one buffer per request slot,
// and at most 64 MiB, for the requests that follow.
constexpr size_t SPARE_MIN = 64 * 1024;  // smaller ones are cheap to malloc
constexpr size_t SPARE_MAX_BYTES = 64 << 20;

uint8_t *server_buf_get(NbdServerClient *c, size_t len, size_t *size)
{
    size_t best = c->spare_bufs.size();
    for (size_t i = 0; i < c->spare_bufs.size(); i++) {
        size_t sz = c->spare_bufs[i].second;
        if (sz >= len && (best == c->spare_bufs.size() || sz < c->spare_bufs[best].second))
            best = i;
    }
    if (best < c->spare_bufs.size()) {
        auto b = c->spare_bufs[best];
        c->spare_bufs.erase(c->spare_bufs.begin() + long(best));
        c->spare_bytes -= b.second;
        *size = b.second;
        return b.first;
    }
    *size = len;
    return (uint8_t *)qemu_memalign(4096, len);
}

void server_buf_put(NbdServerClient *c, uint8_t *buf, size_t size)
{
    if (!buf) return;
    if (size >= SPARE_MIN && c->spare_bufs.size() < NBD_SERVER_MAX_REQUESTS &&
        c->spare_bytes + size <= SPARE_MAX_BYTES) {
        c->spare_bufs.emplace_back(buf, size);
        c->spare_bytes += size;
        return;
    }
    qemu_vfree(buf);
}

// ---- replies -------------------------------------------------------------------

int coroutine_fn send_iov(NbdServerClient *c, struct iovec *iov, int n)
{
    CoMutexGuard g(&c->ch.send_lock);
    return nbd_channel_writev(&c->ch, iov, n);
}

int coroutine_fn send_simple(ServerRequest *r, int err, const void *data, size_t len)
{
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
    nbd_simple_reply_encode(r->req.cookie, nbd_errno_to_wire(err), hdr);
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)data, err ? 0 : len}};
    return send_iov(r->c, iov, 2);
}

int coroutine_fn send_chunk(ServerRequest *r, uint16_t flags, uint16_t type, const NbdBuf &head,
                            const void *data, size_t len)
{
    uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE];
    nbd_structured_reply_encode(r->req.cookie, flags, type, uint32_t(head.size() + len), hdr);
    struct iovec iov[3] = {
        {hdr, sizeof(hdr)}, {(void *)head.data.data(), head.size()}, {(void *)data, len}};
    return send_iov(r->c, iov, 3);
}

int coroutine_fn send_error_chunk(ServerRequest *r, int err)
{
    NbdBuf p;
    const char *msg = strerror(err);
    p.put_u32(nbd_errno_to_wire(err));
    p.put_u16(uint16_t(strlen(msg)));
    p.put_string(msg);
    return send_chunk(r, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, p, nullptr, 0);
}

// The reply of a request without payload: simple, or a NONE/ERROR chunk.
int coroutine_fn send_status(ServerRequest *r, int err)
{
    if (!r->c->structured) return send_simple(r, err, nullptr, 0);
    if (err) return send_error_chunk(r, err);
    return send_chunk(r, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, NbdBuf(), nullptr, 0);
}

// ---- commands ------------------------------------------------------------------

int coroutine_fn send_hole_chunk(ServerRequest *r, uint16_t flags, uint64_t off, uint32_t len)
{
    NbdBuf head;
    head.put_u64(off);
    head.put_u32(len);
    return send_chunk(r, flags, NBD_REPLY_TYPE_OFFSET_HOLE, head, nullptr, 0);
}

int coroutine_fn send_data_chunk(ServerRequest *r, uint16_t flags, uint64_t off, uint32_t len)
{
    NbdBuf head;
    head.put_u64(off);
    return send_chunk(r, flags, NBD_REPLY_TYPE_OFFSET_DATA, head, r->buf + (off - r->req.offset),
                      len);
}

// Block status is asked for at least this much, so one answer covers the
// next sequential or nearby reads (see NbdServer::data_lo).
constexpr uint64_t STATUS_WINDOW = 64 << 20;

// Status of [off, ...) for a read ending at @end: *pnum is clipped to @end.
// Remembers the data extent the answer describes beyond the request.
int coroutine_fn read_status(ServerRequest *r, uint64_t off, uint64_t end, uint64_t *pnum)
{
    NbdServer *srv = r->c->server;
    int64_t n = 0, map = 0;
    BlockDriverState *file = nullptr;
    uint64_t window = std::min(std::max(end - off, STATUS_WINDOW), srv->size - off);
    int st =
        blk_co_block_status_above(srv->cfg.blk, int64_t(off), int64_t(window), &n, &map, &file);
    if (st < 0) return st;
    if (n <= 0) n = int64_t(end - off);
    if (!(st & BDRV_BLOCK_ZERO)) {
        srv->data_lo = off;
        srv->data_hi = off + uint64_t(n);
    }
    *pnum = std::min(uint64_t(n), end - off);
    return st;
}

// A structured read, as qemu-nbd sends it: each range the node reports as
// reading zeroes goes out as an OFFSET_HOLE chunk (no payload), the rest as
// OFFSET_DATA chunks, each sent as soon as its range has been read so the
// socket is busy while the next range is read.  The last chunk carries DONE;
// a failed block status ends the reply with an ERROR chunk, a failed read
// drops the client (negative return).  A read
// inside the last data extent seen needs no block status at all.
int coroutine_fn do_sparse_read(ServerRequest *r)
{
    NbdServer *srv = r->c->server;
    uint64_t off = r->req.offset, end = off + r->req.len;
    bool known_data = off >= srv->data_lo && end <= srv->data_hi;
    while (off < end) {
        uint64_t len = end - off;
        int st = known_data ? BDRV_BLOCK_DATA : read_status(r, off, end, &len);
        if (st < 0) return send_error_chunk(r, -st);
        uint16_t flags = off + len == end ? NBD_REPLY_FLAG_DONE : 0;
        int ret;
        if (st & BDRV_BLOCK_ZERO) {
            ret = send_hole_chunk(r, flags, off, uint32_t(len));
        } else {
            ret = blk_co_pread(srv->cfg.blk, int64_t(off), int64_t(len),
                               r->buf + (off - r->req.offset), 0);
            if (ret < 0) {
                // As qemu-nbd 7.2: a failed read inside a structured read
                // is not answered; the client is dropped.
                error_report("Disconnect client, due to: Failed to send reply: "
                             "reading from file failed: %s",
                             strerror(-ret));
                return ret;
            }
            ret = send_data_chunk(r, flags, off, uint32_t(len));
        }
        if (ret < 0) return ret;
        off += len;
    }
    return 0;
}

int coroutine_fn do_read(ServerRequest *r)
{
    BlockBackend *blk = r->c->server->cfg.blk;
    if (r->c->structured && r->req.len && !(r->req.flags & NBD_CMD_FLAG_DF)) {
        return do_sparse_read(r);
    }
    int ret = r->req.len ? blk_co_pread(blk, int64_t(r->req.offset), r->req.len, r->buf, 0) : 0;
    if (ret < 0) ret = -ret;
    if (!r->c->structured) return send_simple(r, ret, r->buf, r->req.len);
    if (ret) return send_error_chunk(r, ret);
    if (r->req.len == 0) return send_status(r, 0);
    return send_data_chunk(r, NBD_REPLY_FLAG_DONE, r->req.offset, r->req.len);
}

// The flags of the run at @off (at most @len bytes; its length in *pnum):
// base:allocation's hole/zero bits, or with @depth the allocation depth.
int coroutine_fn extent_status(BlockBackend *blk, bool depth, uint64_t off, uint64_t len,
                               int64_t *pnum)
{
    if (depth) return blk_co_allocation_depth(blk, int64_t(off), int64_t(len), pnum);
    int64_t map = 0;
    BlockDriverState *file = nullptr;
    int ret = blk_co_block_status_above(blk, int64_t(off), int64_t(len), pnum, &map, &file);
    if (ret < 0) return ret;
    return ((ret & BDRV_BLOCK_DATA) ? 0 : NBD_STATE_HOLE) |
           ((ret & BDRV_BLOCK_ZERO) ? NBD_STATE_ZERO : 0);
}

// base:allocation (or with @depth qemu:allocation-depth) extents into @p
// (after the context id); -errno to report.
int coroutine_fn allocation_extents(ServerRequest *r, NbdBuf &p, bool depth)
{
    BlockBackend *blk = r->c->server->cfg.blk;
    uint64_t off = r->req.offset, end = r->req.offset + r->req.len;
    unsigned max_extents = (r->req.flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : 256;
    unsigned n = 0;
    uint32_t prev_flags = 0;
    while (off < end && n < max_extents) {
        int64_t pnum = 0;
        int ret = extent_status(blk, depth, off, end - off, &pnum);
        if (ret < 0) return ret;
        if (pnum <= 0) break;
        uint32_t flags = uint32_t(ret);
        uint64_t len = uint64_t(pnum);
        if (n > 0 && flags == prev_flags) {
            // Merge with the previous extent (the layer may split at clusters).
            size_t at = p.size() - 8;
            uint64_t merged = (uint64_t(p.data[at]) << 24 | uint64_t(p.data[at + 1]) << 16 |
                               uint64_t(p.data[at + 2]) << 8 | p.data[at + 3]) +
                              len;
            if (merged <= UINT32_MAX - 65535) {
                p.data.resize(at);
                p.put_u32(uint32_t(merged));
                p.put_u32(flags);
                off += len;
                continue;
            }
        }
        p.put_u32(uint32_t(len));
        p.put_u32(flags);
        prev_flags = flags;
        off += len;
        n++;
    }
    return n == 0 ? -EIO : 0;
}

// A dirty bitmap's extents (NBD_STATE_DIRTY = 1) into @p, adjacent runs of
// the same state merged, as QEMU's bitmap_to_extents.
void bitmap_extents(ServerRequest *r, const BdrvDirtyBitmap *bm, NbdBuf &p)
{
    uint64_t off = r->req.offset, end = r->req.offset + r->req.len;
    unsigned max_extents = (r->req.flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : 256;
    unsigned n = 0;
    int64_t size = bdrv_dirty_bitmap_size(bm);
    while (off < end && n < max_extents) {
        bool dirty = bdrv_dirty_bitmap_get(bm, int64_t(off));
        int64_t next = int64_t(off) >= size
                           ? -1
                           : (dirty ? bdrv_dirty_bitmap_next_zero(bm, int64_t(off), -1)
                                    : bdrv_dirty_bitmap_next_dirty(bm, int64_t(off), -1));
        uint64_t stop = next < 0 ? end : std::min<uint64_t>(end, uint64_t(next));
        uint64_t len = std::min<uint64_t>(stop - off, UINT32_MAX - 65535);
        p.put_u32(uint32_t(len));
        p.put_u32(dirty ? 1 : 0);
        off += len;
        n++;
    }
}

int coroutine_fn do_block_status(ServerRequest *r)
{
    NbdServerClient *c = r->c;
    const auto &bitmaps = c->server->cfg.bitmaps;
    std::vector<size_t> sel;
    for (size_t i = 0; i < c->bitmap_ctx.size() && i < bitmaps.size(); i++) {
        if (c->bitmap_ctx[i]) sel.push_back(i);
    }
    // One chunk per selected context, the last one ends the reply.
    const bool ctx_set[2] = {c->base_allocation, c->allocation_depth};
    for (int k = 0; k < 2; k++) {
        if (!ctx_set[k]) continue;
        bool last = sel.empty() && (k == 1 || !c->allocation_depth);
        NbdBuf p;
        p.put_u32(k ? NBD_META_ID_ALLOCATION_DEPTH : NBD_META_ID_BASE_ALLOCATION);
        int ret = allocation_extents(r, p, k == 1);
        if (ret < 0) return send_error_chunk(r, -ret);
        ret = send_chunk(r, last ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_BLOCK_STATUS, p, nullptr,
                         0);
        if (ret < 0) return ret;
    }
    for (size_t k = 0; k < sel.size(); k++) {
        NbdBuf p;
        p.put_u32(NBD_META_ID_DIRTY_BITMAP + uint32_t(sel[k]));
        bitmap_extents(r, bitmaps[sel[k]].second, p);
        int ret = send_chunk(r, k + 1 == sel.size() ? NBD_REPLY_FLAG_DONE : 0,
                             NBD_REPLY_TYPE_BLOCK_STATUS, p, nullptr, 0);
        if (ret < 0) return ret;
    }
    return 0;
}

// Trim and write-zeroes may turn data into holes.  Before and after: a read
// racing with them may have cached what they are changing.  (A stale data
// extent only costs sparseness: the bytes sent are read, so still right.)
void forget_data_extent(NbdServer *srv) { srv->data_lo = srv->data_hi = 0; }

int coroutine_fn do_command(ServerRequest *r)
{
    BlockBackend *blk = r->c->server->cfg.blk;
    int64_t off = int64_t(r->req.offset), len = r->req.len;
    int fua = (r->req.flags & NBD_CMD_FLAG_FUA) ? BDRV_REQ_FUA : 0;
    int ret = 0;
    switch (r->req.type) {
    case NBD_CMD_READ: return do_read(r);
    case NBD_CMD_BLOCK_STATUS: return do_block_status(r);
    case NBD_CMD_WRITE: ret = len ? blk_co_pwrite(blk, off, len, r->buf, fua) : 0; break;
    case NBD_CMD_FLUSH: ret = blk_co_flush(blk); break;
    case NBD_CMD_TRIM:
        forget_data_extent(r->c->server);
        ret = len ? blk_co_pdiscard(blk, off, len) : 0;
        forget_data_extent(r->c->server);
        if (ret == 0 && fua) ret = blk_co_flush(blk);
        break;
    case NBD_CMD_WRITE_ZEROES: {
        int flags = fua;
        if (!(r->req.flags & NBD_CMD_FLAG_NO_HOLE)) flags |= BDRV_REQ_MAY_UNMAP;
        if (r->req.flags & NBD_CMD_FLAG_FAST_ZERO) flags |= BDRV_REQ_NO_FALLBACK;
        forget_data_extent(r->c->server);
        ret = len ? blk_co_pwrite_zeroes(blk, off, len, flags) : 0;
        forget_data_extent(r->c->server);
        break;
    }
    case NBD_CMD_CACHE: ret = 0; break;
    default: ret = -EINVAL;
    }
    return send_status(r, ret < 0 ? -ret : 0);
}

void coroutine_fn request_coroutine(void *opaque)
{
    ServerRequest *r = (ServerRequest *)opaque;
    NbdServerClient *c = r->c;
    int ret = r->error ? send_status(r, r->error) : do_command(r);
    if (ret < 0) nbd_channel_shutdown(&c->ch);  // reply lost: the stream is unusable
    server_buf_put(c, r->buf, r->buf_size);
    delete r;
    c->in_flight--;
    qemu_co_queue_next(&c->slot_wait);
    if (c->in_flight == 0) qemu_co_queue_restart_all(&c->idle_wait);
}

// ---- validation ----------------------------------------------------------------

// Returns the errno to reply with (0: valid).  Sets *hangup when the request
// cannot be answered without losing sync (a write payload we refuse to read).
int validate(NbdServerClient *c, const NbdRequest &q, bool *hangup)
{
    NbdServer *srv = c->server;
    bool is_write = q.type == NBD_CMD_WRITE || q.type == NBD_CMD_WRITE_ZEROES;
    *hangup = false;
    if (q.type == NBD_CMD_WRITE && q.len > NBD_MAX_BUFFER) {
        *hangup = true;
        return EINVAL;
    }
    if (q.flags & ~KNOWN_CMD_FLAGS) return EINVAL;
    switch (q.type) {
    case NBD_CMD_READ:
        if (q.len > NBD_MAX_BUFFER) return EINVAL;
        break;
    case NBD_CMD_WRITE:
    case NBD_CMD_WRITE_ZEROES:
    case NBD_CMD_TRIM:
        if (srv->cfg.read_only) return EPERM;
        break;
    case NBD_CMD_BLOCK_STATUS:
        if (q.len == 0) return EINVAL;
        if (!c->base_allocation && !c->allocation_depth &&
            std::find(c->bitmap_ctx.begin(), c->bitmap_ctx.end(), true) == c->bitmap_ctx.end()) {
            return EINVAL;
        }
        break;
    case NBD_CMD_FLUSH:
    case NBD_CMD_CACHE: break;
    default: return EINVAL;
    }
    if ((q.flags & NBD_CMD_FLAG_FAST_ZERO) && q.type != NBD_CMD_WRITE_ZEROES) return EINVAL;
    if (q.type != NBD_CMD_FLUSH && (q.offset > srv->size || q.len > srv->size - q.offset)) {
        return is_write ? ENOSPC : EINVAL;
    }
    return 0;
}

// Reads one request and starts its coroutine.  false: stop serving.
bool coroutine_fn receive_one(NbdServerClient *c)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    NbdRequest q;
    if (nbd_channel_read(&c->ch, hdr, sizeof(hdr)) < 0) return false;
    if (!nbd_request_decode(hdr, &q) || q.type == NBD_CMD_DISC) return false;
    bool hangup;
    ServerRequest *r = new ServerRequest{c, q};
    r->error = validate(c, q, &hangup);
    if (hangup) {
        delete r;
        return false;
    }
    bool has_payload = q.type == NBD_CMD_WRITE;
    bool has_data = q.type == NBD_CMD_READ && !r->error;
    if ((has_payload || has_data) && q.len) {
        r->buf = server_buf_get(c, q.len, &r->buf_size);
    }
    if (has_payload && q.len) {
        uint8_t *dst = r->buf;
        if (nbd_channel_read(&c->ch, dst, q.len) < 0) {
            server_buf_put(c, r->buf, r->buf_size);
            delete r;
            return false;
        }
    }
    c->in_flight++;
    aio_co_enter(c->server->ctx, qemu_coroutine_create(request_coroutine, r));
    return true;
}

}  // namespace

void coroutine_fn nbd_server_serve(NbdServerClient *c)
{
    while (!c->ch.dead) {
        while (c->in_flight >= NBD_SERVER_MAX_REQUESTS) {
            qemu_co_queue_wait(&c->slot_wait, nullptr);
        }
        if (c->ch.dead || !receive_one(c)) break;
    }
}
