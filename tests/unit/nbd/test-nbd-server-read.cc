// Structured reads from our server, in-process over a socketpair: ranges the
// node reports as zeroes go out as OFFSET_HOLE chunks and the rest as
// OFFSET_DATA chunks (as qemu-nbd does), DF asks for one data chunk, a read
// error after some chunks drops the client (as qemu-nbd 7.2), and our client
// assembles the mixed replies into the right bytes.
//
// The exported node is a memory driver whose block status is a fixed map of
// 64 KiB blocks, so the expected chunk sequence does not depend on how a
// filesystem happens to allocate holes.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "block/block-int.h"
#include "block/nbd/nbd-client-int.h"
#include "block/nbd/nbd-server.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

constexpr int64_t kBlock = 64 * 1024;
constexpr int64_t kDiskSize = 16 * kBlock;

// One exported disk; 'D' blocks hold data, 'Z' blocks read as zeroes.
struct MemDisk {
    std::string map = "DDZZDZZZDDDDZZZZ";
    std::vector<uint8_t> data;
    int64_t fail_read_at = -1;  // a read of this offset fails with EIO
    int reads = 0;
    int status_calls = 0;
} disk;

int coroutine_fn mem_open(BlockDriverState *bs, QDict *o, int, Error **)
{
    o->del("filename");
    bs->total_bytes = kDiskSize;
    return 0;
}

void coroutine_fn mem_close(BlockDriverState *) {}

int coroutine_fn mem_preadv(BlockDriverState *, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                            size_t qoff, int)
{
    disk.reads++;
    if (offset == disk.fail_read_at) return -EIO;
    qemu_iovec_from_buf(qiov, qoff, disk.data.data() + offset, size_t(bytes));
    return 0;
}

// Runs of equal blocks, clipped to the request.
int coroutine_fn mem_block_status(BlockDriverState *, bool, int64_t offset, int64_t bytes,
                                  int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    disk.status_calls++;
    char kind = disk.map[size_t(offset / kBlock)];
    int64_t end = offset;
    while (end < offset + bytes && disk.map[size_t(end / kBlock)] == kind) {
        end = (end / kBlock + 1) * kBlock;
    }
    *pnum = std::min(end, offset + bytes) - offset;
    *map = offset;
    *file = nullptr;
    return kind == 'Z' ? BDRV_BLOCK_ZERO : BDRV_BLOCK_DATA;
}

int64_t coroutine_fn mem_getlength(BlockDriverState *) { return kDiskSize; }

BlockDriver mem_driver = [] {
    BlockDriver d{};
    d.format_name = "nbdtestmem";
    d.protocol_name = "nbdtestmem";
    d.bdrv_co_open = mem_open;
    d.bdrv_co_close = mem_close;
    d.bdrv_co_preadv = mem_preadv;
    d.bdrv_co_block_status = mem_block_status;
    d.bdrv_co_getlength = mem_getlength;
    return d;
}();

AioContext *ctx() { return qemu_get_aio_context(); }

struct Fixture {
    BlockBackend *blk = nullptr;
    NbdServer *srv = nullptr;
    std::unique_ptr<NbdChannel> ch;  // the client end
    NbdExportInfo info;
};

void handshake_entry(void *opaque)
{
    Fixture *f = (Fixture *)opaque;
    ErrorPtr err;
    assert_int_equal(nbd_client_handshake(f->ch.get(), "", &f->info, &err), 0);
}

int setup(void **state)
{
    disk.data.assign(size_t(kDiskSize), 0);
    for (int64_t i = 0; i < kDiskSize; i++) {
        if (disk.map[size_t(i / kBlock)] == 'D') disk.data[size_t(i)] = uint8_t(i * 7 + 1);
    }
    disk.fail_read_at = -1;
    disk.reads = 0;
    Fixture *f = new Fixture;
    QDict opts;
    opts.set("driver", "nbdtestmem");
    ErrorPtr err;
    f->blk = blk_new_open("nbdtestmem:x", &opts, 0, &err);
    assert_non_null(f->blk);
    NbdExportConfig cfg;
    cfg.blk = f->blk;
    cfg.read_only = true;
    f->srv = nbd_server_new(ctx(), cfg);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    nbd_server_add_client(f->srv, sv[1]);
    f->ch = std::make_unique<NbdChannel>();
    nbd_channel_init(f->ch.get(), sv[0], ctx());
    aio_run_coroutine_sync(ctx(), handshake_entry, f);
    assert_true(f->info.structured);
    *state = f;
    return 0;
}

int teardown(void **state)
{
    Fixture *f = (Fixture *)*state;
    f->ch.reset();
    nbd_server_free(f->srv);
    blk_unref(f->blk);
    delete f;
    return 0;
}

// ---- chunk level: what the server sends -------------------------------------------

