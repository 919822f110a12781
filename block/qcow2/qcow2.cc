// qcow-lite: open, close, header updates, flush and the driver table.
#include "block/qcow2/qcow2-bitmap-int.h"
#include "block/qcow2/qcow2-int.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "util/error.h"

namespace {

int64_t coroutine_fn file_length(BlockDriverState *bs) { return bdrv_co_getlength(bs->file->bs); }

const Qcow2HeaderExt *find_ext(const Qcow2Header &h, uint32_t type)
{
    for (const Qcow2HeaderExt &e : h.unknown_exts) {
        if (e.type == type) return &e;
    }
    return nullptr;
}

// Where QEMU itself refuses the header, its words are kept.
int reject_unsupported_image(const Qcow2Header &h, Error **errp)
{
    if (h.crypt_method == QCOW2_CRYPT_LUKS && !find_ext(h, QCOW2_EXT_CRYPTO)) {
        error_setg(errp, "Missing CRYPTO header for crypt method %u", h.crypt_method);
        return -EINVAL;
    }
    return 0;
}

int coroutine_fn read_header(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int64_t len = file_length(bs);
    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Could not read qcow2 header");
        return (int)len;
    }
    // The header and its extensions fill at most the first cluster: read
    // 64 KiB (the default cluster) and the rest only when the header names
    // a bigger cluster; not zero-filled, every byte parsed is read.
    uint64_t max = std::min<uint64_t>((uint64_t)len, 1u << QCOW2_MAX_CLUSTER_BITS);
    uint64_t n = std::min<uint64_t>(max, 64 * 1024);
    std::unique_ptr<uint8_t[]> buf(new uint8_t[max + 1]);
    int ret = n ? bdrv_co_pread(bs->file, 0, n, buf.get(), 0) : 0;
    if (ret >= 0 && n >= 24) {
        uint32_t bits = (uint32_t)buf[20] << 24 | buf[21] << 16 | buf[22] << 8 | buf[23];
        if (bits <= QCOW2_MAX_CLUSTER_BITS && (1ull << bits) > n && max > n) {
            uint64_t want = std::min<uint64_t>(max, 1ull << bits);
            ret = bdrv_co_pread(bs->file, n, want - n, buf.get() + n, 0);
            n = want;
        }
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }
    std::string msg;
    ret = qcow2_header_parse(buf.get(), n, &s->hdr, &msg);
    if (ret < 0) {
        error_setg(errp, "%s", msg.c_str());
        return ret;
    }
    return reject_unsupported_image(s->hdr, errp);
}

// As QEMU's table validation: at most @max_bytes, cluster aligned, and
// not reaching past INT64_MAX; the messages name the table.
int validate_table(BDRVQcow2State *s, uint64_t off, uint64_t entries, uint64_t esize,
                   uint64_t max_bytes, const char *name, Error **errp)
{
    if (entries > max_bytes / esize) {
        error_setg(errp, "%s too large", name);
        return -EFBIG;
    }
    if ((uint64_t)INT64_MAX - entries * esize < off || (off & (s->cluster_size - 1))) {
        error_setg(errp, "%s offset invalid", name);
        return -EINVAL;
    }
    return 0;
}

int validate_tables(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    const Qcow2Header &h = s->hdr;
    if (h.refcount_table_clusters == 0) {
        error_setg(errp, "Image does not contain a reference count table");
        return -EINVAL;
    }
    int ret = validate_table(s, h.refcount_table_offset, h.refcount_table_clusters, s->cluster_size,
                             QCOW2_MAX_REFTABLE_BYTES, "Reference count table", errp);
    if (ret == 0) {
        ret =
            validate_table(s, h.snapshots_offset, h.nb_snapshots, QCOW2_SNAPSHOT_HEADER_LEN,
                           QCOW2_SNAPSHOT_HEADER_LEN * QCOW2_MAX_SNAPSHOTS, "Snapshot table", errp);
    }
    if (ret == 0) {
        ret = validate_table(s, h.l1_table_offset, h.l1_size, 8, QCOW2_MAX_L1_BYTES,
                             "Active L1 table", errp);
    }
    if (ret < 0) return ret;
    // The size rounds up to whole L1 entries with 64-bit wrap-around, as
    // in QEMU (a size near 2^64 then fails the length check instead).
    uint64_t l1_needed = s->g.size_to_l1(h.size);
    if (l1_needed > INT_MAX) {
        error_setg(errp, "Image is too big");
        return -EFBIG;
    }
    if (h.l1_size < l1_needed) {
        error_setg(errp, "L1 table is too small");
        return -EINVAL;
    }
    return 0;
}

