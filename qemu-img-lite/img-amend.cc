// qemu-img-lite amend: changes options of an existing image (qemu-img 7.2's
// img_amend): -o options (accumulated), -f, -t cache, -p, -q, --force,
// --image-opts, --object; the format's amend options only, with QEMU's
// messages for unknown and creation-only options.
#include <cstdio>
#include <cstring>
#include <string>

#include "block/block.h"
#include "qemu-img-lite/img-create-opts.h"
#include "qemu-img-lite/img-output.h"
#include "qemu-img-lite/img.h"

namespace {

bool has_help_option(const CreateOpts &opts)
{
    for (const auto &e : opts.items) {
        if (e.first == "help" || e.first == "?") return true;
    }
    return false;
}

int print_amend_help(const char *fmt)
{
    const BlockDriver *drv = bdrv_find_format(fmt);
    if (!drv) {
        error_report("Unknown file format '%s'", fmt);
        return 1;
    }
    if (!bdrv_driver_amend_opts(drv)) {
        error_report("Format driver '%s' does not support option amendment", fmt);
        return 1;
    }
    img_print_amend_help(drv);
    return 0;
}

void amend_status(BlockDriverState *, int64_t offset, int64_t total, void *)
{
    img_progress_print(total ? 100.f * (float)offset / (float)total : 0.f, 0);
}

}  // namespace

int img_amend(int argc, char **argv)
{
    enum { OPTION_OBJECT = 256, OPTION_IMAGE_OPTS, OPTION_FORCE };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"object", required_argument, nullptr, OPTION_OBJECT},
        {"image-opts", no_argument, nullptr, OPTION_IMAGE_OPTS},
        {"force", no_argument, nullptr, OPTION_FORCE},
        {nullptr, 0, nullptr, 0},
    };
    std::string options;
    bool have_options = false, quiet = false, progress = false, force = false;
    ImgOpenArgs oa;
    const char *cache = "writeback";
    int c;
    while ((c = img_getopt(argc, argv, ":ho:f:t:pq", long_options)) != -1) {
        switch (c) {
        case 'o':
            if (have_options) options += ",";
            options += optarg;
            have_options = true;
            break;
        case 'f': oa.fmt = optarg; break;
        case 't': cache = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case OPTION_OBJECT: break;  // taken by main() already
        case OPTION_IMAGE_OPTS: oa.image_opts = true; break;
        case OPTION_FORCE: force = true; break;
        }
    }
    if (!have_options) {
        error_exit("Must specify options (-o)");
    }
    CreateOpts opts;
    if (!img_parse_option_list(options.c_str(), &opts)) {
        error_report("Invalid option list: %s", options.c_str());
        return 1;
    }
    if (quiet) progress = false;
    img_progress_init(progress, 1.0f);
    const char *filename = optind == argc - 1 ? argv[argc - 1] : nullptr;
    if (oa.fmt && has_help_option(opts)) {
        int r = print_amend_help(oa.fmt);
        img_progress_end();
        return r;
    }
    if (optind != argc - 1) {
        error_report("Expecting one image file name");
        img_progress_end();
        return 1;
    }
    int flags = BDRV_O_RDWR;
    bool writethrough = false;
    if (!img_parse_cache(cache, &flags, &writethrough)) {
        img_progress_end();
        return 1;
    }
    oa.flags = flags;
    oa.cache = cache;
    oa.quiet = quiet;
    BlkRef blk(img_open(filename, oa));
    if (!blk) {
        img_progress_end();
        return 1;
    }
    BlockDriverState *bs = blk_bs(blk.get());
    const char *fmt = bdrv_get_format_name(bs);
    int ret = 0;
    if (has_help_option(opts)) {
        ret = print_amend_help(fmt);
        img_progress_end();
        return ret;
    }
    const BlockDriver *drv = bdrv_find_format(fmt);
    if (!drv || !bdrv_driver_amend_opts(drv)) {
        error_report("Format driver '%s' does not support option amendment", fmt);
        img_progress_end();
        return 1;
    }
    ErrorPtr err;
    if (!img_check_amend_opts(drv, &opts, &err)) {
        error_report_err(err.release());
        img_progress_end();
        return 1;
    }
    QDict q = img_create_opts_to_qdict(opts);
    img_progress_print(0.f, 0);
    img_co_run(
        [&]() coroutine_fn { ret = bdrv_co_amend(bs, &q, amend_status, nullptr, force, &err); });
    img_progress_print(100.f, 0);
    if (ret < 0) {
        error_report_err(err.release());
    }
    img_progress_end();
    return ret < 0 ? 1 : 0;
}