struct Chunk {
    uint16_t type;
    uint16_t flags;
    uint64_t offset;
    uint32_t len;  // bytes of the export the chunk covers (0 for errors)
    uint32_t error;
    std::vector<uint8_t> data;
};

struct RawRead {
    Fixture *f;
    uint64_t offset;
    uint32_t len;
    uint16_t flags;
    std::vector<Chunk> chunks;
    bool closed = false;  // the server closed the connection mid-reply
};

int coroutine_fn read_chunk(NbdChannel *ch, Chunk *c)
{
    uint8_t h[NBD_STRUCTURED_REPLY_SIZE];
    NbdReply r;
    if (nbd_channel_read(ch, h, sizeof(h)) < 0 || !nbd_reply_decode(h, sizeof(h), &r)) return -EIO;
    std::vector<uint8_t> p(r.length);
    if (nbd_channel_read(ch, p.data(), p.size()) < 0) return -EIO;
    NbdCursor cur(p.data(), p.size());
    *c = Chunk{r.type, r.flags, 0, 0, 0, {}};
    if (r.type == NBD_REPLY_TYPE_OFFSET_DATA) {
        cur.get_u64(&c->offset);
        c->len = uint32_t(cur.left);
        c->data.assign(cur.p, cur.p + cur.left);
    } else if (r.type == NBD_REPLY_TYPE_OFFSET_HOLE) {
        cur.get_u64(&c->offset);
        cur.get_u32(&c->len);
    } else {
        cur.get_u32(&c->error);
    }
    return 0;
}

void raw_read_entry(void *opaque)
{
    RawRead *rr = (RawRead *)opaque;
    NbdRequest q;
    q.type = NBD_CMD_READ;
    q.flags = rr->flags;
    q.cookie = 42;
    q.offset = rr->offset;
    q.len = rr->len;
    uint8_t b[NBD_REQUEST_SIZE];
    nbd_request_encode(q, b);
    assert_int_equal(nbd_channel_write(rr->f->ch.get(), b, sizeof(b)), 0);
    Chunk c;
    do {
        if (read_chunk(rr->f->ch.get(), &c) < 0) {
            rr->closed = true;
            return;
        }
        rr->chunks.push_back(c);
    } while (!(c.flags & NBD_REPLY_FLAG_DONE));
}

std::vector<Chunk> raw_read(Fixture *f, uint64_t off, uint32_t len, uint16_t flags = 0,
                            bool *closed = nullptr)
{
    RawRead rr{f, off, len, flags, {}};
    aio_run_coroutine_sync(ctx(), raw_read_entry, &rr);
    if (closed) {
        *closed = rr.closed;
    } else {
        assert_false(rr.closed);
    }
    return rr.chunks;
}

void expect(const Chunk &c, uint16_t type, uint64_t off, uint32_t len, bool done)
{
    assert_int_equal(c.type, type);
    assert_int_equal(c.offset, off);
    assert_int_equal(c.len, len);
    assert_int_equal(!!(c.flags & NBD_REPLY_FLAG_DONE), done);
    if (type == NBD_REPLY_TYPE_OFFSET_DATA) {
        assert_memory_equal(c.data.data(), disk.data.data() + off, len);
    }
}

// DDZZ DZZZ: data, hole, data, hole, in order; only the last carries DONE.
void test_mixed_chunks(void **state)
{
    Fixture *f = (Fixture *)*state;
    auto cs = raw_read(f, 0, uint32_t(8 * kBlock));
    assert_int_equal(cs.size(), 4);
    expect(cs[0], NBD_REPLY_TYPE_OFFSET_DATA, 0, 2 * kBlock, false);
    expect(cs[1], NBD_REPLY_TYPE_OFFSET_HOLE, 2 * kBlock, 2 * kBlock, false);
    expect(cs[2], NBD_REPLY_TYPE_OFFSET_DATA, 4 * kBlock, kBlock, false);
    expect(cs[3], NBD_REPLY_TYPE_OFFSET_HOLE, 5 * kBlock, 3 * kBlock, true);
}

// Unaligned edges, a read entirely inside a hole, and no reads of holes.
void test_unaligned_and_all_hole(void **state)
{
    Fixture *f = (Fixture *)*state;
    auto cs = raw_read(f, uint64_t(kBlock + 100), uint32_t(kBlock + 50));
    assert_int_equal(cs.size(), 2);
    expect(cs[0], NBD_REPLY_TYPE_OFFSET_DATA, kBlock + 100, kBlock - 100, false);
    expect(cs[1], NBD_REPLY_TYPE_OFFSET_HOLE, 2 * kBlock, 150, true);
    disk.reads = 0;
    cs = raw_read(f, uint64_t(12 * kBlock + 1), uint32_t(4 * kBlock - 1));
    assert_int_equal(cs.size(), 1);
    expect(cs[0], NBD_REPLY_TYPE_OFFSET_HOLE, 12 * kBlock + 1, 4 * kBlock - 1, true);
    assert_int_equal(disk.reads, 0);
}

