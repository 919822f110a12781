// BlockBackend: a user's handle on the root of a node graph.  Bounds checks,
// writethrough (FUA), quiescing and the synchronous wrappers live here; all
// other request processing is the node's (io.cc).
#include <cassert>
#include <cstring>
#include <string>

#include "block/block-core-int.h"

struct BlockBackend {
    BdrvChild *root = nullptr;
    AioContext *ctx = nullptr;
    bool wce = true;
    bool allow_write_beyond_eof = false;
    unsigned in_flight = 0;
    int quiesce_counter = 0;
    CoQueue queued;  // requests waiting for drained_end
};

struct OpenCall {
    const char *filename;
    QDict *options;
    int flags;
    Error **errp;
    BlockDriverState *bs;
};

static void coroutine_fn open_entry(void *opaque)
{
    auto *c = (OpenCall *)opaque;
    if (c->flags & BDRV_O_SNAPSHOT) {
        c->bs = bdrv_co_open_temp_snapshot(c->filename, c->options, c->flags, c->errp);
    } else {
        c->bs = bdrv_co_open_node(c->filename, c->options, c->flags, c->errp);
    }
}

static void root_perms(int flags, uint64_t *perm, uint64_t *shared)
{
    bdrv_perms_for_flags(flags, perm, shared);
    if ((flags & BDRV_O_RDWR) && !(flags & BDRV_O_SHARE_RW)) {
        *shared &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    }
}

BlockBackend *blk_new_open(const char *filename, QDict *options, int flags, Error **errp)
{
    bdrv_init();
    QDict opts;
    if (options) {
        opts = *options;
    }
    AioContext *ctx = qemu_get_aio_context();
    OpenCall call{filename, &opts, flags, errp, nullptr};
    aio_run_coroutine_sync(ctx, open_entry, &call);
    if (!call.bs) {
        return nullptr;
    }
    // read-only=on in the options while the user asked for a writable
    // backend: QEMU refuses the WRITE permission rather than degrade.
    if ((flags & BDRV_O_RDWR) && !(call.bs->open_flags & BDRV_O_RDWR)) {
        error_setg(errp, "Block node is read-only");
        aio_run_coroutine_sync(
            ctx, [](void *o) coroutine_fn { bdrv_co_unref((BlockDriverState *)o); }, call.bs);
        return nullptr;
    }
    uint64_t perm, shared;
    root_perms(call.bs->open_flags | (flags & BDRV_O_SHARE_RW), &perm, &shared);
    // attach_child takes over our reference (and drops it on failure).
    BdrvChild *root = nullptr;
    struct AttachCall {
        BlockDriverState *bs;
        uint64_t perm, shared;
        Error **errp;
        BdrvChild *c;
    };
    AttachCall ac{call.bs, perm, shared, errp, nullptr};
    aio_run_coroutine_sync(
        ctx,
        [](void *o) coroutine_fn {
            auto *a = (AttachCall *)o;
            a->c = bdrv_co_attach_child(nullptr, a->bs, "root", a->perm, a->shared, a->errp);
        },
        &ac);
    root = ac.c;
    if (!root) {
        return nullptr;
    }
    auto *blk = new BlockBackend;
    blk->root = root;
    blk->ctx = ctx;
    qemu_co_queue_init(&blk->queued);
    return blk;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    blk_drain(blk);
    if (blk->root) {
        if (blk_is_writable(blk)) {
            blk_flush(blk);
        }
        aio_run_coroutine_sync(
            blk->ctx, [](void *o) coroutine_fn { bdrv_co_detach_child((BdrvChild *)o); },
            blk->root);
    }
    delete blk;
}

BlockDriverState *blk_bs(BlockBackend *blk) { return blk->root ? blk->root->bs : nullptr; }
AioContext *blk_get_aio_context(BlockBackend *blk) { return blk->ctx; }
bool blk_is_read_only(BlockBackend *blk) { return !blk_is_writable(blk); }
bool blk_is_writable(BlockBackend *blk) { return blk->root && (blk->root->perm & BLK_PERM_WRITE); }
void blk_set_enable_write_cache(BlockBackend *blk, bool wce) { blk->wce = wce; }
bool blk_enable_write_cache(BlockBackend *blk) { return blk->wce; }
void blk_set_allow_write_beyond_eof(BlockBackend *blk, bool allow)
{
    blk->allow_write_beyond_eof = allow;
}
int blk_set_shared_perm(BlockBackend *blk, uint64_t shared, Error **errp)
{
    if (!blk->root) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    return bdrv_child_set_perm(blk->root, blk->root->perm, shared, errp);
}

