// Public interface of the block layer for its users: tools, devices and the
// NBD server.  A BlockBackend is a user's handle on the root of a node graph.
// blk_co_* must run in a coroutine in the backend's AioContext thread; the
// blk_* synchronous forms run the same request in a coroutine and poll the
// context until it completes (for tools and tests, not for devices).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/dirty-bitmap.h"
#include "util/util.h"

struct BlockBackend;
struct BlockDriverState;
struct BlockDriver;
typedef struct _JsonNode JsonNode;

// Open flags.
enum {
    BDRV_O_RDWR = 0x0002,
    BDRV_O_NOCACHE = 0x0020,     // O_DIRECT on the file
    BDRV_O_NO_FLUSH = 0x0200,    // cache=unsafe: flushes are no-ops
    BDRV_O_NATIVE_AIO = 0x0080,  // aio=native
    BDRV_O_IO_URING = 0x40000,   // aio=io_uring
    BDRV_O_NO_BACKING = 0x0100,
    BDRV_O_UNMAP = 0x4000,         // discard=unmap
    BDRV_O_SHARE_RW = 0x10000,     // share-rw=on: allow other writers
    BDRV_O_FORCE_SHARE = 0x20000,  // -U: open without taking locks
    BDRV_O_NO_IO = 0x80000,        // metadata only (qemu-img info)
    BDRV_O_CHECK = 0x1000,         // opened for qemu-img check (no repair on open)
    BDRV_O_ALLOW_RDWR = 0x2000,
    BDRV_O_PROTOCOL = 0x8000,  // filename names a protocol node only
    BDRV_O_SNAPSHOT = 0x0008,  // writes go to a temporary qcow2 overlay (qemu-io -s)
};
// Without BDRV_O_SHARE_RW a writable backend does not let other users write
// or resize the image (QEMU's device default, share-rw=off).  QEMU's tools
// (qemu-io, qemu-img) share everything: tools that want the same locking
// behaviour pass BDRV_O_SHARE_RW.

// Request flags.
enum {
    BDRV_REQ_FUA = 0x1,
    BDRV_REQ_MAY_UNMAP = 0x2,
    BDRV_REQ_NO_FALLBACK = 0x4,  // fail with -ENOTSUP rather than write zeroes slowly
    BDRV_REQ_ZERO_WRITE = 0x8,
    BDRV_REQ_WRITE_COMPRESSED = 0x10,
    BDRV_REQ_SERIALISING = 0x20,
    BDRV_REQ_PREFETCH = 0x40,
    BDRV_REQ_COPY_ON_READ = 0x80,  // copy what is read into this node (copy-on-read filter)
};

// Block status flags (as QEMU).
enum {
    BDRV_BLOCK_DATA = 0x01,
    BDRV_BLOCK_ZERO = 0x02,
    BDRV_BLOCK_OFFSET_VALID = 0x04,
    BDRV_BLOCK_RAW = 0x08,  // driver passes through to *file: ask it
    BDRV_BLOCK_ALLOCATED = 0x10,
    BDRV_BLOCK_EOF = 0x20,
    BDRV_BLOCK_RECURSE = 0x40,
    BDRV_BLOCK_COMPRESSED = 0x80,
};

enum BlockdevDetectZeroes { DETECT_ZEROES_OFF = 0, DETECT_ZEROES_ON, DETECT_ZEROES_UNMAP };

struct BlockDriverInfo {
    int cluster_size = 0;
    bool is_dirty = false;
    int64_t vm_state_offset = 0;
};

// ---- limits -----------------------------------------------------------
struct BlockLimits {
    uint32_t request_alignment = 1;  // reads/writes must be aligned to this
    uint64_t max_transfer = 0;       // 0: unlimited; else split requests
    uint32_t opt_transfer = 0;
    uint32_t pwrite_zeroes_alignment = 0;
    uint32_t pdiscard_alignment = 0;
    uint64_t max_pwrite_zeroes = 0;
    uint64_t max_pdiscard = 0;
    uint32_t min_mem_alignment = 1;  // buffer address alignment (O_DIRECT)
};

// ---- check (qemu-img check) ------------------------------------------
enum BdrvCheckMode { BDRV_FIX_LEAKS = 1, BDRV_FIX_ERRORS = 2 };

struct BdrvCheckResult {
    int corruptions = 0;
    int leaks = 0;
    int check_errors = 0;
    int corruptions_fixed = 0;
    int leaks_fixed = 0;
    int64_t image_end_offset = 0;
    // bfi: block fragmentation info
    int64_t total_clusters = 0;
    int64_t allocated_clusters = 0;
    int64_t fragmented_clusters = 0;
    int64_t compressed_clusters = 0;
};

