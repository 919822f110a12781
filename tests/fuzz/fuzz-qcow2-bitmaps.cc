// libFuzzer target: the qcow2 persistent-bitmap parsers (block/qcow2/
// qcow2-bitmap-format.cc), which read untrusted image metadata on every
// open of an image with the bitmaps extension.  Input layout: one byte of
// cluster_bits, one of the bitmap count, then the 24-byte extension, then the
// bitmap directory.  Whatever the parsers accept must round-trip through
// the serialisers unchanged and pass the per-entry checks they claim.
#include <cassert>
#include <cstdint>
#include <cstring>
#include <vector>

#include "block/qcow2/qcow2-bitmap-int.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 + QCOW2_BITMAPS_EXT_LEN) return 0;
    const uint64_t cluster_size = 1ULL << (9 + data[0] % 13);  // 512 .. 2 MiB
    const uint32_t nb = data[1];
    const uint64_t disk_size = 1ULL << 30;
    data += 2;
    size -= 2;

    {
        ErrorPtr err;
        Qcow2BitmapsExt ext;
        if (qcow2_bitmaps_ext_parse(data, QCOW2_BITMAPS_EXT_LEN, cluster_size, &ext, &err)) {
            uint8_t out[QCOW2_BITMAPS_EXT_LEN];
            qcow2_bitmaps_ext_serialize(ext, out);
            Qcow2BitmapsExt again;
            ErrorPtr err2;
            assert(qcow2_bitmaps_ext_parse(out, sizeof(out), cluster_size, &again, &err2));
            assert(again.nb_bitmaps == ext.nb_bitmaps && again.dir_size == ext.dir_size &&
                   again.dir_offset == ext.dir_offset);
        }
    }

    const uint8_t *dir = data + QCOW2_BITMAPS_EXT_LEN;
    const size_t dir_len = size - QCOW2_BITMAPS_EXT_LEN;
    std::vector<Qcow2BitmapEntry> entries;
    ErrorPtr err;
    if (!qcow2_bitmap_dir_parse(dir, dir_len, nb, cluster_size, disk_size, &entries, &err)) {
        return 0;
    }
    assert(entries.size() == nb);
    std::vector<uint8_t> ser = qcow2_bitmap_dir_serialize(entries);
    std::vector<Qcow2BitmapEntry> again;
    ErrorPtr err2;
    assert(
        qcow2_bitmap_dir_parse(ser.data(), ser.size(), nb, cluster_size, disk_size, &again, &err2));
    assert(again.size() == entries.size());
    for (size_t i = 0; i < again.size(); i++) {
        assert(again[i].name == entries[i].name);
        assert(again[i].table_offset == entries[i].table_offset);
        assert(again[i].table_size == entries[i].table_size);
    }
    // Table entries as the directory's tables would hold them.
    for (size_t off = 0; off + 8 <= dir_len; off += 8) {
        uint64_t e;
        memcpy(&e, dir + off, 8);
        (void)qcow2_bitmap_table_entry_check(e, cluster_size);
    }
    return 0;
}
