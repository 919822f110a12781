// qemu-img-lite bitmap: add, remove, clear, enable, disable and merge
// persistent dirty bitmaps, actions applied in the order given, with
// qemu-img 7.2's options, checks and messages.  The bitmaps are stored by
// the format when the image closes.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "block/block.h"
#include "qemu-img-lite/img.h"

namespace {

enum BitmapAct {
    BITMAP_ADD,
    BITMAP_REMOVE,
    BITMAP_CLEAR,
    BITMAP_ENABLE,
    BITMAP_DISABLE,
    BITMAP_MERGE
};

struct Action {
    BitmapAct act;
    const char *src = nullptr;  // merge source bitmap
};

bool run_action(const Action &a, BlockDriverState *bs, BlockDriverState *src_bs, const char *bitmap,
                bool has_granularity, uint32_t granularity, Error **errp)
{
    bool ok = false;
    switch (a.act) {
    case BITMAP_ADD:
        img_co_run([&]() coroutine_fn {
            ok = bdrv_co_block_dirty_bitmap_add(bs, bitmap, granularity, has_granularity, true,
                                                false, errp);
        });
        return ok;
    case BITMAP_REMOVE:
        img_co_run([&]()
                       coroutine_fn { ok = bdrv_co_block_dirty_bitmap_remove(bs, bitmap, errp); });
        return ok;
    case BITMAP_CLEAR: return bdrv_block_dirty_bitmap_clear(bs, bitmap, errp);
    case BITMAP_ENABLE: return bdrv_block_dirty_bitmap_enable(bs, bitmap, errp);
    case BITMAP_DISABLE: return bdrv_block_dirty_bitmap_disable(bs, bitmap, errp);
    case BITMAP_MERGE: return bdrv_block_dirty_bitmap_merge(bs, bitmap, src_bs, a.src, errp);
    }
    return false;
}

const char *act_name(BitmapAct a)
{
    static const char *const names[] = {"add", "remove", "clear", "enable", "disable", "merge"};
    return names[a];
}

}  // namespace

int img_bitmap(int argc, char **argv)
{
    enum {
        OPT_IMAGE_OPTS = 256,
        OPT_ADD,
        OPT_REMOVE,
        OPT_CLEAR,
        OPT_ENABLE,
        OPT_DISABLE,
        OPT_MERGE,
    };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
        {"add", no_argument, nullptr, OPT_ADD},
        {"remove", no_argument, nullptr, OPT_REMOVE},
        {"clear", no_argument, nullptr, OPT_CLEAR},
        {"enable", no_argument, nullptr, OPT_ENABLE},
        {"disable", no_argument, nullptr, OPT_DISABLE},
        {"merge", required_argument, nullptr, OPT_MERGE},
        {"granularity", required_argument, nullptr, 'g'},
        {"source-file", required_argument, nullptr, 'b'},
        {"source-format", required_argument, nullptr, 'F'},
        {nullptr, 0, nullptr, 0},
    };
    std::vector<Action> actions;
    const char *fmt = nullptr, *src_fmt = nullptr, *src_filename = nullptr;
    bool image_opts = false, add = false, merge = false;
    int64_t granularity = 0;
    int c;
    while ((c = img_getopt(argc, argv, ":b:f:F:g:h", long_options)) != -1) {
        switch (c) {
        case 'b': src_filename = optarg; break;
        case 'f': fmt = optarg; break;
        case 'F': src_fmt = optarg; break;
        case 'g':
            granularity = img_cvtnum("granularity", optarg);
            if (granularity < 0) {
                return 1;
            }
            break;
        case OPT_IMAGE_OPTS: image_opts = true; break;
        case OPT_ADD:
            actions.push_back({BITMAP_ADD});
            add = true;
            break;
        case OPT_REMOVE: actions.push_back({BITMAP_REMOVE}); break;
        case OPT_CLEAR: actions.push_back({BITMAP_CLEAR}); break;
        case OPT_ENABLE: actions.push_back({BITMAP_ENABLE}); break;
        case OPT_DISABLE: actions.push_back({BITMAP_DISABLE}); break;
        case OPT_MERGE:
            actions.push_back({BITMAP_MERGE, optarg});
            merge = true;
            break;
        }
    }
    if (actions.empty()) {
        error_report("Need at least one of --add, --remove, --clear, --enable, --disable, or "
                     "--merge");
        return 1;
    }
    if (granularity && !add) {
        error_report("granularity only supported with --add");
        return 1;
    }
    if (src_fmt && !src_filename) {
        error_report("-F only supported with -b");
        return 1;
    }
    if (src_filename && !merge) {
        error_report("Merge bitmap source file only supported with --merge");
        return 1;
    }
    if (optind != argc - 2) {
        error_report("Expecting filename and bitmap name");
        return 1;
    }
    const char *filename = argv[optind], *bitmap = argv[optind + 1];
    ImgOpenArgs oa;
    oa.fmt = fmt;
    oa.flags = BDRV_O_RDWR;
    oa.image_opts = image_opts;
    BlkRef blk(img_open(filename, oa));
    if (!blk) {
        return 1;
    }
    BlockDriverState *bs = blk_bs(blk.get()), *src_bs = bs;
    BlkRef src;
    if (src_filename) {
        ImgOpenArgs so;
        so.fmt = src_fmt;
        so.flags = BDRV_O_NO_BACKING;  // as qemu-img: only its own bitmaps are read
        src.reset(img_open(src_filename, so));
        if (!src) {
            return 1;
        }
        src_bs = blk_bs(src.get());
    }
    for (const Action &a : actions) {
        ErrorPtr err;
        if (!run_action(a, bs, src_bs, bitmap, granularity != 0, (uint32_t)granularity, &err)) {
            error_report("Operation %s on bitmap %s failed: %s", act_name(a.act), bitmap,
                         error_get_pretty(err.get()));
            return 1;
        }
    }
    return 0;
}
