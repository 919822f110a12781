// qemu-img's -l snapshot_param: "snapshot.id=ID,snapshot.name=NAME" or an
// id or name, read through a temporarily loaded snapshot (convert, measure).
#pragma once

#include <string>

struct BlockDriverState;

struct ImgSnapshotParam {
    bool by_opts = false;  // the snapshot.* form
    bool has_id = false, has_name = false;
    std::string id, name;
    const char *id_or_name = nullptr;  // the short form
};

static inline bool img_snapshot_param_given(const ImgSnapshotParam &sn)
{
    return sn.by_opts || sn.id_or_name;
}

// Both return false after reporting with qemu-img's messages.
bool img_parse_snapshot_param(const char *arg, ImgSnapshotParam *sn);
// @bs must be read-only; it reads the snapshot until it closes.
bool img_load_snapshot_param(const ImgSnapshotParam &sn, BlockDriverState *bs);
