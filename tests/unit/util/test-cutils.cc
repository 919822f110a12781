// qemu_strtosz / size_to_str / keyval / Error / iovec helpers.
#include <cerrno>
#include <cstring>
#include <utility>

#include "tests/unit/util/cmocka-wrap.h"
#include "util/cutils.h"
#include "util/error.h"
#include "util/iov.h"
#include "util/keyval.h"

static void expect_sz(const char *s, uint64_t want)
{
    uint64_t v = 0xdead;
    int ret = qemu_strtosz(s, &v);
    if (ret != 0 || v != want) {
        fail_msg("qemu_strtosz(\"%s\") = %d, %llu; want %llu", s, ret, (unsigned long long)v,
                 (unsigned long long)want);
    }
}

static void expect_sz_err(const char *s, int err)
{
    uint64_t v = 0xdead;
    int ret = qemu_strtosz(s, &v);
    if (ret != err || v != 0xdead) {
        fail_msg("qemu_strtosz(\"%s\") = %d; want %d, untouched result", s, ret, err);
    }
}

static void test_strtosz_ok(void **)
{
    expect_sz("0", 0);
    expect_sz("512", 512);
    expect_sz("512b", 512);
    expect_sz("64k", 64 << 10);
    expect_sz("64K", 64 << 10);
    expect_sz("1M", 1 << 20);
    expect_sz("1.5G", 3ULL << 29);
    expect_sz("2G", 2ULL << 30);
    expect_sz("1T", 1ULL << 40);
    expect_sz("1P", 1ULL << 50);
    expect_sz("1E", 1ULL << 60);
    expect_sz("1.k", 1024);
    expect_sz("0.5k", 512);
    expect_sz("0x10", 16);
    expect_sz(" 12", 12);
    expect_sz("18446744073709551615", UINT64_MAX);
    uint64_t v;
    assert_int_equal(qemu_strtosz_unit("3", 1 << 20, &v), 0);
    assert_int_equal(v, 3 << 20);
    assert_int_equal(qemu_strtosz_unit("3k", 1 << 20, &v), 0);
    assert_int_equal(v, 3 << 10);
}

static void test_strtosz_bad(void **)
{
    expect_sz_err("", -EINVAL);
    expect_sz_err("abc", -EINVAL);
    expect_sz_err("12x", -EINVAL);
    expect_sz_err("1kk", -EINVAL);
    expect_sz_err("-1", -EINVAL);
    expect_sz_err("1.5", -EINVAL);     // fraction without unit
    expect_sz_err("1.5e3k", -EINVAL);  // exponent
    expect_sz_err("0x1k", -EINVAL);    // hex with suffix
    expect_sz_err("0x1.5", -EINVAL);
    expect_sz_err("16E", -ERANGE);
    expect_sz_err("99999999999999999999", -ERANGE);
}

static void test_size_to_str(void **)
{
    assert_string_equal(size_to_str(0).c_str(), "0 B");
    assert_string_equal(size_to_str(512).c_str(), "512 B");
    assert_string_equal(size_to_str(1000).c_str(), "0.977 KiB");
    assert_string_equal(size_to_str(1024).c_str(), "1 KiB");
    assert_string_equal(size_to_str(64ULL << 20).c_str(), "64 MiB");
    assert_string_equal(size_to_str(3ULL << 29).c_str(), "1.5 GiB");
    assert_string_equal(size_to_str(1ULL << 40).c_str(), "1 TiB");
    assert_string_equal(size_to_str(197120).c_str(), "192 KiB");
}

