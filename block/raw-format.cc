// The `raw` format: a pass-through to its file child, optionally a window
// [offset, offset + size) of it.  When raw was chosen by probing, writes to
// sector 0 that would make the image probe as another format are refused,
// so a guest cannot turn its disk into, say, a qcow2 pointing at host files.
#include <cstdio>
#include <cstring>

#include "block/block-int.h"
#include "block/file-posix-int.h"

namespace {

struct RawState {
    int64_t offset = 0;
    int64_t size = 0;
    bool has_size = false;
};

RawState *state(BlockDriverState *bs) { return (RawState *)bs->opaque; }

const char *const raw_runtime_opts[] = {"offset", "size", nullptr};

enum { PROBE_SECTOR = 512 };

bool take_size_opt(QDict *o, const char *key, int64_t *out, bool *given, Error **errp)
{
    const char *v = o->get(key);
    *given = v != nullptr;
    if (!v) {
        return true;
    }
    uint64_t n;
    if (qemu_strtosz(v, &n) < 0 || n > (uint64_t)INT64_MAX) {
        // QEMU prints the suffix hint after the message; we carry it along.
        error_setg(errp,
                   "Parameter '%s' expects a non-negative number below 2^64\n"
                   "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, "
                   "peta-\nand exabytes, respectively.",
                   key);
        return false;
    }
    *out = (int64_t)n;
    o->del(key);
    return true;
}

}  // namespace

static int coroutine_fn raw_co_open(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    (void)flags;
    auto s = new RawState;
    bool has_offset;
    if (!take_size_opt(o, "offset", &s->offset, &has_offset, errp) ||
        !take_size_opt(o, "size", &s->size, &s->has_size, errp)) {
        delete s;
        return -EINVAL;
    }
    int64_t file_len = bdrv_co_getlength(bs->file->bs);
    if (file_len < 0) {
        error_setg_errno(errp, (int)-file_len, "Could not get the size of the file");
        delete s;
        return (int)file_len;
    }
    if (s->offset > file_len) {
        error_setg(errp, "Offset (%lld) cannot be greater than size of the containing file (%lld)",
                   (long long)s->offset, (long long)file_len);
        delete s;
        return -EINVAL;
    }
    if (s->has_size && s->offset + s->size > file_len) {
        error_setg(errp,
                   "The sum of offset (%lld) and size (%lld) has to be smaller or equal "
                   "to the  actual size of the containing file (%lld)",
                   (long long)s->offset, (long long)s->size, (long long)file_len);
        delete s;
        return -EINVAL;
    }
    bs->opaque = s;
    bs->supported_write_flags = BDRV_REQ_FUA & bs->file->bs->supported_write_flags;
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    if (bs->probed && !bs->read_only) {
        fprintf(stderr,
                "WARNING: Image format was not specified for '%s' and probing guessed raw.\n"
                "         Automatically detecting the format is dangerous for raw images, "
                "write operations on block 0 will be restricted.\n"
                "         Specify the 'raw' format explicitly to remove the restrictions.\n",
                bs->file->bs->filename.c_str());
    }
    return 0;
}

static void coroutine_fn raw_co_close(BlockDriverState *bs)
{
    delete state(bs);
    bs->opaque = nullptr;
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    (void)errp;
    if (bs->probed) {
        // Whole-sector writes let the sector-0 check see the full header.
        bs->bl.request_alignment = std::max<uint32_t>(bs->bl.request_alignment, PROBE_SECTOR);
    }
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qoff, int flags)
{
    BLKDBG_EVENT(bs->file, BLKDBG_READ_AIO);
    return bdrv_co_preadv_part(bs->file, offset + state(bs)->offset, bytes, qiov, qoff, flags);
}

static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov, size_t qoff, int flags)
{
    if (bs->probed && offset < PROBE_SECTOR && bytes) {
        uint8_t buf[PROBE_SECTOR];
        qemu_iovec_to_buf(qiov, qoff, buf, PROBE_SECTOR);
        if (bdrv_probe_all(buf, PROBE_SECTOR, nullptr) != bs->drv) {
            return -EPERM;
        }
    }
    BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
    return bdrv_co_pwritev_part(bs->file, offset + state(bs)->offset, bytes, qiov, qoff, flags);
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                             int flags)
{
    if (bs->probed && offset < PROBE_SECTOR) {
        return -ENOTSUP;  // zeroes never probe as a format, but let io.cc write them
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset + state(bs)->offset, bytes, flags);
}

