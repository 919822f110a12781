// qcow-lite: the qcow2 format driver's private state and internal API.
//
// Locking: every field below the "metadata" line is guarded by s->lock (a
// CoMutex) and touched only by coroutines of the node's AioContext.  Guest
// data I/O runs with the lock released; allocating writes register their
// guest cluster range in s->inflight so that overlapping writers wait.
//
// Crash-safety ordering (see docs/qcow-lite.md): data and refcount blocks
// reach the disk before the L2 entries pointing at them (the L2 cache
// depends on a flush of the refblock cache and of the file), and a new L2
// table reaches the disk before the L1 entry pointing at it.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "block/block-int.h"
#include "block/qcow2/qcow2-format-int.h"
#include "crypto/block-crypto.h"

struct Qcow2Cache;

// Why clusters are freed, for discard passthrough (QEMU's qcow2_discard_type
// and its pass-discard-request/-snapshot/-other options).
enum class Qcow2DiscardType {
    Never,     // a cluster replaced by a write, an aborted allocation
    Always,    // shrink, repair
    Request,   // guest discard and write-zeroes with unmap
    Snapshot,  // snapshot deletion and the tables snapshots use
    Other,     // metadata replaced by a copy (old L1/L2/refcount tables)
    Count,
};

// A guest cluster range being allocated (data written, L2 not yet updated).
struct Qcow2InflightAlloc {
    uint64_t first_cluster;  // guest cluster index
    uint64_t nb_clusters;
};

struct BDRVQcow2State {
    Qcow2Geometry g;
    Qcow2Header hdr;  // as on disk (kept current by qcow2_update_header)
    uint64_t cluster_size = 0;

    // ---- metadata (s->lock) --------------------------------------------
    CoMutex lock;
    std::vector<uint64_t> l1_table;        // host-endian copy of the active L1
    std::vector<uint64_t> refcount_table;  // host-endian copy
    // Entries at or past this index are zero (an upper bound: it only grows
    // while the image is open), so the per-write overlap check does not
    // walk the whole, mostly empty, table.
    uint64_t reft_used_end = 0;
    Qcow2Cache *l2_cache = nullptr;
    Qcow2Cache *refblock_cache = nullptr;
    uint64_t free_cluster_index = 0;  // no free cluster below this index
    uint64_t free_byte_offset = 0;    // tail of the last compressed cluster
    std::list<Qcow2InflightAlloc> inflight;
    CoQueue inflight_wait;
    std::vector<Qcow2Snapshot> snapshots;
    uint64_t snapshots_size = 0;  // bytes of the snapshot table

    QDict runtime_opts;           // runtime options as given (joined over reopens)
    bool lazy_refcounts = false;  // option lazy-refcounts (default: the compat bit)
    bool dirty_marked = false;    // dirty bit written for this session
    bool corrupt_reported = false;
    // Indexed by Qcow2DiscardType: whether freeing passes a discard down.
    bool discard_passthrough[(int)Qcow2DiscardType::Count] = {false, true, false, true, false};
    bool metadata_prealloc = false;  // see qcow2_detect_metadata_prealloc
    bool metadata_prealloc_checked = false;
    // A snapshot's L1 replaced the active one (qcow2-snapshot-tmp.cc): the
    // node must stay read-only.
    bool snapshot_tmp_loaded = false;
    // Encryption (qcow2-crypto.cc): the unlocked block, and where the LUKS
    // header lives in the image file (0/0 for legacy AES or none).
    QCryptoBlock *crypto = nullptr;
    uint64_t crypto_hdr_offset = 0;
    uint64_t crypto_hdr_length = 0;
    // Where guest data lives (qcow2-data-file.cc): bs->file, or the external
    // data file child ("data-file") when the image has the data file bit;
    // nullptr only while opened without I/O (BDRV_O_NO_IO), when QEMU does
    // not open it either.
    BdrvChild *data_file = nullptr;
};