int coroutine_fn load_l1(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = qcow2_read_table(bs, s->hdr.l1_table_offset, s->hdr.l1_size, &s->l1_table);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read L1 table");
        return ret;
    }
    return 0;
}

// Takes qcow2's runtime options (qcow2-options.cc) from @options; what
// else is left besides the backing options is a typo the user must hear
// about.  Options of features we do not have are accepted (scripts pass
// them) without effect.
int parse_open_opts(BlockDriverState *bs, QDict *options, int flags, Qcow2RuntimeOpts *r,
                    Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    QDict empty;
    if (!options) options = &empty;
    s->runtime_opts = qcow2_take_runtime_opts(options);
    for (auto it = options->entries.begin(); it != options->entries.end();) {
        const std::string &k = it->first;
        // data-file options stay for qcow2_open_data_file.
        bool child = k == "backing" || k.rfind("backing.", 0) == 0 || k == "data-file" ||
                     k.rfind("data-file.", 0) == 0;
        if (!child && k.rfind("encrypt.", 0) != 0) {
            error_setg(errp, "Block format 'qcow2' does not support the option '%s'", k.c_str());
            return -EINVAL;
        }
        it = child ? std::next(it) : options->entries.erase(it);
    }
    return qcow2_parse_runtime_opts(bs, s->runtime_opts, flags, r, errp);
}

int coroutine_fn open_file_child(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    if (bs->file) return 0;
    bs->file = bdrv_co_open_child(bs->filename.c_str(), options, "file", bs, false, flags, errp);
    return bs->file ? 0 : -EINVAL;
}

int coroutine_fn repair_dirty(BlockDriverState *bs, Error **errp)
{
    BdrvCheckResult res;
    int ret = qcow2_check_locked(bs, &res, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    if (ret < 0 || res.check_errors) {
        error_setg_errno(errp, ret < 0 ? -ret : EIO, "Could not repair dirty image");
        return ret < 0 ? ret : -EIO;
    }
    return qcow2_mark_clean(bs);
}

int coroutine_fn open_rw_fixups(BlockDriverState *bs, int flags, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (bs->read_only) return 0;
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        error_setg(errp, "qcow2: Image is corrupt; cannot be opened read/write");
        return -EACCES;
    }
    if ((s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY) && !(flags & BDRV_O_CHECK)) {
        int ret = repair_dirty(bs, errp);
        if (ret < 0) return ret;
    }
    // The bitmaps (qcow2-bitmap.cc) and data_file_raw autoclear bits are
    // the ones we maintain; the others are cleared, as a program that does
    // not know them must.
    uint64_t keep = QCOW2_AUTOCLEAR_BITMAPS | QCOW2_AUTOCLEAR_DATA_FILE_RAW;
    // As QEMU: a stale bitmaps extension (its bit clear) is dropped; its
    // clusters are leaks for check -r to free.
    size_t nexts = s->hdr.unknown_exts.size();
    if (!(s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
        std::erase_if(s->hdr.unknown_exts,
                      [](const Qcow2HeaderExt &e) { return e.type == QCOW2_EXT_BITMAPS; });
    }
    if ((s->hdr.autoclear_features & ~keep) || s->hdr.unknown_exts.size() != nexts) {
        s->hdr.autoclear_features &= keep;
        int ret = qcow2_update_header(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not update qcow2 header");
            return ret;
        }
    }
    return 0;
}

int coroutine_fn qcow2_do_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = read_header(bs, errp);
    if (ret < 0) return ret;
    s->g.init((int)s->hdr.cluster_bits, (int)s->hdr.refcount_order);
    s->cluster_size = s->g.cluster_size();
    ret = validate_tables(bs, errp);
    if (ret < 0) return ret;
    ret = qcow2_crypto_open(bs, options, flags, errp);
    if (ret < 0) return ret;
    Qcow2RuntimeOpts r;
    ret = parse_open_opts(bs, options, flags, &r, errp);
    if (ret < 0) return ret;
    s->l2_cache = qcow2_cache_create(bs, r.l2_tables, true);
    s->refblock_cache = qcow2_cache_create(bs, r.rb_tables, false);
    qcow2_cache_set_dependency(s->l2_cache, s->refblock_cache);
    ret = load_l1(bs, errp);
    if (ret < 0) return ret;
    ret = qcow2_refcount_init(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not initialize refcount handling");
        return ret;
    }
    ret = qcow2_open_data_file(bs, options, flags, errp);
    if (ret < 0) return ret;
    ret = qcow2_read_snapshots(bs, errp);
    if (ret < 0) return ret;
    s->lazy_refcounts = r.lazy_refcounts;
    qcow2_apply_discard_opts(s, r);
    bs->backing_file = s->hdr.backing_file;
    bs->backing_format = s->hdr.backing_format;
    // The block layer counts whole sectors (a size of 1000 reads as 512)
    // and refuses lengths past QEMU's BDRV_MAX_LENGTH.
    if (s->hdr.size / BDRV_SECTOR_BYTES > BDRV_MAX_LENGTH / BDRV_SECTOR_BYTES) {
        error_setg_errno(errp, EFBIG, "Could not refresh total sector count");
        return -EFBIG;
    }
    bs->total_bytes = (int64_t)(s->hdr.size / BDRV_SECTOR_BYTES * BDRV_SECTOR_BYTES);
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    qemu_co_mutex_lock(&s->lock);
    ret = open_rw_fixups(bs, flags, errp);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) return ret;
    return qcow2_load_dirty_bitmaps(bs, errp);
}

