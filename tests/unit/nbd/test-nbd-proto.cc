// NBD wire encode/decode: round trips, exact byte layouts from the spec, and
// every decoder refusing truncated or inconsistent input.
#include <cerrno>
#include <cstring>

#include "block/nbd/nbd-proto.h"
#include "tests/unit/util/cmocka-wrap.h"

static void test_request_layout(void **)
{
    NbdRequest r;
    r.flags = NBD_CMD_FLAG_FUA;
    r.type = NBD_CMD_WRITE;
    r.cookie = 0x0102030405060708ULL;
    r.offset = 0x1122334455667788ULL;
    r.len = 0xaabbccdd;
    uint8_t b[NBD_REQUEST_SIZE];
    nbd_request_encode(r, b);
    const uint8_t want[NBD_REQUEST_SIZE] = {
        0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x01, 1,    2,    3,    4,    5,    6,
        7,    8,    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0xaa, 0xbb, 0xcc, 0xdd};
    assert_memory_equal(b, want, sizeof(want));
    NbdRequest d;
    assert_true(nbd_request_decode(b, &d));
    assert_int_equal(d.flags, r.flags);
    assert_int_equal(d.type, r.type);
    assert_true(d.cookie == r.cookie && d.offset == r.offset && d.len == r.len);
    b[0] ^= 1;
    assert_false(nbd_request_decode(b, &d));
}

static void test_reply_headers(void **)
{
    uint8_t s[NBD_SIMPLE_REPLY_SIZE], c[NBD_STRUCTURED_REPLY_SIZE];
    NbdReply r;
    nbd_simple_reply_encode(42, NBD_EIO, s);
    assert_int_equal(nbd_reply_header_size(0x67446698), NBD_SIMPLE_REPLY_SIZE);
    assert_true(nbd_reply_decode(s, sizeof(s), &r));
    assert_false(r.structured);
    assert_int_equal(r.error, NBD_EIO);
    assert_int_equal(r.cookie, 42);
    assert_false(nbd_reply_decode(s, sizeof(s) - 1, &r));  // wrong size for magic

    nbd_structured_reply_encode(7, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, 4104, c);
    assert_int_equal(nbd_reply_header_size(0x668e33ef), NBD_STRUCTURED_REPLY_SIZE);
    assert_true(nbd_reply_decode(c, sizeof(c), &r));
    assert_true(r.structured);
    assert_int_equal(r.flags, NBD_REPLY_FLAG_DONE);
    assert_int_equal(r.type, NBD_REPLY_TYPE_OFFSET_DATA);
    assert_int_equal(r.length, 4104);
    assert_int_equal(nbd_reply_header_size(0xdeadbeef), 0);
    assert_false(nbd_reply_decode(c, 3, &r));
}

static NbdReply chunk(uint16_t type, uint32_t len, uint16_t flags = 0)
{
    NbdReply r;
    r.structured = true;
    r.type = type;
    r.length = len;
    r.flags = flags;
    return r;
}

static void test_chunk_check(void **)
{
    assert_int_equal(
        nbd_chunk_check(chunk(NBD_REPLY_TYPE_NONE, 0, NBD_REPLY_FLAG_DONE), true, false), 0);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_NONE, 0), true, false), -EIO);
    assert_int_equal(
        nbd_chunk_check(chunk(NBD_REPLY_TYPE_NONE, 4, NBD_REPLY_FLAG_DONE), true, false), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_OFFSET_DATA, 9), true, false), 0);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_OFFSET_DATA, 8), true, false), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_OFFSET_DATA, 9), false, false), -EIO);
    assert_int_equal(
        nbd_chunk_check(chunk(NBD_REPLY_TYPE_OFFSET_DATA, 8 + NBD_MAX_BUFFER + 1), true, false),
        -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_OFFSET_HOLE, 12), true, false), 0);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_OFFSET_HOLE, 16), true, false), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_BLOCK_STATUS, 12), false, true), 0);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_BLOCK_STATUS, 14), false, true), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_BLOCK_STATUS, 12), true, false), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_ERROR, 6), true, false), 0);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_ERROR, 5), true, false), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_ERROR, 0xffffffff), true, false), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_ERROR_OFFSET, 14), true, false), 0);
    assert_int_equal(nbd_chunk_check(chunk(77, 0), true, false), -EIO);
    assert_int_equal(nbd_chunk_check(chunk(NBD_REPLY_TYPE_ERR_FLAG | 50, 6), true, false), 0);
}