// Whether the image keeps its guest data in an external data file: host
// offsets in L2 entries are then offsets into that file, equal to the guest
// offsets, and data clusters have no refcounts.
static inline bool qcow2_has_data_file(const BDRVQcow2State *s)
{
    return s->hdr.incompatible_features & QCOW2_INCOMPAT_DATA_FILE;
}
// data_file_raw: the data file must stay a valid raw image of the guest.
static inline bool qcow2_data_file_is_raw(const BDRVQcow2State *s)
{
    return s->hdr.autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW;
}
// The type of L2 entry @e in this image (offset 0 is a valid data cluster
// in an external data file; the COPIED flag tells it from unallocated).
static inline Qcow2ClusterType qcow2_entry_type(const BDRVQcow2State *s, uint64_t e)
{
    return qcow2_l2_entry_type(e, (int)s->hdr.version, qcow2_has_data_file(s));
}

static inline BDRVQcow2State *qcow2_state(BlockDriverState *bs)
{
    return (BDRVQcow2State *)bs->opaque;
}

// False while the image's dirty bit is set: refcounts may then lag on disk
// (lazy refcounts) and the next read/write open repairs them.
static inline bool qcow2_need_accurate_refcounts(const BDRVQcow2State *s)
{
    return !(s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY);
}

// Sets refcount table entry @ri (keeps reft_used_end an upper bound).
static inline void qcow2_reft_set(BDRVQcow2State *s, uint64_t ri, uint64_t entry)
{
    s->refcount_table[ri] = entry;
    if (entry && ri >= s->reft_used_end) s->reft_used_end = ri + 1;
}
// Recomputes reft_used_end after the whole table was replaced.
void qcow2_reft_rescan(BDRVQcow2State *s);

// ---- qcow2.cc: open/close/header --------------------------------------------
int coroutine_fn qcow2_update_header(BlockDriverState *bs);
int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs);
int coroutine_fn qcow2_mark_clean(BlockDriverState *bs);
// Reports metadata corruption like QEMU and returns -EIO.  On a node opened
// read-write it is fatal ("qcow2: Marking image as corrupt: <msg>; further
// corruption events will be suppressed"): the corrupt bit is set (v3) and
// the node stops (every later request fails with ENOMEDIUM).  On a
// read-only node: "qcow2: Image is corrupt: <msg>; further non-fatal ...".
int coroutine_fn qcow2_signal_corruption(BlockDriverState *bs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// The same, never fatal (QEMU's "Cannot free unaligned cluster").
int coroutine_fn qcow2_signal_corruption_nonfatal(BlockDriverState *bs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int coroutine_fn qcow2_flush_caches(BlockDriverState *bs);
// Makes the node unusable, as QEMU's `bs->drv = NULL`: the state is freed
// without writing anything, and every later request fails with ENOMEDIUM.
// Only for metadata that no longer matches the disk; s->lock not held.
void qcow2_eject(BlockDriverState *bs);
// Reads @n big-endian 64-bit entries at @off of the image file into @out,
// host order (L1 tables, the refcount table).  @out has @n entries, zero
// until the read succeeds.
int coroutine_fn qcow2_read_table(BlockDriverState *bs, uint64_t off, uint64_t n,
                                  std::vector<uint64_t> *out);

// ---- qcow2-options.cc -------------------------------------------------------
struct Qcow2RuntimeOpts {
    int l2_tables = 2;  // cluster-sized tables
    int rb_tables = 4;
    bool lazy_refcounts = false;
    bool discard_request = false;
    bool discard_snapshot = true;
    bool discard_other = false;
};
// Applies the discard options of @r to s->discard_passthrough.
void qcow2_apply_discard_opts(BDRVQcow2State *s, const Qcow2RuntimeOpts &r);
// Moves qcow2's runtime options out of @options.
QDict qcow2_take_runtime_opts(QDict *options);
// QEMU's qcow2_join_options: @old's options that @opts does not override.
void qcow2_join_runtime_opts(QDict *opts, const QDict &old);
// Validates runtime options @o (QEMU's messages and order) into @r;
// defaults from the image and @flags.  No side effects.
int qcow2_parse_runtime_opts(BlockDriverState *bs, const QDict &o, int flags, Qcow2RuntimeOpts *r,
                             Error **errp);
// BlockDriver.bdrv_co_reopen_opts: takes the runtime options from @opts,
// validates them joined with the current ones, and with @apply changes
// them (lazy refcounts off marks the image clean; new cache sizes flush and
// replace the caches).
int coroutine_fn qcow2_co_reopen_opts(BlockDriverState *bs, QDict *opts, bool apply, Error **errp);

// ---- qcow2-cache.cc -------------------------------------------------------
// A write-back cache of cluster-sized tables (L2 tables or refcount blocks).
// Entries are pinned between get and put; only unpinned entries are evicted.
Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int nb_tables, bool is_l2);
void qcow2_cache_destroy(Qcow2Cache *c);
// Before writing any dirty table of @c, flush @dep (and the file).
void qcow2_cache_set_dependency(Qcow2Cache *c, Qcow2Cache *dep);
int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                                 void **table);
int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                                       void **table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table);
// Writes every dirty table (after the dependency); does not flush the file.
int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c);
// qcow2_cache_write + flush of the file.
int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
// Forgets a table whose cluster was freed (its contents are dropped).
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset);
// Drops every clean table (after make_empty/repair rewrote tables on disk).
void qcow2_cache_empty(Qcow2Cache *c);
// Drops every unpinned table, dirty ones too (their updates are abandoned:
// the refcount structure is being rebuilt).
void qcow2_cache_clear(Qcow2Cache *c);
int qcow2_cache_size(Qcow2Cache *c);

