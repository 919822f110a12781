// qemu-img-lite convert: -l (copy an internal snapshot instead of the
// active image) and --bitmaps, with qemu-img 7.2's messages and order.
#include <cstdio>
#include <cstring>
#include <string>

#include "block/block_int.h"
#include "qemu-img-lite/img-convert.h"

namespace {

constexpr const char kSnapshotOptBase[] = "snapshot.";

// One "key=value" element of a QemuOpts string starting at *p; ",," in a
// value is a comma.  Advances *p past the element and its comma.
void next_element(const char **p, std::string *key, std::string *value, bool *has_value)
{
    const char *s = *p;
    size_t klen = strcspn(s, "=,");
    key->assign(s, klen);
    value->clear();
    s += klen;
    *has_value = *s == '=';
    if (*has_value) {
        for (s++; *s; s++) {
            if (*s == ',' && s[1] != ',') break;
            if (*s == ',') s++;
            value->push_back(*s);
        }
    }
    *p = *s == ',' ? s + 1 : s;
}

// Parses "snapshot.id=ID,snapshot.name=NAME" as qemu_opts_parse does for
// qemu-img's internal snapshot options.  False after reporting.
bool parse_snapshot_opts(const char *arg, ConvertSnapshot *sn)
{
    const char *p = arg;
    while (*p) {
        std::string key, value;
        bool has_value;
        next_element(&p, &key, &value, &has_value);
        if (!has_value) {
            warn_report("short-form boolean option '%s' deprecated", key.c_str());
            fprintf(stderr, "Please use %s=on instead\n", key.c_str());
            value = "on";
        }
        if (key == "snapshot.id") {
            sn->id = value;
            sn->has_id = true;
        } else if (key == "snapshot.name") {
            sn->name = value;
            sn->has_name = true;
        } else {
            error_report("Invalid parameter '%s'", key.c_str());
            return false;
        }
    }
    return true;
}

}  // namespace

bool img_convert_parse_snapshot(const char *arg, ConvertSnapshot *sn)
{
    *sn = ConvertSnapshot{};
    if (strncmp(arg, kSnapshotOptBase, strlen(kSnapshotOptBase))) {
        sn->id_or_name = arg;
        return true;
    }
    sn->by_opts = true;
    if (!parse_snapshot_opts(arg, sn)) {
        error_report("Failed in parsing snapshot param '%s'", arg);
        return false;
    }
    return true;
}

bool img_convert_load_snapshot(const ConvertSnapshot &sn, ConvertState *s)
{
    if (!sn.by_opts && !sn.id_or_name) {
        return true;
    }
    // Only "-l NAME" refuses several sources; with snapshot.* options
    // qemu-img 7.2 loads the snapshot of the first source alone.
    if (!sn.by_opts && s->src.size() > 1) {
        error_report("No support for concatenating multiple snapshot");
        return false;
    }
    BlockDriverState *bs = blk_bs(s->src[0]);
    Error *err = nullptr;
    img_co_run([&] {
        if (sn.by_opts) {
            bdrv_co_snapshot_load_tmp(bs, sn.has_id ? sn.id.c_str() : nullptr,
                                      sn.has_name ? sn.name.c_str() : nullptr, &err);
        } else {
            bdrv_co_snapshot_load_tmp_by_id_or_name(bs, sn.id_or_name, &err);
        }
    });
    if (err) {
        error_report("Failed to load snapshot: %s", error_get_pretty(err));
        error_free(err);
        return false;
    }
    return true;
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
                     "qemu-img", n, n == 1 ? "" : "s", filename);
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
        error_report("Format driver '%s' does not support bitmaps", bs->drv->format_name);
        return false;
    }
    return true;
}
