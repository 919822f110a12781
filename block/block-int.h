// Block layer internals for drivers: the BlockDriver table, node state and
// the generic request functions drivers call on their children.  Users
// (tools, devices, the NBD server) include block/block.h instead.
//
// Every bdrv_co_* function is coroutine_fn and runs in the node's
// AioContext thread.  Drivers' open/close/create/truncate entry points are
// also called in coroutine context (the generic layer wraps them), so a
// driver can do child I/O anywhere without its own sync wrappers.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "block/block.h"
#include "coroutine/coroutine.h"
#include "util/util.h"

struct BlockDriverState;
struct BdrvChild;
struct BdrvTrackedRequest;

// ---- blkdebug events (issue 9); drivers emit them at metadata points ---
enum BlkdebugEvent {
    BLKDBG_L1_UPDATE,
    BLKDBG_L1_GROW_ALLOC_TABLE,
    BLKDBG_L1_GROW_WRITE_TABLE,
    BLKDBG_L1_GROW_ACTIVATE_TABLE,
    BLKDBG_L2_LOAD,
    BLKDBG_L2_UPDATE,
    BLKDBG_L2_UPDATE_COMPRESSED,
    BLKDBG_L2_ALLOC_COW_READ,
    BLKDBG_L2_ALLOC_WRITE,
    BLKDBG_READ_AIO,
    BLKDBG_READ_BACKING_AIO,
    BLKDBG_READ_COMPRESSED,
    BLKDBG_WRITE_AIO,
    BLKDBG_WRITE_COMPRESSED,
    BLKDBG_VMSTATE_LOAD,
    BLKDBG_VMSTATE_SAVE,
    BLKDBG_COW_READ,
    BLKDBG_COW_WRITE,
    BLKDBG_REFTABLE_LOAD,
    BLKDBG_REFTABLE_GROW,
    BLKDBG_REFTABLE_UPDATE,
    BLKDBG_REFBLOCK_LOAD,
    BLKDBG_REFBLOCK_UPDATE,
    BLKDBG_REFBLOCK_UPDATE_PART,
    BLKDBG_REFBLOCK_ALLOC,
    BLKDBG_REFBLOCK_ALLOC_HOOKUP,
    BLKDBG_REFBLOCK_ALLOC_WRITE,
    BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS,
    BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE,
    BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE,
    BLKDBG_CLUSTER_ALLOC,
    BLKDBG_CLUSTER_ALLOC_BYTES,
    BLKDBG_CLUSTER_FREE,
    BLKDBG_FLUSH_TO_OS,
    BLKDBG_FLUSH_TO_DISK,
    BLKDBG_PWRITEV_RMW_HEAD,
    BLKDBG_PWRITEV_RMW_AFTER_HEAD,
    BLKDBG_PWRITEV_RMW_TAIL,
    BLKDBG_PWRITEV_RMW_AFTER_TAIL,
    BLKDBG_PWRITEV,
    BLKDBG_PWRITEV_ZERO,
    BLKDBG_PWRITEV_DONE,
    BLKDBG_EMPTY_IMAGE_PREPARE,
    BLKDBG_L1_SHRINK_WRITE_TABLE,
    BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS,
    BLKDBG_COR_WRITE,
    BLKDBG_CLUSTER_ALLOC_SPACE,
    BLKDBG_NONE,
    BLKDBG__MAX
};
// QEMU's event names ("l1_update", "l2_alloc.write", ...), indexed by event.
extern const char *const blkdebug_event_names[BLKDBG__MAX];
// Looks an event up by name; also accepts the old dotted spelling
// ("l2_alloc.write" for "l2_alloc_write").
bool blkdebug_event_from_name(const char *name, BlkdebugEvent *out);

// QEMU's BDRV_MAX_LENGTH: the largest node length and request end
// (INT64_MAX rounded down to 1 GiB); lengths count whole 512-byte sectors.
constexpr int64_t BDRV_MAX_LENGTH = INT64_MAX & ~((int64_t(1) << 30) - 1);
constexpr int64_t BDRV_SECTOR_BYTES = 512;

