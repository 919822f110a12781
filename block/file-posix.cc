// The `file` protocol driver: regular files and block devices.  Data moves
// through util/aio-backend (threads, libaio, io_uring); everything else
// (fallocate, lseek, fsync of metadata) runs in the thread pool.
#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block-int.h"
#include "block/file-posix-int.h"
#include "util/cutils.h"

namespace {

struct FileState {
    int fd = -1;
    AioBackend aio = AioBackend::Threads;
    bool direct = false;
    bool is_blockdev = false;
    bool use_lock = true;
    unsigned aio_max_batch = 0;  // aio-max-batch: per-syscall cap, 0 = default
    bool has_zero_range = true;  // cleared on the first EOPNOTSUPP
    bool has_punch_hole = true;
    bool has_copy_range = true;  // cleared when the kernel lacks copy_file_range
    FileLockState locks;
};

FileState *state(BlockDriverState *bs) { return (FileState *)bs->opaque; }

const char *const file_runtime_opts[] = {
    "filename",   "aio",   "locking", "aio-max-batch", "drop-cache", "x-check-cache-dropped",
    "pr-manager", nullptr,
};

// Blocking syscalls for the thread pool.
struct FallocCall {
    int fd;
    int mode;
    int64_t offset, len;
};

int do_fallocate(void *opaque)
{
    auto *c = (FallocCall *)opaque;
    int ret;
    do {
        ret = fallocate(c->fd, c->mode, c->offset, c->len);
    } while (ret == -1 && errno == EINTR);
    return ret == -1 ? -errno : 0;
}

// copy_file_range of the whole range; -ENOTSUP when the source ends early
// (the caller's fallback reads zeroes there).
struct CopyRangeCall {
    int in_fd, out_fd;
    off64_t in_off, out_off;
    int64_t len;
};

int do_copy_range(void *opaque)
{
    auto *c = (CopyRangeCall *)opaque;
    while (c->len > 0) {
        ssize_t n =
            copy_file_range(c->in_fd, &c->in_off, c->out_fd, &c->out_off, (size_t)c->len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -ENOTSUP;
        }
        c->len -= n;
    }
    return 0;
}

struct IoctlCall {
    int fd;
    unsigned long req;
    uint64_t range[2];
};

int do_ioctl_range(void *opaque)
{
    auto *c = (IoctlCall *)opaque;
    return ioctl(c->fd, c->req, c->range) == -1 ? -errno : 0;
}

// O_DIRECT limits as QEMU finds them: the smallest request size, then the
// smallest buffer alignment, that the kernel accepts.
void probe_direct_alignment(FileState *s, BlockLimits *bl)
{
    unsigned sector = 0;
    if (s->is_blockdev && ioctl(s->fd, BLKSSZGET, &sector) == 0 && sector) {
        bl->request_alignment = sector;
        bl->min_mem_alignment = sector;
        return;
    }
    const size_t max_align = 4096;
    void *buf = qemu_memalign(max_align, 2 * max_align);
    bl->request_alignment = 0;
    for (size_t a = 512; a <= max_align && !bl->request_alignment; a *= 2) {
        if (pread(s->fd, buf, a, 0) >= 0) {
            bl->request_alignment = a;
        }
    }
    bl->min_mem_alignment = 0;
    for (size_t a = 512; a <= max_align && !bl->min_mem_alignment; a *= 2) {
        size_t len = std::max<size_t>(bl->request_alignment, 512);
        if (pread(s->fd, (char *)buf + a, len, 0) >= 0) {
            bl->min_mem_alignment = a;
        }
    }
    qemu_vfree(buf);
    if (!bl->request_alignment) {
        bl->request_alignment = max_align;
    }
    if (!bl->min_mem_alignment) {
        bl->min_mem_alignment = max_align;
    }
}

bool parse_open_options(BlockDriverState *bs, QDict *o, int flags, FileState *s, Error **errp)
{
    s->aio = (flags & BDRV_O_IO_URING)     ? AioBackend::IoUring
             : (flags & BDRV_O_NATIVE_AIO) ? AioBackend::Native
                                           : AioBackend::Threads;
    if (const char *a = o->get("aio")) {
        if (!aio_backend_parse(a, &s->aio)) {
            error_setg(errp, "invalid parameter value: %s", a);
            return false;
        }
    }
    if (const char *l = o->get("locking")) {
        bool on = true;
        if (!strcmp(l, "auto")) {
            on = true;
        } else if (!keyval_parse_bool(l, &on)) {
            error_setg(errp, "Parameter 'locking' does not accept value '%s'", l);
            return false;
        }
        s->use_lock = on;
    }
    if (const char *m = o->get("aio-max-batch")) {
        int64_t n;
        if (qemu_strtoi64(m, &n) < 0) {
            error_setg(errp, "Parameter 'aio-max-batch' expects a number");
            return false;
        }
        // As QEMU, zero or less means the context's (engine's) default.
        s->aio_max_batch = n <= 0 ? 0 : (unsigned)std::min<int64_t>(n, UINT32_MAX);
    }
    if (s->aio == AioBackend::Native && !(flags & BDRV_O_NOCACHE)) {
        error_setg(errp, "aio=native was specified, but it requires cache.direct=on, "
                         "which was not specified.");
        return false;
    }
    // Where the kernel refuses libaio/io_uring, warn and use the thread pool.
    s->aio = aio_backend_select(s->aio);
    (void)bs;
    return true;
}

}  // namespace