uint64_t blk_get_shared_perm(BlockBackend *blk)
{
    return blk->root ? blk->root->shared_perm : BLK_PERM_ALL;
}

unsigned blk_in_flight(BlockBackend *blk) { return blk->in_flight; }

void blk_set_detect_zeroes(BlockBackend *blk, BlockdevDetectZeroes mode)
{
    if (BlockDriverState *bs = blk_bs(blk)) {
        bs->detect_zeroes = mode;
    }
}

void blk_set_copy_on_read(BlockBackend *blk, bool on)
{
    if (BlockDriverState *bs = blk_bs(blk)) {
        bs->copy_on_read = on;
    }
}

void coroutine_mixed_fn blk_drain(BlockBackend *blk)
{
    if (qemu_in_coroutine()) {
        while (blk->in_flight) {
            qemu_coroutine_yield_to_loop();
        }
    } else {
        AIO_WAIT_WHILE(blk->ctx, blk->in_flight > 0);
    }
    if (BlockDriverState *bs = blk_bs(blk)) {
        bdrv_drain(bs);
    }
}

void blk_drained_begin(BlockBackend *blk)
{
    blk->quiesce_counter++;
    blk_drain(blk);
}

void blk_drained_end(BlockBackend *blk)
{
    assert(blk->quiesce_counter > 0);
    if (--blk->quiesce_counter == 0) {
        qemu_co_queue_restart_all(&blk->queued);
    }
}

// ---- reopen --------------------------------------------------------------
// QEMU names a child's option without the child's prefix ("file.locking"
// -> 'locking').
static std::string option_leaf(const std::string &key)
{
    for (const char *child : {"file.", "backing.", "image.", "data-file."}) {
        if (key.rfind(child, 0) == 0) {
            return option_leaf(key.substr(strlen(child)));
        }
    }
    return key;
}

struct ReopenCall {
    BlockDriverState *bs;
    int flags;
    Error **errp;
    int ret;
};

static int reopen_nodes(BlockBackend *blk, int flags, Error **errp)
{
    ReopenCall call{blk_bs(blk), flags, errp, 0};
    aio_run_coroutine_sync(
        blk->ctx,
        [](void *o) coroutine_fn {
            auto *c = (ReopenCall *)o;
            c->ret = bdrv_co_reopen(c->bs, c->flags, c->errp);
        },
        &call);
    return call.ret;
}

struct ReopenOptsCall {
    BlockDriverState *bs;
    QDict *opts;
    bool apply;
    Error **errp;
    int ret;
};

static int reopen_driver_opts(BlockBackend *blk, QDict *opts, bool apply, Error **errp)
{
    ReopenOptsCall call{blk_bs(blk), opts, apply, errp, 0};
    aio_run_coroutine_sync(
        blk->ctx,
        [](void *o) coroutine_fn {
            auto *c = (ReopenOptsCall *)o;
            c->ret = c->bs->drv->bdrv_co_reopen_opts(c->bs, c->opts, c->apply, c->errp);
        },
        &call);
    return call.ret;
}