// ---- the driver table ---------------------------------------------------
struct BlockDriver {
    const char *format_name;
    const char *format_alias = nullptr;   // another name -f/driver= accept
    bool is_format = false;               // qcow2, raw (sits on a protocol node)
    bool is_filter = false;               // blkdebug
    const char *protocol_name = nullptr;  // "file", "nbd": filename prefix
    bool supports_backing = false;
    // A filter whose one data child is not named "file" (blkdebug's
    // "image"): that child, for what looks through filters (block status
    // over the chain), as QEMU's bdrv_filter_bs.
    BlockDriverState *(*bdrv_filtered_bs)(BlockDriverState *bs) = nullptr;

    // Scores a header for format probing (0 = no, 100 = certain).
    int (*bdrv_probe)(const uint8_t *buf, int buf_size, const char *filename) = nullptr;
    // Scores a plain file name for protocol drivers that claim devices
    // (host_device: 100 for a block or character device, 0 = no).
    int (*bdrv_probe_device)(const char *filename) = nullptr;
    // Parses a protocol filename ("nbd://h/e") into options.
    void (*bdrv_parse_filename)(const char *filename, QDict *options, Error **errp) = nullptr;

    int coroutine_fn (*bdrv_co_open)(BlockDriverState *bs, QDict *options, int flags,
                                     Error **errp) = nullptr;
    void coroutine_fn (*bdrv_co_close)(BlockDriverState *bs) = nullptr;
    int coroutine_fn (*bdrv_co_create_opts)(const char *filename, QDict *opts,
                                            Error **errp) = nullptr;
    const CreateOptDesc *create_opts = nullptr;  // terminated by {nullptr}
    // A protocol that cannot create images (nbd, host_device): creating
    // opens the existing node instead, as QEMU's bdrv_co_create_opts_simple
    // (block/create.cc); create_opts is then bdrv_create_opts_simple.
    bool create_opens_existing = false;
    // qemu-img amend: the options an existing image can change (terminated
    // by {nullptr}) and the change; @opts holds only options from that list,
    // values checked against their type (sizes in bytes).
    const CreateOptDesc *amend_opts = nullptr;
    int coroutine_fn (*bdrv_co_amend)(BlockDriverState *bs, const QDict *opts,
                                      BdrvAmendStatusCB *status_cb, void *cb_opaque, bool force,
                                      Error **errp) = nullptr;

    void (*bdrv_refresh_limits)(BlockDriverState *bs, Error **errp) = nullptr;
    // Reopen: switches the node to @flags (BDRV_O_RDWR, BDRV_O_NOCACHE...)
    // while bs->open_flags/read_only still hold the old ones; requests are
    // drained.  On failure the node must be as before.  nullptr: the flags
    // need nothing from the driver.
    int coroutine_fn (*bdrv_co_reopen)(BlockDriverState *bs, int flags, Error **errp) = nullptr;
    // Reopen with driver options (qemu-io reopen -o lazy-refcounts=on):
    // takes from @opts the keys the driver can change at runtime and
    // validates them (@apply false: nothing changes), or, called again
    // after a successful reopen with the same @opts, applies them (drained).
    int coroutine_fn (*bdrv_co_reopen_opts)(BlockDriverState *bs, QDict *opts, bool apply,
                                            Error **errp) = nullptr;

