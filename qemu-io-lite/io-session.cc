// Commands about the session rather than the image: open, close, reopen, sleep,
// sigraise and abort; and the open-flag parsers shared with main().
#include <getopt.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "block/block.h"
#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

extern const IoCmd io_session_cmds[];
static const IoCmd &open_cmd = io_session_cmds[0];
static const IoCmd &reopen_cmd = io_session_cmds[2];

bool io_parse_discard(const char *mode, int *flags)
{
    if (!strcmp(mode, "off") || !strcmp(mode, "ignore")) {
        *flags &= ~BDRV_O_UNMAP;
    } else if (!strcmp(mode, "on") || !strcmp(mode, "unmap")) {
        *flags |= BDRV_O_UNMAP;
    } else {
        return false;
    }
    return true;
}

struct OpenArgs {
    int flags = BDRV_O_UNMAP;
    bool readonly = false, writethrough = true, force_share = false, cor = false;
    QDict opts;
    bool have_opts = false;
};

// Parses "-o key=value,..." the way QemuOpts does (an implied bare value is
// refused); prints the error and returns false on bad syntax.
static bool parse_opts_arg(const char *arg, OpenArgs *a)
{
    ErrorPtr err;
    if (!keyval_parse(arg, nullptr, &a->opts, &err)) {
        error_report_err(err.release());
        return false;
    }
    a->have_opts = true;
    return true;
}

static int parse_open_opts(int argc, char **argv, OpenArgs *a)
{
    int c;
    while ((c = getopt(argc, argv, "snCro:ki:t:d:U")) != -1) {
        switch (c) {
        case 's': a->flags |= BDRV_O_SNAPSHOT; break;
        case 'n':
            a->flags |= BDRV_O_NOCACHE;
            a->writethrough = false;
            break;
        case 'C': a->cor = true; break;
        case 'r': a->readonly = true; break;
        case 'k': a->flags |= BDRV_O_NATIVE_AIO; break;
        case 't': {
            int f = 0;
            if (!bdrv_parse_cache_mode(optarg, &f, &a->writethrough)) {
                error_report("Invalid cache option: %s", optarg);
                return -EINVAL;
            }
            a->flags = (a->flags & ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH)) | f;
            break;
        }
        case 'd':
            if (!io_parse_discard(optarg, &a->flags)) {
                error_report("Invalid discard option: %s", optarg);
                return -EINVAL;
            }
            break;
        case 'i':
            if (!bdrv_parse_aio(optarg, &a->flags)) {
                error_report("Invalid aio option: %s", optarg);
                return -EINVAL;
            }
            break;
        case 'o':
            if (io_session().image_opts) {
                printf("--image-opts and 'open -o' are mutually exclusive\n");
                return -EINVAL;
            }
            if (!parse_opts_arg(optarg, a)) {
                return -EINVAL;
            }
            break;
        case 'U': a->force_share = true; break;
        default: io_command_usage(&open_cmd); return -EINVAL;
        }
    }
    return 0;
}

static int open_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    OpenArgs a;
    int ret = parse_open_opts(argc, argv, &a);
    if (ret < 0) {
        return ret;
    }
    if (!a.readonly) {
        a.flags |= BDRV_O_RDWR;
    }
    if (io_session().image_opts && optind == argc - 1) {
        if (!parse_opts_arg(argv[optind], &a)) {
            return -EINVAL;
        }
        optind++;
    }
    QDict *opts = a.have_opts ? &a.opts : nullptr;
    if (optind == argc - 1) {
        ret = io_openfile(argv[optind], a.flags, a.writethrough, a.force_share, a.cor, opts);
    } else if (optind == argc) {
        ret = io_openfile(nullptr, a.flags, a.writethrough, a.force_share, a.cor, opts);
    } else {
        io_command_usage(&open_cmd);
        return -EINVAL;
    }
    return ret ? -EINVAL : 0;
}

struct ReopenArgs {
    int flags = 0;
    bool writethrough = false;
    bool has_rw_option = false, has_cache_option = false;
    QDict opts;
};

static int parse_reopen_opts(int argc, char **argv, ReopenArgs *a)
{
    int c;
    while ((c = getopt(argc, argv, "c:o:rw")) != -1) {
        switch (c) {
        case 'c':
            if (!bdrv_parse_cache_mode(optarg, &a->flags, &a->writethrough)) {
                error_report("Invalid cache option: %s", optarg);
                return -EINVAL;
            }
            a->has_cache_option = true;
            break;
        case 'o': {
            ErrorPtr err;
            if (!keyval_parse(optarg, nullptr, &a->opts, &err)) {  // -o lists merge
                error_report_err(err.release());
                return -EINVAL;
            }
            break;
        }
        case 'r':
        case 'w':
            if (a->has_rw_option) {
                error_report("Only one -r/-w option may be given");
                return -EINVAL;
            }
            a->flags = c == 'r' ? (a->flags & ~BDRV_O_RDWR) : (a->flags | BDRV_O_RDWR);
            a->has_rw_option = true;
            break;
        default: io_command_usage(&reopen_cmd); return -EINVAL;
        }
    }
    if (optind != argc) {
        io_command_usage(&reopen_cmd);
        return -EINVAL;
    }
    return 0;
}