static int coroutine_fn file_co_open(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    auto *s = new FileState;
    if (!parse_open_options(bs, o, flags, s, errp)) {
        delete s;
        return -EINVAL;
    }
    const char *fn = o->get("filename");
    int oflags = O_CLOEXEC | ((flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY);
    if (flags & BDRV_O_NOCACHE) {
        oflags |= O_DIRECT;
    }
    s->fd = fn ? open(fn, oflags) : -1;
    if (s->fd < 0) {
        int err = fn ? errno : EINVAL;
        error_setg_errno(errp, err, "Could not open '%s'", fn ? fn : "");
        delete s;
        return -err;
    }
    struct stat st;
    if (fstat(s->fd, &st) < 0) {
        int err = errno;
        error_setg_errno(errp, err, "Could not stat file");
        close(s->fd);
        delete s;
        return -err;
    }
    // As QEMU: "file" takes regular files only, host_device/host_cdrom
    // devices only, so that a typo cannot turn a directory or a device
    // into an image of the wrong kind.
    bool want_device = bs->drv != &bdrv_file;
    bool is_device = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
    if (want_device ? !is_device : !S_ISREG(st.st_mode)) {
        error_setg(errp,
                   want_device
                       ? "'%s' driver requires '%s' to be either a character or block device"
                       : "'%s' driver requires '%s' to be a regular file",
                   bs->drv->format_name, fn);
        close(s->fd);
        delete s;
        return -EINVAL;
    }
    s->is_blockdev = S_ISBLK(st.st_mode);
    s->direct = flags & BDRV_O_NOCACHE;
    bs->opaque = s;
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    for (const char *k : {"filename", "aio", "locking", "aio-max-batch", "drop-cache",
                          "x-check-cache-dropped", "pr-manager"}) {
        o->del(k);
    }
    return 0;
}

static void coroutine_fn file_co_close(BlockDriverState *bs)
{
    FileState *s = state(bs);
    if (s) {
        close(s->fd);  // drops the OFD locks with it
        delete s;
        bs->opaque = nullptr;
    }
}

// A new open file description of the same file with the new access mode and
// O_DIRECT; the lock bytes move over to it (OFD locks belong to the old
// description, which would otherwise conflict with the new one).
static int coroutine_fn file_co_reopen(BlockDriverState *bs, int flags, Error **errp)
{
    FileState *s = state(bs);
    if (s->aio == AioBackend::Native && !(flags & BDRV_O_NOCACHE)) {
        error_setg(errp, "aio=native was specified, but it requires cache.direct=on, "
                         "which was not specified.");
        return -EINVAL;
    }
    int oflags = O_CLOEXEC | ((flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY);
    oflags |= (flags & BDRV_O_NOCACHE) ? O_DIRECT : 0;
    std::string self = "/proc/self/fd/" + std::to_string(s->fd);
    int fd = open(self.c_str(), oflags);
    if (fd < 0) {
        int err = errno;
        error_setg_errno(errp, err, "Could not reopen file");
        return -err;
    }
    if (s->use_lock) {
        uint64_t perm = s->locks.perm_locked, shared = BLK_PERM_ALL & ~s->locks.unshared_locked;
        FileLockState moved;
        file_lock_set_perm(s->fd, &s->locks, 0, BLK_PERM_ALL, bs->filename, nullptr);
        int ret = file_lock_set_perm(fd, &moved, perm, shared, bs->filename, errp);
        if (ret < 0) {
            close(fd);
            file_lock_set_perm(s->fd, &s->locks, perm, shared, bs->filename, nullptr);
            return ret;
        }
        s->locks = moved;
    }
    close(s->fd);
    s->fd = fd;
    s->direct = flags & BDRV_O_NOCACHE;
    return 0;
}

static void file_refresh_limits(BlockDriverState *bs, Error **errp)
{
    FileState *s = state(bs);
    (void)errp;
    if (s->direct) {
        probe_direct_alignment(s, &bs->bl);
    } else {
        bs->bl.request_alignment = 1;
        bs->bl.min_mem_alignment = 1;
    }
    bs->bl.max_transfer = 0;
    bs->bl.opt_transfer = 0;
}

static int file_set_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared, Error **errp)
{
    FileState *s = state(bs);
    if (!s || !s->use_lock) {
        return 0;
    }
    return file_lock_set_perm(s->fd, &s->locks, perm, shared, bs->filename, errp);
}

static int64_t coroutine_fn file_co_getlength(BlockDriverState *bs)
{
    FileState *s = state(bs);
    if (s->is_blockdev) {
        uint64_t size;
        return ioctl(s->fd, BLKGETSIZE64, &size) == 0 ? (int64_t)size : -errno;
    }
    struct stat st;
    return fstat(s->fd, &st) == 0 ? (int64_t)st.st_size : -errno;
}

static int64_t coroutine_fn file_co_get_allocated_file_size(BlockDriverState *bs)
{
    struct stat st;
    return fstat(state(bs)->fd, &st) == 0 ? (int64_t)st.st_blocks * 512 : -errno;
}

static bool qiov_is_aligned(const QEMUIOVector *q, size_t qoff, size_t bytes, size_t align)
{
    size_t pos = 0;
    for (const iovec &v : q->iov) {
        size_t end = pos + v.iov_len;
        if (end > qoff && pos < qoff + bytes) {
            size_t start = std::max(pos, qoff) - pos;
            size_t stop = std::min(end, qoff + bytes) - pos;
            if (((uintptr_t)v.iov_base + start) % align || (stop - start) % align) {
                return false;
            }
        }
        pos = end;
    }
    return true;
}

// One read or write: the backend may transfer less; reads past EOF are
// zero-filled, a short write is retried for the rest.
static int coroutine_fn file_rw(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, size_t qoff, AioOp op)
{
    FileState *s = state(bs);
    size_t memalign = std::max<size_t>(bs->bl.min_mem_alignment, 1);
    void *bounce = nullptr;
    QEMUIOVector q;
    qemu_iovec_init(&q);
    if (s->direct && !qiov_is_aligned(qiov, qoff, bytes, memalign)) {
        bounce = qemu_memalign(std::max<size_t>(memalign, 512), bytes);
        if (op == AioOp::Write) {
            qemu_iovec_to_buf(qiov, qoff, bounce, bytes);
        }
        qemu_iovec_add(&q, bounce, bytes);
    } else {
        qemu_iovec_concat(&q, qiov, qoff, bytes);
    }
    int64_t done = 0;
    int ret = 0;
    if (s->aio == AioBackend::Threads && !s->direct) {
        int64_t n = aio_threads_try_inline(s->fd, offset, &q, op);
        if (n < 0) {
            ret = (int)n;
            done = bytes;  // the error is the answer: skip the pool
        } else {
            done = n;
        }
    }
    while (done < bytes) {
        QEMUIOVector part;
        qemu_iovec_init(&part);
        qemu_iovec_concat(&part, &q, done, bytes - done);
        ret = aio_backend_co_submit(s->aio, s->fd, offset + done, &part, op, s->aio_max_batch);
        if (ret < 0) {
            break;
        }
        if (ret == 0 || (op == AioOp::Read && ret < bytes - done)) {
            if (op == AioOp::Write) {
                ret = -EIO;  // no progress writing: give up
                break;
            }
            qemu_iovec_memset(&q, done + ret, 0, bytes - done - ret);
            done = bytes;
            break;
        }
        done += ret;
    }
    if (bounce && ret >= 0 && op == AioOp::Read) {
        qemu_iovec_from_buf(qiov, qoff, bounce, bytes);
    }
    qemu_vfree(bounce);
    return ret < 0 ? ret : 0;
}

static int coroutine_fn file_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       QEMUIOVector *qiov, size_t qoff, int flags)
{
    (void)flags;
    return file_rw(bs, offset, bytes, qiov, qoff, AioOp::Read);
}

