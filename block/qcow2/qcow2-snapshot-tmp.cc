// Reading a snapshot in place of the active image (qemu-img convert -l,
// QEMU's qcow2_snapshot_load_tmp).
// The node is read-only: only the in-memory L1 table switches,
// nothing on disk changes, and the active image is back on the next open.
#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

// QEMU's lookup: both given must both match; else the one given.
int find_by_id_and_name(const BDRVQcow2State *s, const char *id, const char *name)
{
    for (size_t i = 0; i < s->snapshots.size(); i++) {
        const Qcow2Snapshot &sn = s->snapshots[i];
        if ((!id || sn.id_str == id) && (!name || sn.name == name)) {
            return (int)i;
        }
    }
    return -1;
}

int coroutine_fn read_snapshot_l1(BlockDriverState *bs, const Qcow2Snapshot &sn,
                                  std::vector<uint64_t> *l1, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t bytes = (uint64_t)sn.l1_size * 8;
    if (bytes > QCOW2_MAX_L1_BYTES) {
        error_setg(errp, "Snapshot L1 table too large");
        return -EFBIG;
    }
    int64_t flen = bdrv_co_getlength(bs->file->bs);
    if (flen < 0) {
        error_setg_errno(errp, (int)-flen, "Could not get the image size");
        return (int)flen;
    }
    uint64_t off = sn.l1_table_offset;
    if (bytes && ((off & (s->cluster_size - 1)) || off + bytes > (uint64_t)flen)) {
        error_setg(errp, "Snapshot L1 table offset invalid");
        return -EINVAL;
    }
    int ret = qcow2_read_table(bs, off, sn.l1_size, l1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to load snapshot L1 table");
        return ret;
    }
    return 0;
}

}  // namespace

int coroutine_fn qcow2_co_snapshot_load_tmp(BlockDriverState *bs, const char *id, const char *name,
                                            Error **errp)
{
    assert(bs->read_only);
    BDRVQcow2State *s = qcow2_state(bs);
    CoMutexGuard guard(&s->lock);
    int idx = find_by_id_and_name(s, id, name);
    if (idx < 0) {
        error_setg(errp, "Can't find snapshot");
        return -ENOENT;
    }
    const Qcow2Snapshot &sn = s->snapshots[(size_t)idx];
    std::vector<uint64_t> l1;
    int ret = read_snapshot_l1(bs, sn, &l1, errp);
    if (ret < 0) return ret;
    // L2 tables are cached by host offset, so entries cached for the active
    // image stay valid: a table shared by both has the same contents.
    s->l1_table = std::move(l1);
    s->hdr.l1_table_offset = sn.l1_table_offset;
    s->hdr.l1_size = sn.l1_size;
    s->snapshot_tmp_loaded = true;
    s->metadata_prealloc_checked = false;  // it looked at the active image
    return 0;
}