// ---- qcow2-refcount.cc ------------------------------------------------------
int coroutine_fn qcow2_refcount_init(BlockDriverState *bs);
// Name of the metadata structure overlapping [off, off+len) ("qcow2_header",
// "active L1 table", "refcount table", "refcount block", and with @l2
// "active L2 table"), or nullptr.  The L2 scan is linear in the L1 size, so
// the guest write path checks without it.
const char *qcow2_metadata_overlap(BDRVQcow2State *s, uint64_t off, uint64_t len, bool l2);
int coroutine_fn qcow2_get_refcount(BlockDriverState *bs, uint64_t cluster_index,
                                    uint64_t *refcount);
// Whether noticeably more clusters are in use than the file has allocated
// (metadata preallocation: data clusters may sit in holes of the file, so
// block status asks the file too).  QEMU's heuristic, same threshold, so
// `map` agrees with qemu-img.  Called with s->lock held.
int coroutine_fn qcow2_detect_metadata_prealloc(BlockDriverState *bs);
// Adds @addend (may be negative) to the refcount of every cluster that
// overlaps [offset, offset+length).  Freed clusters are dropped from the
// caches and, when discards of @type pass through, discarded in the file.
int coroutine_fn qcow2_update_refcount(BlockDriverState *bs, uint64_t offset, uint64_t length,
                                       int64_t addend,
                                       Qcow2DiscardType type = Qcow2DiscardType::Never);
// QEMU's qcow2_free_clusters: drops one reference from every cluster in
// [offset, offset+length) where a failure can only leak them; the failure
// is reported on stderr in QEMU's words, not returned.
void coroutine_fn qcow2_free_clusters(BlockDriverState *bs, uint64_t offset, uint64_t length,
                                      Qcow2DiscardType type);
// qcow2-refcount-order.cc: rewrites the refcount structures with entries
// of 2^@order bits (amend refcount_bits); @cb reports progress.  Fails with
// QEMU's messages when a refcount does not fit.
int coroutine_fn qcow2_change_refcount_order(BlockDriverState *bs, int order, BdrvAmendStatusCB *cb,
                                             void *opaque, Error **errp);
// Sets one cluster's refcount to @value (repair).
int coroutine_fn qcow2_set_refcount(BlockDriverState *bs, uint64_t cluster_index, uint64_t value);
// Allocates @n contiguous clusters (refcount 1 each); returns the host
// offset or -errno.  A run overlapping metadata (refcounts of used
// clusters are zero) marks the image corrupt; @l2_table: for an L2 table
// (only the message differs).
int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs, uint64_t n, bool l2_table = false);
// Allocates @size bytes (< cluster) for compressed data, possibly sharing a
// cluster with earlier compressed data.
int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, uint64_t size);
// Frees what an L2 entry references (normal, zero-allocated or compressed).
int coroutine_fn qcow2_free_l2_entry(BlockDriverState *bs, uint64_t entry, Qcow2DiscardType type);

