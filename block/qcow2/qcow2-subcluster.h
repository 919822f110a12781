// qcow2 extended L2 entries (incompatible feature bit 4, `extended_l2=on`):
// the entry layout and the per-subcluster state it encodes.  Pure functions
// without I/O or driver state, so the unit tests exercise them directly
// (tests/unit/qcow2/test-qcow2-subcluster.cc).
//
// Layout (docs/interop/qcow2.txt of QEMU 7.2): an extended entry is 128 bits,
// the standard 64-bit descriptor followed by a 64-bit bitmap.  Each cluster
// has 32 subclusters of cluster_size/32 bytes; bit x (0..31) of the bitmap
// says subcluster x is allocated (its data is at host offset + x * sc_size),
// bit 32+x says it reads as zeroes.  Both bits set is invalid.  With
// extended entries the descriptor's own zero flag (bit 0) is reserved and
// ignored, and a compressed cluster's bitmap must be 0.
//
// Status: the driver does not use these yet; images with the feature are
// refused at open (qcow2.cc) and `extended_l2=on` at create, so nothing
// reads such an image as if its entries were 64 bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "block/qcow2/qcow2-format-int.h"

constexpr unsigned QCOW2_SUBCLUSTERS_PER_CLUSTER = 32;
// Smallest cluster QEMU accepts with extended entries: subclusters of at
// least 512 bytes (one sector).
constexpr uint64_t QCOW2_EXTL2_MIN_CLUSTER_SIZE = 16384;
constexpr size_t QCOW2_L2E_SIZE_NORMAL = 8;
constexpr size_t QCOW2_L2E_SIZE_EXTENDED = 16;

// Bitmap of subclusters [first, end) allocated / reading as zeroes
// (0 <= first <= end <= 32).
constexpr uint64_t qcow2_sc_alloc_range(unsigned first, unsigned end)
{
    return (1ULL << end) - (1ULL << first);
}
constexpr uint64_t qcow2_sc_zero_range(unsigned first, unsigned end)
{
    return qcow2_sc_alloc_range(first, end) << 32;
}
constexpr uint64_t QCOW2_L2_BITMAP_ALL_ALLOC = qcow2_sc_alloc_range(0, 32);
constexpr uint64_t QCOW2_L2_BITMAP_ALL_ZEROES = qcow2_sc_zero_range(0, 32);

// State of one subcluster (QEMU's QCow2SubclusterType).  Without extended
// entries a cluster is one subcluster and UnallocatedAlloc cannot occur.
//   cluster Unallocated -> UnallocatedPlain, ZeroPlain
//   cluster Normal      -> UnallocatedAlloc (host cluster, this part not
//                          written: reads fall through to the backing
//                          file), ZeroAlloc, Normal
//   cluster Compressed  -> Compressed
// Invalid: the entry/bitmap pair is corrupt (the image must be marked so).
enum class Qcow2SubclusterType {
    UnallocatedPlain,
    UnallocatedAlloc,
    ZeroPlain,
    ZeroAlloc,
    Normal,
    Compressed,
    Invalid,
};

static inline size_t qcow2_l2_entry_size(bool extended)
{
    return extended ? QCOW2_L2E_SIZE_EXTENDED : QCOW2_L2E_SIZE_NORMAL;
}
// Entries in a cluster-sized L2 table: cluster_bits - 3 (standard) or - 4.
static inline int qcow2_l2_bits(int cluster_bits, bool extended)
{
    return cluster_bits - (extended ? 4 : 3);
}

// Accessors of entry @idx of an L2 table as on disk (big-endian 64-bit
// words).  The bitmap of a standard entry reads as 0; setting it is a bug.
uint64_t qcow2_l2_get_entry(const void *table, bool extended, uint64_t idx);
uint64_t qcow2_l2_get_bitmap(const void *table, bool extended, uint64_t idx);
void qcow2_l2_set_entry(void *table, bool extended, uint64_t idx, uint64_t entry);
void qcow2_l2_set_bitmap(void *table, uint64_t idx, uint64_t bitmap);

// Cluster type of a descriptor: qcow2_l2_entry_type, except that with
// extended entries the zero flag is ignored (zeroes live in the bitmap).
Qcow2ClusterType qcow2_l2_cluster_type(uint64_t entry, int version, bool extended);

// State of subcluster @sc (0 without extended entries).  Invalid is decided
// on the whole pair, not only @sc's bits, as QEMU does.
Qcow2SubclusterType qcow2_subcluster_type(uint64_t entry, uint64_t bitmap, unsigned sc, int version,
                                          bool extended);

// Sets *type to subcluster @sc_from's state and returns how many subclusters
// from @sc_from on (up to the cluster's end) share it; -EINVAL (and
// *type = Invalid) for a corrupt pair.  Without extended entries the whole
// cluster is one run.
int qcow2_subcluster_run(uint64_t entry, uint64_t bitmap, unsigned sc_from, int version,
                         bool extended, Qcow2SubclusterType *type);

// Problems `check` reports in an extended entry's bitmap, each with its own
// QEMU message (check_refcounts_l2): a compressed cluster with a bitmap, a
// host cluster with subclusters both allocated and zero, an unallocated
// cluster with allocated subclusters.
enum class Qcow2ExtL2Error { None, CompressedBitmap, AllocatedCorrupt, UnallocatedAllocated };
Qcow2ExtL2Error qcow2_extl2_validate(uint64_t entry, uint64_t bitmap);
