// qemu-img-lite convert: -l (copy an internal snapshot instead of the
// active image) and --bitmaps, with qemu-img 7.2's messages and order.
#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img-convert.h"

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

bool img_convert_check_source_bitmaps(const ConvertState *s, const char *filename)
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
    // We cannot read bitmap directories: refuse rather than write a target
    // that silently lacks them (qemu-img would copy them).
    int n = bdrv_persistent_bitmap_count(bs);
    if (n < 0) {
        error_report("Could not read the bitmaps of '%s': %s", filename, strerror(-n));
        return false;
    }
    if (n > 0) {
        error_report("Cannot copy %d persistent bitmap%s of '%s': not supported by this "
                     "qemu-img",
                     n, n == 1 ? "" : "s", filename);
        fprintf(stderr, "Convert without --bitmaps to leave them behind, or use "
                        "'qemu-img bitmap --remove' to delete them\n");
        return false;
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