// The flag-derived options go in unless -o names them itself; naming them
// both ways is refused, as qemu-io does.
static bool put_flag_option(ReopenArgs *a, const char *key, bool value, bool has_option,
                            const char *conflict)
{
    if (a->opts.has(key)) {
        if (has_option) {
            error_report("%s", conflict);
            return false;
        }
    } else {
        a->opts.set(key, value ? "on" : "off");
    }
    return true;
}

static int reopen_f(BlockBackend *blk, int argc, char **argv)
{
    ReopenArgs a;
    a.flags = bdrv_get_open_flags(blk_bs(blk));
    a.writethrough = !blk_enable_write_cache(blk);
    int ret = parse_reopen_opts(argc, argv, &a);
    if (ret < 0) {
        return ret;
    }
    const char *cache_conflict = "Cannot set both -c and the cache options";
    if (!put_flag_option(&a, "read-only", !(a.flags & BDRV_O_RDWR), a.has_rw_option,
                         "Cannot set both -r/-w and 'read-only'") ||
        !put_flag_option(&a, "cache.direct", a.flags & BDRV_O_NOCACHE, a.has_cache_option,
                         cache_conflict) ||
        !put_flag_option(&a, "cache.no-flush", a.flags & BDRV_O_NO_FLUSH, a.has_cache_option,
                         cache_conflict)) {
        return -EINVAL;
    }
    ErrorPtr err;
    if (blk_reopen(blk, &a.opts, &err) < 0) {
        error_report_err(err.release());
        return -EINVAL;
    }
    blk_set_enable_write_cache(blk, !a.writethrough);
    return 0;
}

static int close_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    (void)argc;
    (void)argv;
    io_closefile();
    return 0;
}

static void sleep_cb(void *opaque) { *(bool *)opaque = true; }

// Runs the main loop meanwhile, so that aio requests complete and report.
static int sleep_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    (void)argc;
    char *end;
    long ms = strtol(argv[1], &end, 0);
    if (ms < 0 || *end != '\0') {
        printf("%s is not a valid number\n", argv[1]);
        return -EINVAL;
    }
    AioContext *ctx = qemu_get_aio_context();
    bool expired = false;
    QEMUTimer *timer = aio_timer_new(ctx, sleep_cb, &expired);
    timer_mod_ns(timer, qemu_clock_get_ns() + ms * 1000000LL);
    while (!expired) {
        aio_poll(ctx, true);
    }
    timer_free(timer);
    return 0;
}

static int sigraise_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    (void)argc;
    int64_t sig = io_cvtnum(argv[1]);
    if (sig < 0) {
        io_print_cvtnum_err(sig, argv[1]);
        return (int)sig;
    } else if (sig > NSIG) {
        printf("signal argument '%s' is too large to be a valid signal\n", argv[1]);
        return -EINVAL;
    }
    // Pending output must be in the file before a fatal signal.
    fflush(stdout);
    fflush(stderr);
    raise((int)sig);
    return 0;
}

static int abort_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    (void)argc;
    (void)argv;
    abort();
}

static void open_help(void)
{
    printf("\n"
           " opens a new file in the requested mode\n"
           "\n"
           " Example:\n"
           " 'open -n -o driver=raw /tmp/data' - opens raw data file read-write, uncached\n"
           "\n"
           " Opens a file for subsequent use by all of the other qemu-io commands.\n"
           " -r, -- open file read-only\n"
           " -s, -- use snapshot file\n"
           " -C, -- use copy-on-read\n"
           " -n, -- disable host cache, short for -t none\n"
           " -U, -- force shared permissions\n"
           " -k, -- use kernel AIO implementation (Linux only, prefer use of -i)\n"
           " -i, -- use AIO mode (threads, native or io_uring)\n"
           " -t, -- use the given cache mode for the image\n"
           " -d, -- use the given discard mode for the image\n"
           " -o, -- options to be given to the block driver\n"
           "\n");
}

static void reopen_help(void)
{
    printf("\n"
           " Changes the open options of an already opened image\n"
           "\n"
           " Example:\n"
           " 'reopen -o lazy-refcounts=on' - activates lazy refcount writeback on a qcow2 image\n"
           "\n"
           " -r, -- Reopen the image read-only\n"
           " -w, -- Reopen the image read-write\n"
           " -c, -- Change the cache mode to the given value\n"
           " -o, -- Changes block driver options (cf. 'open' command)\n"
           "\n");
}

const IoCmd io_session_cmds[] = {
    {"open", "o", open_f, 1, -1, CMD_NOFILE_OK, false,
     "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]", "open the file specified by path",
     open_help},
    {"close", "c", close_f, 0, 0, 0, false, nullptr, "close the current open file", nullptr},
    {"reopen", nullptr, reopen_f, 0, -1, 0, false, "[(-r|-w)] [-c cache] [-o options]",
     "reopens an image with new options", reopen_help},
    {"sleep", nullptr, sleep_f, 1, 1, CMD_NOFILE_OK, false, nullptr,
     "waits for the given value in milliseconds", nullptr},
    {"sigraise", nullptr, sigraise_f, 1, 1, CMD_NOFILE_OK, false, "signal", "raises a signal",
     nullptr},
    {"abort", nullptr, abort_f, 0, 0, CMD_NOFILE_OK, false, nullptr,
     "simulate a program crash using abort(3)", nullptr},
    {},
};