// ---- qcow2-cluster.cc -------------------------------------------------------
// One run of guest clusters that map alike: same type and, for normal
// clusters, contiguous host offsets with the same COPIED flag.
struct Qcow2Mapping {
    Qcow2ClusterType type;
    uint64_t host_offset;  // host offset of the request's first byte (normal/zero-alloc)
    uint64_t l2_entry;     // first cluster's raw entry
    uint64_t bytes;        // length of the run (from the request offset)
};
int coroutine_fn qcow2_get_mapping(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                                   Qcow2Mapping *m);
// Replaces the L2 entries of @n guest clusters from @guest_offset (cluster
// aligned, within one L2 table) with @new_entry + i * cluster_size for
// allocated types (or @new_entry as is when @same), returning the previous
// entries in @old.  Allocates/COWs the L2 table as needed.
int coroutine_fn qcow2_set_l2_entries(BlockDriverState *bs, uint64_t guest_offset, uint64_t n,
                                      uint64_t new_entry, bool same, std::vector<uint64_t> *old);
// Makes sure the L2 table covering @guest_offset exists and is not shared
// (allocating or copying it), before an allocating write takes its data
// clusters.
int coroutine_fn qcow2_prepare_l2_table(BlockDriverState *bs, uint64_t guest_offset);
int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size);
// What qcow2_discard_clusters leaves behind in each cluster.
enum class Qcow2DiscardMode {
    Discard,        // guest discard: reads zero afterwards (v3), or backing (v2)
    Deallocate,     // entry cleared: reads fall through to the backing file
    Zero,           // zero cluster, host cluster freed
    ZeroKeepAlloc,  // zero flag on an allocated cluster, host cluster kept
};
int coroutine_fn qcow2_discard_clusters(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                                        Qcow2DiscardMode mode, Qcow2DiscardType type);

// Whether the active tree maps any compressed cluster.
int coroutine_fn qcow2_has_compressed_clusters(BlockDriverState *bs, bool *found);

// ---- qcow2-amend.cc ---------------------------------------------------------
extern const CreateOptDesc *qcow2_amend_opts;
// BlockDriver.bdrv_co_amend (qemu-img amend -o): takes s->lock.
int coroutine_fn qcow2_co_amend(BlockDriverState *bs, const QDict *opts,
                                BdrvAmendStatusCB *status_cb, void *cb_opaque, bool force,
                                Error **errp);

// ---- qcow2-io.cc ------------------------------------------------------------
int coroutine_fn qcow2_co_preadv_part(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qiov_offset, int flags);
int coroutine_fn qcow2_co_pwritev_part(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov, size_t qiov_offset, int flags);
int coroutine_fn qcow2_co_pwritev_compressed(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov, size_t qiov_offset);
int coroutine_fn qcow2_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                        int flags);
int coroutine_fn qcow2_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes);
int coroutine_fn qcow2_co_load_vmstate(BlockDriverState *bs, QEMUIOVector *qiov, int64_t pos);
int coroutine_fn qcow2_co_save_vmstate(BlockDriverState *bs, QEMUIOVector *qiov, int64_t pos);
// ---- qcow2-copy-range.cc ------------------------------------------------------
int coroutine_fn qcow2_co_copy_range_from(BlockDriverState *bs, BdrvChild *src, int64_t src_offset,
                                          BdrvChild *dst, int64_t dst_offset, int64_t bytes,
                                          int read_flags, int write_flags);
int coroutine_fn qcow2_co_copy_range_to(BlockDriverState *bs, BdrvChild *src, int64_t src_offset,
                                        BdrvChild *dst, int64_t dst_offset, int64_t bytes,
                                        int read_flags, int write_flags);
int coroutine_fn qcow2_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                                       int64_t bytes, int64_t *pnum, int64_t *map,
                                       BlockDriverState **file);