static int coroutine_fn file_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                        QEMUIOVector *qiov, size_t qoff, int flags)
{
    (void)flags;
    return file_rw(bs, offset, bytes, qiov, qoff, AioOp::Write);
}

static int coroutine_fn file_co_flush_to_disk(BlockDriverState *bs)
{
    QEMUIOVector empty;
    qemu_iovec_init(&empty);
    int ret = aio_backend_co_submit(state(bs)->aio, state(bs)->fd, 0, &empty, AioOp::Flush);
    return ret < 0 ? ret : 0;
}

static int coroutine_fn file_fallocate(FileState *s, int mode, int64_t offset, int64_t len)
{
    FallocCall c{s->fd, mode, offset, len};
    return thread_pool_submit_co(do_fallocate, &c);
}

static int coroutine_fn file_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                              int flags)
{
    FileState *s = state(bs);
    if (s->is_blockdev) {
        IoctlCall c{s->fd, BLKZEROOUT, {(uint64_t)offset, (uint64_t)bytes}};
        int ret =
            (flags & BDRV_REQ_NO_FALLBACK) ? -ENOTSUP : thread_pool_submit_co(do_ioctl_range, &c);
        return ret == -EINVAL || ret == -EOPNOTSUPP ? -ENOTSUP : ret;
    }
    int ret = -ENOTSUP;
    // A hole reads as zeroes: with MAY_UNMAP punching is the cheapest zero
    // write (inside the file only; it cannot extend it).
    if ((flags & BDRV_REQ_MAY_UNMAP) && s->has_punch_hole && offset + bytes <= bs->total_bytes) {
        ret = file_fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, bytes);
        if (ret == -EOPNOTSUPP) {
            s->has_punch_hole = false;
            ret = -ENOTSUP;
        }
    }
    if (ret == -ENOTSUP && s->has_zero_range) {
        ret = file_fallocate(s, FALLOC_FL_ZERO_RANGE, offset, bytes);
        if (ret == -EOPNOTSUPP || ret == -EINVAL) {
            s->has_zero_range = ret == -EINVAL;  // EINVAL: this range only
            ret = -ENOTSUP;
        }
    }
    if (ret == -ENOTSUP && offset >= bs->total_bytes) {
        // Past EOF growing the file with ftruncate yields zeroes too.
        ret = ftruncate(s->fd, offset + bytes) == 0 ? 0 : -errno;
    }
    if (ret >= 0 && offset + bytes > bs->total_bytes) {
        bs->total_bytes = offset + bytes;
    }
    return ret;
}

