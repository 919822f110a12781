// The NBD client against a scripted, hostile server on a socketpair: the
// handshake (newstyle, oldstyle, export errors) and the transmission
// phase (split and out-of-order replies, unknown cookies, chunks outside the
// request, lengths that do not add up, oversized replies, status or error
// chunks that do not fit the request, disconnects with every slot busy).
// Every bad reply must fail the affected requests with -EIO and kill the
// connection; none may crash or hang.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "block/nbd/nbd-client-int.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

struct Fixture {
    int server_fd = -1;
    NbdClientConn conn;
};

AioContext *ctx() { return qemu_get_aio_context(); }

// Blocking helpers for the scripted server side.
void srv_write(Fixture *f, const void *p, size_t n)
{
    assert_int_equal(write(f->server_fd, p, n), (ssize_t)n);
}

void srv_buf(Fixture *f, const NbdBuf &b) { srv_write(f, b.data.data(), b.size()); }

NbdRequest srv_read_request(Fixture *f)
{
    uint8_t b[NBD_REQUEST_SIZE];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = read(f->server_fd, b + got, sizeof(b) - got);
        assert_true(n > 0);
        got += size_t(n);
    }
    NbdRequest r;
    assert_true(nbd_request_decode(b, &r));
    return r;
}

void srv_chunk(Fixture *f, uint64_t cookie, uint16_t flags, uint16_t type, const NbdBuf &payload)
{
    uint8_t h[NBD_STRUCTURED_REPLY_SIZE];
    nbd_structured_reply_encode(cookie, flags, type, uint32_t(payload.size()), h);
    srv_write(f, h, sizeof(h));
    srv_buf(f, payload);
}

void srv_data(Fixture *f, uint64_t cookie, uint16_t flags, uint64_t off, uint32_t len, uint8_t fill)
{
    NbdBuf p;
    p.put_u64(off);
    std::vector<uint8_t> d(len, fill);
    p.put_bytes(d.data(), d.size());
    srv_chunk(f, cookie, flags, NBD_REPLY_TYPE_OFFSET_DATA, p);
}

// A client request running in its own coroutine.
struct Req {
    NbdClientConn *conn = nullptr;
    NbdClientOp op = {};
    std::vector<uint8_t> buf;
    QEMUIOVector qiov;
    int ret = 1;
    bool done = false;
};

void req_entry(void *opaque)
{
    Req *r = (Req *)opaque;
    r->ret = nbd_conn_request(r->conn, &r->op);
    r->done = true;
}

void start(Fixture *f, Req *r, uint16_t type, uint64_t off, uint32_t len, uint16_t flags = 0)
{
    r->conn = &f->conn;
    r->buf.assign(len, 0xee);
    qemu_iovec_init_buf(&r->qiov, r->buf.data(), len);
    r->op = {type, flags, off, len, &r->qiov, 0, 0, 0};
    qemu_coroutine_enter(qemu_coroutine_create(req_entry, r));
}

void finish(Req *r)
{
    // Bounded: a hang is a failure, not a stuck test run.
    for (int i = 0; i < 10000 && !r->done; i++)
        aio_poll(ctx(), true);
    assert_true(r->done);
}

int setup(void **state)
{
    Fixture *f = new Fixture;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->server_fd = sv[1];
    f->conn.ch = std::make_unique<NbdChannel>();
    nbd_channel_init(f->conn.ch.get(), sv[0], ctx());
    f->conn.info.structured = true;
    f->conn.info.base_allocation = true;
    f->conn.info.meta_context_id = 7;
    nbd_conn_start(&f->conn, ctx());
    *state = f;
    return 0;
}

void close_entry(void *opaque) { nbd_conn_close((NbdClientConn *)opaque); }

int teardown(void **state)
{
    Fixture *f = (Fixture *)*state;
    aio_run_coroutine_sync(ctx(), close_entry, &f->conn);
    if (f->server_fd >= 0) close(f->server_fd);
    delete f;
    return 0;
}

// ---- transmission: well-formed replies ----------------------------------------------

void test_simple_reply_read(void **state)
{
    Fixture *f = (Fixture *)*state;
    f->conn.info.structured = false;
    Req r;
    start(f, &r, NBD_CMD_READ, 4096, 512);
    NbdRequest q = srv_read_request(f);
    assert_int_equal(q.type, NBD_CMD_READ);
    assert_int_equal(q.offset, 4096);
    uint8_t h[NBD_SIMPLE_REPLY_SIZE];
    nbd_simple_reply_encode(q.cookie, 0, h);
    srv_write(f, h, sizeof(h));
    std::vector<uint8_t> data(512, 0x5a);
    srv_write(f, data.data(), data.size());
    finish(&r);
    assert_int_equal(r.ret, 0);
    assert_memory_equal(r.buf.data(), data.data(), 512);
}

