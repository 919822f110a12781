// qemu-img-lite create: validate options like qemu-img's bdrv_img_create,
// print the "Formatting" line, and let the format driver create the image.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img-create-opts.h"
#include "qemu-img-lite/img.h"

namespace {

struct CreateArgs {
    const char *fmt = "raw";
    const char *base_filename = nullptr;
    const char *base_fmt = nullptr;
    std::string options;
    bool quiet = false;
    bool unsafe = false;
    const char *filename = nullptr;
    int64_t size = -1;
};

void parse_create_args(int argc, char **argv, CreateArgs *a)
{
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = img_getopt(argc, argv, ":F:b:f:ho:qu", long_options)) != -1) {
        switch (c) {
        case 'F': a->base_fmt = optarg; break;
        case 'b': a->base_filename = optarg; break;
        case 'f': a->fmt = optarg; break;
        case 'o':
            if (!a->options.empty()) a->options += ",";
            a->options += optarg;
            break;
        case 'q': a->quiet = true; break;
        case 'u': a->unsafe = true; break;
        }
    }
    if (a->options == "help" || a->options == "?") {
        const BlockDriver *drv = bdrv_find_format(a->fmt);
        if (!drv) {
            error_report("Unknown file format '%s'", a->fmt);
            exit(1);
        }
        img_print_create_help(drv, optind < argc ? argv[optind] : nullptr);
        exit(0);
    }
    if (optind >= argc) {
        error_exit("Expecting image file name");
    }
    a->filename = argv[optind++];
    if (optind < argc) {
        int64_t sval = img_cvtnum("image size", argv[optind++]);
        if (sval < 0) {
            exit(1);
        }
        a->size = sval;
    }
    if (optind != argc) {
        error_exit("Unexpected argument: %s", argv[optind]);
    }
}

std::string backing_path(const char *filename, const char *backing)
{
    const char *slash = strrchr(filename, '/');
    if (backing[0] == '/' || !slash || strstr(backing, "://") || !strncmp(backing, "json:", 5)) {
        return backing;
    }
    return std::string(filename, (size_t)(slash - filename + 1)) + backing;
}

// Opens the backing file to learn its size and (when not given) its format,
// as qemu-img does unless -u.  Returns false with errp set.
bool probe_backing(const CreateArgs &a, CreateOpts *opts, Error **errp)
{
    const char *bfile = opts->get("backing_file");
    const char *bfmt = opts->get("backing_fmt");
    std::string path = backing_path(a.filename, bfile);
    QDict o;
    if (bfmt) o.set("driver", bfmt);
    ErrorPtr err;
    BlockBackend *blk = blk_new_open(path.c_str(), &o, BDRV_O_NO_BACKING | BDRV_O_NO_IO, &err);
    if (!blk) {
        error_setg(errp, "%s\nCould not open backing image.", error_get_pretty(err.get()));
        return false;
    }
    BlkRef ref(blk);
    if (!bfmt) {
        error_setg(errp, "Backing file specified without backing format\nDetected format of %s.",
                   bdrv_get_format_name(blk_bs(blk)));
        return false;
    }
    if (!opts->get("size")) {
        int64_t size = blk_getlength(blk);
        if (size < 0) {
            error_setg_errno(errp, (int)-size, "Could not get size of '%s'", bfile);
            return false;
        }
        opts->set("size", std::to_string(size));
    }
    return true;
}

// Everything bdrv_img_create checks before it prints "Formatting".
bool prepare_opts(const CreateArgs &a, const BlockDriver *drv, CreateOpts *opts, Error **errp)
{
    if (!a.options.empty() && !img_parse_option_list(a.options.c_str(), opts)) {
        error_report("Invalid option list: %s", a.options.c_str());
        exit(1);
    }
    if (!img_check_create_opts(drv, opts, errp, img_protocol_for(a.filename))) {
        return false;
    }
    if (a.size >= 0) {
        if (opts->get("size")) {
            error_setg(errp, "The image size must be specified only once");
            return false;
        }
        opts->set("size", std::to_string(a.size));
    }
    if (a.base_filename) opts->set("backing_file", a.base_filename);
    if (a.base_fmt) opts->set("backing_fmt", a.base_fmt);
    if (opts->get("backing_file") && !bdrv_driver_supports_backing(drv)) {
        error_setg(errp, "Backing file not supported for file format '%s'",
                   bdrv_driver_format_name(drv));
        return false;
    }
    if (const char *bfile = opts->get("backing_file")) {
        // As bdrv_img_create: the names as given, before any resolving.
        if (!strcmp(a.filename, bfile)) {
            error_setg(errp, "Error: Trying to create an image with the same filename as the "
                             "backing file");
            return false;
        }
        if (!bfile[0]) {
            error_setg(errp, "Expected backing file name, got empty string");
            return false;
        }
    }
    if (opts->get("backing_file") && !a.unsafe && !probe_backing(a, opts, errp)) {
        return false;
    }
    if (!opts->get("size")) {
        error_setg(errp, "Image creation needs a size parameter");
        return false;
    }
    return true;
}

}  // namespace

int img_create(int argc, char **argv)
{
    CreateArgs a;
    parse_create_args(argc, argv, &a);

    const BlockDriver *drv = bdrv_find_format(a.fmt);
    ErrorPtr err;
    if (!drv) {
        error_setg(&err, "Unknown file format '%s'", a.fmt);
    } else if (!bdrv_driver_can_create(drv)) {
        error_setg(&err, "Format driver '%s' does not support image creation", a.fmt);
    }
    CreateOpts opts;
    if (!err && !prepare_opts(a, drv, &opts, &err)) {
        // err set
    }
    if (!err) {
        if (!a.quiet) {
            printf("%s\n",
                   img_formatting_line(a.filename, bdrv_driver_format_name(drv), opts).c_str());
            fflush(stdout);
        }
        QDict qopts = img_create_opts_to_qdict(opts);
        if (bdrv_create(bdrv_driver_format_name(drv), a.filename, &qopts, &err) >= 0) {
            return 0;
        }
    }
    error_report("%s: %s", a.filename, error_get_pretty(err.get()));
    return 1;
}