static void test_strtoi64(void **)
{
    int64_t v;
    assert_int_equal(qemu_strtoi64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(qemu_strtoi64("0x10", &v), 0);
    assert_int_equal(v, 16);
    assert_int_equal(qemu_strtoi64("12a", &v), -EINVAL);
    assert_int_equal(qemu_strtoi64("", &v), -EINVAL);
    assert_int_equal(qemu_strtoi64("99999999999999999999", &v), -ERANGE);
}

static void test_keyval(void **)
{
    QDict d;
    ErrorPtr err;
    assert_true(
        keyval_parse("disk.qcow2,driver=qcow2,file.filename=a,,b,read-only", "file", &d, &err));
    assert_string_equal(d.get("file"), "disk.qcow2");
    assert_string_equal(d.get("driver"), "qcow2");
    assert_string_equal(d.get("file.filename"), "a,b");
    assert_string_equal(d.get("read-only"), "on");
    assert_null(d.get("nope"));
    QDict sub = d.extract_subdict("file");
    assert_string_equal(sub.get("filename"), "a,b");
    assert_false(d.has("file.filename"));
    assert_true(d.has("file"));

    QDict e;
    assert_false(keyval_parse("=x", nullptr, &e, &err));
    assert_non_null(err.err);
    QDict f;
    assert_true(keyval_parse("size=1G,,x=", nullptr, &f, nullptr));
    assert_string_equal(f.get("size"), "1G,x=");
    bool b;
    assert_true(keyval_parse_bool("on", &b) && b);
    assert_true(keyval_parse_bool("off", &b) && !b);
    assert_false(keyval_parse_bool("maybe", &b));
}

static void test_error(void **)
{
    ErrorPtr err;
    error_setg_errno(&err, ENOENT, "Could not open '%s'", "x");
    error_prepend(&err, "%s: ", "drive");
    assert_string_equal(error_get_pretty(err.get()),
                        "drive: Could not open 'x': No such file or directory");
    ErrorPtr dst;
    const Error *moved = err.get();
    error_propagate(&dst, err.release());
    assert_ptr_equal(dst.get(), moved);
    assert_null(err.get());
    error_setg(nullptr, "ignored");
    error_set_progname("/usr/bin/qemu-img-lite");
    assert_string_equal(error_get_progname(), "qemu-img-lite");
}

// ErrorPtr owns exactly one Error: reset() frees the old one, a move hands
// it over (ASan's leak check and double-free detection cover the rest).
static void test_error_ptr(void **)
{
    ErrorPtr a;
    assert_false(static_cast<bool>(a));
    error_setg(&a, "first");
    assert_true(static_cast<bool>(a));
    ErrorPtr holder;
    error_setg(&holder, "second");
    Error *second = holder.release();
    a.reset(second);  // frees "first"
    assert_ptr_equal(a.get(), second);
    a.reset(second);  // the one already held: kept, not freed
    assert_string_equal(error_get_pretty(a.get()), "second");
    ErrorPtr b(std::move(a));
    assert_null(a.get());
    assert_ptr_equal(b.get(), second);
    ErrorPtr c;
    error_setg(&c, "third");
    c = std::move(b);  // frees "third"
    assert_ptr_equal(c.get(), second);
    c.reset();
    assert_null(c.get());
}

static void test_iov(void **)
{
    char a[8], b[8], out[16];
    QEMUIOVector q;
    qemu_iovec_init(&q);
    qemu_iovec_add(&q, a, sizeof(a));
    qemu_iovec_add(&q, b, sizeof(b));
    assert_int_equal(q.size, 16);
    assert_int_equal(qemu_iovec_from_buf(&q, 0, "0123456789abcdef", 16), 16);
    assert_memory_equal(b, "89abcdef", 8);
    QEMUIOVector part;
    qemu_iovec_init(&part);
    qemu_iovec_concat(&part, &q, 6, 4);
    assert_int_equal(part.niov(), 2);
    assert_int_equal(qemu_iovec_to_buf(&part, 0, out, 4), 4);
    assert_memory_equal(out, "6789", 4);
    assert_false(qemu_iovec_is_zero(&q, 0, 16));
    qemu_iovec_memset(&q, 4, 0, 10);
    assert_true(qemu_iovec_is_zero(&q, 4, 10));
    assert_false(qemu_iovec_is_zero(&q, 3, 10));
    void *p = qemu_memalign(4096, 4096);
    assert_int_equal((uintptr_t)p % 4096, 0);
    qemu_vfree(p);
}

static void test_uri_percent_decode(void **)
{
    std::string out;
    assert_true(uri_percent_decode("a%20b%2Fc%7e", &out));
    assert_string_equal(out.c_str(), "a b/c~");
    assert_true(uri_percent_decode("", &out));
    assert_string_equal(out.c_str(), "");
    assert_false(uri_percent_decode("bad%2", &out));
    assert_false(uri_percent_decode("bad%zz", &out));
    assert_int_equal(hex_digit_value('F'), 15);
    assert_int_equal(hex_digit_value('g'), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtosz_ok),
        cmocka_unit_test(test_strtosz_bad),
        cmocka_unit_test(test_size_to_str),
        cmocka_unit_test(test_strtoi64),
        cmocka_unit_test(test_keyval),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_error_ptr),
        cmocka_unit_test(test_iov),
        cmocka_unit_test(test_uri_percent_decode),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
