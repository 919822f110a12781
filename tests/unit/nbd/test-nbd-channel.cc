// NbdChannel on a socketpair: the read-ahead buffer must hand out exactly the
// bytes of the stream whatever mix of small (buffered) and large (direct)
// reads consumes it, including a large read whose start already sits in the
// buffer; EOF between messages is clean, inside one is not; a shut down
// channel fails reads even with bytes still buffered.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "block/nbd/nbd-socket.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

AioContext *ctx() { return qemu_get_aio_context(); }

struct Pair {
    NbdChannel ch;
    int peer = -1;
    Pair()
    {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        nbd_channel_init(&ch, sv[0], ctx());
        peer = sv[1];
    }
    ~Pair()
    {
        if (peer >= 0) close(peer);
    }
};

std::vector<uint8_t> pattern(size_t n)
{
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; i++)
        v[i] = uint8_t(i * 31 + i / 251);
    return v;
}

// The peer writes the stream in pieces from a coroutine that yields between
// them, so reads see partial data, EAGAIN and wake-ups.
struct Writer {
    int fd;
    const std::vector<uint8_t> *data;
    size_t piece;
    bool close_at_end;
    bool done = false;
};

void writer_entry(void *opaque)
{
    Writer *w = (Writer *)opaque;
    size_t off = 0;
    while (off < w->data->size()) {
        size_t n = std::min(w->piece, w->data->size() - off);
        ssize_t r = write(w->fd, w->data->data() + off, n);
        if (r < 0 && errno == EAGAIN) {
            qemu_coroutine_yield_to_loop();
            continue;
        }
        assert_true(r > 0 || (r < 0 && errno == EPIPE));
        if (r < 0) break;  // the reader gave up: nothing more to write
        off += size_t(r);
        qemu_coroutine_yield_to_loop();
    }
    if (w->close_at_end) shutdown(w->fd, SHUT_WR);
    w->done = true;
}

struct Reader {
    NbdChannel *ch;
    std::vector<size_t> sizes;  // read sizes in order; a 0 reads with readv in two parts
    std::vector<uint8_t> got;
    int ret = 0;
    bool eof_clean = false;
    bool done = false;
};

void reader_entry(void *opaque)
{
    Reader *r = (Reader *)opaque;
    size_t at = 0;
    for (size_t i = 0; i < r->sizes.size(); i++) {
        size_t n = r->sizes[i];
        r->got.resize(at + n);
        if (i % 2) {
            struct iovec iov[2] = {{r->got.data() + at, n / 3},
                                   {r->got.data() + at + n / 3, n - n / 3}};
            r->ret = nbd_channel_readv(r->ch, iov, 2);
        } else {
            r->ret = nbd_channel_read(r->ch, r->got.data() + at, n, &r->eof_clean);
        }
        if (r->ret < 0) break;
        at += n;
    }
    r->done = true;
}

void run(Pair *p, Writer *w, Reader *r)
{
    nbd_socket_set_nonblock(p->peer, true);
    aio_co_enter(ctx(), qemu_coroutine_create(writer_entry, w));
    aio_co_enter(ctx(), qemu_coroutine_create(reader_entry, r));
    for (int i = 0; i < 1000000 && (!r->done || !w->done); i++)
        aio_poll(ctx(), true);
    assert_true(r->done && w->done);  // bounded: a hang fails
}

void test_mixed_sizes(void **)
{
    const size_t sizes[] = {20, 8, 300000, 28, 4096, 20, 8, 1 << 20, 16, 40000, 3, 70000, 1};
    size_t total = 0;
    for (size_t s : sizes)
        total += s;
    std::vector<uint8_t> data = pattern(total);
    for (size_t piece : {size_t(1000), size_t(4096), size_t(100000), total}) {
        Pair p;
        Writer w{p.peer, &data, piece, false};
        Reader r{&p.ch, std::vector<size_t>(std::begin(sizes), std::end(sizes)), {}};
        run(&p, &w, &r);
        assert_int_equal(r.ret, 0);
        assert_int_equal(r.got.size(), data.size());
        assert_memory_equal(r.got.data(), data.data(), data.size());
    }
}

void test_eof(void **)
{
    std::vector<uint8_t> data = pattern(100);
    {
        // EOF right after a whole message: clean.
        Pair p;
        Writer w{p.peer, &data, 100, true};
        Reader r{&p.ch, {40, 60, 20}, {}};
        run(&p, &w, &r);
        assert_int_equal(r.ret, -ECONNRESET);
        assert_true(r.eof_clean);
        assert_memory_equal(r.got.data(), data.data(), 100);
    }
    {
        // EOF in the middle of a message (part of it was buffered): not clean.
        Pair p;
        Writer w{p.peer, &data, 100, true};
        Reader r{&p.ch, {40, 80}, {}};
        run(&p, &w, &r);
        assert_int_equal(r.ret, -ECONNRESET);
        assert_false(r.eof_clean);
    }
}

void read_after_shutdown_entry(void *opaque)
{
    Pair *p = (Pair *)opaque;
    uint8_t b[10];
    assert_int_equal(nbd_channel_read(&p->ch, b, 10), 0);
    nbd_channel_shutdown(&p->ch);
    assert_int_equal(nbd_channel_read(&p->ch, b, 10), -EIO);
}

void test_shutdown_discards_buffer(void **)
{
    Pair p;
    std::vector<uint8_t> data = pattern(100);
    assert_int_equal(write(p.peer, data.data(), data.size()), 100);
    aio_run_coroutine_sync(ctx(), read_after_shutdown_entry, &p);
}

}  // namespace

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_sizes),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_shutdown_discards_buffer),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
