// libFuzzer target: the extended L2 entry decoders (block/qcow2/
// qcow2-subcluster.cc), which will classify untrusted 128-bit entries on
// every read of an image with subclusters.  Input: one flags byte (extended
// entries, v2/v3, subcluster index), then descriptor and bitmap.  Checks
// the contract the driver will rely on: a run is never empty nor past the
// cluster, every subcluster in it has the run's state and the next one has
// another; Invalid is exactly what `check` reports; table accessors write
// only their own entry.
#include <cassert>
#include <cstdint>
#include <cstring>

#include "block/qcow2/qcow2-subcluster.h"
#include "tests/fuzz/fuzz-common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in(data, size);
    const uint8_t flags = in.u8();
    const bool ext = flags & 1;
    const int version = (flags & 2) ? 3 : 2;
    const unsigned per_cluster = ext ? QCOW2_SUBCLUSTERS_PER_CLUSTER : 1;
    const unsigned sc = (flags >> 2) % per_cluster;
    const uint64_t entry = in.u64();
    const uint64_t bitmap = ext ? in.u64() : 0;

    Qcow2SubclusterType type;
    int n = qcow2_subcluster_run(entry, bitmap, sc, version, ext, &type);
    assert(type == qcow2_subcluster_type(entry, bitmap, sc, version, ext));
    if (n < 0) {
        assert(type == Qcow2SubclusterType::Invalid && ext);
        assert(qcow2_extl2_validate(entry, bitmap) != Qcow2ExtL2Error::None);
    } else {
        assert(n >= 1 && sc + (unsigned)n <= per_cluster);
        for (unsigned i = sc; i < sc + (unsigned)n; i++)
            assert(qcow2_subcluster_type(entry, bitmap, i, version, ext) == type);
        if (sc + (unsigned)n < per_cluster) {
            assert(qcow2_subcluster_type(entry, bitmap, sc + n, version, ext) != type);
        }
        if (ext && !(entry & QCOW_OFLAG_COMPRESSED)) {
            assert(qcow2_extl2_validate(entry, bitmap) == Qcow2ExtL2Error::None);
        }
    }

    // Entry 1 of a 3-entry table; its neighbours keep their bytes.
    uint8_t table[3 * QCOW2_L2E_SIZE_EXTENDED];
    memset(table, 0xa5, sizeof(table));
    qcow2_l2_set_entry(table, ext, 1, entry);
    if (ext) qcow2_l2_set_bitmap(table, 1, bitmap);
    assert(qcow2_l2_get_entry(table, ext, 1) == entry);
    assert(qcow2_l2_get_bitmap(table, ext, 1) == bitmap);
    const size_t es = qcow2_l2_entry_size(ext);
    for (size_t i = 0; i < sizeof(table); i++) {
        if (i < es || i >= 2 * es) assert(table[i] == 0xa5);
    }
    return 0;
}