static int coroutine_fn file_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    FileState *s = state(bs);
    int ret;
    if (s->is_blockdev) {
        IoctlCall c{s->fd, BLKDISCARD, {(uint64_t)offset, (uint64_t)bytes}};
        ret = thread_pool_submit_co(do_ioctl_range, &c);
    } else {
        ret = file_fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, bytes);
    }
    return ret == -EOPNOTSUPP || ret == -EINVAL ? -ENOTSUP : ret;
}

// The source's protocol: the data lives in this file; the destination's
// drivers translate the destination range down to a protocol node.
static int coroutine_fn file_co_copy_range_from(BlockDriverState *, BdrvChild *src,
                                                int64_t src_offset, BdrvChild *dst,
                                                int64_t dst_offset, int64_t bytes, int read_flags,
                                                int write_flags)
{
    return bdrv_co_copy_range_to(src, src_offset, dst, dst_offset, bytes, read_flags, write_flags);
}

extern BlockDriver bdrv_file;

// Both ends are files: copy_file_range (in a pool worker: it copies in the
// kernel, from page cache to page cache, or shares extents where the file
// system can).  FUA needs a write that the kernel flushes: not offloaded.
// EXDEV (other file system on older kernels), EOPNOTSUPP/EINVAL (file type
// or O_DIRECT alignment) and ENOSYS become -ENOTSUP for the fallback.
static int coroutine_fn file_co_copy_range_to(BlockDriverState *bs, BdrvChild *src,
                                              int64_t src_offset, BdrvChild *, int64_t dst_offset,
                                              int64_t bytes, int, int write_flags)
{
    FileState *d = state(bs);
    if (src->bs->drv != &bdrv_file || !d->has_copy_range || (write_flags & BDRV_REQ_FUA)) {
        return -ENOTSUP;
    }
    CopyRangeCall c{state(src->bs)->fd, d->fd, src_offset, dst_offset, bytes};
    int ret = thread_pool_submit_co(do_copy_range, &c);
    if (ret == -ENOSYS) {
        d->has_copy_range = false;
    }
    if (ret == -EXDEV || ret == -EOPNOTSUPP || ret == -ENOSYS || ret == -EINVAL) {
        ret = -ENOTSUP;
    }
    return ret;
}