void test_split_read_out_of_order(void **state)
{
    Fixture *f = (Fixture *)*state;
    Req a, b;
    start(f, &a, NBD_CMD_READ, 0, 512);
    start(f, &b, NBD_CMD_READ, 1000, 300);
    NbdRequest qa = srv_read_request(f), qb = srv_read_request(f);
    // b first, in two chunks with a hole between; then a in reverse order.
    srv_data(f, qb.cookie, 0, 1200, 100, 0xbb);
    NbdBuf hole;
    hole.put_u64(1000);
    hole.put_u32(200);
    srv_chunk(f, qb.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE, hole);
    srv_data(f, qa.cookie, 0, 256, 256, 0x22);
    srv_data(f, qa.cookie, 0, 0, 256, 0x11);
    srv_chunk(f, qa.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, NbdBuf());
    finish(&a);
    finish(&b);
    assert_int_equal(a.ret, 0);
    assert_int_equal(b.ret, 0);
    assert_int_equal(a.buf[0], 0x11);
    assert_int_equal(a.buf[511], 0x22);
    assert_int_equal(b.buf[0], 0);
    assert_int_equal(b.buf[199], 0);
    assert_int_equal(b.buf[200], 0xbb);
    assert_int_equal(b.buf[299], 0xbb);
    assert_false(f->conn.dead);
}

void test_error_chunk_keeps_connection(void **state)
{
    Fixture *f = (Fixture *)*state;
    Req w;
    start(f, &w, NBD_CMD_WRITE, 0, 16);
    NbdRequest q = srv_read_request(f);
    uint8_t payload[16];
    assert_int_equal(read(f->server_fd, payload, 16), 16);
    NbdBuf e;
    e.put_u32(NBD_ENOSPC);
    e.put_u16(4);
    e.put_string("full");
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, e);
    finish(&w);
    assert_int_equal(w.ret, -ENOSPC);
    assert_false(f->conn.dead);

    Req fl;  // the connection still works
    start(f, &fl, NBD_CMD_FLUSH, 0, 0);
    q = srv_read_request(f);
    uint8_t h[NBD_SIMPLE_REPLY_SIZE];
    nbd_simple_reply_encode(q.cookie, 0, h);
    srv_write(f, h, sizeof(h));
    finish(&fl);
    assert_int_equal(fl.ret, 0);
}

void test_block_status(void **state)
{
    Fixture *f = (Fixture *)*state;
    Req r;
    start(f, &r, NBD_CMD_BLOCK_STATUS, 0, 1 << 20, NBD_CMD_FLAG_REQ_ONE);
    NbdRequest q = srv_read_request(f);
    assert_int_equal(q.flags, NBD_CMD_FLAG_REQ_ONE);
    NbdBuf p;
    p.put_u32(7);
    p.put_u32(4 << 20);  // longer than asked: clamped
    p.put_u32(NBD_STATE_HOLE | NBD_STATE_ZERO);
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, p);
    finish(&r);
    assert_int_equal(r.ret, 0);
    assert_int_equal(r.op.extent_len, 1 << 20);
    assert_int_equal(r.op.extent_flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
}

// ---- transmission: hostile replies ------------------------------------------------------

// Starts two reads, sends @bad for the first, and checks both fail with
// -EIO and the connection is dead.
void expect_fatal(Fixture *f, void (*bad)(Fixture *, const NbdRequest &))
{
    Req a, b;
    start(f, &a, NBD_CMD_READ, 4096, 512);
    start(f, &b, NBD_CMD_READ, 0, 512);
    NbdRequest qa = srv_read_request(f);
    srv_read_request(f);
    bad(f, qa);
    finish(&a);
    finish(&b);
    assert_int_equal(a.ret, -EIO);
    assert_int_equal(b.ret, -EIO);
    assert_true(f->conn.dead);
    Req c;  // later requests fail at once instead of hanging
    start(f, &c, NBD_CMD_READ, 0, 512);
    finish(&c);
    assert_int_equal(c.ret, -ENOTCONN);
}

void bad_cookie(Fixture *f, const NbdRequest &q)
{
    srv_data(f, q.cookie ^ 0x10000, NBD_REPLY_FLAG_DONE, 4096, 512, 1);
}

void bad_outside(Fixture *f, const NbdRequest &q)
{
    srv_data(f, q.cookie, NBD_REPLY_FLAG_DONE, 4096 + 256, 512, 1);
}

