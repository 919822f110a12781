// Internal snapshots: the snapshot table is read at open and listed
// (qemu-img snapshot -l).  Creating, applying and deleting snapshots lives
// in qcow2-snapshot-ops.cc; shared clusters (refcount > 1, COPIED clear)
// are copied on write by the normal write path.
#include <cerrno>

#include "block/qcow2/qcow2-int.h"

int coroutine_fn qcow2_read_snapshots(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    s->snapshots.clear();
    uint32_t nb = s->hdr.nb_snapshots;
    if (!nb) return 0;
    int64_t flen = bdrv_co_getlength(bs->file->bs);
    if (flen < 0) {
        error_setg_errno(errp, (int)-flen, "Could not read snapshots");
        return (int)flen;
    }
    if (s->hdr.snapshots_offset >= (uint64_t)flen) {
        error_setg(errp, "Snapshot table offset past end of file");
        return -EINVAL;
    }
    // An entry is at most 40 + extra + 2 * 65535 bytes; read what the file
    // has, capped at a sane table size.
    uint64_t len = (uint64_t)flen - s->hdr.snapshots_offset;
    if (len > 64ULL * 1024 * 1024) len = 64ULL * 1024 * 1024;
    std::vector<uint8_t> buf(len);
    int ret = bdrv_co_pread(bs->file, s->hdr.snapshots_offset, len, buf.data(), 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read snapshots");
        return ret;
    }
    std::string msg;
    int64_t used = qcow2_snapshots_parse(buf.data(), len, nb, &s->snapshots, &msg);
    if (used < 0) {
        error_setg(errp, "%s", msg.c_str());
        return (int)used;
    }
    s->snapshots_size = (uint64_t)used;
    // Entries from before disk_size was recorded describe the current size
    // (as QEMU assumes).
    for (Qcow2Snapshot &sn : s->snapshots) {
        if (sn.extra_size < 16) sn.disk_size = s->hdr.size;
    }
    return 0;
}

int qcow2_snapshot_list(BlockDriverState *bs, std::vector<QEMUSnapshotInfo> *out)
{
    BDRVQcow2State *s = qcow2_state(bs);
    out->clear();
    for (const Qcow2Snapshot &sn : s->snapshots) {
        QEMUSnapshotInfo i;
        i.id_str = sn.id_str;
        i.name = sn.name;
        i.vm_state_size = sn.vm_state_size;
        i.date_sec = sn.date_sec;
        i.date_nsec = sn.date_nsec;
        i.vm_clock_nsec = sn.vm_clock_nsec;
        i.icount = sn.icount;
        out->push_back(std::move(i));
    }
    return (int)out->size();
}
