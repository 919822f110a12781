// The NBD channel's TLS layer in-process over a socketpair, with PSK
// credentials written here (no certtool needed): messages of every size
// cross it intact in both directions at once (read-ahead, records, large
// reads decrypted in place, writers flushing while the reader runs), authz
// refuses the wrong user, and a wrong key or a peer that hangs up in the
// handshake fails both ends without a hang.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "block/nbd/nbd-socket.h"
#include "block/nbd/nbd-tls-int.h"
#include "crypto/crypto.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/aio.h"

namespace {

std::string tmpdir;

AioContext *ctx() { return qemu_get_aio_context(); }

void write_psk(const std::string &dir, const char *line)
{
    mkdir(dir.c_str(), 0700);
    FILE *f = fopen((dir + "/keys.psk").c_str(), "w");
    assert_non_null(f);
    fprintf(f, "%s\n", line);
    fclose(f);
}

void add_object(const std::string &spec)
{
    bool help;
    ErrorPtr err;
    if (!user_creatable_add(spec.c_str(), &help, &err)) fail_msg("%s", error_get_pretty(err.err));
}

// One side of a connection: its channel and what its coroutine saw.
struct Side {
    Side(TlsEndpoint e, const char *c, const char *a = nullptr) : ep(e), creds(c), authz(a) {}
    NbdChannel ch;
    TlsEndpoint ep;
    const char *creds;
    const char *authz;
    int ret = 1;  // 1: still running
    std::string err;
    std::vector<uint8_t> received;
    size_t expect = 0;         // bytes to receive after the handshake
    bool close_early = false;  // hang up instead of shaking hands
};

// The message sizes each side sends: headers, small payloads through the
// read-ahead, record-sized and 1 MiB payloads through the in-place path.
const size_t kSizes[] = {1, 4, 28, 4096, 16384, 16385, 40000, 1 << 20, 3};

std::vector<uint8_t> pattern(size_t total, uint8_t seed)
{
    std::vector<uint8_t> v(total);
    for (size_t i = 0; i < total; i++)
        v[i] = uint8_t(i * 31 + seed + (i >> 13));
    return v;
}

size_t total_size()
{
    size_t t = 0;
    for (size_t s : kSizes)
        t += s;
    return t;
}

void side_entry(void *opaque)
{
    Side *s = (Side *)opaque;
    if (s->close_early) {
        nbd_channel_shutdown(&s->ch);
        s->ret = 0;
        return;
    }
    ErrorPtr err;
    TlsCreds *c = tls_creds_find(s->creds, s->ep, &err);
    assert_non_null(c);
    if (nbd_channel_starttls(&s->ch, c, nullptr, s->authz, s->ep, &err) < 0) {
        s->err = error_get_pretty(err.err);
        s->ret = -1;
        nbd_channel_shutdown(&s->ch);
        return;
    }
    // Send everything as iovecs of two halves while the peer does the same,
    // then read it back in the same pieces.
    std::vector<uint8_t> out = pattern(total_size(), s->ep == TlsEndpoint::Server ? 1 : 2);
    size_t off = 0;
    for (size_t n : kSizes) {
        struct iovec iov[2] = {{out.data() + off, n / 2}, {out.data() + off + n / 2, n - n / 2}};
        qemu_co_mutex_lock(&s->ch.send_lock);
        int r = nbd_channel_writev(&s->ch, iov, 2);
        qemu_co_mutex_unlock(&s->ch.send_lock);
        off += n;
        // Read the peer's message of the same size as soon as it is there.
        std::vector<uint8_t> in(n);
        if (r < 0 || nbd_channel_read(&s->ch, in.data(), n) < 0) {
            s->ret = -2;  // the peer went away
            nbd_channel_shutdown(&s->ch);
            return;
        }
        s->received.insert(s->received.end(), in.begin(), in.end());
    }
    s->ret = 0;
}

// Runs both sides to completion; fails the test on a hang.
void run_pair(Side *a, Side *b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    nbd_channel_init(&a->ch, sv[0], ctx());
    nbd_channel_init(&b->ch, sv[1], ctx());
    aio_co_enter(ctx(), qemu_coroutine_create(side_entry, a));
    aio_co_enter(ctx(), qemu_coroutine_create(side_entry, b));
    for (int i = 0; i < 100000 && (a->ret == 1 || b->ret == 1); i++)
        aio_poll(ctx(), true);
    assert_true(a->ret != 1 && b->ret != 1);
    nbd_channel_close(&a->ch);
    nbd_channel_close(&b->ch);
}

void test_psk_bulk_both_ways(void **)
{
    Side srv(TlsEndpoint::Server, "psk-server", "allow-alice"),
        cli(TlsEndpoint::Client, "psk-alice");
    run_pair(&srv, &cli);
    assert_int_equal(srv.ret, 0);
    assert_int_equal(cli.ret, 0);
    assert_true(cli.received == pattern(total_size(), 1));
    assert_true(srv.received == pattern(total_size(), 2));
}

void test_authz_refuses_other_user(void **)
{
    Side srv(TlsEndpoint::Server, "psk-server", "allow-bob"), cli(TlsEndpoint::Client, "psk-alice");
    run_pair(&srv, &cli);
    assert_int_equal(srv.ret, -1);
    assert_string_equal(srv.err.c_str(), "TLS PSK authz check for alice is denied");
    // The client may finish its side of the handshake, but never gets data.
    assert_true(cli.ret < 0);
    assert_true(cli.received.empty());
}

void test_wrong_key(void **)
{
    Side srv(TlsEndpoint::Server, "psk-server"), cli(TlsEndpoint::Client, "psk-alice-wrong");
    run_pair(&srv, &cli);
    assert_int_equal(srv.ret, -1);
    assert_int_equal(cli.ret, -1);
    assert_true(strncmp(cli.err.c_str(), "TLS handshake failed: ", 22) == 0);
}

void test_peer_hangs_up_in_handshake(void **)
{
    Side srv(TlsEndpoint::Server, "psk-server"), cli(TlsEndpoint::Client, "psk-alice");
    cli.close_early = true;
    run_pair(&srv, &cli);
    assert_int_equal(srv.ret, -1);
    assert_true(strncmp(srv.err.c_str(), "TLS handshake failed: ", 22) == 0);
}

int group_setup(void **)
{
    char tmpl[] = "/tmp/test-nbd-tls.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    tmpdir = tmpl;
    const char *key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    write_psk(tmpdir + "/server", (std::string("alice:") + key).c_str());
    write_psk(tmpdir + "/wrong",
              "alice:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    add_object("tls-creds-psk,id=psk-server,endpoint=server,dir=" + tmpdir + "/server");
    add_object("tls-creds-psk,id=psk-alice,endpoint=client,username=alice,dir=" + tmpdir +
               "/server");
    add_object("tls-creds-psk,id=psk-alice-wrong,endpoint=client,username=alice,dir=" + tmpdir +
               "/wrong");
    add_object("authz-simple,id=allow-alice,identity=alice");
    add_object("authz-simple,id=allow-bob,identity=bob");
    return 0;
}

int group_teardown(void **)
{
    std::string cmd = "rm -rf '" + tmpdir + "'";
    return system(cmd.c_str()) == 0 ? 0 : -1;
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psk_bulk_both_ways),
        cmocka_unit_test(test_authz_refuses_other_user),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_peer_hangs_up_in_handshake),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
