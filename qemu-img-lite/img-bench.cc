// qemu-img-lite bench: keeps -d requests of -s bytes in flight against an
// image (reads, or writes with -w) until -c requests completed, optionally
// flushing every --flush-interval requests, and reports the elapsed time
// like qemu-img bench.  Each in-flight slot is a coroutine with its own
// buffer; offsets advance by -S (default: the request size) and wrap at the
// end of the image.
#include <sys/time.h>

#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "block/block.h"
#include "qemu-img-lite/img.h"

namespace {

enum { OPT_FLUSH_INTERVAL = 256, OPT_IMAGE_OPTS, OPT_PATTERN, OPT_NO_DRAIN };

struct BenchArgs {
    int count = 75000;
    int depth = 64;
    int64_t offset = 0;
    int64_t bufsize = 4096;
    int64_t step = 0;
    int pattern = 0;
    int flush_interval = 0;
    bool drain_on_flush = true;
    bool write = false;
    bool quiet = false;
    bool image_opts = false;
    bool force_share = false;
    const char *fmt = nullptr;
    const char *cache = nullptr;
    const char *aio = nullptr;
};

struct BenchState {
    BlockBackend *blk;
    int64_t image_size;
    int64_t bufsize, step;
    int remaining_to_issue;
    int completed = 0;
    int in_flight = 0;
    int workers = 0;
    int64_t offset;
    bool write;
    int flush_interval;
    bool drain_on_flush;
    bool in_flush = false;         // drained flush: new requests wait
    CoQueue flush_waiters;         // workers held back by a drained flush
    Coroutine *drainer = nullptr;  // the worker waiting for in_flight == 0
    bool failed = false;           // a request or flush failed: issue no more
};

// qemu_strtoul with base 0 over the whole string, bounded by @max.
bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    if (!*s) {
        return false;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || *end || v > max || strchr(s, '-')) {
        return false;
    }
    *out = v;
    return true;
}

[[noreturn]] void bad_value(const char *what)
{
    error_report("Invalid %s specified", what);
    exit(EXIT_FAILURE);
}

int64_t size_or_exit(const char *what, const char *arg, int64_t max)
{
    int64_t v = img_cvtnum_full(what, arg, 0, max);
    if (v < 0) {
        exit(EXIT_FAILURE);
    }
    return v;
}

void handle_option(int c, BenchArgs *a)
{
    unsigned long v;
    switch (c) {
    case 'c':
        if (!parse_ulong(optarg, INT_MAX, &v)) bad_value("request count");
        a->count = (int)v;
        break;
    case 'd':
        // qemu-img accepts 0 and then never finishes; refuse it instead.
        if (!parse_ulong(optarg, INT_MAX, &v) || v == 0) bad_value("queue depth");
        a->depth = (int)v;
        break;
    case 'f': a->fmt = optarg; break;
    case 'n': a->aio = "native"; break;
    case 'i': {
        int flags = 0;
        if (!bdrv_parse_aio(optarg, &flags)) {
            error_report("Invalid aio option: %s", optarg);
            exit(EXIT_FAILURE);
        }
        a->aio = optarg;
        break;
    }
    case 'o': a->offset = size_or_exit("offset", optarg, INT64_MAX); break;
    case 'q': a->quiet = true; break;
    case 's': a->bufsize = size_or_exit("buffer size", optarg, INT_MAX); break;
    case 'S': a->step = size_or_exit("step_size", optarg, INT_MAX); break;
    case 't': {
        int flags = 0;
        bool wt;
        if (!bdrv_parse_cache_mode(optarg, &flags, &wt)) {
            error_report("Invalid cache mode");
            exit(EXIT_FAILURE);
        }
        a->cache = optarg;
        break;
    }
    case 'w': a->write = true; break;
    case 'U': a->force_share = true; break;
    case OPT_PATTERN:
        if (!parse_ulong(optarg, 0xff, &v)) bad_value("pattern byte");
        a->pattern = (int)v;
        break;
    case OPT_FLUSH_INTERVAL:
        if (!parse_ulong(optarg, INT_MAX, &v)) bad_value("flush interval");
        a->flush_interval = (int)v;
        break;
    case OPT_NO_DRAIN: a->drain_on_flush = false; break;
    case OPT_IMAGE_OPTS: a->image_opts = true; break;
    }
}

