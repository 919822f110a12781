// Argument-error reporting, size parsing and image opening shared by every
// qemu-img-lite subcommand; messages follow qemu-img 7.2 word for word.
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img.h"

void error_exit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", error_get_progname());
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information\n", error_get_progname());
    exit(EXIT_FAILURE);
}

void img_unrecognized_option(const char *option) { error_exit("unrecognized option '%s'", option); }

void img_missing_argument(const char *option)
{
    error_exit("missing argument for option '%s'", option);
}

int img_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    int c = getopt_long(argc, argv, shortopts, longopts, nullptr);
    switch (c) {
    case '?': img_unrecognized_option(argv[optind - 1]);
    case ':': img_missing_argument(argv[optind - 1]);
    case 'h': img_help();
    default: return c;
    }
}

OutputFormat img_parse_output_format(const char *arg)
{
    if (!strcmp(arg, "json")) {
        return OFORMAT_JSON;
    }
    if (!strcmp(arg, "human")) {
        return OFORMAT_HUMAN;
    }
    error_report("--output must be used with human or json as argument.");
    exit(EXIT_FAILURE);
}

int64_t img_cvtnum_full(const char *what, const char *value, int64_t min, int64_t max)
{
    uint64_t res;
    int err = qemu_strtosz(value, &res);
    if (err < 0 && err != -ERANGE) {
        error_report("Invalid %s specified. You may use k, M, G, T, P or E suffixes for", what);
        error_report("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
        return err;
    }
    if (err == -ERANGE || res > (uint64_t)max || (int64_t)res < min) {
        error_report("Invalid %s specified. Must be between %" PRId64 " and %" PRId64 ".", what,
                     min, max);
        return -ERANGE;
    }
    return (int64_t)res;
}

int64_t img_cvtnum(const char *what, const char *value)
{
    return img_cvtnum_full(what, value, 0, INT64_MAX);
}

bool img_parse_cache(const char *mode, int *flags, bool *writethrough)
{
    int f = 0;
    if (!bdrv_parse_cache_mode(mode, &f, writethrough)) {
        error_report("Invalid cache option: %s", mode);
        return false;
    }
    *flags = (*flags & ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH)) | f;
    return true;
}

BlockBackend *img_open(const char *filename, const ImgOpenArgs &args)
{
    int flags = args.flags;
    bool writethrough = false;
    if (!img_parse_cache(args.cache ? args.cache : "writeback", &flags, &writethrough)) {
        return nullptr;
    }
    if (args.aio && !bdrv_parse_aio(args.aio, &flags)) {
        error_report("Invalid aio option: %s", args.aio);
        return nullptr;
    }
    if (args.force_share) {
        flags |= BDRV_O_FORCE_SHARE;
    }
    QDict opts;
    ErrorPtr err;
    if (args.image_opts) {
        if (args.fmt) {
            error_report("--image-opts and --format are mutually exclusive");
            return nullptr;
        }
        if (!keyval_parse(filename, nullptr, &opts, &err)) {
            error_report_err(err.release());
            return nullptr;
        }
    } else if (args.fmt) {
        opts.set("driver", args.fmt);
    }
    for (const auto &kv : args.extra_opts) {
        opts.set(kv.first, kv.second);
    }
    BlockBackend *blk = blk_new_open(args.image_opts ? nullptr : filename, &opts, flags, &err);
    if (!blk) {
        error_report("Could not open '%s': %s", filename, error_get_pretty(err.get()));
        return nullptr;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

int64_t img_allocated_file_size(BlockDriverState *bs)
{
    int64_t ret = -ENOTSUP;
    img_co_run([&]() coroutine_fn { ret = bdrv_co_get_allocated_file_size(bs); });
    return ret;
}

int img_block_status_above(BlockDriverState *bs, BlockDriverState *base, int64_t offset,
                           int64_t bytes, int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    int ret = 0;
    img_co_run([&]() coroutine_fn {
        ret = bdrv_co_block_status_above(bs, base, offset, bytes, pnum, map, file);
    });
    return ret;
}

int img_cluster_size(BlockDriverState *bs)
{
    BlockDriverInfo bdi;
    if (bdrv_get_info(bs, &bdi) < 0) {
        return 0;
    }
    return bdi.cluster_size;
}