void bad_short(Fixture *f, const NbdRequest &q)
{
    srv_data(f, q.cookie, NBD_REPLY_FLAG_DONE, 4096, 256, 1);  // DONE, half missing
}

void bad_overlap(Fixture *f, const NbdRequest &q)
{
    srv_data(f, q.cookie, 0, 4096, 512, 1);
    srv_data(f, q.cookie, NBD_REPLY_FLAG_DONE, 4096, 512, 1);  // 1024 bytes for 512
}

void bad_oversized(Fixture *f, const NbdRequest &q)
{
    uint8_t h[NBD_STRUCTURED_REPLY_SIZE];
    nbd_structured_reply_encode(q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA,
                                0xfffffff0, h);
    srv_write(f, h, sizeof(h));
}

void bad_magic(Fixture *f, const NbdRequest &)
{
    srv_write(f, "\xde\xad\xbe\xef\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
}

void bad_hole_len(Fixture *f, const NbdRequest &q)
{
    NbdBuf p;
    p.put_u64(4096);
    p.put_u32(512);
    p.put_u32(0);  // a hole chunk is 12 bytes, not 16
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_HOLE, p);
}

void bad_error_msg_len(Fixture *f, const NbdRequest &q)
{
    NbdBuf p;
    p.put_u32(NBD_EIO);
    p.put_u16(100);  // claims 100 bytes of message, has 2
    p.put_string("ab");
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, p);
}

void bad_unknown_type(Fixture *f, const NbdRequest &q)
{
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, 42, NbdBuf());
}

void bad_disconnect(Fixture *f, const NbdRequest &q)
{
    NbdBuf p;
    p.put_u64(4096);
    p.put_bytes("partial", 7);
    uint8_t h[NBD_STRUCTURED_REPLY_SIZE];
    nbd_structured_reply_encode(q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, 520, h);
    srv_write(f, h, sizeof(h));
    srv_buf(f, p);
    close(f->server_fd);  // mid-payload
    f->server_fd = -1;
}

void bad_status_chunk_for_read(Fixture *f, const NbdRequest &q)
{
    NbdBuf p;
    p.put_u32(7);
    p.put_u32(512);
    p.put_u32(0);
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, p);
}

void bad_error_offset_outside(Fixture *f, const NbdRequest &q)
{
    NbdBuf p;
    p.put_u32(NBD_EIO);
    p.put_u16(0);
    p.put_u64(0);  // the request covers [4096, 4608)
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR_OFFSET, p);
}

void bad_error_zero(Fixture *f, const NbdRequest &q)
{
    NbdBuf p;
    p.put_u32(0);  // an error chunk that claims success
    p.put_u16(0);
    srv_chunk(f, q.cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, p);
}

void bad_disconnect_before_reply(Fixture *f, const NbdRequest &)
{
    close(f->server_fd);
    f->server_fd = -1;
}

void test_status_chunk_for_read(void **s)
{
    expect_fatal((Fixture *)*s, bad_status_chunk_for_read);
}
void test_error_offset_outside(void **s) { expect_fatal((Fixture *)*s, bad_error_offset_outside); }
void test_error_chunk_without_error(void **s) { expect_fatal((Fixture *)*s, bad_error_zero); }
void test_disconnect_before_reply(void **s)
{
    expect_fatal((Fixture *)*s, bad_disconnect_before_reply);
}

// Every slot in flight when the server goes away: all fail with -EIO.
void test_disconnect_with_all_slots_busy(void **state)
{
    Fixture *f = (Fixture *)*state;
    std::vector<Req> reqs(NBD_CLIENT_MAX_REQUESTS);
    for (unsigned i = 0; i < reqs.size(); i++)
        start(f, &reqs[i], NBD_CMD_READ, i * 512, 512);
    for (unsigned i = 0; i < reqs.size(); i++)
        srv_read_request(f);
    close(f->server_fd);
    f->server_fd = -1;
    for (Req &r : reqs) {
        finish(&r);
        assert_int_equal(r.ret, -EIO);
    }
}