// ---- snapshots --------------------------------------------------------
struct QEMUSnapshotInfo {
    std::string id_str;
    std::string name;
    uint64_t vm_state_size = 0;
    uint32_t date_sec = 0;
    uint32_t date_nsec = 0;
    uint64_t vm_clock_nsec = 0;
    uint64_t icount = UINT64_MAX;  // UINT64_MAX: not recorded
};

// ---- create options ----------------------------------------------------
enum class CreateOptType { String, Size, Number, Bool };
struct CreateOptDesc {
    const char *name;
    CreateOptType type;
    const char *help;
    const char *def_value;  // nullptr: none
};

// Progress of qemu-img amend: @offset of @total units done.
using BdrvAmendStatusCB = void(BlockDriverState *bs, int64_t offset, int64_t total, void *opaque);

enum class PreallocMode { Off, Metadata, Falloc, Full };
bool prealloc_mode_parse(const char *s, PreallocMode *out);
const char *prealloc_mode_name(PreallocMode m);

// ---- permissions (QEMU's BLK_PERM_*) ----------------------------------
enum BlockPermission : uint64_t {
    BLK_PERM_CONSISTENT_READ = 1 << 0,
    BLK_PERM_WRITE = 1 << 1,
    BLK_PERM_WRITE_UNCHANGED = 1 << 2,
    BLK_PERM_RESIZE = 1 << 3,
    BLK_PERM_ALL = 0xf,
};

// Parses cache=none|writeback|writethrough|directsync|unsafe into BDRV_O_*
// flags and whether the guest-visible write cache is off (writethrough).
bool bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough);
// Parses aio=threads|native|io_uring into BDRV_O_* flags.
bool bdrv_parse_aio(const char *mode, int *flags);
bool bdrv_parse_detect_zeroes(const char *mode, BlockdevDetectZeroes *out);

// Registers the built-in drivers; idempotent.  Tools call it at start.
void bdrv_init(void);

// Opens a graph.  @filename may be null when @options name everything
// (--image-opts).  @options keys: "driver" (format or protocol), "file.*",
// "backing.*", driver options.  Without "driver", the format is probed; a
// probed raw image opened for writing gets QEMU's warning and write
// restrictions on sector 0.  Takes ownership of nothing; @options may be null.
BlockBackend *blk_new_open(const char *filename, QDict *options, int flags, Error **errp);
void blk_unref(BlockBackend *blk);  // drains, flushes (unless unsafe) and closes

BlockDriverState *blk_bs(BlockBackend *blk);
AioContext *blk_get_aio_context(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);
// Writethrough: every write is followed by a flush (or sent with FUA).
void blk_set_enable_write_cache(BlockBackend *blk, bool wce);
bool blk_enable_write_cache(BlockBackend *blk);
void blk_set_detect_zeroes(BlockBackend *blk, BlockdevDetectZeroes mode);
void blk_set_copy_on_read(BlockBackend *blk, bool on);
// Allow requests past the end of the image (qemu-io does not; NBD does not).
void blk_set_allow_write_beyond_eof(BlockBackend *blk, bool allow);
// Waits for this backend's requests; blk_drained_begin also holds new ones
// back (they wait in the backend) until blk_drained_end.
void coroutine_mixed_fn blk_drain(BlockBackend *blk);
void blk_drained_begin(BlockBackend *blk);
void blk_drained_end(BlockBackend *blk);
// Changes the open options of the image (qemu-io reopen): @opts holds the
// node options every node understands ("read-only", "cache.direct",
// "cache.no-flush", "discard", "detect-zeroes"...); anything else fails with
// QEMU's "Cannot change the option 'X'".  Drains first; the backend gains or
// loses the WRITE permission with read-only.  All or nothing.
int blk_reopen(BlockBackend *blk, QDict *opts, Error **errp);
// Whether the backend can write (opened BDRV_O_RDWR).
bool blk_is_writable(BlockBackend *blk);
// Narrows what the backend lets other users of the image do (QEMU's
// blk_set_perm with the current permissions): e.g. qemu-img convert stops
// sharing WRITE on its sources so that nobody changes them mid-copy.  Fails,
// leaving the backend as it was, when another user (another process, through
// the image locks) already holds what is unshared.
int blk_set_shared_perm(BlockBackend *blk, uint64_t shared, Error **errp);
uint64_t blk_get_shared_perm(BlockBackend *blk);
// Number of requests currently inside the backend (for tests and drain).
unsigned blk_in_flight(BlockBackend *blk);

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                               int flags);
int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, int flags);
int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
                              int flags);
int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf,
                               int flags);
int coroutine_fn blk_co_pwrite_compressed(BlockBackend *blk, int64_t offset, int64_t bytes,
                                          const void *buf);
