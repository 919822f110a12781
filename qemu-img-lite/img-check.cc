// qemu-img-lite check: run the driver's consistency check (and repair),
// report like qemu-img and exit 0 clean / 2 corrupt / 3 leaks / 1 failed /
// 63 unsupported.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img-output.h"
#include "qemu-img-lite/img.h"

namespace {

struct CheckArgs {
    const char *fmt = nullptr;
    const char *cache = nullptr;
    OutputFormat ofmt = OFORMAT_HUMAN;
    int fix = 0;
    bool quiet = false;
    bool force_share = false;
    bool image_opts = false;
    const char *filename = nullptr;
};

void parse_check_args(int argc, char **argv, CheckArgs *a)
{
    enum { OPTION_OUTPUT = 256, OPTION_IMAGE_OPTS };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"format", required_argument, nullptr, 'f'},
        {"repair", required_argument, nullptr, 'r'},
        {"output", required_argument, nullptr, OPTION_OUTPUT},
        {"force-share", no_argument, nullptr, 'U'},
        {"image-opts", no_argument, nullptr, OPTION_IMAGE_OPTS},
        {nullptr, 0, nullptr, 0},
    };
    const char *output = nullptr;
    int c;
    while ((c = img_getopt(argc, argv, ":hf:r:T:qU", long_options)) != -1) {
        switch (c) {
        case 'f': a->fmt = optarg; break;
        case 'r':
            if (!strcmp(optarg, "leaks")) {
                a->fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                a->fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                error_exit("Unknown option value for -r (expecting 'leaks' or 'all'): %s", optarg);
            }
            break;
        case 'T': a->cache = optarg; break;
        case 'q': a->quiet = true; break;
        case 'U': a->force_share = true; break;
        case OPTION_OUTPUT: output = optarg; break;
        case OPTION_IMAGE_OPTS: a->image_opts = true; break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    a->filename = argv[optind];
    if (output) {
        a->ofmt = img_parse_output_format(output);
    }
}

int run_check(BlockDriverState *bs, BdrvCheckResult *res, int fix)
{
    int ret = 0;
    img_co_run([&]() coroutine_fn { ret = bdrv_co_check(bs, res, fix); });
    return ret;
}

void dump_human(const BdrvCheckResult &r)
{
    if (!(r.corruptions || r.leaks || r.check_errors)) {
        printf("No errors were found on the image.\n");
    } else {
        if (r.corruptions) {
            printf("\n%d errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image may corrupt it.\n",
                   r.corruptions);
        }
        if (r.leaks) {
            printf("\n%d leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n",
                   r.leaks);
        }
        if (r.check_errors) {
            printf("\n%d internal errors have occurred during the check.\n", r.check_errors);
        }
    }
    if (r.total_clusters != 0 && r.allocated_clusters != 0) {
        printf("%" PRId64 "/%" PRId64 " = %0.2f%% allocated, %0.2f%% fragmented, "
               "%0.2f%% compressed clusters\n",
               r.allocated_clusters, r.total_clusters,
               (double)r.allocated_clusters * 100.0 / (double)r.total_clusters,
               (double)r.fragmented_clusters * 100.0 / (double)r.allocated_clusters,
               (double)r.compressed_clusters * 100.0 / (double)r.allocated_clusters);
    }
    if (r.image_end_offset) {
        printf("Image end offset: %" PRId64 "\n", r.image_end_offset);
    }
}

void dump_json(const BdrvCheckResult &r, const char *filename, const char *format)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    jb_str(b, "filename", filename);
    jb_str(b, "format", format);
    jb_int(b, "check-errors", r.check_errors);
    auto opt = [&](const char *key, int64_t v) {
        if (v) jb_int(b, key, v);
    };
    opt("corruptions", r.corruptions);
    opt("leaks", r.leaks);
    opt("corruptions-fixed", r.corruptions_fixed);
    opt("leaks-fixed", r.leaks_fixed);
    opt("image-end-offset", r.image_end_offset);
    opt("total-clusters", r.total_clusters);
    opt("allocated-clusters", r.allocated_clusters);
    opt("fragmented-clusters", r.fragmented_clusters);
    opt("compressed-clusters", r.compressed_clusters);
    json_builder_end_object(b);
    JsonNodeRef root(json_builder_get_root(b));
    g_object_unref(b);
    printf("%s\n", img_json_pretty(root.node).c_str());
}

}  // namespace

int img_check(int argc, char **argv)
{
    CheckArgs a;
    parse_check_args(argc, argv, &a);

    ImgOpenArgs oa;
    oa.fmt = a.fmt;
    oa.cache = a.cache;
    oa.flags = BDRV_O_CHECK | (a.fix ? BDRV_O_RDWR : 0);
    oa.force_share = a.force_share;
    oa.image_opts = a.image_opts;
    oa.quiet = a.quiet;
    BlkRef blk(img_open(a.filename, oa));
    if (!blk) {
        return 1;
    }
    BlockDriverState *bs = blk_bs(blk.get());
    BdrvCheckResult r;
    int ret = run_check(bs, &r, a.fix);
    if (ret == -ENOTSUP) {
        error_report("This image format does not support checks");
        return 63;
    }
    if (ret == 0 && (r.corruptions_fixed || r.leaks_fixed)) {
        int leaks_fixed = r.leaks_fixed, corruptions_fixed = r.corruptions_fixed;
        if (a.ofmt == OFORMAT_HUMAN && !a.quiet) {
            printf("The following inconsistencies were found and repaired:\n\n"
                   "    %d leaked clusters\n    %d corruptions\n\n"
                   "Double checking the fixed image now...\n",
                   leaks_fixed, corruptions_fixed);
        }
        ret = run_check(bs, &r, 0);
        r.leaks_fixed = leaks_fixed;
        r.corruptions_fixed = corruptions_fixed;
    }
    if (ret == 0 && !a.quiet) {
        if (a.ofmt == OFORMAT_JSON) {
            dump_json(r, a.filename, bdrv_get_format_name(bs));
        } else {
            dump_human(r);
        }
    }
    if (ret || r.check_errors) {
        if (ret) {
            error_report("Check failed: %s", strerror(-ret));
        } else {
            error_report("Check failed");
        }
        return 1;
    }
    return r.corruptions ? 2 : r.leaks ? 3 : 0;
}
