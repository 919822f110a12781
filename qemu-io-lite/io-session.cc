// Commands about the session rather than the image: open, close, sleep,
// sigraise and abort; and the open-flag parsers shared with main().
#include <getopt.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

extern const IoCmd io_session_cmds[];
static const IoCmd &open_cmd = io_session_cmds[0];

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
    Error *err = nullptr;
    if (!keyval_parse(arg, nullptr, &a->opts, &err)) {
        error_report_err(err);
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
        case 's':
            error_report("snapshot mode (-s) is not supported");
            return -ENOTSUP;
        case 'n': a->flags |= BDRV_O_NOCACHE; a->writethrough = false; break;
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
        default:
            io_command_usage(&open_cmd);
            return -EINVAL;
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

static int close_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    (void)argc;
    (void)argv;
    io_closefile();
    return 0;
}

static void sleep_cb(void *opaque)
{
    *(bool *)opaque = true;
}

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

const IoCmd io_session_cmds[] = {
    {"open", "o", open_f, 1, -1, CMD_NOFILE_OK, false,
     "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
     "open the file specified by path", open_help},
    {"close", "c", close_f, 0, 0, 0, false, nullptr, "close the current open file", nullptr},
    {"sleep", nullptr, sleep_f, 1, 1, CMD_NOFILE_OK, false, nullptr,
     "waits for the given value in milliseconds", nullptr},
    {"sigraise", nullptr, sigraise_f, 1, 1, CMD_NOFILE_OK, false, "signal",
     "raises a signal", nullptr},
    {"abort", nullptr, abort_f, 0, 0, CMD_NOFILE_OK, false, nullptr,
     "simulate a program crash using abort(3)", nullptr},
    {},
};
