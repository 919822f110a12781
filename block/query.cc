// What tools may ask about a node and its driver (qemu-img info, qemu-io
// info, convert's target checks): the public accessors of block.h, so that
// BlockDriver and BlockDriverState stay private to the block layer.
#include <cerrno>

#include "block/block-int.h"

bool bdrv_has_medium(BlockDriverState *bs, Error **errp)
{
    if (bs && bdrv_node_usable(bs)) {
        return true;
    }
    // Block nodes here have no device names: QEMU prints '' for qemu-img's
    // anonymous backends too.
    error_setg(errp, "Device '' has no medium");
    return false;
}

const char *bdrv_driver_format_name(const BlockDriver *drv) { return drv->format_name; }
const CreateOptDesc *bdrv_driver_create_opts(const BlockDriver *drv) { return drv->create_opts; }
const CreateOptDesc *bdrv_driver_amend_opts(const BlockDriver *drv)
{
    return drv->bdrv_co_amend ? drv->amend_opts : nullptr;
}
bool bdrv_driver_can_create(const BlockDriver *drv)
{
    return drv->bdrv_co_create_opts || drv->create_opens_existing;
}
bool bdrv_driver_supports_backing(const BlockDriver *drv) { return drv->supports_backing; }

bool bdrv_driver_supports_compressed(const BlockDriver *drv)
{
    return drv->bdrv_co_pwritev_compressed;
}

const char *bdrv_get_format_name(BlockDriverState *bs)
{
    return bdrv_has_medium(bs, nullptr) ? bs->drv->format_name : nullptr;
}

const char *bdrv_get_filename(BlockDriverState *bs) { return bs->filename.c_str(); }
bool bdrv_is_encrypted(BlockDriverState *bs) { return bs && bs->encrypted; }
std::vector<std::pair<std::string, std::string>> bdrv_get_secret_opts(BlockDriverState *bs)
{
    return bs ? bs->secret_opts : std::vector<std::pair<std::string, std::string>>{};
}
int bdrv_get_open_flags(BlockDriverState *bs) { return bs->open_flags; }
const char *bdrv_get_backing_filename(BlockDriverState *bs) { return bs->backing_file.c_str(); }
const char *bdrv_get_backing_format(BlockDriverState *bs) { return bs->backing_format.c_str(); }

const char *bdrv_get_full_backing_filename(BlockDriverState *bs)
{
    // From the name recorded now (rebase may have changed it), also when
    // the backing file was not opened (qemu-img info).
    bs->full_backing_filename = bdrv_backing_path(bs);
    return bs->full_backing_filename.c_str();
}

BlockDriverState *bdrv_backing_bs(BlockDriverState *bs)
{
    return bs->backing ? bs->backing->bs : nullptr;
}

BlockDriverState *bdrv_skip_filters(BlockDriverState *bs)
{
    while (bs && bs->drv && !bs->backing) {
        BlockDriverState *below = nullptr;
        if (bs->drv->bdrv_filtered_bs) {
            below = bs->drv->bdrv_filtered_bs(bs);
        } else if (bs->drv->is_filter && bs->file) {
            below = bs->file->bs;
        }
        if (!below) {
            break;
        }
        bs = below;
    }
    return bs;
}

BlockDriverState *bdrv_protocol_bs(BlockDriverState *bs)
{
    while (bs->file) {
        bs = bs->file->bs;
    }
    return bs;
}

BlockLimits bdrv_get_limits(BlockDriverState *bs) { return bs->bl; }

bool bdrv_supports_compressed_writes(BlockDriverState *bs)
{
    return bdrv_has_medium(bs, nullptr) && bdrv_driver_supports_compressed(bs->drv);
}

int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    *bdi = BlockDriverInfo{};
    if (!bdrv_has_medium(bs, nullptr)) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_get_info) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_get_info(bs, bdi);
}

JsonNode *bdrv_get_specific_info(BlockDriverState *bs, Error **errp)
{
    if (!bdrv_has_medium(bs, errp)) {
        return nullptr;
    }
    return bs->drv->bdrv_get_specific_info ? bs->drv->bdrv_get_specific_info(bs, errp) : nullptr;
}
