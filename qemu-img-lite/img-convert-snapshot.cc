// qemu-img-lite convert: -l (copy an internal snapshot instead of the
// active image) and --bitmaps, with qemu-img 7.2's messages and order.
#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img-convert.h"
#include "qemu-img-lite/img.h"
#include "util/error.h"

bool img_convert_load_snapshot(const ImgSnapshotParam &sn, ConvertState *s)
{
    if (!img_snapshot_param_given(sn)) {
        return true;
    }
    // Only "-l NAME" refuses several sources; with snapshot.* options
    // qemu-img 7.2 loads the snapshot of the first source alone.
    if (!sn.by_opts && s->src.size() > 1) {
        error_report("No support for concatenating multiple snapshot");
        return false;
    }
    return img_load_snapshot_param(sn, blk_bs(s->src[0]));
}

bool img_convert_check_source_bitmaps(const ConvertState *s, bool skip_broken)
{
    if (s->src.size() > 1) {
        error_report("Copying bitmaps only possible with single source");
        return false;
    }
    BlockDriverState *bs = blk_bs(s->src[0]);
    if (!bdrv_supports_persistent_dirty_bitmap(bs)) {
        error_report("Source lacks bitmap support");
        return false;
    }
    for (BdrvDirtyBitmap *bm : bdrv_dirty_bitmaps(bs)) {
        if (!bdrv_dirty_bitmap_get_persistence(bm)) {
            continue;
        }
        if (!skip_broken && bdrv_dirty_bitmap_inconsistent(bm)) {
            error_report("Cannot copy inconsistent bitmap '%s'", bdrv_dirty_bitmap_name(bm));
            fprintf(stderr, "Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to "
                            "delete it\n");
            return false;
        }
    }
    return true;
}

bool img_convert_check_target_bitmaps(BlockBackend *target)
{
    BlockDriverState *bs = blk_bs(target);
    if (!bdrv_supports_persistent_dirty_bitmap(bs)) {
        error_report("Format driver '%s' does not support bitmaps", bdrv_get_format_name(bs));
        return false;
    }
    return true;
}

bool img_convert_copy_bitmaps(BlockDriverState *src, BlockDriverState *dst, bool skip_broken)
{
    bool ok = true;
    img_co_run([&]() coroutine_fn {
        for (BdrvDirtyBitmap *bm : bdrv_dirty_bitmaps(src)) {
            if (!bdrv_dirty_bitmap_get_persistence(bm)) {
                continue;
            }
            const char *name = bdrv_dirty_bitmap_name(bm);
            if (skip_broken && bdrv_dirty_bitmap_inconsistent(bm)) {
                warn_report("Skipping inconsistent bitmap '%s'", name);
                continue;
            }
            ErrorPtr err;
            if (!bdrv_co_block_dirty_bitmap_add(dst, name, bdrv_dirty_bitmap_granularity(bm), true,
                                                true, !bdrv_dirty_bitmap_enabled(bm), &err)) {
                error_report("Failed to create bitmap %s: %s", name, error_get_pretty(err.get()));
                ok = false;
                return;
            }
            if (!bdrv_block_dirty_bitmap_merge(dst, name, src, name, &err)) {
                error_report("Failed to populate bitmap %s: %s", name, error_get_pretty(err.get()));
                bdrv_co_block_dirty_bitmap_remove(dst, name, nullptr);
                ok = false;
                return;
            }
        }
    });
    return ok;
}