// SEEK_DATA/SEEK_HOLE: data is DATA, a hole reads as ZERO.
static int coroutine_fn file_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                                             int64_t bytes, int64_t *pnum, int64_t *map,
                                             BlockDriverState **file)
{
    FileState *s = state(bs);
    *map = offset;
    *file = bs;
    *pnum = bytes;
    if (!want_zero || s->is_blockdev) {
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    off_t data = lseek(s->fd, offset, SEEK_DATA);
    if (data == -1 && errno == ENXIO) {
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID;  // a hole up to EOF
    }
    if (data == -1) {
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;  // no SEEK_DATA: assume data
    }
    if (data > offset) {
        *pnum = std::min<int64_t>(bytes, data - offset);
        int64_t align = bs->bl.request_alignment;
        if (*pnum >= align) {
            *pnum -= *pnum % align;
            return BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID;
        }
        *pnum = std::min<int64_t>(bytes, align);  // a hole smaller than a block
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    off_t hole = lseek(s->fd, offset, SEEK_HOLE);
    if (hole > offset) {
        int64_t align = bs->bl.request_alignment;
        int64_t n = hole - offset;
        *pnum = std::min<int64_t>(bytes, (n + align - 1) / align * align);
    }
    return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
}

// Like QEMU, a file grown from empty gets its first block written with
// zeroes, so that probing the request alignment later (O_DIRECT reads of
// block 0) finds allocated data on file systems that treat holes specially.
static int allocate_first_block(int fd, int64_t len)
{
    static const char zeroes[4096] = {};
    size_t n = len < (int64_t)sizeof(zeroes) ? 512 : sizeof(zeroes);
    return pwrite(fd, zeroes, n, 0) < 0 ? -errno : 0;
}

// Grows or shrinks a regular file, preallocating grown space as asked.
static int resize_fd(int fd, int64_t old_len, int64_t len, PreallocMode prealloc, Error **errp)
{
    if (prealloc != PreallocMode::Off && prealloc != PreallocMode::Metadata && len < old_len) {
        error_setg(errp, "Preallocation mode '%s' unsupported for shrinking",
                   prealloc_mode_name(prealloc));
        return -ENOTSUP;
    }
    if (prealloc == PreallocMode::Falloc && len > old_len) {
        int ret = posix_fallocate(fd, old_len, len - old_len);
        if (ret) {
            error_setg_errno(errp, ret, "Could not preallocate new data");
            return -ret;
        }
        return 0;
    }
    if (prealloc == PreallocMode::Full && len > old_len) {
        static const char zeroes[65536] = {};
        for (int64_t off = old_len; off < len;) {
            ssize_t n = pwrite(fd, zeroes, std::min<int64_t>(sizeof(zeroes), len - off), off);
            if (n < 0) {
                error_setg_errno(errp, errno, "Could not write zeros for preallocation");
                return -errno;
            }
            off += n;
        }
        return fsync(fd) == 0 ? 0 : -errno;
    }
    if (ftruncate(fd, len) < 0) {
        int err = errno;
        error_setg_errno(errp, err, "Failed to resize the file");
        return -err;
    }
    if (old_len == 0 && len > 0 && prealloc == PreallocMode::Off) {
        allocate_first_block(fd, len);  // best effort, as in QEMU
    }
    return 0;
}

static int coroutine_fn file_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                                         PreallocMode prealloc, Error **errp)
{
    FileState *s = state(bs);
    int64_t len = file_co_getlength(bs);
    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Failed to get the file size");
        return (int)len;
    }
    if (s->is_blockdev) {
        if (offset > len) {
            error_setg(errp, "Cannot grow device files");
            return -EINVAL;
        }
        if (exact && offset != len) {
            error_setg(errp, "Cannot resize device files");
            return -ENOTSUP;
        }
        return 0;
    }
    if (prealloc == PreallocMode::Metadata) {
        error_setg(errp, "Unsupported preallocation mode: %s", prealloc_mode_name(prealloc));
        return -ENOTSUP;
    }
    int ret = resize_fd(s->fd, len, offset, prealloc, errp);
    if (ret >= 0) {
        bs->total_bytes = offset;
    }
    return ret;
}

