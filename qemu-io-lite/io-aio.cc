// aio_read, aio_write, aio_flush: requests that run in their own coroutine
// while later commands go on.  As in qemu-io, a request's report is printed
// from the main loop after it completes (never inline at submission), so
// output order depends only on completion order.
#include <getopt.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

extern const IoCmd io_aio_cmds[];
static const IoCmd &aio_read_cmd = io_aio_cmds[0];
static const IoCmd &aio_write_cmd = io_aio_cmds[1];

static unsigned pending;

unsigned io_aio_pending() { return pending; }

void io_aio_wait_all()
{
    AioContext *ctx = qemu_get_aio_context();
    while (pending) {
        aio_poll(ctx, true);
    }
}

struct AioReq {
    BlockBackend *blk;
    std::unique_ptr<IoBuffer> buf;
    QEMUIOVector qiov;
    int64_t offset = 0;
    int64_t zero_bytes = 0;  // aio_write -z
    bool is_write = false, zflag = false;
    bool has_returned = false;  // submit() is done: complete inline
    bool done = false;          // the request finished
    bool cflag = false, qflag = false, vflag = false, pflag = false;
    int pattern = 0;
    int flags = 0;
    int ret = 0;
    struct timespec t1;
};

static int64_t req_bytes(const AioReq *r)
{
    return r->zflag ? r->zero_bytes : (int64_t)r->qiov.size;
}

static bool pattern_ok(const AioReq *r)
{
    const uint8_t *p = r->buf->data();
    for (size_t i = 0; i < r->qiov.size; i++) {
        if (p[i] != r->pattern) {
            return false;
        }
    }
    return true;
}

static void aio_done_bh(void *opaque)
{
    AioReq *r = (AioReq *)opaque;
    struct timespec t2 = io_now();
    pending--;
    if (r->ret < 0) {
        printf("%s failed: %s\n", r->is_write ? "aio_write" : "readv", strerror(-r->ret));
    } else {
        if (!r->is_write && r->pflag && !pattern_ok(r)) {
            printf("Pattern verification failed at offset %" PRId64 ", %zu bytes\n", r->offset,
                   r->qiov.size);
        }
        if (!r->qflag) {
            if (r->vflag) {
                io_dump_buffer(r->buf->data(), r->offset, (int64_t)r->qiov.size);
            }
            t2 = io_tsub(t2, r->t1);
            io_print_report(r->is_write ? "wrote" : "read", &t2, r->offset, req_bytes(r),
                            req_bytes(r), 1, r->cflag);
        }
    }
    delete r;
}

static void coroutine_fn aio_entry(void *opaque)
{
    AioReq *r = (AioReq *)opaque;
    if (r->zflag) {
        r->ret = blk_co_pwrite_zeroes(r->blk, r->offset, r->zero_bytes, r->flags);
    } else if (r->is_write) {
        r->ret = blk_co_pwritev(r->blk, r->offset, (int64_t)r->qiov.size, &r->qiov, r->flags);
    } else {
        r->ret = blk_co_preadv(r->blk, r->offset, (int64_t)r->qiov.size, &r->qiov, 0);
    }
    // As QEMU's blk_aio_*: a request that yielded reports as soon as it
    // completes (so inside whatever command is polling); one that finished
    // before submit() returned reports from a bottom half.
    r->done = true;
    if (r->has_returned) {
        aio_done_bh(r);
    }
}

static void submit(AioReq *r)
{
    pending++;
    r->t1 = io_now();
    Coroutine *co = qemu_coroutine_create(aio_entry, r);
    qemu_coroutine_enter(co);
    r->has_returned = true;
    if (r->done) {
        aio_bh_schedule_oneshot(qemu_get_aio_context(), aio_done_bh, r);
    }
}

// Parses "off len [len..]" (or "off len" with -z) into @r.  Returns 0 or
// the command's error.
static int parse_range(AioReq *r, int argc, char **argv, const IoCmd *cmd, int fill)
{
    if (optind > argc - 2) {
        io_command_usage(cmd);
        return -EINVAL;
    }
    r->offset = io_cvtnum(argv[optind]);
    if (r->offset < 0) {
        int ret = (int)r->offset;
        io_print_cvtnum_err(r->offset, argv[optind]);
        return ret;
    }
    optind++;
    if (r->zflag) {
        if (optind != argc - 1) {
            io_command_usage(cmd);
            return -EINVAL;
        }
        r->zero_bytes = io_cvtnum(argv[optind]);
        if (r->zero_bytes < 0) {
            io_print_cvtnum_err(r->zero_bytes, argv[optind]);
            return (int)r->zero_bytes;
        }
        return 0;
    }
    r->buf = io_create_iovec(&r->qiov, &argv[optind], argc - optind, fill);
    return r->buf ? 0 : -EINVAL;
}

