// Dirty bitmaps (QEMU's BdrvDirtyBitmap): per node, a bit per @granularity
// bytes of the node's guest view, set by every write, write-zeroes and
// discard that completes on the node while the bitmap is enabled.  A format
// that can store them (qcow2, block/qcow2/qcow2-bitmap.cc) loads its
// persistent bitmaps on open and stores them on close.  Public (tools use
// these through block/block.h); all functions run in the node's thread.
#pragma once

#include <cstdint>
#include <vector>

#include "util/util.h"

struct BlockDriverState;
struct BdrvDirtyBitmap;

// bdrv_dirty_bitmap_check flags (QEMU's BDRV_BITMAP_*).
enum {
    BDRV_BITMAP_BUSY = 1,
    BDRV_BITMAP_RO = 2,
    BDRV_BITMAP_INCONSISTENT = 4,
    BDRV_BITMAP_DEFAULT = 7,
    BDRV_BITMAP_ALLOW_RO = BDRV_BITMAP_BUSY | BDRV_BITMAP_INCONSISTENT,
};
constexpr size_t BDRV_BITMAP_MAX_NAME_SIZE = 1023;

// Creates an enabled, transient bitmap covering the node's current length
// (@name may be null: anonymous).  Errors as QEMU's.
BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs, uint32_t granularity,
                                          const char *name, Error **errp);
void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bm);
// Releases every bitmap of @bs (on close).
void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs);
BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs, const char *name);
// The node's bitmaps, newest first (QEMU's list order).
std::vector<BdrvDirtyBitmap *> bdrv_dirty_bitmaps(BlockDriverState *bs);
// QEMU's default: the cluster size (at least 4 KiB, a power of two), else 64 KiB.
uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs);

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bm);
uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bm);
int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bm);  // bytes covered
BlockDriverState *bdrv_dirty_bitmap_bs(const BdrvDirtyBitmap *bm);
bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bm);
void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bm);
void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bm);
bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bm, bool persistent);
bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bm);
bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bm, bool ro);
bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bm, bool busy);
// Fails (QEMU's messages) when @bm is busy, read-only or inconsistent, as
// selected by @flags (BDRV_BITMAP_*).
int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bm, unsigned flags, Error **errp);

// Bits, addressed in bytes of the node.
bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bm, int64_t offset);
void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes);
void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes);
void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bm);
uint64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bm);  // dirty bytes (whole chunks)
// First dirty (clean) byte offset in [offset, offset + bytes), -1 if none;
// bytes < 0: to the end.
int64_t bdrv_dirty_bitmap_next_dirty(const BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes);
int64_t bdrv_dirty_bitmap_next_zero(const BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes);
// Sets in @dest every chunk @src has dirty (granularities may differ; the
// sizes must match).  QEMU's checks and messages.
bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest, const BdrvDirtyBitmap *src, Error **errp);
// Resizes every bitmap of @bs (after a truncate).
void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t bytes);

// Serialisation as the qcow2 bitmap data clusters hold it: bit i of byte j
// is chunk 8j + i.  Ranges are in bytes of the node, aligned to the coverage
// of a serialised cluster except at the end.
uint64_t bdrv_dirty_bitmap_serialization_size(const BdrvDirtyBitmap *bm, int64_t offset,
                                              int64_t bytes);
uint64_t bdrv_dirty_bitmap_serialization_coverage(uint64_t serialized_bytes,
                                                  const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_serialize_part(const BdrvDirtyBitmap *bm, uint8_t *buf, int64_t offset,
                                      int64_t bytes);
void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bm, const uint8_t *buf, int64_t offset,
                                        int64_t bytes);
void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bm, int64_t offset, int64_t bytes);

// Persistent bitmaps (the format's part).  Whether @bs's format (looking
// through filters) can store them.
bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs);
// Whether a new persistent bitmap @name of @granularity fits (QEMU's
// messages: "Can't make bitmap 'x' persistent in 'node': ...").
bool coroutine_fn bdrv_co_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                     uint32_t granularity, Error **errp);
// Removes @name from the image at once (absent: not an error).
int coroutine_fn bdrv_co_remove_persistent_dirty_bitmap(BlockDriverState *bs, const char *name,
                                                        Error **errp);

// QMP's block-dirty-bitmap-* on a node, as qemu-img bitmap uses them
// (messages as QEMU 7.2).  @granularity 0: the default.
bool coroutine_fn bdrv_co_block_dirty_bitmap_add(BlockDriverState *bs, const char *name,
                                                 uint32_t granularity, bool has_granularity,
                                                 bool persistent, bool disabled, Error **errp);
bool coroutine_fn bdrv_co_block_dirty_bitmap_remove(BlockDriverState *bs, const char *name,
                                                    Error **errp);
bool bdrv_block_dirty_bitmap_clear(BlockDriverState *bs, const char *name, Error **errp);
bool bdrv_block_dirty_bitmap_enable(BlockDriverState *bs, const char *name, Error **errp);
bool bdrv_block_dirty_bitmap_disable(BlockDriverState *bs, const char *name, Error **errp);
// Merges bitmap @src_name of @src_bs into @name of @bs.
bool bdrv_block_dirty_bitmap_merge(BlockDriverState *bs, const char *name, BlockDriverState *src_bs,
                                   const char *src_name, Error **errp);
