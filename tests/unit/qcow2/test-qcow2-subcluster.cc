// Extended L2 entry helpers (block/qcow2/qcow2-subcluster.h): table layout,
// bitmap ranges, the subcluster state table of qcow2.txt (every cluster type
// with every bit combination that matters), run lengths and the pairs
// `check` reports.
#include <cerrno>
#include <cstring>
#include <vector>

#include "block/qcow2/qcow2-subcluster.h"
#include "tests/unit/util/cmocka-wrap.h"

namespace {

using T = Qcow2SubclusterType;
constexpr uint64_t HOST = 0x50000;  // a cluster-aligned host offset

void test_ranges(void **)
{
    assert_true(qcow2_sc_alloc_range(0, 0) == 0);
    assert_true(qcow2_sc_alloc_range(0, 1) == 1);
    assert_true(qcow2_sc_alloc_range(3, 5) == 0x18);
    assert_true(qcow2_sc_alloc_range(31, 32) == 0x80000000ULL);
    assert_true(qcow2_sc_zero_range(3, 5) == 0x18ULL << 32);
    assert_true(QCOW2_L2_BITMAP_ALL_ALLOC == 0xffffffffULL);
    assert_true(QCOW2_L2_BITMAP_ALL_ZEROES == 0xffffffff00000000ULL);
    assert_int_equal(qcow2_l2_entry_size(false), 8);
    assert_int_equal(qcow2_l2_entry_size(true), 16);
    // 64 KiB clusters: 8192 standard or 4096 extended entries per table.
    assert_int_equal(qcow2_l2_bits(16, false), 13);
    assert_int_equal(qcow2_l2_bits(16, true), 12);
}

// Entries are big-endian; an extended entry's bitmap follows its descriptor.
void test_table_layout(void **)
{
    std::vector<uint8_t> t(64, 0);
    qcow2_l2_set_entry(t.data(), true, 1, QCOW_OFLAG_COPIED | HOST);
    qcow2_l2_set_bitmap(t.data(), 1, 0x0000000300000001ULL);
    const uint8_t want[32] = {0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                              0x80, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1};
    assert_memory_equal(t.data(), want, 32);
    assert_true(qcow2_l2_get_entry(t.data(), true, 1) == (QCOW_OFLAG_COPIED | HOST));
    assert_true(qcow2_l2_get_bitmap(t.data(), true, 1) == 0x0000000300000001ULL);
    assert_true(qcow2_l2_get_entry(t.data(), true, 0) == 0);
    // The same bytes as standard entries: index 2 is the descriptor, 3 the
    // bitmap word, and a standard entry has no bitmap.
    assert_true(qcow2_l2_get_entry(t.data(), false, 2) == (QCOW_OFLAG_COPIED | HOST));
    assert_true(qcow2_l2_get_bitmap(t.data(), false, 2) == 0);
    qcow2_l2_set_entry(t.data(), false, 7, 1);
    assert_int_equal(t[63], 1);
}

void test_standard_types(void **)
{
    // Without extended entries the cluster is its only subcluster.
    assert_true(qcow2_subcluster_type(0, 0, 0, 3, false) == T::UnallocatedPlain);
    assert_true(qcow2_subcluster_type(QCOW_OFLAG_ZERO, 0, 0, 3, false) == T::ZeroPlain);
    assert_true(qcow2_subcluster_type(HOST | QCOW_OFLAG_ZERO, 0, 0, 3, false) == T::ZeroAlloc);
    assert_true(qcow2_subcluster_type(HOST, 0, 0, 3, false) == T::Normal);
    // v2 has no zero flag.
    assert_true(qcow2_subcluster_type(HOST | QCOW_OFLAG_ZERO, 0, 0, 2, false) == T::Normal);
    assert_true(qcow2_subcluster_type(QCOW_OFLAG_COMPRESSED | HOST, 0, 0, 3, false) ==
                T::Compressed);
    T t;
    assert_int_equal(qcow2_subcluster_run(HOST, 0, 0, 3, false, &t), 1);
    assert_true(t == T::Normal);
}

void test_extended_types(void **)
{
    uint64_t bm = qcow2_sc_alloc_range(0, 2) | qcow2_sc_zero_range(4, 6);
    assert_true(qcow2_subcluster_type(HOST, bm, 0, 3, true) == T::Normal);
    assert_true(qcow2_subcluster_type(HOST, bm, 1, 3, true) == T::Normal);
    assert_true(qcow2_subcluster_type(HOST, bm, 2, 3, true) == T::UnallocatedAlloc);
    assert_true(qcow2_subcluster_type(HOST, bm, 4, 3, true) == T::ZeroAlloc);
    assert_true(qcow2_subcluster_type(HOST, bm, 31, 3, true) == T::UnallocatedAlloc);
    // The descriptor's zero flag is reserved with extended entries.
    assert_true(qcow2_subcluster_type(HOST | QCOW_OFLAG_ZERO, bm, 2, 3, true) ==
                T::UnallocatedAlloc);
    assert_true(qcow2_subcluster_type(QCOW_OFLAG_ZERO, 0, 0, 3, true) == T::UnallocatedPlain);
    // No host cluster: zero or unallocated; any allocated bit is corrupt.
    uint64_t z = qcow2_sc_zero_range(8, 16);
    assert_true(qcow2_subcluster_type(0, z, 8, 3, true) == T::ZeroPlain);
    assert_true(qcow2_subcluster_type(0, z, 16, 3, true) == T::UnallocatedPlain);
    assert_true(qcow2_subcluster_type(0, z | 1ULL << 20, 8, 3, true) == T::Invalid);
    // Allocated and zero at once, even in another subcluster, is corrupt.
    uint64_t both = qcow2_sc_alloc_range(3, 4) | qcow2_sc_zero_range(3, 4);
    assert_true(qcow2_subcluster_type(HOST, both, 0, 3, true) == T::Invalid);
    // Compressed clusters are compressed whatever the bitmap says.
    assert_true(qcow2_subcluster_type(QCOW_OFLAG_COMPRESSED | HOST, 0, 7, 3, true) ==
                T::Compressed);
}

void test_runs(void **)
{
    T t;
    uint64_t bm =
        qcow2_sc_alloc_range(0, 2) | qcow2_sc_zero_range(4, 6) | qcow2_sc_alloc_range(6, 32);
    assert_int_equal(qcow2_subcluster_run(HOST, bm, 0, 3, true, &t), 2);
    assert_true(t == T::Normal);
    assert_int_equal(qcow2_subcluster_run(HOST, bm, 1, 3, true, &t), 1);
    assert_int_equal(qcow2_subcluster_run(HOST, bm, 2, 3, true, &t), 2);
    assert_true(t == T::UnallocatedAlloc);
    assert_int_equal(qcow2_subcluster_run(HOST, bm, 4, 3, true, &t), 2);
    assert_true(t == T::ZeroAlloc);
    // A run reaching the cluster's end.
    assert_int_equal(qcow2_subcluster_run(HOST, bm, 6, 3, true, &t), 26);
    assert_true(t == T::Normal);
    assert_int_equal(qcow2_subcluster_run(HOST, QCOW2_L2_BITMAP_ALL_ALLOC, 31, 3, true, &t), 1);
    assert_int_equal(qcow2_subcluster_run(0, 0, 0, 3, true, &t), 32);
    assert_true(t == T::UnallocatedPlain);
    assert_int_equal(qcow2_subcluster_run(0, QCOW2_L2_BITMAP_ALL_ZEROES, 5, 3, true, &t), 27);
    assert_true(t == T::ZeroPlain);
    // Zero subclusters earlier in the cluster do not end an unallocated run.
    assert_int_equal(qcow2_subcluster_run(0, qcow2_sc_zero_range(0, 4), 4, 3, true, &t), 28);
    assert_int_equal(qcow2_subcluster_run(QCOW_OFLAG_COMPRESSED | HOST, 0, 10, 3, true, &t), 22);
    assert_true(t == T::Compressed);
    uint64_t both = qcow2_sc_alloc_range(3, 4) | qcow2_sc_zero_range(3, 4);
    assert_int_equal(qcow2_subcluster_run(HOST, both, 0, 3, true, &t), -EINVAL);
    assert_true(t == T::Invalid);
}

void test_validate(void **)
{
    using E = Qcow2ExtL2Error;
    assert_true(qcow2_extl2_validate(0, 0) == E::None);
    assert_true(qcow2_extl2_validate(0, QCOW2_L2_BITMAP_ALL_ZEROES) == E::None);
    assert_true(qcow2_extl2_validate(0, 1) == E::UnallocatedAllocated);
    assert_true(qcow2_extl2_validate(HOST, QCOW2_L2_BITMAP_ALL_ALLOC) == E::None);
    assert_true(qcow2_extl2_validate(HOST, 1ULL << 7 | 1ULL << 39) == E::AllocatedCorrupt);
    assert_true(qcow2_extl2_validate(QCOW_OFLAG_COMPRESSED | HOST, 0) == E::None);
    assert_true(qcow2_extl2_validate(QCOW_OFLAG_COMPRESSED | HOST, 1ULL << 40) ==
                E::CompressedBitmap);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),         cmocka_unit_test(test_table_layout),
        cmocka_unit_test(test_standard_types), cmocka_unit_test(test_extended_types),
        cmocka_unit_test(test_runs),           cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