    // @qiov_offset: where in @qiov this request's data starts.
    int coroutine_fn (*bdrv_co_preadv)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov, size_t qiov_offset, int flags) = nullptr;
    int coroutine_fn (*bdrv_co_pwritev)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                        QEMUIOVector *qiov, size_t qiov_offset,
                                        int flags) = nullptr;
    // The VM-state area (savevm data, qemu-io read/write -b), @pos bytes
    // into it; formats that have none leave these null.
    int coroutine_fn (*bdrv_co_load_vmstate)(BlockDriverState *bs, QEMUIOVector *qiov,
                                             int64_t pos) = nullptr;
    int coroutine_fn (*bdrv_co_save_vmstate)(BlockDriverState *bs, QEMUIOVector *qiov,
                                             int64_t pos) = nullptr;
    int coroutine_fn (*bdrv_co_pwritev_compressed)(BlockDriverState *bs, int64_t offset,
                                                   int64_t bytes, QEMUIOVector *qiov,
                                                   size_t qiov_offset) = nullptr;
    int coroutine_fn (*bdrv_co_pwrite_zeroes)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                              int flags) = nullptr;
    int coroutine_fn (*bdrv_co_pdiscard)(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes) = nullptr;
    // Copy offloading (QEMU's bdrv_co_copy_range): copy @bytes from @src at
    // @src_offset to @dst at @dst_offset without passing the data through
    // our memory.  _from is called on the source node (src->bs == bs): a
    // format translates the range to its children and calls
    // bdrv_co_copy_range_from on them again; a protocol hands over to the
    // destination with bdrv_co_copy_range_to.  _to is called on the
    // destination node (dst->bs == bs), translates likewise, and the
    // protocol that owns both ends copies.  -ENOTSUP: the caller falls back
    // to read + write (nothing visible was changed, or what was is
    // rewritten by that fallback).
    int coroutine_fn (*bdrv_co_copy_range_from)(BlockDriverState *bs, BdrvChild *src,
                                                int64_t src_offset, BdrvChild *dst,
                                                int64_t dst_offset, int64_t bytes, int read_flags,
                                                int write_flags) = nullptr;
    int coroutine_fn (*bdrv_co_copy_range_to)(BlockDriverState *bs, BdrvChild *src,
                                              int64_t src_offset, BdrvChild *dst,
                                              int64_t dst_offset, int64_t bytes, int read_flags,
                                              int write_flags) = nullptr;
    // Flush this node's own caches/metadata to its children (to_os), then
    // the file's data to stable storage (to_disk, protocol drivers).
    int coroutine_fn (*bdrv_co_flush_to_os)(BlockDriverState *bs) = nullptr;
    int coroutine_fn (*bdrv_co_flush_to_disk)(BlockDriverState *bs) = nullptr;
    // Returns BDRV_BLOCK_* flags for [offset, offset + *pnum) where *pnum <=
    // bytes; *map and *file describe where data lives when OFFSET_VALID.
    int coroutine_fn (*bdrv_co_block_status)(BlockDriverState *bs, bool want_zero, int64_t offset,
                                             int64_t bytes, int64_t *pnum, int64_t *map,
                                             BlockDriverState **file) = nullptr;
    int coroutine_fn (*bdrv_co_truncate)(BlockDriverState *bs, int64_t offset, bool exact,
                                         PreallocMode prealloc, Error **errp) = nullptr;
    int64_t coroutine_fn (*bdrv_co_getlength)(BlockDriverState *bs) = nullptr;
    int64_t coroutine_fn (*bdrv_co_get_allocated_file_size)(BlockDriverState *bs) = nullptr;

    int (*bdrv_get_info)(BlockDriverState *bs, BlockDriverInfo *bdi) = nullptr;
    // JSON object {"type": fmt, "data": {...}} for qemu-img info.
    JsonNode *(*bdrv_get_specific_info)(BlockDriverState *bs, Error **errp) = nullptr;
    int coroutine_fn (*bdrv_co_check)(BlockDriverState *bs, BdrvCheckResult *result,
                                      int fix) = nullptr;
    int coroutine_fn (*bdrv_co_change_backing_file)(BlockDriverState *bs, const char *backing_file,
                                                    const char *backing_fmt) = nullptr;
    int coroutine_fn (*bdrv_co_make_empty)(BlockDriverState *bs) = nullptr;

    int (*bdrv_snapshot_list)(BlockDriverState *bs, std::vector<QEMUSnapshotInfo> *out) = nullptr;
    int coroutine_fn (*bdrv_co_snapshot_create)(BlockDriverState *bs,
                                                QEMUSnapshotInfo *sn) = nullptr;
    int coroutine_fn (*bdrv_co_snapshot_delete)(BlockDriverState *bs, const char *id_or_name,
                                                Error **errp) = nullptr;
    int coroutine_fn (*bdrv_co_snapshot_goto)(BlockDriverState *bs,
                                              const char *id_or_name) = nullptr;
    // Makes a read-only node read the snapshot matching @id and/or @name
    // (nullptr: not compared) instead of the active image until it closes
    // (qemu-img convert -l).  -ENOENT with "Can't find snapshot" if none.
    int coroutine_fn (*bdrv_co_snapshot_load_tmp)(BlockDriverState *bs, const char *id,
                                                  const char *name, Error **errp) = nullptr;
    // Persistent dirty bitmaps (block/dirty-bitmap.h): whether the image can
    // hold them, whether a new one fits (QEMU's messages), and removing one
    // from the image at once.  nullptr: the format has none.
    bool (*bdrv_supports_persistent_dirty_bitmap)(BlockDriverState *bs) = nullptr;
    bool coroutine_fn (*bdrv_co_can_store_new_dirty_bitmap)(BlockDriverState *bs, const char *name,
                                                            uint32_t granularity,
                                                            Error **errp) = nullptr;
    int coroutine_fn (*bdrv_co_remove_persistent_dirty_bitmap)(BlockDriverState *bs,
                                                               const char *name,
                                                               Error **errp) = nullptr;

    // blkdebug hook: called by BLKDBG_EVENT on a filter above.
    // A request coroutine emits the event; blkdebug may suspend it there.
    void coroutine_fn (*bdrv_debug_event)(BlockDriverState *bs, BlkdebugEvent event) = nullptr;
    // blkdebug breakpoints (qemu-io break/resume/wait_break/remove_break):
    // a request that emits @event is suspended in its coroutine under @tag
    // until resumed.  The generic bdrv_debug_* below walk down the primary
    // children to the first node implementing them.  Return 0 or -errno
    // (-ENOENT: no such event/tag).
    int (*bdrv_debug_breakpoint)(BlockDriverState *bs, const char *event,
                                 const char *tag) = nullptr;
    int (*bdrv_debug_remove_breakpoint)(BlockDriverState *bs, const char *tag) = nullptr;
    int (*bdrv_debug_resume)(BlockDriverState *bs, const char *tag) = nullptr;
    bool (*bdrv_debug_is_suspended)(BlockDriverState *bs, const char *tag) = nullptr;

    // Permissions this node needs on @child given what its own parents use
    // (@perm) and share (@shared).  Default (nullptr): bdrv_default_child_perm,
    // which treats "file" as a metadata child of a format (needs WRITE|RESIZE
    // when writable, shares neither) and "backing" as read-only.
    void (*bdrv_child_perm)(BlockDriverState *bs, BdrvChild *child, uint64_t perm, uint64_t shared,
                            uint64_t *nperm, uint64_t *nshared) = nullptr;
    // Protocol drivers: checks and applies the node's cumulative permissions
    // (file-posix takes QEMU-compatible OFD lock bytes here).  On failure
    // nothing changed and errp says why.
    int (*bdrv_set_perm)(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                         Error **errp) = nullptr;
    // Option keys bdrv_co_open accepts (nullptr-terminated).  When set, the
    // generic layer refuses other keys with QEMU's "does not support the
    // option" message; when nullptr the driver checks its own options.
    const char *const *runtime_opts = nullptr;
};