// DF: one data chunk for the whole range, holes included as zero bytes.
void test_df_single_chunk(void **state)
{
    Fixture *f = (Fixture *)*state;
    auto cs = raw_read(f, 0, uint32_t(8 * kBlock), NBD_CMD_FLAG_DF);
    assert_int_equal(cs.size(), 1);
    expect(cs[0], NBD_REPLY_TYPE_OFFSET_DATA, 0, 8 * kBlock, true);
}

// A read error after a data and a hole chunk: as qemu-nbd 7.2 the reply is
// not finished (no ERROR chunk); the server drops the client.
void test_error_after_chunks(void **state)
{
    Fixture *f = (Fixture *)*state;
    disk.fail_read_at = 4 * kBlock;
    bool closed = false;
    auto cs = raw_read(f, 0, uint32_t(8 * kBlock), 0, &closed);
    disk.fail_read_at = -1;
    assert_true(closed);
    assert_int_equal(cs.size(), 2);
    expect(cs[0], NBD_REPLY_TYPE_OFFSET_DATA, 0, 2 * kBlock, false);
    expect(cs[1], NBD_REPLY_TYPE_OFFSET_HOLE, 2 * kBlock, 2 * kBlock, false);
}

// Reads inside the data extent the last block status reported need no new
// status query; a read reaching past it does.
void test_data_extent_cached(void **state)
{
    Fixture *f = (Fixture *)*state;
    disk.status_calls = 0;
    auto cs = raw_read(f, 0, 4096);
    expect(cs[0], NBD_REPLY_TYPE_OFFSET_DATA, 0, 4096, true);
    int after_first = disk.status_calls;
    assert_true(after_first >= 1);
    cs = raw_read(f, 4096, uint32_t(2 * kBlock - 4096));
    assert_int_equal(cs.size(), 1);
    expect(cs[0], NBD_REPLY_TYPE_OFFSET_DATA, 4096, 2 * kBlock - 4096, true);
    assert_int_equal(disk.status_calls, after_first);
    cs = raw_read(f, uint64_t(kBlock), uint32_t(2 * kBlock));
    assert_int_equal(cs.size(), 2);
    expect(cs[1], NBD_REPLY_TYPE_OFFSET_HOLE, 2 * kBlock, kBlock, true);
    assert_true(disk.status_calls > after_first);
}

// ---- our client assembles the mixed replies --------------------------------------

struct OneRead {
    NbdClientConn *conn;
    uint64_t offset;
    uint32_t len;
    std::vector<uint8_t> buf;
    int ret = 1;
};

void one_read_entry(void *opaque)
{
    OneRead *r = (OneRead *)opaque;
    QEMUIOVector qiov;
    r->buf.assign(r->len, 0xee);  // holes must be zeroed by the client
    qemu_iovec_init_buf(&qiov, r->buf.data(), r->len);
    NbdClientOp op = {NBD_CMD_READ, 0, r->offset, r->len, &qiov, 0, 0, 0};
    r->ret = nbd_conn_request(r->conn, &op);
}

void close_entry(void *opaque) { nbd_conn_close((NbdClientConn *)opaque); }

// Several overlapping mixed reads in flight at once through NbdClientConn.
void test_client_assembles(void **state)
{
    Fixture *f = (Fixture *)*state;
    NbdClientConn conn;
    conn.ch = std::move(f->ch);  // the negotiated channel
    conn.info = f->info;
    nbd_conn_start(&conn, ctx());
    const uint64_t offs[] = {0, 100, uint64_t(kBlock) * 3 - 7, uint64_t(kBlock) * 11, 0};
    const uint32_t lens[] = {uint32_t(kDiskSize), 4096, uint32_t(kBlock) * 3, uint32_t(kBlock) * 5,
                             uint32_t(kBlock) * 6};
    OneRead reads[5];
    for (int i = 0; i < 5; i++) {
        reads[i].conn = &conn;
        reads[i].offset = offs[i];
        reads[i].len = lens[i];
        aio_co_enter(ctx(), qemu_coroutine_create(one_read_entry, &reads[i]));
    }
    for (int n = 0; n < 10000; n++) {
        bool all = true;
        for (auto &r : reads)
            all = all && r.ret != 1;
        if (all) break;
        aio_poll(ctx(), true);
    }
    for (auto &r : reads) {
        assert_int_equal(r.ret, 0);
        assert_memory_equal(r.buf.data(), disk.data.data() + r.offset, r.len);
    }
    aio_run_coroutine_sync(ctx(), close_entry, &conn);
}

}  // namespace

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    bdrv_init();
    bdrv_register(&mem_driver);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mixed_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unaligned_and_all_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_df_single_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_after_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_extent_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_assembles, setup, teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