void test_unknown_cookie(void **s) { expect_fatal((Fixture *)*s, bad_cookie); }
void test_chunk_outside_request(void **s) { expect_fatal((Fixture *)*s, bad_outside); }
void test_lengths_do_not_add_up(void **s) { expect_fatal((Fixture *)*s, bad_short); }
void test_overlapping_chunks(void **s) { expect_fatal((Fixture *)*s, bad_overlap); }
void test_oversized_chunk(void **s) { expect_fatal((Fixture *)*s, bad_oversized); }
void test_bad_magic(void **s) { expect_fatal((Fixture *)*s, bad_magic); }
void test_bad_hole_length(void **s) { expect_fatal((Fixture *)*s, bad_hole_len); }
void test_bad_error_message(void **s) { expect_fatal((Fixture *)*s, bad_error_msg_len); }
void test_unknown_chunk_type(void **s) { expect_fatal((Fixture *)*s, bad_unknown_type); }
void test_disconnect_mid_reply(void **s) { expect_fatal((Fixture *)*s, bad_disconnect); }

void test_simple_reply_to_structured_read(void **state)
{
    Fixture *f = (Fixture *)*state;
    expect_fatal(f, [](Fixture *fx, const NbdRequest &q) {
        uint8_t h[NBD_SIMPLE_REPLY_SIZE];
        nbd_simple_reply_encode(q.cookie, 0, h);
        srv_write(fx, h, sizeof(h));
    });
}

// ---- handshake -------------------------------------------------------------------------

struct Shake {
    NbdChannel *ch;
    std::string name;
    NbdExportInfo info;
    ErrorPtr err;
    int ret = 1;
};

void shake_entry(void *opaque)
{
    Shake *s = (Shake *)opaque;
    s->ret = nbd_client_handshake(s->ch, s->name, &s->info, &s->err);
}

// Runs the client handshake against a pre-written server script.
int run_handshake(const NbdBuf &script, Shake *s)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(write(sv[1], script.data.data(), script.size()), (ssize_t)script.size());
    shutdown(sv[1], SHUT_WR);  // the script is all the server will ever say
    NbdChannel ch;
    nbd_channel_init(&ch, sv[0], ctx());
    s->ch = &ch;
    aio_run_coroutine_sync(ctx(), shake_entry, s);
    close(sv[1]);
    return s->ret;
}