// The one check for a node without a driver behind the public operations:
// false (with "Device '' has no medium") when @bs has none.
bool bdrv_has_medium(BlockDriverState *bs, Error **errp);

// ---- graph -------------------------------------------------------------

struct BdrvChild {
    BlockDriverState *bs = nullptr;       // the child node
    BlockDriverState *parent = nullptr;   // nullptr for a BlockBackend's root
    std::string name;                     // "file", "backing", "image"
    uint64_t perm = 0;                    // what this parent does
    uint64_t shared_perm = BLK_PERM_ALL;  // what it lets others do
};

struct BlockDriverState {
    const BlockDriver *drv = nullptr;
    void *opaque = nullptr;  // the driver's state, owned by the driver
    // Set by bdrv_disable_node() when a format finds fatal corruption: the
    // node then answers every request with ENOMEDIUM, as QEMU's node whose
    // drv it sets to NULL.  The driver stays attached so that close can
    // free its state (without writing anything back).
    bool disabled = false;
    int refcnt = 0;
    int open_flags = 0;  // BDRV_O_*
    bool read_only = true;
    std::string filename;  // what the user named
    std::string node_name;
    std::string backing_file;  // as recorded in the image
    std::string backing_format;
    std::string full_backing_filename;  // resolved relative to filename