static void test_range_inside(void **)
{
    assert_true(nbd_range_inside(100, 10, 100, 10));
    assert_true(nbd_range_inside(105, 5, 100, 10));
    assert_false(nbd_range_inside(105, 6, 100, 10));
    assert_false(nbd_range_inside(99, 1, 100, 10));
    assert_false(nbd_range_inside(UINT64_MAX, 2, 100, 10));  // wraps
    assert_false(nbd_range_inside(100, 0xffffffff, 100, 10));
    assert_false(nbd_range_inside(UINT64_MAX - 1, 10, UINT64_MAX - 5, 5));
}

static void test_error_chunk(void **)
{
    NbdBuf b;
    b.put_u32(NBD_ENOSPC);
    b.put_u16(4);
    b.put_string("full");
    NbdErrorChunk e;
    assert_true(nbd_error_chunk_decode(b.data.data(), b.size(), false, &e));
    assert_int_equal(e.error, NBD_ENOSPC);
    assert_string_equal(e.message.c_str(), "full");
    assert_false(nbd_error_chunk_decode(b.data.data(), b.size() - 1, false, &e));
    assert_false(nbd_error_chunk_decode(b.data.data(), b.size(), true, &e));  // no offset
    b.put_u64(4096);
    assert_true(nbd_error_chunk_decode(b.data.data(), b.size(), true, &e));
    assert_int_equal(e.offset, 4096);
    // Message length larger than the payload.
    NbdBuf bad;
    bad.put_u32(NBD_EIO);
    bad.put_u16(200);
    bad.put_string("x");
    assert_false(nbd_error_chunk_decode(bad.data.data(), bad.size(), false, &e));
}

static void test_options(void **)
{
    NbdBuf b;
    nbd_option_encode(NBD_OPT_GO, 10, &b);
    assert_int_equal(b.size(), NBD_OPT_HEADER_SIZE);
    assert_memory_equal(b.data.data(), "IHAVEOPT", 8);
    NbdOption o;
    assert_true(nbd_option_decode(b.data.data(), &o));
    assert_int_equal(o.option, NBD_OPT_GO);
    assert_int_equal(o.length, 10);

    NbdBuf rb;
    nbd_opt_reply_encode(NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, 3, &rb);
    NbdOptReply r;
    assert_true(nbd_opt_reply_decode(rb.data.data(), &r));
    assert_int_equal(r.type, NBD_REP_ERR_UNKNOWN);
    rb.data[0] ^= 0xff;
    assert_false(nbd_opt_reply_decode(rb.data.data(), &r));
}

static void test_info_request(void **)
{
    NbdInfoRequest q{"disk", {NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME}}, d;
    NbdBuf b;
    nbd_info_request_encode(q, &b);
    assert_int_equal(b.size(), 4 + 4 + 2 + 4);
    assert_true(nbd_info_request_decode(b.data.data(), b.size(), &d));
    assert_string_equal(d.name.c_str(), "disk");
    assert_int_equal(d.infos.size(), 2);
    assert_int_equal(d.infos[1], NBD_INFO_NAME);
    for (size_t cut = 0; cut < b.size(); cut++) {
        assert_false(nbd_info_request_decode(b.data.data(), cut, &d));
    }
    b.put_u8(0);  // trailing garbage
    assert_false(nbd_info_request_decode(b.data.data(), b.size(), &d));
    // Name length pointing far past the buffer.
    NbdBuf h;
    h.put_u32(0xfffffff0);
    assert_false(nbd_info_request_decode(h.data.data(), h.size(), &d));
}

