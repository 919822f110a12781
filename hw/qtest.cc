// qtest-lite command interpreter (see qtest-int.h).  Replies follow QEMU's
// softmmu/qtest.c formats so clients written for QEMU parse them.
#include "hw/qtest-int.h"

#include <glib.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hw/machine.h"
#include "util/aio.h"
#include "util/bql.h"

struct QTestSession {
    Machine *m;
    QTestSendFn *send;
    void *opaque;
    std::string inbuf;
    bool irq_intercepted = false;
    int irq_levels[16] = {};
    int64_t clock_ns = 0;
};

namespace {

typedef std::vector<std::string> Words;

Words split_words(const char *line)
{
    Words w;
    const char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (p > start) w.emplace_back(start, p - start);
    }
    return w;
}

bool parse_u64(const std::string &s, uint64_t *v)
{
    if (s.empty() || s[0] == '-') return false;
    char *end = nullptr;
    errno = 0;
    *v = strtoull(s.c_str(), &end, 0);
    return errno == 0 && end && *end == '\0';
}

bool in_mmio_window(uint64_t addr, uint64_t len)
{
    return addr >= MACHINE_VIRTIO_MMIO_BASE &&
           addr - MACHINE_VIRTIO_MMIO_BASE < MACHINE_VIRTIO_MMIO_SIZE &&
           len <= MACHINE_VIRTIO_MMIO_SIZE - (addr - MACHINE_VIRTIO_MMIO_BASE);
}

// Guest-physical accesses as the CPU would do them: MMIO or RAM.
void mem_read(Machine *m, uint64_t addr, void *buf, uint64_t len)
{
    if (in_mmio_window(addr, len) && (len == 1 || len == 2 || len == 4 || len == 8)) {
        uint64_t v = machine_mmio_read(m, addr, (unsigned)len);
        memcpy(buf, &v, len);
    } else if (!machine_dma_read(m, addr, buf, len)) {
        memset(buf, 0xff, len);
    }
}

void mem_write(Machine *m, uint64_t addr, const void *buf, uint64_t len)
{
    if (in_mmio_window(addr, len) && (len == 1 || len == 2 || len == 4 || len == 8)) {
        uint64_t v = 0;
        memcpy(&v, buf, len);
        machine_mmio_write(m, addr, v, (unsigned)len);
    } else {
        machine_dma_write(m, addr, buf, len);
    }
}

unsigned size_of(char c) { return c == 'b' ? 1 : c == 'w' ? 2 : c == 'l' ? 4 : c == 'q' ? 8 : 0; }

int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Largest buffer a single read/write/memset may move (guards host memory).
constexpr uint64_t kMaxXfer = 64ull << 20;

std::string cmd_pio(QTestSession *q, const Words &w)
{
    uint64_t port, val = 0;
    bool out = w[0][0] == 'o';
    unsigned size = size_of(w[0].back());
    if (w.size() < (out ? 3u : 2u) || !parse_u64(w[1], &port) || port > 0xffff ||
        (out && !parse_u64(w[2], &val))) {
        return "FAIL invalid arguments";
    }
    if (out) {
        machine_pio_write(q->m, (uint16_t)port, val, size);
        return "OK";
    }
    uint64_t mask = size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1;
    char buf[32];
    snprintf(buf, sizeof(buf), "OK 0x%04" PRIx64,
             machine_pio_read(q->m, (uint16_t)port, size) & mask);
    return buf;
}

std::string cmd_mem(QTestSession *q, const Words &w)
{
    uint64_t addr, val = 0;
    bool write = w[0][0] == 'w';
    unsigned size = size_of(w[0].back());
    if (w.size() < (write ? 3u : 2u) || !parse_u64(w[1], &addr) ||
        (write && !parse_u64(w[2], &val))) {
        return "FAIL invalid arguments";
    }
    if (write) {
        mem_write(q->m, addr, &val, size);
        return "OK";
    }
    uint64_t v = 0;
    mem_read(q->m, addr, &v, size);
    char buf[40];
    snprintf(buf, sizeof(buf), "OK 0x%016" PRIx64, v);
    return buf;
}

bool parse_addr_len(const Words &w, size_t need, uint64_t *addr, uint64_t *len)
{
    return w.size() >= need && parse_u64(w[1], addr) && parse_u64(w[2], len) && *len <= kMaxXfer;
}

std::string cmd_read(QTestSession *q, const Words &w, bool b64)
{
    uint64_t addr, len;
    if (!parse_addr_len(w, 3, &addr, &len) || len == 0) {
        return "FAIL invalid arguments";
    }
    std::vector<uint8_t> data(len);
    mem_read(q->m, addr, data.data(), len);
    if (b64) {
        gchar *enc = g_base64_encode(data.data(), len);
        std::string r = std::string("OK ") + enc;
        g_free(enc);
        return r;
    }
    static const char digits[] = "0123456789abcdef";
    std::string r = "OK 0x";
    r.reserve(5 + 2 * len);
    for (uint8_t b : data) {
        r += digits[b >> 4];
        r += digits[b & 15];
    }
    return r;
}