    BdrvChild *file = nullptr;
    BdrvChild *backing = nullptr;
    std::vector<BdrvChild *> children;
    std::vector<BdrvChild *> parents;

    BlockLimits bl;
    int supported_write_flags = 0;  // BDRV_REQ_FUA when the driver honours it
    int supported_zero_flags = 0;   // BDRV_REQ_MAY_UNMAP / NO_FALLBACK
    int64_t total_bytes = 0;        // cached length (drivers keep it current)

    AioContext *ctx = nullptr;
    unsigned in_flight = 0;
    // Writes, zero writes and discards finished on this node (whether they
    // failed or not), and the count the last successful flush covered: as
    // QEMU, a flush with nothing new since the last one skips flush_to_disk.
    uint64_t write_gen = 0;
    uint64_t flushed_gen = 0;
    BdrvTrackedRequest *tracked_requests = nullptr;
    CoQueue drain_queue;
    int detect_zeroes = 0;  // BlockdevDetectZeroes
    bool copy_on_read = false;
    bool encrypted = false;  // the format encrypts its data (qemu-img info: "encrypted: yes")
    // The key secret options the format was opened with ("encrypt.key-secret"
    // = id), so that tools reopening the image (commit) can unlock it again.
    std::vector<std::pair<std::string, std::string>> secret_opts;
    // Dirty bitmaps of this node, newest first (block/dirty-bitmap.cc).
    std::vector<BdrvDirtyBitmap *> dirty_bitmaps;

    bool probed = false;                 // format chosen by probing (raw restricts sector 0)
    bool force_share = false;            // -U: share every permission, take no locks
    int quiesce_counter = 0;             // > 0 while drained: new requests wait in drain_queue
    uint64_t cum_perm = 0;               // union of parents' perm
    uint64_t cum_shared = BLK_PERM_ALL;  // intersection of parents' shared
};

// Tracked request (generic request path): overlapping serialising requests
// wait for each other.
struct BdrvTrackedRequest {
    BlockDriverState *bs;
    int64_t offset, bytes;
    bool serialising;
    int64_t overlap_offset, overlap_bytes;
    Coroutine *co;
    CoQueue wait_queue;
    BdrvTrackedRequest *next, *prev;
    bool waiting;  // in wait_serialising: others need not wait for it
};

// The default child permission policy (see BlockDriver::bdrv_child_perm).
void bdrv_default_child_perm(BlockDriverState *bs, BdrvChild *child, uint64_t perm, uint64_t shared,
                             uint64_t *nperm, uint64_t *nshared);
// Names of permissions as QEMU prints them ("write", "consistent read").
const char *bdrv_perm_name(uint64_t perm_bit);

// Drain: waits for @bs's (and its children's) in-flight requests; new
// requests wait until drained_end.  Plain code or coroutine.
void bdrv_drained_begin(BlockDriverState *bs);
void bdrv_drained_end(BlockDriverState *bs);
void coroutine_mixed_fn bdrv_drain(BlockDriverState *bs);

// Probing: the format driver whose probe scores @buf highest (raw if none).
const BlockDriver *bdrv_probe_all(const uint8_t *buf, int buf_size, const char *filename);
enum { BLOCK_PROBE_BUF_SIZE = 2048 };

// Driver registration: block/drivers.cc lists every driver.
void bdrv_register(BlockDriver *drv);

// Opens @filename with @options into a child of @parent named @child_name.
// @options entries prefixed "<child_name>." are extracted for the child.
BdrvChild *coroutine_fn bdrv_co_open_child(const char *filename, QDict *options,
                                           const char *child_name, BlockDriverState *parent,
                                           bool is_format_child, int flags, Error **errp);