static const CreateOptDesc file_create_opts[] = {
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {"preallocation", CreateOptType::String,
     "Preallocation mode (allowed values: off, falloc, full)", "off"},
    {"nocow", CreateOptType::Bool, "Turn off copy-on-write (valid only on btrfs)", "off"},
    // Accepted like QEMU's; only XFS honours it and a missing hint is harmless.
    {"extent_size_hint", CreateOptType::Size, "Extent size hint for the image file, 0 to disable",
     nullptr},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

// Options shared by file and raw creation: size and preallocation.
bool file_parse_create_opts(QDict *opts, int64_t *size, PreallocMode *prealloc, Error **errp)
{
    uint64_t sz = 0;
    if (const char *v = opts->get("size")) {
        if (qemu_strtosz(v, &sz) < 0 || sz > (uint64_t)INT64_MAX) {
            error_setg(errp, "Parameter 'size' expects a non-negative number below 2^64");
            return false;
        }
    }
    *size = (int64_t)sz;
    *prealloc = PreallocMode::Off;
    if (const char *p = opts->get("preallocation")) {
        if (!prealloc_mode_parse(p, prealloc) || *prealloc == PreallocMode::Metadata) {
            error_setg(errp, "Parameter 'preallocation' does not accept value '%s'", p);
            return false;
        }
    }
    return true;
}

static int coroutine_fn file_co_create_opts(const char *filename, QDict *opts, Error **errp)
{
    int64_t size;
    PreallocMode prealloc;
    if (!file_parse_create_opts(opts, &size, &prealloc, errp)) {
        return -EINVAL;
    }
    // As QEMU: files are created in whole 512-byte sectors.
    size = size > INT64_MAX - 511 ? size : (size + 511) & ~int64_t(511);
    const char *fn = strncmp(filename, "file:", 5) ? filename : filename + 5;
    int fd = open(fn, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        error_setg_errno(errp, err, "Could not create '%s'", fn);
        return -err;
    }
    struct stat st;
    int ret = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        ret = resize_fd(fd, 0, 0, PreallocMode::Off, errp);
        if (ret >= 0) {
            ret = resize_fd(fd, 0, size, prealloc, errp);
        }
    }
    close(fd);
    return ret;
}

static void file_parse_filename(const char *filename, QDict *options, Error **errp)
{
    (void)errp;
    options->set("filename", strncmp(filename, "file:", 5) ? filename : filename + 5);
}

BlockDriver file_posix_driver(const char *name)
{
    BlockDriver d{};
    d.format_name = name;
    d.protocol_name = name;
    d.bdrv_parse_filename = file_parse_filename;
    d.bdrv_co_open = file_co_open;
    d.bdrv_co_close = file_co_close;
    d.bdrv_co_create_opts = file_co_create_opts;
    d.create_opts = file_create_opts;
    d.bdrv_refresh_limits = file_refresh_limits;
    d.bdrv_co_reopen = file_co_reopen;
    d.bdrv_co_preadv = file_co_preadv;
    d.bdrv_co_pwritev = file_co_pwritev;
    d.bdrv_co_pwrite_zeroes = file_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = file_co_pdiscard;
    d.bdrv_co_copy_range_from = file_co_copy_range_from;
    d.bdrv_co_copy_range_to = file_co_copy_range_to;
    d.bdrv_co_flush_to_disk = file_co_flush_to_disk;
    d.bdrv_co_block_status = file_co_block_status;
    d.bdrv_co_truncate = file_co_truncate;
    d.bdrv_co_getlength = file_co_getlength;
    d.bdrv_co_get_allocated_file_size = file_co_get_allocated_file_size;
    d.bdrv_set_perm = file_set_perm;
    d.runtime_opts = file_runtime_opts;
    return d;
}

BlockDriver bdrv_file = file_posix_driver("file");