int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes, int flags);
int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
// Copies @bytes from @src at @src_offset to @dst at @dst_offset without
// reading them into memory (copy_file_range between the files holding
// them).  -ENOTSUP when the nodes cannot offload this range: read + write
// instead.
int coroutine_fn blk_co_copy_range(BlockBackend *src, int64_t src_offset, BlockBackend *dst,
                                   int64_t dst_offset, int64_t bytes, int read_flags,
                                   int write_flags);
int coroutine_fn blk_co_flush(BlockBackend *blk);
int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset, bool exact,
                                 int prealloc /* PreallocMode */, Error **errp);
int64_t coroutine_fn blk_co_getlength(BlockBackend *blk);
// Status of the root node over its backing chain (what `qemu-img map` shows).
int coroutine_fn blk_co_block_status_above(BlockBackend *blk, int64_t offset, int64_t bytes,
                                           int64_t *pnum, int64_t *map, BlockDriverState **file);
// Where in the root's chain [offset, offset + *pnum) is allocated: 0 nowhere,
// 1 in the root, N in the (N-1)th node below it (QEMU's
// bdrv_is_allocated_above depth; NBD's qemu:allocation-depth); or -errno.
int coroutine_fn blk_co_allocation_depth(BlockBackend *blk, int64_t offset, int64_t bytes,
                                         int64_t *pnum);

// The image's VM-state area (qcow2 keeps it after the guest disk): @size
// bytes at @pos into it.  -ENOTSUP when no node from the root down along the
// file children has one (raw, as QEMU).  Return @size or -errno.
int coroutine_fn blk_co_load_vmstate(BlockBackend *blk, uint8_t *buf, int64_t pos, int64_t size);
int coroutine_fn blk_co_save_vmstate(BlockBackend *blk, const uint8_t *buf, int64_t pos,
                                     int64_t size);
int blk_load_vmstate(BlockBackend *blk, uint8_t *buf, int64_t pos, int64_t size);
int blk_save_vmstate(BlockBackend *blk, const uint8_t *buf, int64_t pos, int64_t size);

// Synchronous forms (plain code only).
int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf, int flags);
int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf, int flags);
int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes, int flags);
int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
int blk_flush(BlockBackend *blk);
int blk_truncate(BlockBackend *blk, int64_t offset, bool exact, int prealloc, Error **errp);
int64_t blk_getlength(BlockBackend *blk);

// Creates an image file of format @fmt (options as qemu-img create -o).
int bdrv_create(const char *fmt, const char *filename, QDict *opts, Error **errp);

// ---- drivers and node queries ------------------------------------------
// Drivers by format name (or alias) / by the protocol prefix of @filename.
const BlockDriver *bdrv_find_format(const char *name);
const BlockDriver *bdrv_find_protocol(const char *filename, Error **errp);

int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      int64_t *pnum, int64_t *map, BlockDriverState **file);
// Status merged over the backing chain down to (not including) @base.
int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                                            int64_t offset, int64_t bytes, int64_t *pnum,
                                            int64_t *map, BlockDriverState **file);
// See blk_co_allocation_depth.
int coroutine_fn bdrv_co_allocation_depth(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                          int64_t *pnum);
int64_t coroutine_fn bdrv_co_getlength(BlockDriverState *bs);
int64_t coroutine_fn bdrv_co_get_allocated_file_size(BlockDriverState *bs);

// Breakpoints (see BlockDriver::bdrv_debug_breakpoint), forwarded from @bs
// through format and filter nodes: -ENOTSUP when no node below has them.
// Plain code (the suspended request is re-entered from here).
int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event, const char *tag);
int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag);
int bdrv_debug_resume(BlockDriverState *bs, const char *tag);
bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag);
// Whether some node from @bs down implements breakpoints at all.
bool bdrv_debug_has_breakpoints(BlockDriverState *bs);

// Temporary snapshot load (block/snapshot-tmp.cc), QEMU's
// bdrv_snapshot_load_tmp: @bs must be read-only; messages as QEMU's.
int coroutine_fn bdrv_co_snapshot_load_tmp(BlockDriverState *bs, const char *id, const char *name,
                                           Error **errp);
// Tries @id_or_name as an id, then as a name.
int coroutine_fn bdrv_co_snapshot_load_tmp_by_id_or_name(BlockDriverState *bs,
                                                         const char *id_or_name, Error **errp);

