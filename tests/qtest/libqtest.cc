// qtest-lite client (see libqtest.h).  Protocol errors abort the test: a
// device test cannot go on once the conversation is out of step.
#include "tests/qtest/libqtest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

[[noreturn]] static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "libqtest: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static std::vector<std::string> split_args(const char *args)
{
    std::vector<std::string> out;
    std::string cur;
    for (const char *p = args; *p; p++) {
        if (*p == ' ') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur += *p;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

static pid_t spawn(const std::vector<std::string> &argv_s)
{
    std::vector<char *> argv;
    for (const std::string &a : argv_s)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv.data());
        fprintf(stderr, "libqtest: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

QTestState *qtest_start(const char *args)
{
    const char *bin = getenv("QTEST_QEMU_BINARY");
    if (!bin) die("QTEST_QEMU_BINARY is not set");
    signal(SIGPIPE, SIG_IGN);
    QTestState *s = new QTestState;
    char tmpl[] = "/tmp/qtest-lite-XXXXXX";
    if (!mkdtemp(tmpl)) die("mkdtemp: %s", strerror(errno));
    s->sock_path = std::string(tmpl) + "/sock";
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s->sock_path.c_str());
    if (bind(lfd, (sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 1) < 0) {
        die("bind %s: %s", s->sock_path.c_str(), strerror(errno));
    }
    std::vector<std::string> argv = {bin,  "-qtest", "unix:" + s->sock_path, "-display", "none",
                                     "-m", "64M"};
    for (const std::string &a : split_args(args))
        argv.push_back(a);
    s->pid = spawn(argv);
    s->fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    close(lfd);
    if (s->fd < 0) die("accept: %s", strerror(errno));
    return s;
}

int qtest_quit(QTestState *s)
{
    close(s->fd);
    int status = 0;
    waitpid(s->pid, &status, 0);
    unlink(s->sock_path.c_str());
    rmdir(s->sock_path.substr(0, s->sock_path.rfind('/')).c_str());
    delete s;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Reads one line; IRQ notifications update irq_level and are skipped.
static std::string read_reply(QTestState *s)
{
    for (;;) {
        size_t nl = s->rbuf.find('\n');
        if (nl != std::string::npos) {
            std::string line = s->rbuf.substr(0, nl);
            s->rbuf.erase(0, nl + 1);
            int irq;
            if (sscanf(line.c_str(), "IRQ raise %d", &irq) == 1 && irq >= 0 && irq < 16) {
                s->irq_level[irq] = 1;
                continue;
            }
            if (sscanf(line.c_str(), "IRQ lower %d", &irq) == 1 && irq >= 0 && irq < 16) {
                s->irq_level[irq] = 0;
                continue;
            }
            return line;
        }
        char buf[65536];
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("connection to the machine lost");
        s->rbuf.append(buf, (size_t)n);
    }
}

std::string qtest_command(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = nullptr;
    if (vasprintf(&line, fmt, ap) < 0) die("out of memory");
    va_end(ap);
    std::string out = std::string(line) + "\n";
    free(line);
    for (size_t off = 0; off < out.size();) {
        ssize_t n = write(s->fd, out.data() + off, out.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("write to the machine failed");
        off += (size_t)n;
    }
    return read_reply(s);
}

static uint64_t ok_value(const std::string &r)
{
    if (r.compare(0, 3, "OK ") != 0) die("unexpected reply '%s'", r.c_str());
    return strtoull(r.c_str() + 3, nullptr, 0);
}

static void expect_ok(const std::string &r)
{
    if (r != "OK") die("unexpected reply '%s'", r.c_str());
}

void qtest_outb(QTestState *s, uint16_t p, uint8_t v)
{
    expect_ok(qtest_command(s, "outb 0x%x 0x%x", p, v));
}
void qtest_outw(QTestState *s, uint16_t p, uint16_t v)
{
    expect_ok(qtest_command(s, "outw 0x%x 0x%x", p, v));
}
void qtest_outl(QTestState *s, uint16_t p, uint32_t v)
{
    expect_ok(qtest_command(s, "outl 0x%x 0x%x", p, v));
}
uint8_t qtest_inb(QTestState *s, uint16_t p)
{
    return (uint8_t)ok_value(qtest_command(s, "inb 0x%x", p));
}
uint16_t qtest_inw(QTestState *s, uint16_t p)
{
    return (uint16_t)ok_value(qtest_command(s, "inw 0x%x", p));
}
uint32_t qtest_inl(QTestState *s, uint16_t p)
{
    return (uint32_t)ok_value(qtest_command(s, "inl 0x%x", p));
}

void qtest_writeb(QTestState *s, uint64_t a, uint8_t v)
{
    expect_ok(qtest_command(s, "writeb 0x%" PRIx64 " 0x%x", a, v));
}
void qtest_writew(QTestState *s, uint64_t a, uint16_t v)
{
    expect_ok(qtest_command(s, "writew 0x%" PRIx64 " 0x%x", a, v));
}
void qtest_writel(QTestState *s, uint64_t a, uint32_t v)
{
    expect_ok(qtest_command(s, "writel 0x%" PRIx64 " 0x%x", a, v));
}
void qtest_writeq(QTestState *s, uint64_t a, uint64_t v)
{
    expect_ok(qtest_command(s, "writeq 0x%" PRIx64 " 0x%" PRIx64, a, v));
}
uint8_t qtest_readb(QTestState *s, uint64_t a)
{
    return (uint8_t)ok_value(qtest_command(s, "readb 0x%" PRIx64, a));
}
uint16_t qtest_readw(QTestState *s, uint64_t a)
{
    return (uint16_t)ok_value(qtest_command(s, "readw 0x%" PRIx64, a));
}
uint32_t qtest_readl(QTestState *s, uint64_t a)
{
    return (uint32_t)ok_value(qtest_command(s, "readl 0x%" PRIx64, a));
}
uint64_t qtest_readq(QTestState *s, uint64_t a)
{
    return ok_value(qtest_command(s, "readq 0x%" PRIx64, a));
}

void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len)
{
    std::string r = qtest_command(s, "read 0x%" PRIx64 " 0x%zx", addr, len);
    if (r.compare(0, 5, "OK 0x") != 0 || r.size() != 5 + 2 * len) die("bad read reply");
    uint8_t *out = static_cast<uint8_t *>(buf);
    for (size_t i = 0; i < len; i++) {
        char hex[3] = {r[5 + 2 * i], r[6 + 2 * i], 0};
        out[i] = (uint8_t)strtoul(hex, nullptr, 16);
    }
}

void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *in = static_cast<const uint8_t *>(buf);
    std::string hex;
    hex.reserve(2 * len);
    for (size_t i = 0; i < len; i++) {
        hex += digits[in[i] >> 4];
        hex += digits[in[i] & 15];
    }
    expect_ok(qtest_command(s, "write 0x%" PRIx64 " 0x%zx 0x%s", addr, len, hex.c_str()));
}

void qtest_memset(QTestState *s, uint64_t addr, uint8_t v, size_t len)
{
    expect_ok(qtest_command(s, "memset 0x%" PRIx64 " 0x%zx 0x%x", addr, len, v));
}

void qtest_clock_step(QTestState *s, uint64_t ns)
{
    ok_value(qtest_command(s, "clock_step %" PRIu64, ns));
}

void qtest_irq_intercept_in(QTestState *s, const char *name)
{
    expect_ok(qtest_command(s, "irq_intercept_in %s", name));
}

bool qtest_get_irq(QTestState *s, int irq)
{
    // Flush pending notifications with a no-op round trip.
    qtest_command(s, "endianness");
    return s->irq_level[irq];
}

uint8_t image_pattern_byte(uint64_t offset) { return (uint8_t)((offset / 512) * 7 + offset % 512); }

std::string image_create_pattern(uint64_t size)
{
    char path[] = "/tmp/qtest-lite-img-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp: %s", strerror(errno));
    std::vector<uint8_t> buf(1 << 20);
    for (uint64_t off = 0; off < size; off += buf.size()) {
        size_t n = size - off < buf.size() ? (size_t)(size - off) : buf.size();
        for (size_t i = 0; i < n; i++)
            buf[i] = image_pattern_byte(off + i);
        if (pwrite(fd, buf.data(), n, (off_t)off) != (ssize_t)n) die("pwrite: %s", strerror(errno));
    }
    close(fd);
    return path;
}

void image_remove(const std::string &path) { unlink(path.c_str()); }

void image_read(const std::string &path, uint64_t offset, void *buf, size_t len)
{
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open %s: %s", path.c_str(), strerror(errno));
    memset(buf, 0, len);
    if (pread(fd, buf, len, (off_t)offset) < 0) die("pread: %s", strerror(errno));
    close(fd);
}

std::string image_create_sparse(uint64_t size, uint64_t pattern_bytes)
{
    std::string path = image_create_pattern(pattern_bytes);
    if (truncate(path.c_str(), (off_t)size) < 0) die("truncate: %s", strerror(errno));
    return path;
}

const char *ref_qemu_img()
{
    const char *t = getenv("QEMU_IMG_REF");
    return t ? t : "qemu-img";
}

const char *ref_qemu_io()
{
    const char *t = getenv("QEMU_IO_REF");
    return t ? t : "qemu-io";
}

int host_run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = nullptr;
    if (vasprintf(&cmd, fmt, ap) < 0) die("out of memory");
    va_end(ap);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

std::string image_create_qcow2_from(const std::string &raw)
{
    std::string out = raw + ".qcow2";
    if (host_run("%s convert -q -f raw -O qcow2 '%s' '%s'", ref_qemu_img(), raw.c_str(),
                 out.c_str()) != 0) {
        return "";
    }
    return out;
}

const char *lite_qemu_img() { return getenv("QEMU_IMG_LITE"); }

void image_check_against(const std::string &qcow2, const std::string &raw)
{
    const char *tools[] = {ref_qemu_img(), lite_qemu_img()};
    for (const char *tool : tools) {
        if (!tool) continue;
        if (host_run("%s check -q -f qcow2 '%s'", tool, qcow2.c_str()) != 0) {
            die("%s check %s failed", tool, qcow2.c_str());
        }
        if (host_run("%s compare -q -f raw -F qcow2 '%s' '%s'", tool, raw.c_str(), qcow2.c_str()) !=
            0) {
            die("%s compare %s %s: images differ", tool, raw.c_str(), qcow2.c_str());
        }
    }
}