int blk_reopen(BlockBackend *blk, QDict *opts, Error **errp)
{
    BlockDriverState *bs = blk_bs(blk);
    QDict o = opts ? *opts : QDict{};
    int old_flags = bs->open_flags, flags = old_flags;
    // At open, read-only only ever restricts; here it goes both ways.
    if (const char *ro = o.get("read-only")) {
        bool b;
        if (!keyval_parse_bool(ro, &b)) {
            error_setg(errp, "Parameter 'read-only' expects 'on' or 'off'");
            return -EINVAL;
        }
        flags = b ? (flags & ~BDRV_O_RDWR) : (flags | BDRV_O_RDWR);
        o.del("read-only");
    }
    // Naming what is already there is no change.
    if (const char *d = o.get("driver"); d && !strcmp(d, bs->drv->format_name)) {
        o.del("driver");
    }
    if (const char *f = o.get("file.filename"); f && bs->file && f == bs->file->bs->filename) {
        o.del("file.filename");
    }
    if (!bdrv_take_generic_options(&o, &flags, bs, errp)) {
        return -EINVAL;
    }
    QDict drv_opts = o;  // the driver's own runtime options, applied last
    if (!o.entries.empty() && bs->drv->bdrv_co_reopen_opts &&
        reopen_driver_opts(blk, &o, false, errp) < 0) {
        return -EINVAL;
    }
    if (!o.entries.empty()) {
        error_setg(errp, "Cannot change the option '%s'",
                   option_leaf(o.entries.begin()->first).c_str());
        return -EINVAL;
    }
    blk_drain(blk);
    const uint64_t writing = BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED | BLK_PERM_RESIZE;
    uint64_t old_perm = blk->root->perm, shared = blk->root->shared_perm;
    bool writable = flags & BDRV_O_RDWR;
    if (!writable) {
        bdrv_child_set_perm(blk->root, old_perm & ~writing, shared, nullptr);  // only loosens
    }
    int ret = reopen_nodes(blk, flags, errp);
    if (ret == 0) {
        // Children's edges follow the nodes' new read-only state (locks).
        uint64_t perm = writable ? (old_perm | BLK_PERM_WRITE) : (old_perm & ~writing);
        ret = perm != blk->root->perm ? bdrv_child_set_perm(blk->root, perm, shared, errp)
                                      : bdrv_refresh_perms(bs, errp);
        if (ret < 0) {
            reopen_nodes(blk, old_flags, nullptr);
        }
    }
    if (ret < 0) {
        bdrv_child_set_perm(blk->root, old_perm, shared, nullptr);
    }
    if (ret == 0 && bs->drv->bdrv_co_reopen_opts) {
        blk_drain(blk);
        ret = reopen_driver_opts(blk, &drv_opts, true, errp);
    }
    return ret;
}

// ---- requests ------------------------------------------------------------
// Counts the request and holds it back while the backend is drained.
struct BlkRequestGuard {
    BlockBackend *blk;
    coroutine_fn explicit BlkRequestGuard(BlockBackend *b) : blk(b)
    {
        while (blk->quiesce_counter > 0) {
            qemu_co_queue_wait(&blk->queued, nullptr);
        }
        blk->in_flight++;
    }
    ~BlkRequestGuard()
    {
        if (--blk->in_flight == 0) {
            aio_notify(blk->ctx);
        }
    }
};

static int blk_check_request(BlockBackend *blk, int64_t offset, int64_t bytes, bool write)
{
    BlockDriverState *bs = blk_bs(blk);
    if (!bs || !bdrv_node_usable(bs)) {
        return -ENOMEDIUM;
    }
    if (offset < 0 || bytes < 0) {
        return -EIO;
    }
    if (write && blk->allow_write_beyond_eof) {
        return 0;
    }
    int64_t len = bdrv_sector_rounded_length(bs->total_bytes);
    if (offset > len || len - offset < bytes) {
        return -EIO;
    }
    return 0;
}

// Range and permission checks shared by every writing request.
static int blk_check_write(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    int ret = blk_check_request(blk, offset, bytes, true);
    if (ret < 0) {
        return ret;
    }
    return blk_is_writable(blk) ? 0 : -EPERM;
}

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
                               int flags)
{
    BlkRequestGuard g(blk);
    int ret = blk_check_request(blk, offset, bytes, false);
    return ret < 0 ? ret : bdrv_co_preadv(blk->root, offset, bytes, qiov, flags);
}

int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, int flags)
{
    BlkRequestGuard g(blk);
    int ret = blk_check_write(blk, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (!blk->wce) {
        flags |= BDRV_REQ_FUA;
    }
    return bdrv_co_pwritev(blk->root, offset, bytes, qiov, flags);
}

int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
                              int flags)
{
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, buf, bytes);
    return blk_co_preadv(blk, offset, bytes, &q, flags);
}