static void test_meta_request(void **)
{
    NbdMetaRequest q{"", {"base:allocation", "qemu:dirty-bitmap:x"}}, d;
    NbdBuf b;
    nbd_meta_request_encode(q, &b);
    assert_true(nbd_meta_request_decode(b.data.data(), b.size(), &d));
    assert_int_equal(d.queries.size(), 2);
    assert_string_equal(d.queries[0].c_str(), "base:allocation");
    for (size_t cut = 0; cut < b.size(); cut++) {
        assert_false(nbd_meta_request_decode(b.data.data(), cut, &d));
    }
    NbdBuf huge;
    huge.put_u32(0);
    huge.put_u32(0x7fffffff);  // count with no queries behind it
    assert_false(nbd_meta_request_decode(huge.data.data(), huge.size(), &d));
}

static void test_info_reply(void **)
{
    NbdExportInfo info;
    NbdBuf e;
    e.put_u16(NBD_INFO_EXPORT);
    e.put_u64(1 << 20);
    e.put_u16(NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
    assert_true(nbd_info_reply_decode(e.data.data(), e.size(), &info));
    assert_int_equal(info.size, 1 << 20);
    assert_int_equal(info.flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
    assert_false(nbd_info_reply_decode(e.data.data(), e.size() - 1, &info));

    NbdBuf bs;
    bs.put_u16(NBD_INFO_BLOCK_SIZE);
    bs.put_u32(512);
    bs.put_u32(4096);
    bs.put_u32(1 << 25);
    assert_true(nbd_info_reply_decode(bs.data.data(), bs.size(), &info));
    assert_int_equal(info.min_block, 512);
    assert_true(nbd_block_sizes_valid(info));
    info.min_block = 3;
    assert_false(nbd_block_sizes_valid(info));
    info.min_block = 8192;
    assert_false(nbd_block_sizes_valid(info));  // larger than preferred

    NbdBuf unknown;
    unknown.put_u16(99);
    unknown.put_u32(0);
    assert_true(nbd_info_reply_decode(unknown.data.data(), unknown.size(), &info));
    assert_false(nbd_info_reply_decode(unknown.data.data(), 1, &info));
}

static void test_errno_mapping(void **)
{
    assert_int_equal(nbd_errno_to_wire(EROFS), NBD_EPERM);
    assert_int_equal(nbd_errno_to_wire(EDQUOT), NBD_ENOSPC);
    assert_int_equal(nbd_errno_to_wire(ENOTSUP), NBD_ENOTSUP);
    assert_int_equal(nbd_errno_to_wire(EBADF), NBD_EIO);
    assert_int_equal(nbd_wire_to_errno(NBD_EOVERFLOW), EOVERFLOW);
    assert_int_equal(nbd_wire_to_errno(12345), EINVAL);
    assert_int_equal(nbd_wire_to_errno(0), 0);
}

static void test_cursor_bounds(void **)
{
    uint8_t buf[3] = {1, 2, 3};
    NbdCursor c(buf, 3);
    uint32_t v32;
    uint16_t v16;
    std::string s;
    assert_false(c.get_u32(&v32));
    assert_true(c.get_u16(&v16));
    assert_int_equal(v16, 0x0102);
    assert_false(c.get_string(2, 100, &s));
    assert_false(c.get_string(1, 0, &s));  // over the max
    assert_true(c.get_string(1, 1, &s));
    assert_int_equal(c.left, 0);
    assert_false(c.advance(1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_layout), cmocka_unit_test(test_reply_headers),
        cmocka_unit_test(test_chunk_check),    cmocka_unit_test(test_range_inside),
        cmocka_unit_test(test_error_chunk),    cmocka_unit_test(test_options),
        cmocka_unit_test(test_info_request),   cmocka_unit_test(test_meta_request),
        cmocka_unit_test(test_info_reply),     cmocka_unit_test(test_errno_mapping),
        cmocka_unit_test(test_cursor_bounds),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