// Waits while any allocation overlaps guest clusters [first, first + n);
// then registers one (caller holds s->lock).
void coroutine_fn qcow2_inflight_begin(BDRVQcow2State *s, uint64_t first, uint64_t n);
void qcow2_inflight_end(BDRVQcow2State *s, uint64_t first);

// ---- qcow2-compress.cc ------------------------------------------------------
// Compresses one cluster; returns the compressed size, or -ENOSPC when it
// would not be smaller than @out_len.
int64_t qcow2_compress(Qcow2CompressionType t, void *out, size_t out_len, const void *in,
                       size_t in_len);
// Decompresses exactly @out_len bytes; extra input is ignored.
int qcow2_decompress(Qcow2CompressionType t, void *out, size_t out_len, const void *in,
                     size_t in_len);
// The same in a thread-pool worker (inline for small clusters); the
// coroutine yields meanwhile.  The buffers must stay valid until it returns.
int64_t coroutine_fn qcow2_co_compress(Qcow2CompressionType t, void *out, size_t out_len,
                                       const void *in, size_t in_len);
int coroutine_fn qcow2_co_decompress(Qcow2CompressionType t, void *out, size_t out_len,
                                     const void *in, size_t in_len);
// Compresses @n whole clusters of @in into the same slots of @out, all in
// parallel in pool workers; csize[i]: compressed size or -ENOSPC.
void coroutine_fn qcow2_co_compress_clusters(Qcow2CompressionType t, size_t cluster_size, int n,
                                             uint8_t *out, const uint8_t *in, int64_t *csize);

// ---- qcow2-check.cc ---------------------------------------------------------
int coroutine_fn qcow2_co_check(BlockDriverState *bs, BdrvCheckResult *res, int fix);
int coroutine_fn qcow2_check_locked(BlockDriverState *bs, BdrvCheckResult *res, int fix);

// ---- qcow2-check-rebuild.cc ------------------------------------------------
// Writes a new refcount structure holding @refs (refcounts per cluster, as
// a check computed them; new blocks and table are counted in it too) and
// switches the header to it.  The old table and blocks are left as leaks.
// Messages on stderr as QEMU's; caller holds s->lock.
int coroutine_fn qcow2_rebuild_refcount_structure(BlockDriverState *bs,
                                                  std::vector<uint64_t> *refs);

// ---- qcow2-check-bitmaps.cc -------------------------------------------------
// Calls @count, in QEMU's order, for each host region the persistent bitmaps
// use (directory, then each bitmap's table and its data clusters), for none
// unless the autoclear bitmaps bit is set.  A broken extension, directory or
// table is reported on stderr and counted as a corruption, and then returns
// -EINVAL as QEMU's check does (regions met before it are counted).
typedef void Qcow2CountFn(void *opaque, uint64_t offset, uint64_t size);
int coroutine_fn qcow2_check_bitmaps(BlockDriverState *bs, BdrvCheckResult *res,
                                     Qcow2CountFn *count, void *opaque);

// ---- qcow2-create.cc --------------------------------------------------------
extern const CreateOptDesc qcow2_create_opts[];
int coroutine_fn qcow2_co_create_opts(const char *filename, QDict *opts, Error **errp);

// ---- qcow2-snapshot.cc -------------------------------------------------------
int coroutine_fn qcow2_read_snapshots(BlockDriverState *bs, Error **errp);
int qcow2_snapshot_list(BlockDriverState *bs, std::vector<QEMUSnapshotInfo> *out);

// ---- qcow2-snapshot-ops.cc ---------------------------------------------------
// Writes the snapshot table anew (every entry with the v3 extra data);
// s->lock held.
int coroutine_fn qcow2_rewrite_snapshot_table(BlockDriverState *bs);
// Internal snapshot entry points (BlockDriver).  Callers keep guest I/O
// quiet while they run; each takes s->lock.  goto and delete look up
// @id_or_name as an id first, then as a name (QEMU's order).
int coroutine_fn qcow2_co_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn);
int coroutine_fn qcow2_co_snapshot_goto(BlockDriverState *bs, const char *id_or_name);
int coroutine_fn qcow2_co_snapshot_delete(BlockDriverState *bs, const char *id_or_name,
                                          Error **errp);

