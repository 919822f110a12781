// qemu-img's -l snapshot_param (convert, measure): parsing the option and
// loading the snapshot temporarily into a read-only source, with qemu-img
// 7.2's messages.
#include "qemu-img-lite/img-snapshot-param.h"

#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img.h"

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
bool parse_snapshot_opts(const char *arg, ImgSnapshotParam *sn)
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

bool img_parse_snapshot_param(const char *arg, ImgSnapshotParam *sn)
{
    *sn = ImgSnapshotParam{};
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

bool img_load_snapshot_param(const ImgSnapshotParam &sn, BlockDriverState *bs)
{
    ErrorPtr err;
    img_co_run([&]() coroutine_fn {
        if (sn.by_opts) {
            bdrv_co_snapshot_load_tmp(bs, sn.has_id ? sn.id.c_str() : nullptr,
                                      sn.has_name ? sn.name.c_str() : nullptr, &err);
        } else {
            bdrv_co_snapshot_load_tmp_by_id_or_name(bs, sn.id_or_name, &err);
        }
    });
    if (err) {
        error_report("Failed to load snapshot: %s", error_get_pretty(err.get()));
        return false;
    }
    return true;
}
