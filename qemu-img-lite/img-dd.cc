// qemu-img dd: copies an image (or a window of it) into a new image with
// dd(1)-style operands.  Behaviour and messages as qemu-img 7.2, including
// its reading of skip and count: count limits the end of the copy measured
// from the start of the input, not from the skipped offset.
#include <cinttypes>
#include <climits>
#include <cstring>
#include <memory>
#include <string>

#include "block/block.h"
#include "qemu-img-lite/img.h"

namespace {

struct DdArgs {
    const char *in = nullptr, *out = nullptr;
    const char *fmt = nullptr, *out_fmt = "raw";
    int64_t bsz = 512;
    int64_t count = 0, skip = 0;
    bool has_count = false, has_skip = false;
    bool image_opts = false, force_share = false;
};

// One "name=value" operand; false after printing qemu-img's message.
bool parse_operand(const char *arg, DdArgs *a)
{
    const char *eq = strchr(arg, '=');
    std::string name = eq ? std::string(arg, eq - arg) : "";
    const char *v = eq ? eq + 1 : nullptr;
    if (name == "bs") {
        a->bsz = img_cvtnum_full("bs", v, 1, INT_MAX);
        return a->bsz >= 0;
    } else if (name == "count") {
        a->count = img_cvtnum("count", v);
        a->has_count = true;
        return a->count >= 0;
    } else if (name == "skip") {
        a->skip = img_cvtnum("skip", v);
        a->has_skip = true;
        return a->skip >= 0;
    } else if (name == "if") {
        a->in = v;
        return true;
    } else if (name == "of") {
        a->out = v;
        return true;
    }
    // QEMU names the whole operand when it has no '=', else the part before.
    error_report("unrecognized operand %s", eq ? name.c_str() : arg);
    return false;
}

bool parse_dd_args(int argc, char **argv, DdArgs *a)
{
    enum { OPTION_IMAGE_OPTS = 256 };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"image-opts", no_argument, nullptr, OPTION_IMAGE_OPTS},
        {"force-share", no_argument, nullptr, 'U'},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = img_getopt(argc, argv, ":hf:O:U", long_options)) != -1) {
        switch (c) {
        case 'O': a->out_fmt = optarg; break;
        case 'f': a->fmt = optarg; break;
        case 'U': a->force_share = true; break;
        case OPTION_IMAGE_OPTS: a->image_opts = true; break;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (!parse_operand(argv[i], a)) {
            return false;
        }
    }
    if (!a->in || !a->out) {
        error_report("Must specify both input and output files");
        return false;
    }
    return true;
}

bool skip_beyond(const DdArgs &a, int64_t size)
{
    return a.has_skip && (a.skip > INT64_MAX / a.bsz || size < a.skip * a.bsz);
}

// Creates the output image of @size bytes in the output format.
bool create_output(const DdArgs &a, int64_t size)
{
    const BlockDriver *drv = bdrv_find_format(a.out_fmt);
    if (!drv) {
        error_report("Unknown file format");
        return false;
    }
    ErrorPtr err;
    const BlockDriver *proto = bdrv_find_protocol(a.out, &err);
    if (!proto) {
        error_report_err(err.release());
        return false;
    }
    if (!bdrv_driver_create_opts(drv)) {
        error_report("Format driver '%s' does not support image creation",
                     bdrv_driver_format_name(drv));
        return false;
    }
    if (!bdrv_driver_create_opts(proto)) {
        error_report("Protocol driver '%s' does not support image creation",
                     bdrv_driver_format_name(proto));
        return false;
    }
    QDict opts;
    opts.set("size", std::to_string(size));
    if (bdrv_create(a.out_fmt, a.out, &opts, &err) < 0) {
        error_report("%s: error while creating output image: %s", a.out,
                     error_get_pretty(err.get()));
        return false;
    }
    return true;
}

bool copy(const DdArgs &a, BlockBackend *in, BlockBackend *out, int64_t size)
{
    int64_t in_pos = a.skip * a.bsz;
    if (skip_beyond(a, size)) {
        // Like dd(1): a warning, and an empty output image.
        error_report("%s: cannot skip to specified offset", a.in);
        in_pos = size;
    }
    std::unique_ptr<uint8_t[]> buf(new uint8_t[a.bsz]);
    for (int64_t out_pos = 0; in_pos < size;) {
        int64_t bytes = std::min(a.bsz, size - in_pos);
        int ret = blk_pread(in, in_pos, bytes, buf.get(), 0);
        if (ret < 0) {
            error_report("error while reading from input image file: %s", strerror(-ret));
            return false;
        }
        in_pos += bytes;
        ret = blk_pwrite(out, out_pos, bytes, buf.get(), 0);
        if (ret < 0) {
            error_report("error while writing to output image file: %s", strerror(-ret));
            return false;
        }
        out_pos += bytes;
    }
    return true;
}

}  // namespace

int img_dd(int argc, char **argv)
{
    DdArgs a;
    if (!parse_dd_args(argc, argv, &a)) {
        return 1;
    }
    ImgOpenArgs ia;
    ia.fmt = a.fmt;
    ia.force_share = a.force_share;
    ia.image_opts = a.image_opts;
    BlkRef in(img_open(a.in, ia));
    if (!in) {
        return 1;
    }
    int64_t size = blk_getlength(in.get());
    if (size < 0) {
        error_report("Failed to get size for '%s'", a.in);
        return 1;
    }
    if (a.has_count && a.count <= INT64_MAX / a.bsz && a.count * a.bsz < size) {
        size = a.count * a.bsz;
    }
    if (!create_output(a, skip_beyond(a, size) ? 0 : size - a.skip * a.bsz)) {
        return 1;
    }
    // The output is opened by name in the output format: --image-opts
    // describes the input only (as QEMU, which cannot create from options).
    ImgOpenArgs oa;
    oa.fmt = a.out_fmt;
    oa.flags = BDRV_O_RDWR;
    BlkRef out(img_open(a.out, oa));
    if (!out) {
        return 1;
    }
    return copy(a, in.get(), out.get(), size) ? 0 : 1;
}