void greeting(NbdBuf *b, uint64_t second_magic = NBD_OPTS_MAGIC)
{
    b->put_u64(NBD_INIT_MAGIC);
    b->put_u64(second_magic);
    b->put_u16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

void rep(NbdBuf *b, uint32_t opt, uint32_t type, const NbdBuf &payload = NbdBuf())
{
    nbd_opt_reply_encode(opt, type, uint32_t(payload.size()), b);
    b->put_bytes(payload.data.data(), payload.size());
}

void test_handshake_go(void **)
{
    NbdBuf s;
    greeting(&s);
    rep(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
    NbdBuf meta;
    meta.put_u32(9);
    meta.put_string("base:allocation");
    rep(&s, NBD_OPT_SET_META_CONTEXT, NBD_REP_META_CONTEXT, meta);
    rep(&s, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK);
    NbdBuf bsz, exp;
    bsz.put_u16(NBD_INFO_BLOCK_SIZE);
    bsz.put_u32(512);
    bsz.put_u32(4096);
    bsz.put_u32(1 << 20);
    rep(&s, NBD_OPT_GO, NBD_REP_INFO, bsz);
    exp.put_u16(NBD_INFO_EXPORT);
    exp.put_u64(123456 * 512ULL);
    exp.put_u16(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
    rep(&s, NBD_OPT_GO, NBD_REP_INFO, exp);
    rep(&s, NBD_OPT_GO, NBD_REP_ACK);
    Shake sh;
    sh.name = "disk";
    assert_int_equal(run_handshake(s, &sh), 0);
    assert_true(sh.info.structured);
    assert_true(sh.info.base_allocation);
    assert_int_equal(sh.info.meta_context_id, 9);
    assert_int_equal(sh.info.size, 123456 * 512ULL);
    assert_int_equal(sh.info.min_block, 512);
    assert_int_equal(sh.info.max_block, 1 << 20);
}

void test_handshake_export_name_fallback(void **)
{
    NbdBuf s;
    greeting(&s);
    rep(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_UNSUP);
    rep(&s, NBD_OPT_GO, NBD_REP_ERR_UNSUP);
    s.put_u64(1 << 20);  // EXPORT_NAME answer (NO_ZEROES negotiated)
    s.put_u16(NBD_FLAG_HAS_FLAGS);
    Shake sh;
    assert_int_equal(run_handshake(s, &sh), 0);
    assert_false(sh.info.structured);
    assert_int_equal(sh.info.size, 1 << 20);
}

// An oldstyle greeting: magic, size, 32-bit flags, 124 reserved bytes.
void oldstyle_greeting(NbdBuf *b, uint32_t flags = NBD_FLAG_HAS_FLAGS)
{
    b->put_u64(NBD_INIT_MAGIC);
    b->put_u64(NBD_CLIENT_MAGIC);
    b->put_u64(1 << 20);
    b->put_u32(flags);
    for (int i = 0; i < 124; i++)
        b->put_u8(0);
}

void test_handshake_oldstyle(void **)
{
    NbdBuf s;
    oldstyle_greeting(&s);
    Shake sh;
    assert_int_equal(run_handshake(s, &sh), 0);
    assert_false(sh.info.structured);
    assert_int_equal(sh.info.size, 1 << 20);
    assert_int_equal(sh.info.flags, NBD_FLAG_HAS_FLAGS);
}

void test_handshake_oldstyle_errors(void **)
{
    NbdBuf s;
    oldstyle_greeting(&s);
    Shake named;
    named.name = "foo";
    assert_true(run_handshake(s, &named) < 0);
    assert_string_equal(error_get_pretty(named.err.err),
                        "Server does not support non-empty export names");
    NbdBuf bad;
    oldstyle_greeting(&bad, 0x10000);
    Shake sh;
    assert_true(run_handshake(bad, &sh) < 0);
    assert_string_equal(error_get_pretty(sh.err.err), "Unexpected export flags 10000x");
    // Cut short at each field: QEMU's message for the field being read.
    const struct {
        size_t cut;
        const char *what;
    } cuts[] = {{0, "initial magic"},
                {8, "server magic"},
                {16, "export length"},
                {24, "export flags"},
                {28, "reserved block"}};
    for (const auto &c : cuts) {
        NbdBuf part;
        part.put_bytes(s.data.data(), c.cut);
        Shake cut;
        assert_true(run_handshake(part, &cut) < 0);
        std::string want = std::string("Failed to read ") + c.what +
                           ": Unexpected end-of-file before all data were read";
        assert_string_equal(error_get_pretty(cut.err.err), want.c_str());
    }
}

void test_handshake_unknown_export(void **)
{
    NbdBuf s, msg;
    greeting(&s);
    rep(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
    rep(&s, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK);
    msg.put_string("export 'nope' not present");
    rep(&s, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, msg);
    Shake sh;
    sh.name = "nope";
    assert_true(run_handshake(s, &sh) < 0);
    assert_string_equal(
        error_get_pretty(sh.err.err),
        "Requested export not available\nserver reported: export 'nope' not present");
}

void test_handshake_hostile(void **)
{
    // Truncated at every byte of a valid script: always a clean error.
    NbdBuf full;
    greeting(&full);
    rep(&full, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
    rep(&full, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK);
    NbdBuf exp;
    exp.put_u16(NBD_INFO_EXPORT);
    exp.put_u64(4096);
    exp.put_u16(NBD_FLAG_HAS_FLAGS);
    rep(&full, NBD_OPT_GO, NBD_REP_INFO, exp);
    rep(&full, NBD_OPT_GO, NBD_REP_ACK);
    for (size_t cut = 0; cut < full.size(); cut += 3) {
        NbdBuf part;
        part.put_bytes(full.data.data(), cut);
        Shake sh;
        assert_true(run_handshake(part, &sh) < 0);
        assert_non_null(sh.err.err);
    }
    // A reply claiming a huge payload is refused before allocating it.
    NbdBuf huge;
    greeting(&huge);
    nbd_opt_reply_encode(NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, 0xffffffff, &huge);
    Shake sh;
    assert_true(run_handshake(huge, &sh) < 0);
    // INFO_EXPORT with a wrong length.
    NbdBuf badinfo, short_exp;
    greeting(&badinfo);
    rep(&badinfo, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
    rep(&badinfo, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK);
    short_exp.put_u16(NBD_INFO_EXPORT);
    short_exp.put_u32(1);
    rep(&badinfo, NBD_OPT_GO, NBD_REP_INFO, short_exp);
    Shake sh2;
    assert_true(run_handshake(badinfo, &sh2) < 0);
}

}  // namespace

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_simple_reply_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_read_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_chunk_keeps_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_outside_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lengths_do_not_add_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlapping_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_hole_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_error_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_chunk_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_mid_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simple_reply_to_structured_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_chunk_for_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_offset_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_chunk_without_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_before_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_with_all_slots_busy, setup, teardown),
        cmocka_unit_test(test_handshake_go),
        cmocka_unit_test(test_handshake_export_name_fallback),
        cmocka_unit_test(test_handshake_oldstyle),
        cmocka_unit_test(test_handshake_oldstyle_errors),
        cmocka_unit_test(test_handshake_unknown_export),
        cmocka_unit_test(test_handshake_hostile),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