std::string cmd_write(QTestSession *q, const Words &w, bool b64)
{
    uint64_t addr, len;
    if (!parse_addr_len(w, 4, &addr, &len)) {
        return "FAIL invalid arguments";
    }
    std::vector<uint8_t> data(len, 0);
    const std::string &arg = w[3];
    if (b64) {
        gsize n = 0;
        guchar *dec = g_base64_decode(arg.c_str(), &n);
        memcpy(data.data(), dec, n < len ? n : len);
        g_free(dec);
    } else {
        if (arg.size() < 2 || arg[0] != '0' || (arg[1] != 'x' && arg[1] != 'X')) {
            return "FAIL invalid arguments";
        }
        for (uint64_t i = 0; i < len && 2 + 2 * i + 1 < arg.size(); i++) {
            int hi = hexval(arg[2 + 2 * i]), lo = hexval(arg[3 + 2 * i]);
            if (hi < 0 || lo < 0) {
                return "FAIL invalid arguments";
            }
            data[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    mem_write(q->m, addr, data.data(), len);
    return "OK";
}

std::string cmd_memset(QTestSession *q, const Words &w)
{
    uint64_t addr, len, val;
    if (!parse_addr_len(w, 4, &addr, &len) || !parse_u64(w[3], &val)) {
        return "FAIL invalid arguments";
    }
    std::vector<uint8_t> data(len, (uint8_t)val);
    if (len) {
        mem_write(q->m, addr, data.data(), len);
    }
    return "OK";
}

void on_timer(void *opaque) { *static_cast<bool *>(opaque) = true; }

// There is no virtual clock for devices to wait on: stepping runs the main
// loop for up to @ns of real time (at most 100 ms) or until it is idle,
// which is when asynchronous block I/O gets to complete.
std::string cmd_clock(QTestSession *q, const Words &w)
{
    uint64_t ns = 1000 * 1000;
    if (w.size() >= 2 && !parse_u64(w[1], &ns)) {
        return "FAIL invalid arguments";
    }
    if (w[0] == "clock_set") {
        ns = (int64_t)ns > q->clock_ns ? ns - q->clock_ns : 0;
    }
    AioContext *ctx = qemu_get_aio_context();
    while (aio_poll(ctx, false)) {
    }
    bool expired = false;
    QEMUTimer *t = aio_timer_new(ctx, on_timer, &expired);
    timer_mod_ns(t, qemu_clock_get_ns() + (int64_t)(ns < 100000000 ? ns : 100000000));
    while (!expired && aio_context_in_flight(ctx) > 0) {
        aio_poll(ctx, true);
    }
    timer_del(t);
    timer_free(t);
    while (aio_poll(ctx, false)) {
    }
    q->clock_ns += (int64_t)ns;
    return "OK " + std::to_string(q->clock_ns);
}

void irq_observer(void *opaque, int irq, int level)
{
    QTestSession *q = static_cast<QTestSession *>(opaque);
    if (!q->irq_intercepted || irq < 0 || irq >= 16 || q->irq_levels[irq] == level) {
        return;
    }
    q->irq_levels[irq] = level;
    char buf[32];
    snprintf(buf, sizeof(buf), "IRQ %s %d\n", level ? "raise" : "lower", irq);
    q->send(q->opaque, buf);
}

std::string cmd_irq_intercept(QTestSession *q, const Words &w)
{
    if (w.size() < 2) {
        return "FAIL Unknown device";
    }
    if (!q->irq_intercepted) {
        q->irq_intercepted = true;
        for (int i = 0; i < 16; i++) {
            q->irq_levels[i] = machine_get_irq(q->m, i);
        }
    }
    return "OK";
}

std::string cmd_vm(QTestSession *q, const Words &w)
{
    if (w[0] == "vm_stop") {
        machine_request_stop(q->m, "qtest");
        return "OK";
    }
    if (w[0] == "vm_resume") {
        machine_resume(q->m);
        return "OK";
    }
    return machine_is_stopped(q->m) ? "OK paused" : "OK running";
}

}  // namespace

std::string qtest_session_command(QTestSession *q, const char *line)
{
    Words w = split_words(line);
    if (w.empty()) {
        return "FAIL empty command";
    }
    const std::string &c = w[0];
    if (c == "outb" || c == "outw" || c == "outl" || c == "inb" || c == "inw" || c == "inl") {
        return cmd_pio(q, w);
    }
    if ((c.size() == 6 && c.compare(0, 5, "write") == 0 && size_of(c[5])) ||
        (c.size() == 5 && c.compare(0, 4, "read") == 0 && size_of(c[4]))) {
        return cmd_mem(q, w);
    }
    if (c == "read" || c == "b64read") return cmd_read(q, w, c[0] == 'b');
    if (c == "write" || c == "b64write") return cmd_write(q, w, c[0] == 'b');
    if (c == "memset") return cmd_memset(q, w);
    if (c == "clock_step" || c == "clock_set") return cmd_clock(q, w);
    if (c == "irq_intercept_in" || c == "irq_intercept_out") return cmd_irq_intercept(q, w);
    if (c == "endianness") return "OK little";
    if (c == "vm_stop" || c == "vm_resume" || c == "vm_status") return cmd_vm(q, w);
    return "FAIL Unknown command '" + c + "'";
}

QTestSession *qtest_session_new(Machine *m, QTestSendFn *send, void *opaque)
{
    QTestSession *q = new QTestSession{m, send, opaque, {}};
    machine_set_irq_observer(m, irq_observer, q);
    return q;
}

void qtest_session_free(QTestSession *q)
{
    if (q) {
        machine_set_irq_observer(q->m, nullptr, nullptr);
        delete q;
    }
}

void qtest_session_feed(QTestSession *q, const char *data, size_t len)
{
    q->inbuf.append(data, len);
    size_t nl;
    while ((nl = q->inbuf.find('\n')) != std::string::npos) {
        std::string line = q->inbuf.substr(0, nl);
        q->inbuf.erase(0, nl + 1);
        std::string reply = qtest_session_command(q, line.c_str()) + "\n";
        q->send(q->opaque, reply.c_str());
    }
    if (q->inbuf.size() > kMaxXfer * 3) {
        q->inbuf.clear();  // a line this long is garbage; do not grow forever
    }
}
