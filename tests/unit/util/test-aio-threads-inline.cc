// aio=threads inline modes: what aio_threads_try_inline does in the caller
// for each mode (nothing, cached reads only, writes while they are fast,
// reads and writes), that it
// stops short at EOF so the caller's pool request sees the EOF, and that a
// request done partly inline still completes through the pool.
#include <fcntl.h>
#include <unistd.h>

#include "tests/unit/util/test-aio-io.h"
#include "util/iov.h"

namespace {

const size_t kLen = 64 * 1024;

int64_t try_inline(int fd, uint64_t off, void *buf, size_t len, AioOp op)
{
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, buf, len);
    return aio_threads_try_inline(fd, off, &q, op);
}

struct ModeGuard {
    explicit ModeGuard(AioThreadsInline m) { aio_threads_set_inline(m); }
    ~ModeGuard() { aio_threads_set_inline(AioThreadsInline::Off); }
};

void test_off_does_nothing(void **)
{
    TempFile f;
    write_pattern_file(f, kLen);
    std::vector<uint8_t> buf(kLen);
    uint64_t before = aio_backend_stats(AioBackend::Threads).inline_bytes;
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Read), 0);
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Write), 0);
    assert_int_equal(aio_backend_stats(AioBackend::Threads).inline_bytes, before);
}

// Just-written pages are in the page cache: served in the caller.  Writes
// still go to the pool.
void test_cached_reads(void **)
{
    ModeGuard m(AioThreadsInline::CachedReads);
    TempFile f;
    write_pattern_file(f, kLen);
    std::vector<uint8_t> buf(kLen);
    uint64_t before = aio_backend_stats(AioBackend::Threads).inline_bytes;
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Read), (int64_t)kLen);
    assert_true(check_pattern(buf.data(), 0, kLen));
    assert_int_equal(aio_backend_stats(AioBackend::Threads).inline_bytes, before + kLen);
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Write), 0);
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Flush), 0);
}

// A read across EOF stops at EOF (the pool request for the rest reports
// it); one wholly past EOF does nothing.
void test_read_stops_at_eof(void **)
{
    ModeGuard m(AioThreadsInline::CachedReads);
    TempFile f;
    write_pattern_file(f, kLen);
    std::vector<uint8_t> buf(2 * kLen);
    assert_int_equal(try_inline(f.fd, kLen / 2, buf.data(), kLen, AioOp::Read),
                     (int64_t)(kLen / 2));
    assert_true(check_pattern(buf.data(), kLen / 2, kLen / 2));
    assert_int_equal(try_inline(f.fd, 2 * kLen, buf.data(), kLen, AioOp::Read), 0);
}

void test_all_writes_inline(void **)
{
    ModeGuard m(AioThreadsInline::All);
    TempFile f;
    std::vector<uint8_t> buf(kLen);
    fill_pattern(buf.data(), 4096, kLen);
    assert_int_equal(try_inline(f.fd, 4096, buf.data(), kLen, AioOp::Write), (int64_t)kLen);
    std::vector<uint8_t> back(kLen);
    assert_int_equal(pread(f.fd, back.data(), kLen, 4096), (ssize_t)kLen);
    assert_true(check_pattern(back.data(), 4096, kLen));
}

// FastWrites: writes run in the caller until one is slow; then the pool
// takes them for a while (here: a threshold of -1 ns makes any write slow).
void test_fast_writes_back_off(void **)
{
    ModeGuard m(AioThreadsInline::FastWrites);
    TempFile f;
    std::vector<uint8_t> buf(kLen);
    fill_pattern(buf.data(), 0, kLen);
    aio_threads_set_slow_write_ns(1000000000);
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Write), (int64_t)kLen);
    uint64_t stalls = aio_backend_stats(AioBackend::Threads).inline_write_stalls;
    aio_threads_set_slow_write_ns(-1);
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Write), (int64_t)kLen);
    assert_int_equal(aio_backend_stats(AioBackend::Threads).inline_write_stalls, stalls + 1);
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Write), 0);  // backing off
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Read), (int64_t)kLen);
    aio_threads_set_slow_write_ns(1000000);  // forgets the backoff
    assert_int_equal(try_inline(f.fd, 0, buf.data(), kLen, AioOp::Write), (int64_t)kLen);
}

// Errors are the answer, not a reason to retry in the pool.
void test_write_error_returned(void **)
{
    ModeGuard m(AioThreadsInline::All);
    TempFile f;
    int ro = open(f.path.c_str(), O_RDONLY);
    assert_true(ro >= 0);
    uint8_t b[512] = {};
    assert_int_equal(try_inline(ro, 0, b, sizeof(b), AioOp::Write), -EBADF);
    close(ro);
}

// Through aio_backend_co_submit's users the mode changes nothing visible:
// the pool path still reads what the inline path would have.
void test_pool_path_unchanged(void **)
{
    ModeGuard m(AioThreadsInline::All);
    CtxGuard c;
    TempFile f;
    write_pattern_file(f, kLen);
    std::vector<uint8_t> buf(kLen);
    assert_int_equal(run_one(c.ctx, AioBackend::Threads, f.fd, 0, buf.data(), kLen, AioOp::Read),
                     (int)kLen);
    assert_true(check_pattern(buf.data(), 0, kLen));
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_does_nothing),     cmocka_unit_test(test_cached_reads),
        cmocka_unit_test(test_read_stops_at_eof),    cmocka_unit_test(test_all_writes_inline),
        cmocka_unit_test(test_fast_writes_back_off), cmocka_unit_test(test_write_error_returned),
        cmocka_unit_test(test_pool_path_unchanged),
    };
    aio_test_apply_filter();
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