static int aio_read_f(BlockBackend *blk, int argc, char **argv)
{
    auto *r = new AioReq{};
    r->blk = blk;
    bool invalid = false;
    int c, ret;
    while ((c = getopt(argc, argv, "CP:qvi")) != -1) {
        switch (c) {
        case 'C': r->cflag = true; break;
        case 'P':
            r->pflag = true;
            r->pattern = io_parse_pattern(optarg);
            if (r->pattern < 0) {
                delete r;
                return -EINVAL;
            }
            break;
        case 'i': invalid = true; break;
        case 'q': r->qflag = true; break;
        case 'v': r->vflag = true; break;
        default:
            delete r;
            io_command_usage(&aio_read_cmd);
            return -EINVAL;
        }
    }
    if (invalid) {
        // qemu-io only accounts an invalid request; we keep no statistics.
        printf("injecting invalid read request\n");
        delete r;
        return 0;
    }
    ret = parse_range(r, argc, argv, &aio_read_cmd, 0xab);
    if (ret < 0) {
        delete r;
        return ret;
    }
    submit(r);
    return 0;
}

static int aio_write_f(BlockBackend *blk, int argc, char **argv)
{
    auto *r = new AioReq{};
    r->blk = blk;
    r->is_write = true;
    r->pattern = 0xcd;
    bool invalid = false;
    int c, ret;
    while ((c = getopt(argc, argv, "CfiqP:uz")) != -1) {
        switch (c) {
        case 'C': r->cflag = true; break;
        case 'f': r->flags |= BDRV_REQ_FUA; break;
        case 'q': r->qflag = true; break;
        case 'u': r->flags |= BDRV_REQ_MAY_UNMAP; break;
        case 'P':
            // -P with -z is accepted: the pattern is simply unused.
            r->pattern = io_parse_pattern(optarg);
            if (r->pattern < 0) {
                delete r;
                return -EINVAL;
            }
            break;
        case 'i': invalid = true; break;
        case 'z': r->zflag = true; break;
        default:
            delete r;
            io_command_usage(&aio_write_cmd);
            return -EINVAL;
        }
    }
    if ((r->flags & BDRV_REQ_MAY_UNMAP) && !r->zflag) {
        printf("-u requires -z to be specified\n");
        delete r;
        return -EINVAL;
    }
    if (invalid) {
        printf("injecting invalid write request\n");
        delete r;
        return 0;
    }
    ret = parse_range(r, argc, argv, &aio_write_cmd, r->pattern);
    if (ret < 0) {
        delete r;
        return ret;
    }
    submit(r);
    return 0;
}

static int aio_flush_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    io_aio_wait_all();
    blk_drain(blk);
    return 0;
}

static void aio_read_help(void)
{
    printf("\n"
           " asynchronously reads a range of bytes from the given offset\n"
           "\n"
           " Example:\n"
           " 'aio_read -v 512 1k 1k ' - dumps 2 kilobytes read from 512 bytes into the file\n"
           "\n"
           " Reads a segment of the currently open file, optionally dumping it to the\n"
           " standard output stream (with -v option) for subsequent inspection.\n"
           " The read is performed asynchronously and the aio_flush command must be\n"
           " used to ensure all outstanding aio requests have been completed.\n"
           " Note that due to its asynchronous nature, this command will be\n"
           " considered successful once the request is submitted, independently\n"
           " of potential I/O errors or pattern mismatches.\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -P, -- use a pattern to verify read data\n"
           " -i, -- treat request as invalid, for exercising stats\n"
           " -v, -- dump buffer to standard output\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           "\n");
}

static void aio_write_help(void)
{
    printf("\n"
           " asynchronously writes a range of bytes from the given offset source\n"
           " from multiple buffers\n"
           "\n"
           " Example:\n"
           " 'aio_write 512 1k 1k' - writes 2 kilobytes at 512 bytes into the open file\n"
           "\n"
           " Writes into a segment of the currently open file, using a buffer\n"
           " filled with a set pattern (0xcdcdcdcd).\n"
           " The write is performed asynchronously and the aio_flush command must be\n"
           " used to ensure all outstanding aio requests have been completed.\n"
           " Note that due to its asynchronous nature, this command will be\n"
           " considered successful once the request is submitted, independently\n"
           " of potential I/O errors or pattern mismatches.\n"
           " -P, -- use different pattern to fill file\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -f, -- use Force Unit Access semantics\n"
           " -i, -- treat request as invalid, for exercising stats\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           " -u, -- with -z, allow unmapping\n"
           " -z, -- write zeroes using blk_aio_pwrite_zeroes\n"
           "\n");
}

const IoCmd io_aio_cmds[] = {
    {"aio_read", nullptr, aio_read_f, 2, -1, 0, false, "[-Ciqv] [-P pattern] off len [len..]",
     "asynchronously reads a number of bytes", aio_read_help},
    {"aio_write", nullptr, aio_write_f, 2, -1, 0, true, "[-Cfiquz] [-P pattern] off len [len..]",
     "asynchronously writes a number of bytes", aio_write_help},
    {"aio_flush", nullptr, aio_flush_f, 0, 0, 0, false, nullptr,
     "completes all outstanding aio requests", nullptr},
    {},
};
