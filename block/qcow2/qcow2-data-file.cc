// External data files (QEMU 7.2's data_file / data_file_raw).
//
// An image with the incompatible "external data file" bit keeps only
// metadata in its own file; guest data lives in the data-file child at host
// offset = guest offset (allocation picks the guest offset, data clusters
// have no refcounts and are never shared).  The file's name is recorded in
// the data file header extension.  With the autoclear bit data_file_raw the
// data file must also read as the guest disk by itself, so zero writes go
// to it too and every cluster stays mapped (preallocated metadata).
#include <cstring>

#include "block/qcow2/qcow2-int.h"
#include "util/error.h"

namespace {

bool is_data_file_key(const std::string &k)
{
    return k == "data-file" || k.rfind("data-file.", 0) == 0;
}

bool has_data_file_opts(const QDict *o)
{
    if (!o) return false;
    for (const auto &kv : o->entries) {
        if (is_data_file_key(kv.first)) return true;
    }
    return false;
}

}  // namespace

std::string qcow2_data_file_name(const Qcow2Header &h)
{
    for (const Qcow2HeaderExt &e : h.unknown_exts) {
        if (e.type == QCOW2_EXT_DATA_FILE) return std::string(e.data.begin(), e.data.end());
    }
    return "";
}

void qcow2_set_data_file_name(Qcow2Header *h, const std::string &name)
{
    for (auto it = h->unknown_exts.begin(); it != h->unknown_exts.end(); ++it) {
        if (it->type == QCOW2_EXT_DATA_FILE) {
            if (name.empty()) {
                h->unknown_exts.erase(it);
            } else {
                it->data.assign(name.begin(), name.end());
            }
            return;
        }
    }
    if (!name.empty()) {
        h->unknown_exts.insert(h->unknown_exts.begin(),
                               Qcow2HeaderExt{QCOW2_EXT_DATA_FILE, {name.begin(), name.end()}});
    }
}

// QEMU's order: the data-file option first, then the name in the image
// (opened as given, relative to the working directory as 7.2 does), then
// the checks of the bits against what was found.  Without I/O (qemu-img
// info) the data file is not opened at all, as Debian's QEMU 7.2 does since
// the CVE-2024-4467 fix: info must not touch files an image names.
int coroutine_fn qcow2_open_data_file(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    bool has_df = qcow2_has_data_file(s);
    if (flags & BDRV_O_NO_IO) {
        if (options)
            std::erase_if(options->entries, [](auto &kv) { return is_data_file_key(kv.first); });
        s->data_file = has_df ? nullptr : bs->file;
        return 0;
    }
    BdrvChild *c = nullptr;
    if (has_data_file_opts(options)) {
        c = bdrv_co_open_child(nullptr, options, "data-file", bs, false, flags, errp);
        if (!c) return -EINVAL;
    }
    if (has_df) {
        std::string name = qcow2_data_file_name(s->hdr);
        if (!c && !name.empty()) {
            c = bdrv_co_open_child(name.c_str(), options, "data-file", bs, false, flags, errp);
            if (!c) return -EINVAL;
        }
        if (!c) {
            error_setg(errp, "'data-file' is required for this image");
            return -EINVAL;
        }
        s->data_file = c;
        return 0;
    }
    if (c) {
        bdrv_co_unref_child(bs, c);
        error_setg(errp, "'data-file' can only be set for images with an external data file");
        return -EINVAL;
    }
    s->data_file = bs->file;
    if (qcow2_data_file_is_raw(s)) {
        error_setg(errp, "data-file-raw requires a data file");
        return -EINVAL;
    }
    return 0;
}

int coroutine_fn qcow2_data_file_release(BlockDriverState *bs, uint64_t entry,
                                         Qcow2DiscardType type)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!s->discard_passthrough[(int)type] || !s->data_file) return 0;
    // A discard the data file cannot do is no error (QEMU ignores it too).
    bdrv_co_pdiscard(s->data_file, (int64_t)(entry & L2E_OFFSET_MASK), (int64_t)s->cluster_size);
    return 0;
}

void qcow2_data_file_add_info(BlockDriverState *bs, JsonBuilder *b)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::string name = qcow2_data_file_name(s->hdr);
    if (!name.empty()) {
        json_builder_set_member_name(b, "data-file");
        json_builder_add_string_value(b, name.c_str());
    }
    if (qcow2_has_data_file(s)) {
        json_builder_set_member_name(b, "data-file-raw");
        json_builder_add_boolean_value(b, qcow2_data_file_is_raw(s));
    }
}