void free_state(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    qcow2_cache_destroy(s->l2_cache);
    qcow2_cache_destroy(s->refblock_cache);
    qcow2_crypto_close(s);
    delete s;
    bs->opaque = nullptr;
}

int coroutine_fn qcow2_co_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    int ret = open_file_child(bs, options, flags, errp);
    if (ret < 0) return ret;
    BDRVQcow2State *s = new BDRVQcow2State;
    qemu_co_mutex_init(&s->lock);
    qemu_co_queue_init(&s->inflight_wait);
    bs->opaque = s;
    ret = qcow2_do_open(bs, options, flags, errp);
    if (ret < 0) free_state(bs);
    return ret;
}

// As QEMU's qcow2 inactivation: L2 tables, then refcount blocks, each
// written back and the file flushed (a file flush with nothing new to
// write is cheap; QEMU skips it then, but a file that failed writes still
// has them), each failure reported with QEMU's message (close has no
// caller to return it to), and the dirty bit cleared only when both
// reached the disk.
void coroutine_fn qcow2_co_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!s) return;
    // A node stopped by fatal corruption writes nothing back (as QEMU,
    // whose close skips the driver of such a node).
    if (!bs->read_only && !bs->disabled) {
        qcow2_store_dirty_bitmaps(bs);  // before the caches: it allocates
        qemu_co_mutex_lock(&s->lock);
        int ret = qcow2_cache_flush(bs, s->l2_cache);
        if (ret < 0) error_report("Failed to flush the L2 table cache: %s", strerror(-ret));
        int ret2 = qcow2_cache_flush(bs, s->refblock_cache);
        if (ret2 < 0) {
            error_report("Failed to flush the refcount block cache: %s", strerror(-ret2));
        }
        if (ret == 0 && ret2 == 0 && s->dirty_marked) qcow2_mark_clean(bs);
        qemu_co_mutex_unlock(&s->lock);
    }
    free_state(bs);
}

void qcow2_refresh_limits(BlockDriverState *bs, Error **)
{
    BDRVQcow2State *s = qcow2_state(bs);
    bs->bl.pdiscard_alignment = (uint32_t)s->cluster_size;
    if (s->crypto) {
        bs->bl.request_alignment = std::max<uint32_t>(
            bs->bl.request_alignment, (uint32_t)qcrypto_block_get_sector_size(s->crypto));
    }
}

int coroutine_fn qcow2_co_flush_to_os(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    CoMutexGuard guard(&s->lock);
    return qcow2_flush_caches(bs);
}

int64_t coroutine_fn qcow2_co_getlength(BlockDriverState *bs) { return bs->total_bytes; }

int64_t coroutine_fn qcow2_co_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_co_get_allocated_file_size(bs->file->bs);
}

