// Output formats shared by qemu-io-lite's commands.  Each one reproduces
// qemu-io 7.2's text exactly, because iotests (ours and QEMU's) compare it
// byte for byte; the comments say which quirk is deliberate.
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

void io_cvtstr(double value, char *str, size_t size)
{
    static const struct {
        double unit;
        const char *suffix;
    } units[] = {
        {1152921504606846976.0, " EiB"}, {1125899906842624.0, " PiB"}, {1099511627776.0, " TiB"},
        {1073741824.0, " GiB"},          {1048576.0, " MiB"},          {1024.0, " KiB"},
    };
    const char *suffix = " bytes";
    bool scaled = false;
    for (const auto &u : units) {
        if (value >= u.unit) {
            snprintf(str, size - 4, "%.3f", value / u.unit);
            suffix = u.suffix;
            scaled = true;
            break;
        }
    }
    if (!scaled) {
        // Plain bytes keep six decimals ("85.754181 bytes") as in qemu-io.
        snprintf(str, size - 6, "%f", value);
    }
    if (char *trim = strstr(str, ".000")) {
        *trim = '\0';
    }
    strcat(str, suffix);
}

int64_t io_cvtnum(const char *s)
{
    uint64_t value;
    if (s[0] == '-') {
        return -EINVAL;  // qemu_strtosz refuses signs
    }
    int err = qemu_strtosz(s, &value);
    if (err < 0) {
        return err;
    }
    if (value > INT64_MAX) {
        return -ERANGE;
    }
    return (int64_t)value;
}

void io_print_cvtnum_err(int64_t rc, const char *arg)
{
    switch (rc) {
    case -EINVAL:
        printf("Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- %s\n",
               arg);
        break;
    case -ERANGE: printf("Parsing error: argument too large -- %s\n", arg); break;
    default: printf("Parsing error: %s\n", arg);
    }
}

int io_parse_pattern(const char *arg)
{
    char *end = nullptr;
    long pattern = strtol(arg, &end, 0);
    if (pattern < 0 || pattern > UCHAR_MAX || *end != '\0') {
        printf("%s is not a valid pattern byte\n", arg);
        return -1;
    }
    return (int)pattern;
}

struct timespec io_now()
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

struct timespec io_tsub(struct timespec t1, struct timespec t2)
{
    t1.tv_nsec -= t2.tv_nsec;
    if (t1.tv_nsec < 0) {
        t1.tv_nsec += 1000000000;
        t1.tv_sec--;
    }
    t1.tv_sec -= t2.tv_sec;
    return t1;
}

// qemu-io prints "00.02 sec" below a second, "H:MM:SS.ss" above, and always
// the long form for -C.
static void timestr(const struct timespec *tv, char *ts, size_t size, bool verbose)
{
    double frac = tv->tv_nsec / 1e9;
    if (verbose || tv->tv_sec) {
        unsigned h = (unsigned)(tv->tv_sec / 3600);
        unsigned m = (unsigned)(tv->tv_sec % 3600 / 60);
        snprintf(ts, size, "%u:%02u:%05.2f", h, m, (double)(tv->tv_sec % 60) + frac);
    } else {
        snprintf(ts, size, "%05.2f sec", frac);
    }
}

void io_print_report(const char *op, const struct timespec *t, int64_t offset, int64_t count,
                     int64_t total, int cnt, bool cflag)
{
    char s1[64], s2[64], ts[64];
    double tdiv = t->tv_sec + t->tv_nsec / 1e9;
    timestr(t, ts, sizeof(ts), cflag);
    if (!cflag) {
        io_cvtstr((double)total, s1, sizeof(s1));
        io_cvtstr(total / tdiv, s2, sizeof(s2));
        printf("%s %" PRId64 "/%" PRId64 " bytes at offset %" PRId64 "\n", op, total, count,
               offset);
        printf("%s, %d ops; %s (%s/sec and %.4f ops/sec)\n", s1, cnt, ts, s2, cnt / tdiv);
    } else {
        // bytes,ops,time,bytes/sec,ops/sec
        printf("%" PRId64 ",%d,%s,%.3f,%.3f\n", total, cnt, ts, total / tdiv, cnt / tdiv);
    }
}

void io_dump_buffer(const void *buffer, int64_t offset, int64_t len)
{
    const uint8_t *p = (const uint8_t *)buffer;
    for (int64_t i = 0; i < len; i += 16) {
        int64_t n = len - i < 16 ? len - i : 16;
        printf("%08" PRIx64 ":  ", (uint64_t)(offset + i));
        for (int64_t j = 0; j < n; j++) {
            printf("%02x ", p[i + j]);
        }
        printf(" ");
        for (int64_t j = 0; j < n; j++) {
            putchar(isalnum(p[i + j]) ? p[i + j] : '.');
        }
        printf("\n");
    }
}

// -m moves buffers 512 bytes off their alignment to exercise bounce paths.
static constexpr size_t kMisalign = 512;

IoBuffer::IoBuffer(int64_t len, int pattern) : len_(len)
{
    size_t extra = io_session().misalign ? kMisalign : 0;
    base_ = qemu_memalign(4096, (size_t)len + extra + 1);
    data_ = (uint8_t *)base_ + extra;
    memset(data_, pattern, (size_t)len);
}

IoBuffer::~IoBuffer() { qemu_vfree(base_); }

std::unique_ptr<IoBuffer> io_create_iovec(QEMUIOVector *qiov, char **argv, int nr_iov, int pattern)
{
    std::vector<int64_t> sizes;
    int64_t count = 0;
    for (int i = 0; i < nr_iov; i++) {
        int64_t len = io_cvtnum(argv[i]);
        if (len < 0) {
            io_print_cvtnum_err(len, argv[i]);
            return nullptr;
        }
        if (len > kRequestMaxBytes) {
            printf("Argument '%s' exceeds maximum size %" PRIu64 "\n", argv[i],
                   (uint64_t)kRequestMaxBytes);
            return nullptr;
        }
        if (count > kRequestMaxBytes - len) {
            printf("The total number of bytes exceed the maximum size %" PRIu64 "\n",
                   (uint64_t)kRequestMaxBytes);
            return nullptr;
        }
        sizes.push_back(len);
        count += len;
    }
    auto buf = std::make_unique<IoBuffer>(count, pattern);
    qemu_iovec_init(qiov);
    uint8_t *p = buf->data();
    for (int64_t len : sizes) {
        qemu_iovec_add(qiov, p, (size_t)len);
        p += len;
    }
    return buf;
}