// ---- image operations for tools (block/query.cc, block/snapshot.cc,
// block/image-ops.cc) -------------------------------------------------------
// The generic layer owns the driver table: each function checks once for a
// node without a driver ("Device '' has no medium", -ENOMEDIUM) and for a
// driver without the operation (-ENOTSUP, or QEMU's message where errp is
// given), so that tools never look into BlockDriver or BlockDriverState.
const char *bdrv_driver_format_name(const BlockDriver *drv);
// The driver's create options (terminated by {nullptr}), nullptr if none.
const CreateOptDesc *bdrv_driver_create_opts(const BlockDriver *drv);
// The options qemu-img amend may change, nullptr when the driver cannot
// amend images.
const CreateOptDesc *bdrv_driver_amend_opts(const BlockDriver *drv);
// Whether the driver can create images, record a backing file, write
// compressed clusters.
bool bdrv_driver_can_create(const BlockDriver *drv);
bool bdrv_driver_supports_backing(const BlockDriver *drv);
bool bdrv_driver_supports_compressed(const BlockDriver *drv);
// nullptr when the node has no driver.
const char *bdrv_get_format_name(BlockDriverState *bs);
const char *bdrv_get_filename(BlockDriverState *bs);
int bdrv_get_open_flags(BlockDriverState *bs);  // BDRV_O_*
// The backing file as recorded in the image ("" if none), resolved against
// the image's name (the recorded name when unresolved), and its format ("" if
// not recorded).
const char *bdrv_get_backing_filename(BlockDriverState *bs);
const char *bdrv_get_full_backing_filename(BlockDriverState *bs);
const char *bdrv_get_backing_format(BlockDriverState *bs);
// The opened backing node, nullptr if none.
BlockDriverState *bdrv_backing_bs(BlockDriverState *bs);
// The first node from @bs down that is not a filter (blkdebug,
// copy-on-read): where a backing chain continues (QEMU's bdrv_skip_filters).
BlockDriverState *bdrv_skip_filters(BlockDriverState *bs);
// The node at the bottom of @bs's chain of file children (the protocol node).
BlockDriverState *bdrv_protocol_bs(BlockDriverState *bs);
BlockLimits bdrv_get_limits(BlockDriverState *bs);
bool bdrv_supports_compressed_writes(BlockDriverState *bs);
// Fills @bdi (reset first); -ENOTSUP when the format has no such info.
int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);
// {"type": fmt, "data": {...}} for qemu-img info; nullptr without error when
// the format has none.  The caller owns the node.
JsonNode *bdrv_get_specific_info(BlockDriverState *bs, Error **errp);
// Whether the node's format encrypts the data (luks, qcow2 with encrypt.*).
bool bdrv_is_encrypted(BlockDriverState *bs);
// qemu-img measure: the bytes a LUKS header area takes for create options
// @opts (@prefix "" for the luks format, "encrypt." for qcow2, where only
// encrypt.format=luks has one), after checking the key secret as QEMU does
// ("Parameter 'encrypt.key-secret' is required for cipher").  0 without
// LUKS, -1 with errp set.
int64_t bdrv_measure_luks_header(const QDict &opts, const char *prefix, Error **errp);
// The key secret options the node's format was opened with (name, secret
// id), e.g. {"encrypt.key-secret", "sec0"}: what reopening it needs.
std::vector<std::pair<std::string, std::string>> bdrv_get_secret_opts(BlockDriverState *bs);

// Internal snapshots.  -ENOTSUP when the format has none.
int bdrv_snapshot_list(BlockDriverState *bs, std::vector<QEMUSnapshotInfo> *out);
int coroutine_fn bdrv_co_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn);
// Deletes the snapshot with id @id; QEMU's messages.
int coroutine_fn bdrv_co_snapshot_delete(BlockDriverState *bs, const char *id, Error **errp);
// Reverts the image to the snapshot @id_or_name; QEMU's messages.
int coroutine_fn bdrv_co_snapshot_goto(BlockDriverState *bs, const char *id_or_name, Error **errp);

// qemu-img check: resets @res, then the format checks (and with @fix, a mask
// of BdrvCheckMode, repairs) its metadata.  -ENOTSUP when it cannot.
int coroutine_fn bdrv_co_check(BlockDriverState *bs, BdrvCheckResult *res, int fix);
// qemu-img amend: changes the image's options @opts (names from
// bdrv_driver_amend_opts); progress through @status_cb (may be nullptr).
// "Block driver '<fmt>' does not support option amendment" (-ENOTSUP) for
// formats that cannot.
int coroutine_fn bdrv_co_amend(BlockDriverState *bs, const QDict *opts,
                               BdrvAmendStatusCB *status_cb, void *cb_opaque, bool force,
                               Error **errp);
// Drops every allocation of the image (qemu-img commit); -ENOTSUP when the
// format cannot.
int coroutine_fn bdrv_co_make_empty(BlockDriverState *bs);
// Rewrites the backing file name and format in the image header (nullptr:
// none); -ENOTSUP when the format has no backing files.
int coroutine_fn bdrv_co_change_backing_file(BlockDriverState *bs, const char *backing_file,
                                             const char *backing_fmt);
// Reads through @bs's backing edge (its permissions), i.e. the data of the
// backing chain below @bs.  -ENOENT when @bs has no backing node.
int coroutine_fn bdrv_co_pread_backing(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       void *buf);
