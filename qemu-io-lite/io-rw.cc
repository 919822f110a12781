// read, readv, write, writev: synchronous requests with pattern fill and
// verification, hex dumps and the timing report.
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

extern const IoCmd io_rw_cmds[];
static const IoCmd &read_cmd = io_rw_cmds[0];
static const IoCmd &readv_cmd = io_rw_cmds[1];
static const IoCmd &write_cmd = io_rw_cmds[2];
static const IoCmd &writev_cmd = io_rw_cmds[3];

// Parses an offset or length argument; prints qemu-io's error on failure.
static bool parse_num(const char *arg, int64_t *out)
{
    *out = io_cvtnum(arg);
    if (*out < 0) {
        io_print_cvtnum_err(*out, arg);
        return false;
    }
    return true;
}

static bool check_max(int64_t count, const char *arg)
{
    if (count > kRequestMaxBytes) {
        printf("length cannot exceed %" PRIu64 ", given %s\n", (uint64_t)kRequestMaxBytes, arg);
        return false;
    }
    return true;
}

static bool check_sector_aligned(int64_t offset, int64_t count)
{
    if (offset % 512) {
        printf("%" PRId64 " is not a sector-aligned value for 'offset'\n", offset);
        return false;
    }
    if (count % 512) {
        printf("%" PRId64 " is not a sector-aligned value for 'count'\n", count);
        return false;
    }
    return true;
}

// readv/writev's "off len [len..]" after the options: the offset, and one
// buffer (filled with @fill) with an iovec per length.  nullptr after
// printing qemu-io's message; *ret is then the command's result.
static std::unique_ptr<IoBuffer> parse_vector_args(int argc, char **argv, const IoCmd *cmd,
                                                   int fill, int64_t *offset, QEMUIOVector *qiov,
                                                   int *ret)
{
    if (optind > argc - 2) {
        io_command_usage(cmd);
        *ret = -EINVAL;
        return nullptr;
    }
    if (!parse_num(argv[optind], offset)) {
        *ret = (int)*offset;
        return nullptr;
    }
    optind++;
    auto buf = io_create_iovec(qiov, &argv[optind], argc - optind, fill);
    *ret = buf ? 0 : -EINVAL;
    return buf;
}

static bool verify_pattern(const uint8_t *buf, int pattern, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        if (buf[i] != pattern) {
            return false;
        }
    }
    return true;
}

struct ReadArgs {
    bool cflag = false, qflag = false, vflag = false, pflag = false;
    bool sflag = false, lflag = false, bflag = false;
    int pattern = 0;
    int64_t pattern_offset = 0, pattern_count = 0;
};

