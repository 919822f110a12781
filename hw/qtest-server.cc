// qtest_run: serves qtest-lite on "stdio" or "unix:PATH[,server]" from the
// main loop.  Like QEMU, "unix:PATH" connects to a socket the test created;
// ",server" listens and accepts one client instead.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "hw/devices.h"
#include "hw/machine.h"
#include "hw/qtest-int.h"
#include "util/aio.h"
#include "util/error.h"

namespace {

struct QTestServer {
    int in_fd = -1;
    int out_fd = -1;
    bool closed = false;
    QTestSession *session = nullptr;
};

void send_text(void *opaque, const char *text)
{
    QTestServer *srv = static_cast<QTestServer *>(opaque);
    size_t len = strlen(text);
    while (len > 0 && !srv->closed) {
        ssize_t n = write(srv->out_fd, text, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            usleep(100);  // the client is slow to read: wait for room
            continue;
        }
        if (n <= 0) {
            srv->closed = true;
            break;
        }
        text += n;
        len -= (size_t)n;
    }
}

void on_readable(void *opaque)
{
    QTestServer *srv = static_cast<QTestServer *>(opaque);
    char buf[65536];
    ssize_t n = read(srv->in_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    if (n <= 0) {
        srv->closed = true;
        return;
    }
    qtest_session_feed(srv->session, buf, (size_t)n);
}

int open_unix(const std::string &spec)
{
    std::string path = spec;
    bool server = false;
    size_t comma = path.find(',');
    if (comma != std::string::npos) {
        server = path.compare(comma + 1, std::string::npos, "server") == 0 ||
                 path.compare(comma + 1, 6, "server") == 0;
        path.resize(comma);
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (!server) {
        if (connect(fd, (sockaddr *)&addr, sizeof(addr)) == 0) return fd;
    } else {
        unlink(path.c_str());
        if (bind(fd, (sockaddr *)&addr, sizeof(addr)) == 0 && listen(fd, 1) == 0) {
            int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
            close(fd);
            return c;
        }
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

}  // namespace

int qtest_run(Machine *m, const char *chardev)
{
    QTestServer srv;
    std::string spec = chardev;
    if (spec == "stdio") {
        srv.in_fd = STDIN_FILENO;
        srv.out_fd = STDOUT_FILENO;
    } else if (spec.compare(0, 5, "unix:") == 0) {
        srv.in_fd = srv.out_fd = open_unix(spec.substr(5));
        if (srv.in_fd < 0) {
            error_report("-qtest %s: %s", chardev, strerror(errno));
            return 1;
        }
    } else {
        error_report("-qtest %s: expected unix:PATH or stdio", chardev);
        return 1;
    }
    srv.session = qtest_session_new(m, send_text, &srv);
    AioContext *ctx = qemu_get_aio_context();
    int status = 0;
    struct stat st;
    if (fstat(srv.in_fd, &st) == 0 && S_ISREG(st.st_mode)) {
        // A script redirected from a file: epoll refuses regular files, and
        // they are always readable anyway.  Commands that wait (clock_step)
        // run the main loop themselves.
        while (!srv.closed && !machine_exit_requested(m, &status)) {
            on_readable(&srv);
        }
    } else {
        fcntl(srv.in_fd, F_SETFL, fcntl(srv.in_fd, F_GETFL) | O_NONBLOCK);
        aio_set_fd_handler(ctx, srv.in_fd, on_readable, nullptr, &srv);
        while (!srv.closed && !machine_exit_requested(m, &status)) {
            aio_poll(ctx, true);
        }
        aio_set_fd_handler(ctx, srv.in_fd, nullptr, nullptr, nullptr);
    }
    // The client is gone: the VM ends, so that requests parked by a
    // werror=/rerror=stop fail instead of waiting for a resume forever.
    if (!machine_exit_requested(m, &status)) {
        machine_request_exit(m, 0);
    }
    // Let in-flight device requests finish before the devices go away.
    aio_drain(ctx);
    qtest_session_free(srv.session);
    if (srv.in_fd != STDIN_FILENO) {
        close(srv.in_fd);
    }
    machine_exit_requested(m, &status);
    return status;
}
