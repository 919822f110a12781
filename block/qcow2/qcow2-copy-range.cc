// Copy offloading for qcow2 (QEMU's qcow2_co_copy_range_from/_to): guest
// ranges are translated to host ranges of the image file with the driver's
// own cluster lookup (qcow2_get_mapping) and allocation
// (qcow2_preallocate), and the data moves between the files underneath
// (copy_file_range in file-posix).  What cannot be offloaded answers
// -ENOTSUP and the caller reads and writes instead: compressed clusters,
// anything that would need the backing file or copy-on-write of a shared
// or zero-allocated cluster, and lazy refcounts.
#include <cerrno>

#include "block/qcow2/qcow2-int.h"

// Source side: data clusters are copied from their host offset, zero
// clusters (and unallocated ones without a backing file) become zeroes on
// the destination.
int coroutine_fn qcow2_co_copy_range_from(BlockDriverState *bs, BdrvChild *, int64_t src_offset,
                                          BdrvChild *dst, int64_t dst_offset, int64_t bytes,
                                          int read_flags, int write_flags)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (s->crypto) return -ENOTSUP;  // the data is encrypted at its host offset
    while (bytes > 0) {
        Qcow2Mapping m;
        qemu_co_mutex_lock(&s->lock);
        int ret = qcow2_get_mapping(bs, (uint64_t)src_offset, (uint64_t)bytes, &m);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) return ret;
        int64_t n = std::min<int64_t>((int64_t)m.bytes, bytes);
        switch (m.type) {
        case Qcow2ClusterType::Normal:
            ret = bdrv_co_copy_range_from(s->data_file, (int64_t)m.host_offset, dst, dst_offset, n,
                                          read_flags, write_flags);
            break;
        case Qcow2ClusterType::Unallocated:
            if (bs->backing) return -ENOTSUP;
            [[fallthrough]];
        case Qcow2ClusterType::ZeroPlain:
        case Qcow2ClusterType::ZeroAlloc:
            ret = bdrv_co_pwrite_zeroes(dst, dst_offset, n, write_flags);
            break;
        default: return -ENOTSUP;
        }
        if (ret < 0) return ret;
        src_offset += n;
        dst_offset += n;
        bytes -= n;
    }
    return 0;
}

namespace {

// Under s->lock: the host offset of [offset, offset + *bytes) when it is
// written in place, allocating unallocated (or plain zero) clusters first
// as zero-reading data clusters; *bytes shrinks to the mapped run.
// -ENOTSUP where the write path would have to copy on write.
int coroutine_fn map_for_copy(BlockDriverState *bs, uint64_t offset, uint64_t *bytes,
                              uint64_t *host)
{
    BDRVQcow2State *s = qcow2_state(bs);
    for (int tries = 0; tries < 2; tries++) {
        Qcow2Mapping m;
        int ret = qcow2_get_mapping(bs, offset, *bytes, &m);
        if (ret < 0) return ret;
        if (m.type == Qcow2ClusterType::Normal && (m.l2_entry & QCOW_OFLAG_COPIED)) {
            if (qcow2_metadata_overlap(s, m.host_offset, m.bytes, false)) {
                return -ENOTSUP;  // the write path reports the corruption
            }
            *bytes = std::min(*bytes, m.bytes);
            *host = m.host_offset;
            return 0;
        }
        bool fresh =
            m.type == Qcow2ClusterType::Unallocated || m.type == Qcow2ClusterType::ZeroPlain;
        if (!fresh || bs->backing) return -ENOTSUP;
        // Whole clusters read as zeroes afterwards: correct for the parts of
        // the first and last cluster outside the range, which read as zeroes
        // now (no backing file).  Falloc allocates them in the file, as the
        // write path's zeroing does: a hole inside a data cluster would make
        // qemu-img take the image for metadata-preallocated and map it
        // differently.
        ret =
            qcow2_preallocate(bs, offset, offset + std::min(*bytes, m.bytes), PreallocMode::Falloc);
        if (ret < 0) return ret;
    }
    return -ENOTSUP;
}

}  // namespace

// Destination side: clusters are mapped (allocated if need be) under the
// lock, then the data is copied into the image file with the lock
// released, as the write path does.
int coroutine_fn qcow2_co_copy_range_to(BlockDriverState *bs, BdrvChild *src, int64_t src_offset,
                                        BdrvChild *, int64_t dst_offset, int64_t bytes,
                                        int read_flags, int write_flags)
{
    BDRVQcow2State *s = qcow2_state(bs);
    // Allocation in a data file is the write path's (qcow2-io.cc).
    if (s->lazy_refcounts || s->crypto || qcow2_has_data_file(s)) return -ENOTSUP;
    while (bytes > 0) {
        uint64_t n = (uint64_t)bytes, host = 0;
        qemu_co_mutex_lock(&s->lock);
        int ret = map_for_copy(bs, (uint64_t)dst_offset, &n, &host);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) return ret;
        ret = bdrv_co_copy_range_to(src, src_offset, bs->file, (int64_t)host, (int64_t)n,
                                    read_flags, write_flags);
        if (ret < 0) return ret;
        src_offset += (int64_t)n;
        dst_offset += (int64_t)n;
        bytes -= (int64_t)n;
    }
    return 0;
}
