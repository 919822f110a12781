// aio-bench: reads from a file through one AIO backend with QD coroutines
// in flight, the way the block layer drives it, and reports IOPS and how
// many submission syscalls the engine made.  bench/run-aio.sh runs it next
// to fio and qemu-img bench.
//
//   aio-bench -i native|io_uring|threads [-d QD] [-s BYTES] [-t SECS | -c COUNT]
//             [--seq] [--buffered] FILE
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "util/aio-backend.h"
#include "util/iov.h"

namespace {

struct BenchOpts {
    AioBackend backend = AioBackend::Native;
    unsigned depth = 32;
    size_t bs = 4096;
    double secs = 5.0;
    uint64_t count = 0;  // 0: run for secs
    bool seq = false;    // qemu-img bench's pattern: consecutive blocks
    bool direct = true;
    const char *file = nullptr;
};

struct Bench {
    BenchOpts o;
    int fd = -1;
    uint64_t blocks = 0;  // bs-sized blocks in the file
    int64_t deadline = 0;
    uint64_t issued = 0;
    uint64_t completed = 0;
    uint64_t next_block = 0;
    unsigned running = 0;
    int error = 0;
};

bool bench_take_slot(Bench *b)
{
    if (b->error) {
        return false;
    }
    if (b->o.count) {
        return b->issued < b->o.count ? (b->issued++, true) : false;
    }
    b->issued++;
    return qemu_clock_get_ns() < b->deadline;
}

uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct Worker {
    Bench *b;
    uint64_t rng;
};

void coroutine_fn bench_worker(void *opaque)
{
    auto *w = static_cast<Worker *>(opaque);
    Bench *b = w->b;
    void *buf = qemu_memalign(4096, b->o.bs);
    while (bench_take_slot(b)) {
        uint64_t block = b->o.seq ? b->next_block++ % b->blocks : xorshift64(&w->rng) % b->blocks;
        QEMUIOVector q;
        qemu_iovec_init_buf(&q, buf, b->o.bs);
        int ret = aio_backend_co_submit(b->o.backend, b->fd, block * b->o.bs, &q, AioOp::Read);
        if (ret != (int)b->o.bs) {
            b->error = ret < 0 ? ret : -EIO;
            break;
        }
        b->completed++;
    }
    qemu_vfree(buf);
    b->running--;
}

[[noreturn]] void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: aio-bench -i native|io_uring|threads [-d QD] [-s BYTES] "
            "[-t SECS | -c COUNT] [--seq] [--buffered] FILE\n");
    exit(code);
}

BenchOpts parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seq", no_argument, nullptr, 'S'},
        {"buffered", no_argument, nullptr, 'B'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    BenchOpts o;
    int c;
    while ((c = getopt_long(argc, argv, "i:d:s:t:c:h", longopts, nullptr)) != -1) {
        switch (c) {
        case 'i':
            if (!aio_backend_parse(optarg, &o.backend)) {
                usage(1);
            }
            break;
        case 'd': o.depth = (unsigned)strtoul(optarg, nullptr, 0); break;
        case 's': o.bs = strtoull(optarg, nullptr, 0); break;
        case 't': o.secs = strtod(optarg, nullptr); break;
        case 'c': o.count = strtoull(optarg, nullptr, 0); break;
        case 'S': o.seq = true; break;
        case 'B': o.direct = false; break;
        case 'h': usage(0);
        default: usage(1);
        }
    }
    if (optind != argc - 1 || !o.depth || !o.bs || o.bs % 512) {
        usage(1);
    }
    o.file = argv[optind];
    return o;
}

bool bench_open(Bench *b)
{
    ErrorPtr err;
    if (!aio_backend_available(b->o.backend, &err)) {
        fprintf(stderr, "aio-bench: %s\n", error_get_pretty(err.get()));
        return false;
    }
    b->fd = open(b->o.file, O_RDONLY | (b->o.direct ? O_DIRECT : 0));
    struct stat st;
    if (b->fd < 0 || fstat(b->fd, &st) < 0) {
        fprintf(stderr, "aio-bench: %s: %s\n", b->o.file, strerror(errno));
        return false;
    }
    b->blocks = (uint64_t)st.st_size / b->o.bs;
    if (!b->blocks) {
        fprintf(stderr, "aio-bench: %s: smaller than one block\n", b->o.file);
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char **argv)
{
    Bench b;
    b.o = parse_args(argc, argv);
    if (!bench_open(&b)) {
        return 1;
    }
    AioContext *ctx = qemu_get_aio_context();
    Worker *workers = new Worker[b.o.depth];
    AioBackendStats before = aio_backend_stats(b.o.backend);
    int64_t start = qemu_clock_get_ns();
    b.deadline = start + (int64_t)(b.o.secs * 1e9);
    for (unsigned i = 0; i < b.o.depth; i++) {
        workers[i] = Worker{&b, 0x9e3779b97f4a7c15ULL * (i + 1)};
        b.running++;
        aio_co_enter(ctx, qemu_coroutine_create(bench_worker, &workers[i]));
    }
    AIO_WAIT_WHILE(ctx, b.running > 0);
    double secs = (double)(qemu_clock_get_ns() - start) / 1e9;
    AioBackendStats after = aio_backend_stats(b.o.backend);
    delete[] workers;
    close(b.fd);
    if (b.error) {
        fprintf(stderr, "aio-bench: read failed: %s\n", strerror(-b.error));
        return 1;
    }
    uint64_t calls = after.submit_syscalls - before.submit_syscalls;
    uint64_t reqs = after.requests - before.requests;
    printf("backend=%s qd=%u bs=%zu ops=%" PRIu64 " secs=%.3f iops=%.0f submit_syscalls=%" PRIu64
           " reqs_per_submit=%.2f max_batch=%" PRIu64 "\n",
           aio_backend_name(b.o.backend), b.o.depth, b.o.bs, b.completed, secs,
           (double)b.completed / secs, calls, calls ? (double)reqs / (double)calls : 0.0,
           after.max_batch);
    return 0;
}