// Reopen: going read-write gets the fixups of a read-write open; going
// read-only writes the caches back and clears the dirty bit, as close does.
int coroutine_fn qcow2_co_reopen(BlockDriverState *bs, int flags, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    bool writable = flags & BDRV_O_RDWR;
    if (writable == !bs->read_only) return 0;
    int ret;
    if (writable && s->snapshot_tmp_loaded) {
        error_setg(errp, "Cannot write to an image with a temporarily loaded snapshot");
        return -EPERM;
    }
    if (writable) {
        bs->read_only = false;  // the fixups act on writable nodes only
        ret = open_rw_fixups(bs, flags, errp);
        if (ret == 0) ret = qcow2_reopen_bitmaps_rw(bs, errp);
        bs->read_only = true;  // the generic reopen sets it on success
        return ret;
    }
    ret = qcow2_reopen_bitmaps_ro(bs, errp);
    if (ret < 0) return ret;
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_flush_caches(bs);
    if (ret == 0 && s->dirty_marked) ret = qcow2_mark_clean(bs);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) error_setg_errno(errp, -ret, "Could not write back the image metadata");
    return ret;
}

}  // namespace

void qcow2_eject(BlockDriverState *bs)
{
    free_state(bs);
    bs->drv = nullptr;
}

int coroutine_fn qcow2_read_table(BlockDriverState *bs, uint64_t off, uint64_t n,
                                  std::vector<uint64_t> *out)
{
    out->assign(n, 0);
    if (!n) return 0;
    std::vector<uint8_t> buf(n * 8);
    int ret = bdrv_co_pread(bs->file, off, n * 8, buf.data(), 0);
    if (ret < 0) return ret;
    for (uint64_t i = 0; i < n; i++)
        (*out)[i] = be64_load(&buf[i * 8]);
    return 0;
}

int coroutine_fn qcow2_flush_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int ret = qcow2_cache_write(bs, s->l2_cache);
    // While the dirty bit is set the refcounts may lag on disk (lazy
    // refcounts, QEMU's qcow2_write_caches): they are written when a block
    // is evicted and when the image is marked clean.
    int ret2 = qcow2_need_accurate_refcounts(s) ? qcow2_cache_write(bs, s->refblock_cache) : 0;
    return ret < 0 ? ret : ret2;
}

int coroutine_fn qcow2_update_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    size_t cs = s->cluster_size;
    void *buf = qemu_memalign(4096, cs);
    int ret = qcow2_header_serialize(s->hdr, (uint8_t *)buf, cs);
    if (ret == 0) {
        // Write up to the last used byte (a 2 MiB header cluster is mostly
        // zeroes); anything stale past the end marker is ignored by readers.
        size_t used = cs;
        while (used > 0 && ((uint8_t *)buf)[used - 1] == 0)
            used--;
        used = (used + 4095) & ~(size_t)4095;
        if (used > cs) used = cs;
        ret = bdrv_co_pwrite_sync(bs->file, 0, used, buf, 0);
    }
    qemu_vfree(buf);
    return ret;
}

namespace {

int coroutine_fn write_incompat(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint8_t be[8];
    be64_store(be, s->hdr.incompatible_features);
    return bdrv_co_pwrite_sync(bs->file, 72, 8, be, 0);
}

}  // namespace

int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (s->hdr.version < 3 || (s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        s->dirty_marked = true;
        return 0;
    }
    // Only a dirty bit that reached the disk allows refcounts to lag.
    s->hdr.incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    int ret = write_incompat(bs);
    if (ret < 0) {
        s->hdr.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
        return ret;
    }
    s->dirty_marked = true;
    return 0;
}

int coroutine_fn qcow2_mark_clean(BlockDriverState *bs)
{
    BDRVQcow2State *s = qcow2_state(bs);
    s->dirty_marked = false;
    if (!(s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY)) return 0;
    // Cleared in memory first so that the flush writes the refcounts too.
    s->hdr.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    int ret = qcow2_flush_caches(bs);
    if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        s->hdr.incompatible_features |= QCOW2_INCOMPAT_DIRTY;
        return ret;
    }
    return write_incompat(bs);
}

