// qcow2 extended L2 entries: see qcow2-subcluster.h.
#include "block/qcow2/qcow2-subcluster.h"

#include <cassert>
#include <cerrno>

namespace {

// Index of entry @idx's first 64-bit word in the table.
uint64_t word_index(bool extended, uint64_t idx) { return extended ? idx * 2 : idx; }

// Number of consecutive set bits of @v from bit 0.
int trailing_ones32(uint32_t v) { return v == UINT32_MAX ? 32 : __builtin_ctz(~v); }

int trailing_zeros32(uint32_t v) { return v ? __builtin_ctz(v) : 32; }

}  // namespace

uint64_t qcow2_l2_get_entry(const void *table, bool extended, uint64_t idx)
{
    return be64_load((const uint8_t *)table + word_index(extended, idx) * 8);
}

uint64_t qcow2_l2_get_bitmap(const void *table, bool extended, uint64_t idx)
{
    if (!extended) return 0;
    return be64_load((const uint8_t *)table + (word_index(true, idx) + 1) * 8);
}

void qcow2_l2_set_entry(void *table, bool extended, uint64_t idx, uint64_t entry)
{
    be64_store((uint8_t *)table + word_index(extended, idx) * 8, entry);
}

void qcow2_l2_set_bitmap(void *table, uint64_t idx, uint64_t bitmap)
{
    be64_store((uint8_t *)table + (word_index(true, idx) + 1) * 8, bitmap);
}

Qcow2ClusterType qcow2_l2_cluster_type(uint64_t entry, int version, bool extended)
{
    if (extended && !(entry & QCOW_OFLAG_COMPRESSED)) {
        return (entry & L2E_OFFSET_MASK) ? Qcow2ClusterType::Normal : Qcow2ClusterType::Unallocated;
    }
    return qcow2_l2_entry_type(entry, version);
}

Qcow2SubclusterType qcow2_subcluster_type(uint64_t entry, uint64_t bitmap, unsigned sc, int version,
                                          bool extended)
{
    using T = Qcow2SubclusterType;
    assert(sc < (extended ? QCOW2_SUBCLUSTERS_PER_CLUSTER : 1));
    uint64_t alloc = 1ULL << sc, zero = alloc << 32;
    switch (qcow2_l2_cluster_type(entry, version, extended)) {
    case Qcow2ClusterType::Compressed: return T::Compressed;
    case Qcow2ClusterType::ZeroPlain: return T::ZeroPlain;
    case Qcow2ClusterType::ZeroAlloc: return T::ZeroAlloc;
    case Qcow2ClusterType::Normal:
        if (!extended) return T::Normal;
        // A subcluster both allocated and zero is corrupt anywhere in it.
        if ((bitmap >> 32) & bitmap) return T::Invalid;
        if (bitmap & zero) return T::ZeroAlloc;
        return (bitmap & alloc) ? T::Normal : T::UnallocatedAlloc;
    case Qcow2ClusterType::Unallocated:
        if (!extended) return T::UnallocatedPlain;
        // Allocated subclusters need a host cluster.
        if (bitmap & QCOW2_L2_BITMAP_ALL_ALLOC) return T::Invalid;
        return (bitmap & zero) ? T::ZeroPlain : T::UnallocatedPlain;
    }
    return T::Invalid;
}

int qcow2_subcluster_run(uint64_t entry, uint64_t bitmap, unsigned sc_from, int version,
                         bool extended, Qcow2SubclusterType *type)
{
    using T = Qcow2SubclusterType;
    *type = qcow2_subcluster_type(entry, bitmap, sc_from, version, extended);
    if (*type == T::Invalid) return -EINVAL;
    if (!extended) return 1;
    int n = (int)QCOW2_SUBCLUSTERS_PER_CLUSTER - (int)sc_from;
    if (*type == T::Compressed) return n;
    // Pretend the subclusters before @sc_from share its state, then count
    // the run from bit 0.
    uint32_t before = (uint32_t)qcow2_sc_alloc_range(0, sc_from);
    uint32_t alloc = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);
    switch (*type) {
    case T::Normal: return trailing_ones32(alloc | before) - (int)sc_from;
    case T::ZeroPlain:
    case T::ZeroAlloc: return trailing_ones32(zero | before) - (int)sc_from;
    default:  // UnallocatedPlain, UnallocatedAlloc: neither bit set
        return trailing_zeros32((alloc | zero) & ~before) - (int)sc_from;
    }
}

Qcow2ExtL2Error qcow2_extl2_validate(uint64_t entry, uint64_t bitmap)
{
    if (entry & QCOW_OFLAG_COMPRESSED) {
        return bitmap ? Qcow2ExtL2Error::CompressedBitmap : Qcow2ExtL2Error::None;
    }
    if (entry & L2E_OFFSET_MASK) {
        return ((bitmap >> 32) & bitmap) ? Qcow2ExtL2Error::AllocatedCorrupt
                                         : Qcow2ExtL2Error::None;
    }
    return (bitmap & QCOW2_L2_BITMAP_ALL_ALLOC) ? Qcow2ExtL2Error::UnallocatedAllocated
                                                : Qcow2ExtL2Error::None;
}
