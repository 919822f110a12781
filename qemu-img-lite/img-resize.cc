// qemu-img-lite resize: grow (or with --shrink, shrink) an image to an
// absolute size or by a relative +/- amount.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img.h"

namespace {

void size_error(void)
{
    error_report("Parameter 'size' expects a non-negative number below 2^64\n"
                 "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                 "and exabytes, respectively.");
}

}  // namespace

int img_resize(int argc, char **argv)
{
    // The size goes first so that "-1G" is not taken for an option.
    if (argc < 3) {
        error_exit("Not enough arguments");
    }
    const char *size = argv[--argc];

    enum { OPTION_PREALLOCATION = 256, OPTION_SHRINK, OPTION_OBJECT, OPTION_IMAGE_OPTS };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"preallocation", required_argument, nullptr, OPTION_PREALLOCATION},
        {"shrink", no_argument, nullptr, OPTION_SHRINK},
        {"image-opts", no_argument, nullptr, OPTION_IMAGE_OPTS},
        {nullptr, 0, nullptr, 0},
    };
    ImgOpenArgs oa;
    bool quiet = false, shrink = false;
    PreallocMode prealloc = PreallocMode::Off;
    int c;
    while ((c = img_getopt(argc, argv, ":f:hq", long_options)) != -1) {
        switch (c) {
        case 'f': oa.fmt = optarg; break;
        case 'q': quiet = true; break;
        case OPTION_SHRINK: shrink = true; break;
        case OPTION_IMAGE_OPTS: oa.image_opts = true; break;
        case OPTION_PREALLOCATION:
            if (!prealloc_mode_parse(optarg, &prealloc)) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting image file name and size");
    }
    const char *filename = argv[optind];

    int relative = 0;
    if (size[0] == '+' || size[0] == '-') {
        relative = size[0] == '+' ? 1 : -1;
        size++;
    }
    uint64_t n;
    if (qemu_strtosz(size, &n) < 0 || n > (uint64_t)INT64_MAX) {
        size_error();
        return 1;
    }
    oa.flags = BDRV_O_RDWR;
    oa.quiet = quiet;
    BlkRef blk(img_open(filename, oa));
    if (!blk) return 1;
    int64_t current = blk_getlength(blk.get());
    if (current < 0) {
        error_report("Failed to inquire current image length: %s", strerror((int)-current));
        return 1;
    }
    int64_t total = relative ? current + (int64_t)n * relative : (int64_t)n;
    if (total <= 0) {
        error_report("New image size must be positive");
        return 1;
    }
    if (total <= current && prealloc != PreallocMode::Off) {
        error_report("Preallocation can only be used for growing images");
        return 1;
    }
    if (total < current && !shrink) {
        error_report("Use the --shrink option to perform a shrink operation.");
        warn_report("Shrinking an image will delete all data beyond the shrunken image's end. "
                    "Before performing such an operation, make sure there is no important data "
                    "there.");
        return 1;
    }
    ErrorPtr err;
    if (blk_truncate(blk.get(), total, false, (int)prealloc, &err) < 0) {
        if (err) {
            error_report_err(err.release());
        } else {
            error_report("Error resizing image");
        }
        return 1;
    }
    if (!quiet) printf("Image resized.\n");
    return 0;
}