// Copy offloading: the range moves by the window's offset.  A probed raw
// keeps its first sector guarded by the write path (fallback).
static int coroutine_fn raw_co_copy_range_from(BlockDriverState *bs, BdrvChild *,
                                               int64_t src_offset, BdrvChild *dst,
                                               int64_t dst_offset, int64_t bytes, int read_flags,
                                               int write_flags)
{
    return bdrv_co_copy_range_from(bs->file, src_offset + state(bs)->offset, dst, dst_offset, bytes,
                                   read_flags, write_flags);
}

static int coroutine_fn raw_co_copy_range_to(BlockDriverState *bs, BdrvChild *src,
                                             int64_t src_offset, BdrvChild *, int64_t dst_offset,
                                             int64_t bytes, int read_flags, int write_flags)
{
    if (bs->probed && dst_offset < PROBE_SECTOR) {
        return -ENOTSUP;
    }
    return bdrv_co_copy_range_to(src, src_offset, bs->file, dst_offset + state(bs)->offset, bytes,
                                 read_flags, write_flags);
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return bdrv_co_pdiscard(bs->file, offset + state(bs)->offset, bytes);
}

static int coroutine_fn raw_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum, int64_t *map,
                                            BlockDriverState **file)
{
    (void)want_zero;
    *pnum = bytes;
    *map = offset + state(bs)->offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t coroutine_fn raw_co_getlength(BlockDriverState *bs)
{
    RawState *s = state(bs);
    if (s->has_size) {
        return s->size;
    }
    int64_t len = bdrv_co_getlength(bs->file->bs);
    return len < 0 ? len : std::max<int64_t>(0, len - s->offset);
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                                        PreallocMode prealloc, Error **errp)
{
    RawState *s = state(bs);
    if (s->has_size) {
        error_setg(errp, "Cannot resize fixed-size raw disks");
        return -ENOTSUP;
    }
    return bdrv_co_truncate(bs->file, offset + s->offset, exact, prealloc, errp);
}

// As QEMU: what the protocol says (rbd's object size as cluster_size);
// nothing when it has no such info.
static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    if (bdrv_get_info(bs->file->bs, bdi) < 0) {
        *bdi = BlockDriverInfo{};
    }
    bdi->is_dirty = false;
    return 0;
}

static int raw_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    (void)buf, (void)buf_size, (void)filename;
    return 1;  // anything is raw, with the lowest confidence
}

static int coroutine_fn raw_co_create_opts(const char *filename, QDict *opts, Error **errp)
{
    return bdrv_co_create_file(filename, opts, errp);
}

// Pure pass-through: the file sees exactly what our parents do and share.
static void raw_child_perm(BlockDriverState *bs, BdrvChild *child, uint64_t perm, uint64_t shared,
                           uint64_t *nperm, uint64_t *nshared)
{
    (void)child;
    *nperm = perm;
    *nshared = bs->force_share ? BLK_PERM_ALL : shared;
}

// Only the size, as QEMU's raw format: preallocation and the rest are the
// protocol's (create -o help lists them when given a file name).
static const CreateOptDesc raw_create_opts[] = {
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

BlockDriver bdrv_raw = [] {
    BlockDriver d{};
    d.format_name = "raw";
    d.is_format = true;
    d.bdrv_probe = raw_probe;
    d.bdrv_co_open = raw_co_open;
    d.bdrv_co_close = raw_co_close;
    d.bdrv_co_create_opts = raw_co_create_opts;
    d.create_opts = raw_create_opts;
    d.bdrv_refresh_limits = raw_refresh_limits;
    d.bdrv_co_preadv = raw_co_preadv;
    d.bdrv_co_pwritev = raw_co_pwritev;
    d.bdrv_co_pwrite_zeroes = raw_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = raw_co_pdiscard;
    d.bdrv_co_copy_range_from = raw_co_copy_range_from;
    d.bdrv_co_copy_range_to = raw_co_copy_range_to;
    d.bdrv_co_block_status = raw_co_block_status;
    d.bdrv_co_truncate = raw_co_truncate;
    d.bdrv_co_getlength = raw_co_getlength;
    d.bdrv_get_info = raw_get_info;
    d.bdrv_child_perm = raw_child_perm;
    d.runtime_opts = raw_runtime_opts;
    return d;
}();