// As QEMU: corruption found on a writable node is fatal (the image is
// marked corrupt and the node stops, answering ENOMEDIUM); on a read-only
// node (check, convert's source) it is only reported.  One report per
// node, except that a fatal one still follows earlier non-fatal ones.
static int coroutine_fn signal_corruption(BlockDriverState *bs, bool fatal, const char *fmt,
                                          va_list ap)
{
    BDRVQcow2State *s = qcow2_state(bs);
    fatal = fatal && !bs->read_only;
    if (s->corrupt_reported &&
        (!fatal || (s->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT))) {
        return -EIO;
    }
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (fatal) {
        fprintf(stderr,
                "qcow2: Marking image as corrupt: %s; further corruption events will be "
                "suppressed\n",
                msg);
    } else {
        fprintf(stderr,
                "qcow2: Image is corrupt: %s; further non-fatal corruption events will be "
                "suppressed\n",
                msg);
    }
    s->corrupt_reported = true;
    if (fatal) {
        // v2 headers cannot record the bit; it still suppresses repeats.
        s->hdr.incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
        if (s->hdr.version >= 3) write_incompat(bs);
        bdrv_disable_node(bs);
    }
    return -EIO;
}

int coroutine_fn qcow2_signal_corruption(BlockDriverState *bs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = signal_corruption(bs, true, fmt, ap);
    va_end(ap);
    return ret;
}

int coroutine_fn qcow2_signal_corruption_nonfatal(BlockDriverState *bs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = signal_corruption(bs, false, fmt, ap);
    va_end(ap);
    return ret;
}

BlockDriver bdrv_qcow2 = [] {
    BlockDriver d{};
    d.format_name = "qcow2";
    d.format_alias = "qcow-lite";
    d.is_format = true;
    d.supports_backing = true;
    d.bdrv_probe = qcow2_probe;
    d.bdrv_co_open = qcow2_co_open;
    d.bdrv_co_close = qcow2_co_close;
    d.bdrv_co_reopen = qcow2_co_reopen;
    d.bdrv_co_reopen_opts = qcow2_co_reopen_opts;
    d.bdrv_co_create_opts = qcow2_co_create_opts;
    d.create_opts = qcow2_create_opts;
    d.bdrv_refresh_limits = qcow2_refresh_limits;
    d.bdrv_co_preadv = qcow2_co_preadv_part;
    d.bdrv_co_pwritev = qcow2_co_pwritev_part;
    d.bdrv_co_pwritev_compressed = qcow2_co_pwritev_compressed;
    d.bdrv_co_load_vmstate = qcow2_co_load_vmstate;
    d.bdrv_co_save_vmstate = qcow2_co_save_vmstate;
    d.bdrv_co_pwrite_zeroes = qcow2_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = qcow2_co_pdiscard;
    d.bdrv_co_copy_range_from = qcow2_co_copy_range_from;
    d.bdrv_co_copy_range_to = qcow2_co_copy_range_to;
    d.bdrv_co_flush_to_os = qcow2_co_flush_to_os;
    d.bdrv_co_block_status = qcow2_co_block_status;
    d.bdrv_co_truncate = qcow2_co_truncate;
    d.bdrv_co_getlength = qcow2_co_getlength;
    d.bdrv_co_get_allocated_file_size = qcow2_co_get_allocated_file_size;
    d.bdrv_get_info = qcow2_get_info;
    d.bdrv_get_specific_info = qcow2_get_specific_info;
    d.bdrv_co_check = qcow2_co_check;
    d.bdrv_co_change_backing_file = qcow2_co_change_backing_file;
    d.bdrv_co_make_empty = qcow2_co_make_empty;
    d.bdrv_co_amend = qcow2_co_amend;
    d.amend_opts = qcow2_amend_opts;
    d.bdrv_snapshot_list = qcow2_snapshot_list;
    d.bdrv_co_snapshot_create = qcow2_co_snapshot_create;
    d.bdrv_co_snapshot_goto = qcow2_co_snapshot_goto;
    d.bdrv_co_snapshot_delete = qcow2_co_snapshot_delete;
    d.bdrv_co_snapshot_load_tmp = qcow2_co_snapshot_load_tmp;
    d.bdrv_supports_persistent_dirty_bitmap = qcow2_supports_persistent_dirty_bitmap;
    d.bdrv_co_can_store_new_dirty_bitmap = qcow2_co_can_store_new_dirty_bitmap;
    d.bdrv_co_remove_persistent_dirty_bitmap = qcow2_co_remove_persistent_dirty_bitmap;
    return d;
}();