int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf,
                               int flags)
{
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, (void *)buf, bytes);
    return blk_co_pwritev(blk, offset, bytes, &q, flags);
}

int coroutine_fn blk_co_pwrite_compressed(BlockBackend *blk, int64_t offset, int64_t bytes,
                                          const void *buf)
{
    BlkRequestGuard g(blk);
    int ret = blk_check_request(blk, offset, bytes, true);
    if (ret < 0) {
        return ret;
    }
    BlockDriverState *bs = blk_bs(blk);
    if (!bs->drv->bdrv_co_pwritev_compressed) {
        return -ENOTSUP;
    }
    if (!blk_is_writable(blk)) {
        return -EPERM;
    }
    QEMUIOVector q;
    qemu_iovec_init_buf(&q, (void *)buf, bytes);
    bdrv_inc_in_flight(bs);
    ret = bs->drv->bdrv_co_pwritev_compressed(bs, offset, bytes, &q, 0);
    bs->write_gen++;
    bdrv_set_dirty(bs, offset, bytes);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes, int flags)
{
    BlkRequestGuard g(blk);
    int ret = blk_check_write(blk, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (!blk->wce) {
        flags |= BDRV_REQ_FUA;
    }
    return bdrv_co_pwrite_zeroes(blk->root, offset, bytes, flags);
}

int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    BlkRequestGuard g(blk);
    int ret = blk_check_write(blk, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pdiscard(blk->root, offset, bytes);
}

int coroutine_fn blk_co_copy_range(BlockBackend *src, int64_t src_offset, BlockBackend *dst,
                                   int64_t dst_offset, int64_t bytes, int read_flags,
                                   int write_flags)
{
    BlkRequestGuard gs(src);
    BlkRequestGuard gd(dst);
    int ret = blk_check_request(src, src_offset, bytes, false);
    if (ret == 0) {
        ret = blk_check_write(dst, dst_offset, bytes);
    }
    if (ret < 0) {
        return ret;
    }
    if (!dst->wce) {
        write_flags |= BDRV_REQ_FUA;
    }
    return bdrv_co_copy_range_from(src->root, src_offset, dst->root, dst_offset, bytes, read_flags,
                                   write_flags);
}

int coroutine_fn blk_co_flush(BlockBackend *blk)
{
    BlkRequestGuard g(blk);
    BlockDriverState *bs = blk_bs(blk);
    return bs ? bdrv_co_flush(bs) : -ENOMEDIUM;
}

int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset, bool exact, int prealloc,
                                 Error **errp)
{
    BlkRequestGuard g(blk);
    if (!blk_bs(blk)) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (!blk_is_writable(blk)) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    // Resizing needs (and holds only for its duration) the RESIZE permission.
    uint64_t perm = blk->root->perm, shared = blk->root->shared_perm;
    int ret = bdrv_child_set_perm(blk->root, perm | BLK_PERM_RESIZE, shared, errp);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_co_truncate(blk->root, offset, exact, (PreallocMode)prealloc, errp);
    bdrv_child_set_perm(blk->root, perm, shared, nullptr);
    return ret;
}

int64_t coroutine_fn blk_co_getlength(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);
    return bs ? bdrv_co_getlength(bs) : -ENOMEDIUM;
}

int coroutine_fn blk_co_block_status_above(BlockBackend *blk, int64_t offset, int64_t bytes,
                                           int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    BlkRequestGuard g(blk);
    BlockDriverState *bs = blk_bs(blk);
    return bs ? bdrv_co_block_status_above(bs, nullptr, offset, bytes, pnum, map, file)
              : -ENOMEDIUM;
}

int coroutine_fn blk_co_allocation_depth(BlockBackend *blk, int64_t offset, int64_t bytes,
                                         int64_t *pnum)
{
    BlkRequestGuard g(blk);
    BlockDriverState *bs = blk_bs(blk);
    return bs ? bdrv_co_allocation_depth(bs, offset, bytes, pnum) : -ENOMEDIUM;
}

