// Pure (de)serialisation of the qcow2 bitmaps extension and directory,
// with QEMU 7.2's checks and messages.  No I/O here (fuzzed).
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-bitmap-int.h"
#include "block/qcow2/qcow2-format-int.h"

bool qcow2_bitmaps_ext_parse(const uint8_t *data, size_t len, uint64_t cluster_size,
                             Qcow2BitmapsExt *out, Error **errp)
{
    if (len != QCOW2_BITMAPS_EXT_LEN) {
        error_setg(errp, "bitmaps_ext: Invalid extension length");
        return false;
    }
    if (be32_load(data + 4)) {
        error_setg(errp, "bitmaps_ext: Reserved field is not zero");
        return false;
    }
    out->nb_bitmaps = be32_load(data);
    out->dir_size = be64_load(data + 8);
    out->dir_offset = be64_load(data + 16);
    if (out->nb_bitmaps > QCOW2_MAX_BITMAPS) {
        error_setg(errp,
                   "bitmaps_ext: Image has %" PRIu32
                   " bitmaps, exceeding the QEMU supported maximum of %" PRIu32,
                   out->nb_bitmaps, QCOW2_MAX_BITMAPS);
        return false;
    }
    if (out->nb_bitmaps == 0) {
        error_setg(errp, "found bitmaps extension with zero bitmaps");
        return false;
    }
    if (out->dir_offset & (cluster_size - 1)) {
        error_setg(errp, "bitmaps_ext: invalid bitmap directory offset");
        return false;
    }
    if (out->dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp,
                   "bitmaps_ext: bitmap directory size (%" PRIu64
                   ") exceeds the maximum supported size (%" PRIu64 ")",
                   out->dir_size, QCOW2_MAX_BITMAP_DIRECTORY_SIZE);
        return false;
    }
    return true;
}

void qcow2_bitmaps_ext_serialize(const Qcow2BitmapsExt &e, uint8_t out[QCOW2_BITMAPS_EXT_LEN])
{
    be32_store(out, e.nb_bitmaps);
    be32_store(out + 4, 0);
    be64_store(out + 8, e.dir_size);
    be64_store(out + 16, e.dir_offset);
}

bool qcow2_bitmap_entry_ok(const Qcow2BitmapEntry &e, uint64_t cluster_size, uint64_t disk_size)
{
    if (!e.table_size || !e.table_offset || (e.table_offset & (cluster_size - 1)) ||
        e.table_size > QCOW2_BME_MAX_TABLE_SIZE ||
        e.granularity_bits > QCOW2_BME_MAX_GRANULARITY_BITS ||
        e.granularity_bits < QCOW2_BME_MIN_GRANULARITY_BITS ||
        (e.flags & QCOW2_BME_RESERVED_FLAGS) || e.name.size() > QCOW2_BME_MAX_NAME_SIZE ||
        e.type != 1) {
        return false;
    }
    uint64_t phys = (uint64_t)e.table_size * cluster_size;
    if (phys > QCOW2_BME_MAX_PHYS_SIZE) {
        return false;
    }
    // A consistent bitmap's table must cover the whole disk (an in-use one
    // may be stale, e.g. after a resize).
    return (e.flags & QCOW2_BME_FLAG_IN_USE) || disk_size <= ((phys * 8) << e.granularity_bits);
}

uint64_t qcow2_bitmap_dir_entry_size(size_t name_len)
{
    return (QCOW2_BITMAP_DIR_ENTRY_LEN + name_len + 7) & ~7ULL;
}

bool qcow2_bitmap_dir_parse(const uint8_t *dir, size_t len, uint32_t nb, uint64_t cluster_size,
                            uint64_t disk_size, std::vector<Qcow2BitmapEntry> *out, Error **errp)
{
    if (len == 0) {
        error_setg(errp, "Requested bitmap directory size is zero");
        return false;
    }
    if (len > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Requested bitmap directory size is too big");
        return false;
    }
    out->clear();
    size_t pos = 0;
    uint32_t n = 0;
    while (pos < len) {
        if (len - pos < QCOW2_BITMAP_DIR_ENTRY_LEN) {
            error_setg(errp, "Broken bitmap directory");
            return false;
        }
        if (++n > nb) {
            error_setg(errp, "More bitmaps found than specified in header extension");
            return false;
        }
        const uint8_t *p = dir + pos;
        uint32_t name_size = be16_load(p + 18), extra = be32_load(p + 20);
        uint64_t esize = (QCOW2_BITMAP_DIR_ENTRY_LEN + name_size + (uint64_t)extra + 7) & ~7ULL;
        if (esize > len - pos) {
            error_setg(errp, "Broken bitmap directory");
            return false;
        }
        std::string name((const char *)p + QCOW2_BITMAP_DIR_ENTRY_LEN + extra, name_size);
        if (extra) {
            error_setg(errp, "Bitmap extra data is not supported");
            return false;
        }
        Qcow2BitmapEntry e;
        e.table_offset = be64_load(p);
        e.table_size = be32_load(p + 8);
        e.flags = be32_load(p + 12);
        e.type = p[16];
        e.granularity_bits = p[17];
        e.name = name;
        if (!qcow2_bitmap_entry_ok(e, cluster_size, disk_size)) {
            error_setg(errp, "Bitmap '%s' doesn't satisfy the constraints", name.c_str());
            return false;
        }
        out->push_back(std::move(e));
        pos += esize;
    }
    if (n != nb) {
        error_setg(errp, "Less bitmaps found than specified in header extension");
        return false;
    }
    return true;
}

std::vector<uint8_t> qcow2_bitmap_dir_serialize(const std::vector<Qcow2BitmapEntry> &bms)
{
    uint64_t size = 0;
    for (const auto &b : bms) {
        size += qcow2_bitmap_dir_entry_size(b.name.size());
    }
    std::vector<uint8_t> dir(size, 0);
    uint64_t pos = 0;
    for (const auto &b : bms) {
        uint8_t *p = &dir[pos];
        be64_store(p, b.table_offset);
        be32_store(p + 8, b.table_size);
        be32_store(p + 12, b.flags);
        p[16] = b.type;
        p[17] = b.granularity_bits;
        be16_store(p + 18, (uint16_t)b.name.size());
        be32_store(p + 20, 0);
        memcpy(p + QCOW2_BITMAP_DIR_ENTRY_LEN, b.name.data(), b.name.size());
        pos += qcow2_bitmap_dir_entry_size(b.name.size());
    }
    return dir;
}

int qcow2_bitmap_table_entry_check(uint64_t entry, uint64_t cluster_size)
{
    if (entry & QCOW2_BME_TABLE_ENTRY_RESERVED_MASK) {
        return -EINVAL;
    }
    uint64_t off = entry & QCOW2_BME_TABLE_ENTRY_OFFSET_MASK;
    if (off && ((entry & QCOW2_BME_TABLE_ENTRY_FLAG_ALL_ONES) || (off & (cluster_size - 1)))) {
        return -EINVAL;
    }
    return 0;
}