const char *parse_args(int argc, char **argv, BenchArgs *a)
{
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"flush-interval", required_argument, nullptr, OPT_FLUSH_INTERVAL},
        {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
        {"pattern", required_argument, nullptr, OPT_PATTERN},
        {"no-drain", no_argument, nullptr, OPT_NO_DRAIN},
        {"force-share", no_argument, nullptr, 'U'},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = img_getopt(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", long_options)) != -1) {
        handle_option(c, a);
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    return argv[argc - 1];
}

// A failed request or flush is reported once and stops the run; the
// requests already in flight still complete (see img_bench) so none is
// left suspended when the tool exits.
void fail_bench(BenchState *b, const char *what, int ret)
{
    if (!b->failed) {
        error_report("%s: %s", what, strerror(-ret));
        b->failed = true;
    }
    b->remaining_to_issue = 0;
}

void coroutine_fn do_flush(BenchState *b)
{
    int ret = blk_co_flush(b->blk);
    if (ret < 0) {
        fail_bench(b, "Failed flush request", ret);
    }
}

// Called by a worker whose request completion hit a flush point: with
// draining, hold new requests back, wait for the others, flush, go on.
void coroutine_fn flush_point(BenchState *b)
{
    if (!b->drain_on_flush) {
        do_flush(b);
        return;
    }
    b->in_flush = true;
    while (b->in_flight > 0) {
        b->drainer = qemu_coroutine_self();
        qemu_coroutine_yield();
    }
    b->drainer = nullptr;
    do_flush(b);
    b->in_flush = false;
    qemu_co_queue_restart_all(&b->flush_waiters);
}

struct WorkerArg {
    BenchState *b;
    uint8_t *buf;
};

void coroutine_fn bench_worker(void *opaque)
{
    WorkerArg *w = static_cast<WorkerArg *>(opaque);
    BenchState *b = w->b;
    for (;;) {
        while (b->in_flush) {
            qemu_co_queue_wait(&b->flush_waiters, nullptr);
        }
        if (b->remaining_to_issue == 0) {
            break;
        }
        b->remaining_to_issue--;
        int64_t offset = b->offset;
        b->offset = b->image_size ? (b->offset + b->step) % b->image_size : 0;
        b->in_flight++;
        int ret = b->write ? blk_co_pwrite(b->blk, offset, b->bufsize, w->buf, 0)
                           : blk_co_pread(b->blk, offset, b->bufsize, w->buf, 0);
        b->in_flight--;
        if (ret < 0) {
            fail_bench(b, "Failed request", ret);
        } else {
            b->completed++;
        }
        if (b->in_flush && b->in_flight == 0 && b->drainer) {
            // Taken off before the (deferred) wake so it is woken once.
            Coroutine *drainer = b->drainer;
            b->drainer = nullptr;
            aio_co_wake(drainer);
        }
        if (ret < 0) {
            break;
        }
        if (b->flush_interval && b->completed % b->flush_interval == 0) {
            flush_point(b);
        }
    }
    b->workers--;
}

double elapsed(const struct timeval &t1, const struct timeval &t2)
{
    return (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_usec - t1.tv_usec) / 1000000;
}

// Runs the requests; the caller prints the result line.
void run_bench(BenchState *b, int depth, uint8_t *buf)
{
    int slots = std::min(depth, std::max(b->remaining_to_issue, 1));
    std::unique_ptr<WorkerArg[]> args(new WorkerArg[(size_t)slots]);
    AioContext *ctx = qemu_get_aio_context();
    b->workers = slots;
    for (int i = 0; i < slots; i++) {
        args[(size_t)i] = WorkerArg{b, buf + (size_t)i * (size_t)b->bufsize};
        aio_co_enter(ctx, qemu_coroutine_create(bench_worker, &args[(size_t)i]));
    }
    AIO_WAIT_WHILE(ctx, b->workers > 0);
}

}  // namespace

int img_bench(int argc, char **argv)
{
    BenchArgs a;
    const char *filename = parse_args(argc, argv, &a);
    if (!a.write && a.flush_interval) {
        error_report("--flush-interval is only available in write tests");
        return 1;
    }
    if (a.flush_interval && a.flush_interval < a.depth) {
        error_report("Flush interval can't be smaller than depth");
        return 1;
    }
    ImgOpenArgs oa;
    oa.fmt = a.fmt;
    oa.flags = a.write ? BDRV_O_RDWR : 0;
    oa.cache = a.cache;
    oa.aio = a.aio;
    oa.quiet = a.quiet;
    oa.force_share = a.force_share;
    oa.image_opts = a.image_opts;
    BlkRef blk(img_open(filename, oa));
    if (!blk) {
        return 1;
    }
    int64_t image_size = blk_getlength(blk.get());
    if (image_size < 0) {
        return 1;
    }
    BenchState b{};
    b.blk = blk.get();
    b.image_size = image_size;
    b.bufsize = a.bufsize;
    b.step = a.step ? a.step : a.bufsize;
    b.remaining_to_issue = a.count;
    b.offset = a.offset;
    b.write = a.write;
    b.flush_interval = a.flush_interval;
    b.drain_on_flush = a.drain_on_flush;
    qemu_co_queue_init(&b.flush_waiters);
    printf("Sending %d %s requests, %d bytes each, %d in parallel "
           "(starting at offset %" PRId64 ", step size %d)\n",
           a.count, a.write ? "write" : "read", (int)a.bufsize, a.depth, a.offset, (int)b.step);
    if (a.flush_interval) {
        printf("Sending flush every %d requests\n", a.flush_interval);
    }
    size_t buf_size = (size_t)a.depth * (size_t)a.bufsize;
    std::unique_ptr<uint8_t, void (*)(void *)> buf(
        (uint8_t *)qemu_memalign(4096, std::max<size_t>(buf_size, 1)), qemu_vfree);
    memset(buf.get(), a.pattern, buf_size);

    struct timeval t1, t2;
    gettimeofday(&t1, nullptr);
    run_bench(&b, a.depth, buf.get());
    if (b.failed) {
        // As qemu-img: the image is not closed (no close-time flush
        // messages); every request has completed by now.
        exit(EXIT_FAILURE);
    }
    gettimeofday(&t2, nullptr);
    printf("Run completed in %3.3f seconds.\n", elapsed(t1, t2));
    return 0;
}