// ---- synchronous wrappers ------------------------------------------------
template <typename F>
static int64_t blk_run_sync(BlockBackend *blk, F fn)
{
    struct Call {
        F *fn;
        int64_t ret;
    } c{&fn, -EINPROGRESS};
    aio_run_coroutine_sync(
        blk->ctx,
        [](void *o) {
            auto *call = (Call *)o;
            call->ret = (*call->fn)();
        },
        &c);
    return c.ret;
}

int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf, int flags)
{
    return (int)blk_run_sync(
        blk, [&]() coroutine_fn { return blk_co_pread(blk, offset, bytes, buf, flags); });
}

int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf, int flags)
{
    return (int)blk_run_sync(
        blk, [&]() coroutine_fn { return blk_co_pwrite(blk, offset, bytes, buf, flags); });
}

int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes, int flags)
{
    return (int)blk_run_sync(
        blk, [&]() coroutine_fn { return blk_co_pwrite_zeroes(blk, offset, bytes, flags); });
}

int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    return (int)blk_run_sync(blk,
                             [&]() coroutine_fn { return blk_co_pdiscard(blk, offset, bytes); });
}

int blk_flush(BlockBackend *blk)
{
    return (int)blk_run_sync(blk, [&]() coroutine_fn { return blk_co_flush(blk); });
}

int blk_truncate(BlockBackend *blk, int64_t offset, bool exact, int prealloc, Error **errp)
{
    return (int)blk_run_sync(
        blk, [&]() coroutine_fn { return blk_co_truncate(blk, offset, exact, prealloc, errp); });
}

int64_t blk_getlength(BlockBackend *blk)
{
    return blk_run_sync(blk, [&]() coroutine_fn { return blk_co_getlength(blk); });
}

// The node that keeps the VM state: the first from @bs down the file
// children whose driver has one (QEMU recurses into the primary child).
static BlockDriverState *vmstate_node(BlockDriverState *bs, bool load)
{
    for (; bs && bs->drv; bs = bs->file ? bs->file->bs : nullptr) {
        if (load ? bs->drv->bdrv_co_load_vmstate : bs->drv->bdrv_co_save_vmstate) {
            return bs;
        }
    }
    return nullptr;
}

int coroutine_fn blk_co_load_vmstate(BlockBackend *blk, uint8_t *buf, int64_t pos, int64_t size)
{
    BlockDriverState *bs = blk_bs(blk);
    if (!bs) {
        return -ENOMEDIUM;
    }
    if (pos < 0 || size < 0) {
        return -EIO;
    }
    BlockDriverState *node = vmstate_node(bs, true);
    if (!node) {
        return -ENOTSUP;
    }
    QEMUIOVector qiov;
    qemu_iovec_init_buf(&qiov, buf, (size_t)size);
    blk->in_flight++;
    int ret = node->drv->bdrv_co_load_vmstate(node, &qiov, pos);
    blk->in_flight--;
    return ret < 0 ? ret : (int)size;
}

int coroutine_fn blk_co_save_vmstate(BlockBackend *blk, const uint8_t *buf, int64_t pos,
                                     int64_t size)
{
    BlockDriverState *bs = blk_bs(blk);
    if (!bs) {
        return -ENOMEDIUM;
    }
    if (pos < 0 || size < 0) {
        return -EIO;
    }
    BlockDriverState *node = vmstate_node(bs, false);
    if (!node) {
        return -ENOTSUP;
    }
    QEMUIOVector qiov;
    qemu_iovec_init_buf(&qiov, const_cast<uint8_t *>(buf), (size_t)size);
    blk->in_flight++;
    int ret = node->drv->bdrv_co_save_vmstate(node, &qiov, pos);
    blk->in_flight--;
    if (ret >= 0 && !blk->wce) {
        ret = bdrv_co_flush(bs);
    }
    return ret < 0 ? ret : (int)size;
}

int blk_load_vmstate(BlockBackend *blk, uint8_t *buf, int64_t pos, int64_t size)
{
    return (int)blk_run_sync(
        blk, [&]() coroutine_fn { return blk_co_load_vmstate(blk, buf, pos, size); });
}

int blk_save_vmstate(BlockBackend *blk, const uint8_t *buf, int64_t pos, int64_t size)
{
    return (int)blk_run_sync(
        blk, [&]() coroutine_fn { return blk_co_save_vmstate(blk, buf, pos, size); });
}