// Returns 0 to go on, or the command's result.
static int parse_read_opts(int argc, char **argv, ReadArgs *a)
{
    int c;
    while ((c = getopt(argc, argv, "bCl:pP:qs:v")) != -1) {
        switch (c) {
        case 'b': a->bflag = true; break;
        case 'C': a->cflag = true; break;
        case 'l':
            a->lflag = true;
            if (!parse_num(optarg, &a->pattern_count)) {
                return (int)a->pattern_count;
            }
            break;
        case 'p': break;  // ignored for backwards compatibility
        case 'P':
            a->pflag = true;
            a->pattern = io_parse_pattern(optarg);
            if (a->pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q': a->qflag = true; break;
        case 's':
            a->sflag = true;
            if (!parse_num(optarg, &a->pattern_offset)) {
                return (int)a->pattern_offset;
            }
            break;
        case 'v': a->vflag = true; break;
        default: io_command_usage(&read_cmd); return -EINVAL;
        }
    }
    return 0;
}

static int read_f(BlockBackend *blk, int argc, char **argv)
{
    ReadArgs a;
    int64_t offset, count;
    int ret = parse_read_opts(argc, argv, &a);
    if (ret < 0) {
        return ret;
    }
    if (optind != argc - 2) {
        io_command_usage(&read_cmd);
        return -EINVAL;
    }
    if (!parse_num(argv[optind], &offset)) {
        return (int)offset;
    }
    if (!parse_num(argv[optind + 1], &count)) {
        return (int)count;
    }
    if (!check_max(count, argv[optind + 1])) {
        return -EINVAL;
    }
    if (!a.pflag && (a.lflag || a.sflag)) {
        io_command_usage(&read_cmd);
        return -EINVAL;
    }
    if (!a.lflag) {
        a.pattern_count = count - a.pattern_offset;
    }
    if (a.pattern_count < 0 || a.pattern_count + a.pattern_offset > count) {
        printf("pattern verification range exceeds end of read data\n");
        return -EINVAL;
    }
    if (a.bflag && !check_sector_aligned(offset, count)) {
        return -EINVAL;
    }
    IoBuffer buf(count, 0xab);
    struct timespec t1 = io_now();
    // -b: the VM-state area (-ENOTSUP where the format has none).
    ret = a.bflag ? blk_load_vmstate(blk, buf.data(), offset, count)
                  : blk_pread(blk, offset, count, buf.data(), 0);
    struct timespec t2 = io_now();
    if (ret < 0) {
        printf("read failed: %s\n", strerror(-ret));
        return ret;
    }
    ret = 0;
    if (a.pflag && !verify_pattern(buf.data() + a.pattern_offset, a.pattern, a.pattern_count)) {
        printf("Pattern verification failed at offset %" PRId64 ", %" PRId64 " bytes\n",
               offset + a.pattern_offset, a.pattern_count);
        ret = -EINVAL;
    }
    if (a.qflag) {
        return ret;
    }
    if (a.vflag) {
        io_dump_buffer(buf.data(), offset, count);
    }
    t2 = io_tsub(t2, t1);
    io_print_report("read", &t2, offset, count, count, 1, a.cflag);
    return ret;
}

static int readv_f(BlockBackend *blk, int argc, char **argv)
{
    bool cflag = false, qflag = false, vflag = false, pflag = false;
    int pattern = 0, c;
    while ((c = getopt(argc, argv, "CP:qv")) != -1) {
        switch (c) {
        case 'C': cflag = true; break;
        case 'P':
            pflag = true;
            pattern = io_parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q': qflag = true; break;
        case 'v': vflag = true; break;
        default: io_command_usage(&readv_cmd); return -EINVAL;
        }
    }
    int64_t offset;
    QEMUIOVector qiov;
    int ret;
    auto buf = parse_vector_args(argc, argv, &readv_cmd, 0xab, &offset, &qiov, &ret);
    if (!buf) {
        return ret;
    }
    struct timespec t1 = io_now();
    ret = (int)blk_run_co(blk, [&]() coroutine_fn {
        return blk_co_preadv(blk, offset, (int64_t)qiov.size, &qiov, 0);
    });
    struct timespec t2 = io_now();
    if (ret < 0) {
        printf("readv failed: %s\n", strerror(-ret));
        return ret;
    }
    ret = 0;
    if (pflag && !verify_pattern(buf->data(), pattern, (int64_t)qiov.size)) {
        printf("Pattern verification failed at offset %" PRId64 ", %zu bytes\n", offset, qiov.size);
        ret = -EINVAL;
    }
    if (qflag) {
        return ret;
    }
    if (vflag) {
        io_dump_buffer(buf->data(), offset, (int64_t)qiov.size);
    }
    t2 = io_tsub(t2, t1);
    io_print_report("read", &t2, offset, (int64_t)qiov.size, (int64_t)qiov.size, 1, cflag);
    return ret;
}

struct WriteArgs {
    bool bflag = false, cflag = false, Cflag = false, qflag = false;
    bool zflag = false, pflag = false, sflag = false;
    int flags = 0, pattern = 0xcd;
    const char *file_name = nullptr;
};

static int parse_write_opts(int argc, char **argv, WriteArgs *a)
{
    int c;
    while ((c = getopt(argc, argv, "bcCfnpP:quzs:")) != -1) {
        switch (c) {
        case 'b': a->bflag = true; break;
        case 'c': a->cflag = true; break;
        case 'C': a->Cflag = true; break;
        case 'f': a->flags |= BDRV_REQ_FUA; break;
        case 'n': a->flags |= BDRV_REQ_NO_FALLBACK; break;
        case 'p': break;  // ignored for backwards compatibility
        case 'P':
            a->pflag = true;
            a->pattern = io_parse_pattern(optarg);
            if (a->pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q': a->qflag = true; break;
        case 's':
            a->sflag = true;
            a->file_name = optarg;
            break;
        case 'u': a->flags |= BDRV_REQ_MAY_UNMAP; break;
        case 'z': a->zflag = true; break;
        default: io_command_usage(&write_cmd); return -EINVAL;
        }
    }
    return 0;
}

// The flag combinations qemu-io refuses, with its messages.
static bool write_opts_valid(const WriteArgs &a)
{
    if (a.bflag && a.zflag) {
        printf("-b and -z cannot be specified at the same time\n");
    } else if ((a.flags & BDRV_REQ_FUA) && (a.bflag || a.cflag)) {
        printf("-f and -b or -c cannot be specified at the same time\n");
    } else if ((a.flags & BDRV_REQ_NO_FALLBACK) && !a.zflag) {
        printf("-n requires -z to be specified\n");
    } else if ((a.flags & BDRV_REQ_MAY_UNMAP) && !a.zflag) {
        printf("-u requires -z to be specified\n");
    } else if (a.zflag + a.pflag + a.sflag > 1) {
        printf("Only one of -z, -P, and -s can be specified at the same time\n");
    } else {
        return true;
    }
    return false;
}

// -s FILE: the write buffer repeats the file's contents.
static std::unique_ptr<IoBuffer> buffer_from_file(int64_t count, const char *file_name)
{
    FILE *f = fopen(file_name, "r");
    if (!f) {
        perror(file_name);
        return nullptr;
    }
    auto buf = std::make_unique<IoBuffer>(count, 0);
    size_t got = fread(buf->data(), 1, (size_t)count, f);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        perror(file_name);
        return nullptr;
    }
    if (got == 0) {
        fprintf(stderr, "%s: file is empty\n", file_name);
        return nullptr;
    }
    for (int64_t i = (int64_t)got; i < count; i++) {
        buf->data()[i] = buf->data()[i - got];
    }
    return buf;
}

static int do_write(BlockBackend *blk, const WriteArgs &a, int64_t offset, int64_t count,
                    IoBuffer *buf)
{
    if (a.zflag) {
        return blk_pwrite_zeroes(blk, offset, count, a.flags);
    }
    if (a.cflag) {
        return (int)blk_run_co(blk, [&]() coroutine_fn {
            return blk_co_pwrite_compressed(blk, offset, count, buf->data());
        });
    }
    return blk_pwrite(blk, offset, count, buf->data(), a.flags);
}

static int write_f(BlockBackend *blk, int argc, char **argv)
{
    WriteArgs a;
    int64_t offset, count;
    int ret = parse_write_opts(argc, argv, &a);
    if (ret < 0) {
        return ret;
    }
    if (optind != argc - 2) {
        io_command_usage(&write_cmd);
        return -EINVAL;
    }
    if (!write_opts_valid(a)) {
        return -EINVAL;
    }
    if (!parse_num(argv[optind], &offset)) {
        return (int)offset;
    }
    if (!parse_num(argv[optind + 1], &count)) {
        return (int)count;
    }
    if (count > kRequestMaxBytes && !(a.flags & BDRV_REQ_NO_FALLBACK)) {
        printf("length cannot exceed %" PRIu64 " without -n, given %s\n",
               (uint64_t)kRequestMaxBytes, argv[optind + 1]);
        return -EINVAL;
    }
    if ((a.bflag || a.cflag) && !check_sector_aligned(offset, count)) {
        return -EINVAL;
    }
    std::unique_ptr<IoBuffer> buf;
    if (!a.zflag) {
        buf = a.sflag ? buffer_from_file(count, a.file_name)
                      : std::make_unique<IoBuffer>(count, a.pattern);
        if (!buf) {
            return -EINVAL;
        }
    }
    struct timespec t1 = io_now();
    ret = a.bflag ? blk_save_vmstate(blk, buf->data(), offset, count)
                  : do_write(blk, a, offset, count, buf.get());
    struct timespec t2 = io_now();
    if (ret < 0) {
        printf("write failed: %s\n", strerror(-ret));
        return ret;
    }
    if (!a.qflag) {
        t2 = io_tsub(t2, t1);
        io_print_report("wrote", &t2, offset, count, count, 1, a.Cflag);
    }
    return 0;
}

static int writev_f(BlockBackend *blk, int argc, char **argv)
{
    bool cflag = false, qflag = false;
    int flags = 0, pattern = 0xcd, c;
    while ((c = getopt(argc, argv, "CfqP:")) != -1) {
        switch (c) {
        case 'C': cflag = true; break;
        case 'f': flags |= BDRV_REQ_FUA; break;
        case 'q': qflag = true; break;
        case 'P':
            pattern = io_parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        default: io_command_usage(&writev_cmd); return -EINVAL;
        }
    }
    int64_t offset;
    QEMUIOVector qiov;
    int ret;
    auto buf = parse_vector_args(argc, argv, &writev_cmd, pattern, &offset, &qiov, &ret);
    if (!buf) {
        return ret;
    }
    struct timespec t1 = io_now();
    ret = (int)blk_run_co(blk, [&]() coroutine_fn {
        return blk_co_pwritev(blk, offset, (int64_t)qiov.size, &qiov, flags);
    });
    struct timespec t2 = io_now();
    if (ret < 0) {
        printf("writev failed: %s\n", strerror(-ret));
        return ret;
    }
    if (!qflag) {
        t2 = io_tsub(t2, t1);
        io_print_report("wrote", &t2, offset, (int64_t)qiov.size, (int64_t)qiov.size, 1, cflag);
    }
    return 0;
}

static void read_help(void)
{
    printf("\n"
           " reads a range of bytes from the given offset\n"
           "\n"
           " Example:\n"
           " 'read -v 512 1k' - dumps 1 kilobyte read from 512 bytes into the file\n"
           "\n"
           " Reads a segment of the currently open file, optionally dumping it to the\n"
           " standard output stream (with -v option) for subsequent inspection.\n"
           " -b, -- read from the VM state rather than the virtual disk\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -l, -- length for pattern verification (only with -P)\n"
           " -p, -- ignored for backwards compatibility\n"
           " -P, -- use a pattern to verify read data\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           " -s, -- start offset for pattern verification (only with -P)\n"
           " -v, -- dump buffer to standard output\n"
           "\n");
}

static void readv_help(void)
{
    printf("\n"
           " reads a range of bytes from the given offset into multiple buffers\n"
           "\n"
           " Example:\n"
           " 'readv -v 512 1k 1k ' - dumps 2 kilobytes read from 512 bytes into the file\n"
           "\n"
           " Reads a segment of the currently open file, optionally dumping it to the\n"
           " standard output stream (with -v option) for subsequent inspection.\n"
           " Uses multiple iovec buffers if more than one byte range is specified.\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -P, -- use a pattern to verify read data\n"
           " -v, -- dump buffer to standard output\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           "\n");
}

static void write_help(void)
{
    printf("\n"
           " writes a range of bytes from the given offset\n"
           "\n"
           " Example:\n"
           " 'write 512 1k' - writes 1 kilobyte at 512 bytes into the open file\n"
           "\n"
           " Writes into a segment of the currently open file, using a buffer\n"
           " filled with a set pattern (0xcdcdcdcd).\n"
           " -b, -- write to the VM state rather than the virtual disk\n"
           " -c, -- write compressed data with blk_write_compressed\n"
           " -f, -- use Force Unit Access semantics\n"
           " -n, -- with -z, don't allow slow fallback\n"
           " -p, -- ignored for backwards compatibility\n"
           " -P, -- use different pattern to fill file\n"
           " -s, -- use a pattern file to fill the write buffer\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           " -u, -- with -z, allow unmapping\n"
           " -z, -- write zeroes using blk_co_pwrite_zeroes\n"
           "\n");
}

static void writev_help(void)
{
    printf("\n"
           " writes a range of bytes from the given offset source from multiple buffers\n"
           "\n"
           " Example:\n"
           " 'writev 512 1k 1k' - writes 2 kilobytes at 512 bytes into the open file\n"
           "\n"
           " Writes into a segment of the currently open file, using a buffer\n"
           " filled with a set pattern (0xcdcdcdcd).\n"
           " -P, -- use different pattern to fill file\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -f, -- use Force Unit Access semantics\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           "\n");
}

const IoCmd io_rw_cmds[] = {
    {"read", "r", read_f, 2, -1, 0, false, "[-abCqv] [-P pattern [-s off] [-l len]] off len",
     "reads a number of bytes at a specified offset", read_help},
    {"readv", nullptr, readv_f, 2, -1, 0, false, "[-Cqv] [-P pattern] off len [len..]",
     "reads a number of bytes at a specified offset", readv_help},
    {"write", "w", write_f, 2, -1, 0, true, "[-bcCfnquz] [-P pattern | -s source_file] off len",
     "writes a number of bytes at a specified offset", write_help},
    {"writev", nullptr, writev_f, 2, -1, 0, true, "[-Cfq] [-P pattern] off len [len..]",
     "writes a number of bytes at a specified offset", writev_help},
    {},
};