// ---- qcow2-snapshot-tmp.cc ---------------------------------------------------
int coroutine_fn qcow2_co_snapshot_load_tmp(BlockDriverState *bs, const char *id, const char *name,
                                            Error **errp);

// ---- qcow2-make-empty.cc -----------------------------------------------------
// BlockDriver.bdrv_co_make_empty (takes s->lock).  A failure that leaves the
// on-disk refcounts unlike memory ejects the node (qcow2_eject).
int coroutine_fn qcow2_co_make_empty(BlockDriverState *bs);

// ---- qcow2-resize.cc ---------------------------------------------------------
int coroutine_fn qcow2_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                                   PreallocMode prealloc, Error **errp);
// Allocates zero-reading host clusters for the unallocated guest clusters of
// [from, to) (preallocation=metadata|falloc|full).  Caller holds s->lock.
int coroutine_fn qcow2_preallocate(BlockDriverState *bs, uint64_t from, uint64_t to,
                                   PreallocMode mode);
int coroutine_fn qcow2_co_change_backing_file(BlockDriverState *bs, const char *backing_file,
                                              const char *backing_fmt);

// ---- qcow2-crypto.cc --------------------------------------------------------
// Create: takes encrypt.* / encryption from @opts; *method 0 (none),
// QCOW2_CRYPT_AES or QCOW2_CRYPT_LUKS with @co filled.  QEMU's messages.
int qcow2_crypto_create_opts(QDict *opts, uint32_t *method, QCryptoBlockCreateOptions *co,
                             Error **errp);
// Makes the LUKS header area (payload-offset bytes) for a new image; for
// AES only checks the secret.
int qcow2_crypto_create_header(const QCryptoBlockCreateOptions &co, std::vector<uint8_t> *hdr,
                               Error **errp);
// Open: checks encrypt.format against the header, reads the LUKS header
// through the extension and unlocks it with encrypt.key-secret (not with
// BDRV_O_NO_IO).  Nothing for unencrypted images.
int coroutine_fn qcow2_crypto_open(BlockDriverState *bs, QDict *options, int flags, Error **errp);
void qcow2_crypto_close(BDRVQcow2State *s);
// Data of a normal cluster run at @host (guest offset @guest), decrypted /
// encrypted through a bounce buffer.  Sector aligned.
int coroutine_fn qcow2_crypto_co_read(BlockDriverState *bs, uint64_t host, uint64_t guest,
                                      uint64_t bytes, QEMUIOVector *qiov, size_t qoff);
int coroutine_fn qcow2_crypto_co_write(BlockDriverState *bs, uint64_t host, uint64_t guest,
                                       uint64_t bytes, QEMUIOVector *qiov, size_t qoff);
// "encrypt": {...} of qemu-img info (nothing when not encrypted).
void qcow2_crypto_add_info(BlockDriverState *bs, JsonBuilder *b);

// ---- qcow2-data-file.cc -------------------------------------------------------
// The name recorded in the data file header extension ("" when none).
std::string qcow2_data_file_name(const Qcow2Header &h);
// Records @name in the extension (an empty name removes it).
void qcow2_set_data_file_name(Qcow2Header *h, const std::string &name);
// Open: the "data-file" option (or the name in the header) as QEMU 7.2 opens
// it, with its messages; sets s->data_file (bs->file without a data file).
int coroutine_fn qcow2_open_data_file(BlockDriverState *bs, QDict *options, int flags,
                                      Error **errp);
// Frees what a replaced or discarded data cluster held in the data file: a
// discard there when discards of @type pass through.
int coroutine_fn qcow2_data_file_release(BlockDriverState *bs, uint64_t entry,
                                         Qcow2DiscardType type);
// "data-file" / "data-file-raw" of qemu-img info.
void qcow2_data_file_add_info(BlockDriverState *bs, JsonBuilder *b);

// ---- qcow2-info.cc ---------------------------------------------------------
int qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);
JsonNode *qcow2_get_specific_info(BlockDriverState *bs, Error **errp);
int qcow2_probe(const uint8_t *buf, int buf_size, const char *filename);
