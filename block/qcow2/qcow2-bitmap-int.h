// qcow2 persistent dirty bitmaps: on-disk structures (QEMU's
// docs/interop/qcow2.txt, "Bitmaps extension" and "Bitmap directory") and
// the driver entry points (qcow2-bitmap.cc).  The parsers are pure, so that
// tests/fuzz/fuzz-qcow2-bitmaps.cc runs them on arbitrary bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/block-int.h"

// QEMU 7.2's limits.
constexpr uint32_t QCOW2_MAX_BITMAPS = 65535;
constexpr uint64_t QCOW2_MAX_BITMAP_DIRECTORY_SIZE = 1024ULL * QCOW2_MAX_BITMAPS;
constexpr uint32_t QCOW2_BME_MAX_TABLE_SIZE = 0x8000000;
constexpr uint64_t QCOW2_BME_MAX_PHYS_SIZE = 0x20000000;
constexpr uint32_t QCOW2_BME_MIN_GRANULARITY_BITS = 9;
constexpr uint32_t QCOW2_BME_MAX_GRANULARITY_BITS = 31;
constexpr uint32_t QCOW2_BME_MAX_NAME_SIZE = 1023;
constexpr uint32_t QCOW2_BME_FLAG_IN_USE = 1u << 0;
constexpr uint32_t QCOW2_BME_FLAG_AUTO = 1u << 1;
constexpr uint32_t QCOW2_BME_RESERVED_FLAGS = 0xfffffffcu;
constexpr uint64_t QCOW2_BME_TABLE_ENTRY_RESERVED_MASK = 0xff000000000001feULL;
constexpr uint64_t QCOW2_BME_TABLE_ENTRY_OFFSET_MASK = 0x00fffffffffffe00ULL;
constexpr uint64_t QCOW2_BME_TABLE_ENTRY_FLAG_ALL_ONES = 1;
constexpr size_t QCOW2_BITMAPS_EXT_LEN = 24;
constexpr size_t QCOW2_BITMAP_DIR_ENTRY_LEN = 24;

// The header extension's fields.
struct Qcow2BitmapsExt {
    uint32_t nb_bitmaps = 0;
    uint64_t dir_size = 0;
    uint64_t dir_offset = 0;
};

// One bitmap directory entry.
struct Qcow2BitmapEntry {
    uint64_t table_offset = 0;
    uint32_t table_size = 0;  // 64-bit entries
    uint32_t flags = 0;
    uint8_t type = 1;  // dirty tracking
    uint8_t granularity_bits = 16;
    std::string name;
};

// Parses and checks the extension's data as QEMU does on open (its messages).
bool qcow2_bitmaps_ext_parse(const uint8_t *data, size_t len, uint64_t cluster_size,
                             Qcow2BitmapsExt *out, Error **errp);
void qcow2_bitmaps_ext_serialize(const Qcow2BitmapsExt &e, uint8_t out[QCOW2_BITMAPS_EXT_LEN]);
// Whether @e satisfies QEMU's constraints for an image of @disk_size bytes.
bool qcow2_bitmap_entry_ok(const Qcow2BitmapEntry &e, uint64_t cluster_size, uint64_t disk_size);
// Parses a directory of @nb entries (QEMU's bitmap_list_load messages).
bool qcow2_bitmap_dir_parse(const uint8_t *dir, size_t len, uint32_t nb, uint64_t cluster_size,
                            uint64_t disk_size, std::vector<Qcow2BitmapEntry> *out, Error **errp);
// Size of one serialised entry (24 + name, 8-byte aligned).
uint64_t qcow2_bitmap_dir_entry_size(size_t name_len);
std::vector<uint8_t> qcow2_bitmap_dir_serialize(const std::vector<Qcow2BitmapEntry> &bms);
// Checks one bitmap table entry (0 or -EINVAL).
int qcow2_bitmap_table_entry_check(uint64_t entry, uint64_t cluster_size);

// ---- driver (qcow2-bitmap.cc; s->lock taken inside) ----------------------------
// Loads the image's bitmaps into the node (open); a read/write open marks
// them in use on disk.  Errors fail the open with QEMU's messages.
int coroutine_fn qcow2_load_dirty_bitmaps(BlockDriverState *bs, Error **errp);
// Stores the node's persistent bitmaps (close, or reopen read-only);
// reports failures itself ("Lost persistent bitmaps ...").
void coroutine_fn qcow2_store_dirty_bitmaps(BlockDriverState *bs);
// Reopen read-only: stores the bitmaps and makes them read-only in memory;
// read/write: marks them in use on disk again and writable.
int coroutine_fn qcow2_reopen_bitmaps_ro(BlockDriverState *bs, Error **errp);
int coroutine_fn qcow2_reopen_bitmaps_rw(BlockDriverState *bs, Error **errp);
bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs);
bool coroutine_fn qcow2_co_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                      uint32_t granularity, Error **errp);
int coroutine_fn qcow2_co_remove_persistent_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                         Error **errp);
// The directory as qemu-img info lists it (empty when there is none).
bool qcow2_get_bitmap_info_list(BlockDriverState *bs, std::vector<Qcow2BitmapEntry> *out,
                                Error **errp);