void coroutine_fn bdrv_co_unref_child(BlockDriverState *parent, BdrvChild *child);
// Opens the backing chain described by bs->backing_file/backing_format.
int coroutine_fn bdrv_co_open_backing(BlockDriverState *bs, QDict *options, Error **errp);
// The backing file name resolved against the directory of the image that
// records it (QEMU's full backing filename).
std::string bdrv_backing_path(const BlockDriverState *bs);

// ---- child I/O (generic request path: alignment, splitting, tracking) ---
int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                                int flags);
int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset, int64_t bytes,
                                     QEMUIOVector *qiov, size_t qiov_offset, int flags);
int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, int flags);
int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qiov_offset, int flags);
// Buffer forms: return 0 on success (full transfer) or -errno.
int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset, int64_t bytes, void *buf,
                               int flags);
int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset, int64_t bytes, const void *buf,
                                int flags);
// pwrite followed by a flush of the child (metadata updates).
int coroutine_fn bdrv_co_pwrite_sync(BdrvChild *child, int64_t offset, int64_t bytes,
                                     const void *buf, int flags);
int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset, int64_t bytes, int flags);
int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset, int64_t bytes);
// Copy offloading through the graph (block/copy-range.cc): checks both
// ends and calls the source's (from) or destination's (to) driver.
// -ENOTSUP when a node on the way cannot offload.
int coroutine_fn bdrv_co_copy_range_from(BdrvChild *src, int64_t src_offset, BdrvChild *dst,
                                         int64_t dst_offset, int64_t bytes, int read_flags,
                                         int write_flags);
int coroutine_fn bdrv_co_copy_range_to(BdrvChild *src, int64_t src_offset, BdrvChild *dst,
                                       int64_t dst_offset, int64_t bytes, int read_flags,
                                       int write_flags);
int coroutine_fn bdrv_co_flush(BlockDriverState *bs);
int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset, bool exact,
                                  PreallocMode prealloc, Error **errp);

// The create options of a driver with create_opens_existing: size and
// preallocation (only "off").
extern const CreateOptDesc bdrv_create_opts_simple[];

// Marks [offset, offset + bytes) dirty in every enabled bitmap of @bs
// (the generic request path calls it after each write, zero write and
// discard that reached the driver).
void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes);

// Emits a blkdebug event on @child's node: nothing unless a blkdebug filter
// sits there, which may suspend the calling request at a breakpoint (it
// yields), hence coroutine context only.
void coroutine_fn bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event);
#define BLKDBG_EVENT(child, evt)                         \
    do {                                                 \
        if (child) bdrv_debug_event((child)->bs, (evt)); \
    } while (0)

// Reopens @bs and the nodes that inherit its flags (file and filter
// children, not backing) with @flags: read-only <-> read-write, O_DIRECT,
// no-flush.  Nodes losing write access flush first.  All or nothing.
// Permissions are the caller's (blk_reopen adjusts the root's).
int coroutine_fn bdrv_co_reopen(BlockDriverState *bs, int flags, Error **errp);

// Creation helpers for drivers' create: make a file via the protocol driver.
int coroutine_fn bdrv_co_create_file(const char *filename, QDict *opts, Error **errp);
// Opens the protocol node of a file just made by bdrv_co_create_file, read-
// write with every permission, for a format that writes its initial
// metadata through the block layer (a file that is not local: ssh://).
// The returned child has no parent; release it with
// bdrv_co_close_created_file.  nullptr with errp set on failure.
BdrvChild *coroutine_fn bdrv_co_open_created_file(const char *filename, Error **errp);
void coroutine_fn bdrv_co_close_created_file(BdrvChild *c);

// The node has a usable driver: not closed, not disabled by fatal corruption.
inline bool bdrv_node_usable(const BlockDriverState *bs) { return bs->drv && !bs->disabled; }
// Stops a node after fatal corruption (see BlockDriverState::disabled).
inline void bdrv_disable_node(BlockDriverState *bs) { bs->disabled = true; }
