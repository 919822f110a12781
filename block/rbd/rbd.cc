// The `rbd` protocol driver: images in a Ceph cluster through librbd, as
// QEMU 7.2's block/rbd.c behaves (options, messages, allocation through
// rbd_diff_iterate2), written for our coroutine block layer.
//
// Threads: librbd calls back on its own threads.  A completion callback
// only records the result and schedules a one-shot bottom half in the
// node's AioContext; the BH wakes the request coroutine there.  Calls that
// block (connect, open, create, stat, resize, diff-iterate, close) run in
// the thread pool while the calling coroutine yields, so the main loop
// keeps running.
#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "block/block-int.h"
#include "block/rbd/rbd-int.h"
#include "util/aio.h"
#include "util/cutils.h"
#include "util/thread-pool.h"

namespace {

struct RbdState {
    RbdOptions opts;
    rados_t cluster = nullptr;
    rados_ioctx_t io = nullptr;
    rbd_image_t image = nullptr;
    uint64_t image_size = 0;
    uint64_t object_size = 0;
    AioContext *ctx = nullptr;
};

RbdState *state(BlockDriverState *bs) { return (RbdState *)bs->opaque; }

// Runs @fn in a thread-pool worker; the coroutine yields until it is done.
int coroutine_fn run_blocking(const std::function<int()> &fn)
{
    return thread_pool_submit_co(
        [](void *opaque) -> int { return (*(const std::function<int()> *)opaque)(); }, (void *)&fn);
}

// Our defaults for how long librados waits for an unreachable cluster
// (librados' own: 300 s to mount, forever for monitor and OSD ops).  A
// value from the configuration file or the filename wins.
struct TimeoutDefault {
    const char *key;
    double librados_default;
    const char *ours;
};
const TimeoutDefault kTimeouts[] = {
    {"client_mount_timeout", 300, "30"},
    {"rados_mon_op_timeout", 0, "30"},
    {"rados_osd_op_timeout", 0, "60"},
};

void apply_default_timeouts(rados_t cluster)
{
    for (const auto &t : kTimeouts) {
        char buf[64];
        if (rados_conf_get(cluster, t.key, buf, sizeof(buf)) == 0 &&
            strtod(buf, nullptr) == t.librados_default) {
            rados_conf_set(cluster, t.key, t.ours);
        }
    }
}

void shutdown_cluster(rados_t *cluster, rados_ioctx_t *io)
{
    if (*io) rados_ioctx_destroy(*io);
    if (*cluster) rados_shutdown(*cluster);
    *io = nullptr;
    *cluster = nullptr;
}

// Blocking: creates, configures and connects a cluster handle and opens the
// pool (and namespace).  Runs in a worker thread.
int connect_blocking(const RbdOptions &o, bool cache, rados_t *cluster, rados_ioctx_t *io,
                     Error **errp)
{
    int r = rados_create(cluster, o.has_user && !o.user.empty() ? o.user.c_str() : nullptr);
    if (r < 0) {
        *cluster = nullptr;
        error_setg_errno(errp, -r, "error initializing");
        return r;
    }
    r = rados_conf_read_file(*cluster, o.has_conf ? o.conf.c_str() : nullptr);
    if (o.has_conf && r < 0) {
        error_setg_errno(errp, -r, "error reading conf file %s", o.conf.c_str());
        shutdown_cluster(cluster, io);
        return r;
    }
    apply_default_timeouts(*cluster);
    for (const auto &kv : o.keypairs) {
        r = rados_conf_set(*cluster, kv.first.c_str(), kv.second.c_str());
        if (r < 0) {
            error_setg_errno(errp, -r, "invalid conf option %s", kv.first.c_str());
            shutdown_cluster(cluster, io);
            return -EINVAL;
        }
    }
    // As QEMU: librbd's cache follows cache.direct (errors ignored).
    rados_conf_set(*cluster, "rbd_cache", cache ? "true" : "false");
    r = rados_connect(*cluster);
    if (r < 0) {
        error_setg_errno(errp, -r, "error connecting");
        shutdown_cluster(cluster, io);
        return r;
    }
    r = rados_ioctx_create(*cluster, o.pool.c_str(), io);
    if (r < 0) {
        *io = nullptr;
        error_setg_errno(errp, -r, "error opening pool %s", o.pool.c_str());
        shutdown_cluster(cluster, io);
        return r;
    }
    if (!o.ns.empty()) {
        bool exists = false;
        r = rbd_namespace_exists(*io, o.ns.c_str(), &exists);
        if (r < 0) {
            error_setg_errno(errp, -r, "error checking namespace");
            shutdown_cluster(cluster, io);
            return r;
        }
        if (!exists) {
            error_setg(errp, "namespace '%s' does not exist", o.ns.c_str());
            shutdown_cluster(cluster, io);
            return -ENOENT;
        }
    }
    rados_ioctx_set_namespace(*io, o.ns.c_str());
    return 0;
}

int open_blocking(RbdState *s, bool cache, Error **errp)
{
    int r = connect_blocking(s->opts, cache, &s->cluster, &s->io, errp);
    if (r < 0) return r;
    const char *snap = s->opts.has_snapshot ? s->opts.snapshot.c_str() : nullptr;
    r = rbd_open(s->io, s->opts.image.c_str(), &s->image, snap);
    if (r < 0) {
        s->image = nullptr;
        error_setg_errno(errp, -r, "error reading header from %s", s->opts.image.c_str());
        shutdown_cluster(&s->cluster, &s->io);
        return r;
    }
    rbd_image_info_t info;
    r = rbd_stat(s->image, &info, sizeof(info));
    if (r < 0) {
        error_setg_errno(errp, -r, "error getting image info from %s", s->opts.image.c_str());
        rbd_close(s->image);
        s->image = nullptr;
        shutdown_cluster(&s->cluster, &s->io);
        return r;
    }
    s->image_size = info.size;
    s->object_size = info.obj_size;
    return 0;
}

void close_blocking(RbdState *s)
{
    if (s->image) rbd_close(s->image);
    s->image = nullptr;
    shutdown_cluster(&s->cluster, &s->io);
}

const char *const rbd_runtime_opts[] = {
    "filename", "pool", "namespace",      "image",         "snapshot",
    "conf",     "user", "encrypt.format", kRbdKeypairsKey, nullptr,
};

int coroutine_fn rbd_co_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    auto s = std::make_unique<RbdState>();
    if (options->has("encrypt.format")) {
        error_setg(errp, "rbd encryption is not supported by qemu-lite");
        return -ENOTSUP;
    }
    if (!rbd_take_options(options, &s->opts, errp)) return -EINVAL;
    if (s->opts.has_snapshot && (flags & BDRV_O_RDWR)) {
        error_setg(errp, "rbd snapshots are read-only");
        return -EACCES;
    }
    bool cache = !(flags & BDRV_O_NOCACHE);
    ErrorPtr err;
    RbdState *sp = s.get();
    Error **ep = &err;
    int r = run_blocking([sp, cache, ep]() { return open_blocking(sp, cache, ep); });
    if (r < 0) {
        error_propagate(errp, err.release());
        return r;
    }
    s->ctx = bs->ctx ? bs->ctx : qemu_get_current_aio_context();
    bs->total_bytes = int64_t(s->image_size);
    bs->filename = rbd_json_filename(s->opts);
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP;
    bs->opaque = s.release();
    return 0;
}

void coroutine_fn rbd_co_close(BlockDriverState *bs)
{
    RbdState *s = state(bs);
    if (!s) return;
    run_blocking([s]() {
        close_blocking(s);
        return 0;
    });
    delete s;
    bs->opaque = nullptr;
}

void rbd_refresh_limits(BlockDriverState *bs, Error **)
{
    RbdState *s = state(bs);
    uint64_t obj = s->object_size ? s->object_size : 4096;
    bs->bl.pdiscard_alignment = uint32_t(obj);
    bs->bl.max_pdiscard = (uint64_t(INT32_MAX) / obj) * obj;
    bs->bl.max_pwrite_zeroes = (uint64_t(INT32_MAX) / obj) * obj;
}

// ---- asynchronous requests ----------------------------------------------

// Numbered as QEMU's RBDAIOCmd: its error messages print the number.
enum class RbdCmd { Read, Write, Discard, Flush, WriteZeroes };

struct RbdTask {
    AioContext *ctx;
    Coroutine *co;
    int64_t ret = 0;
    bool complete = false;
};

// In the node's AioContext: the request coroutine may go on.
void rbd_completion_bh(void *opaque)
{
    auto *t = (RbdTask *)opaque;
    t->complete = true;
    aio_context_dec_in_flight(t->ctx);
    aio_co_wake(t->co);
}

// On a librbd thread: record the result, hand over to the AioContext.
void rbd_completion_cb(rbd_completion_t c, void *arg)
{
    auto *t = (RbdTask *)arg;
    t->ret = rbd_aio_get_return_value(c);
    rbd_aio_release(c);
    aio_bh_schedule_oneshot(t->ctx, rbd_completion_bh, t);
}

int coroutine_fn rbd_start_co(BlockDriverState *bs, RbdCmd cmd, int64_t offset, int64_t bytes,
                              QEMUIOVector *qiov, size_t qiov_offset, int flags)
{
    RbdState *s = state(bs);
    RbdTask task{s->ctx, qemu_coroutine_self()};
    QEMUIOVector part;
    if (qiov) {
        qemu_iovec_init(&part);
        qemu_iovec_concat(&part, qiov, qiov_offset, size_t(bytes));
    }
    rbd_completion_t c;
    int r = rbd_aio_create_completion(&task, rbd_completion_cb, &c);
    if (r < 0) return r;
    switch (cmd) {
    case RbdCmd::Read:
        r = rbd_aio_readv(s->image, part.iov.data(), int(part.iov.size()), uint64_t(offset), c);
        break;
    case RbdCmd::Write:
        r = rbd_aio_writev(s->image, part.iov.data(), int(part.iov.size()), uint64_t(offset), c);
        break;
    case RbdCmd::Discard:
        r = rbd_aio_discard(s->image, uint64_t(offset), uint64_t(bytes), c);
        break;
    case RbdCmd::Flush: r = rbd_aio_flush(s->image, c); break;
    case RbdCmd::WriteZeroes: {
        int zf = (flags & BDRV_REQ_MAY_UNMAP) ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION;
        r = rbd_aio_write_zeroes(s->image, uint64_t(offset), size_t(bytes), c, zf, 0);
        break;
    }
    }
    if (r < 0) {
        error_report("rbd request failed early: cmd %d offset %" PRId64 " bytes %" PRId64
                     " flags %d r %d (%s)",
                     int(cmd), offset, bytes, flags, r, strerror(-r));
        rbd_aio_release(c);
        return r;
    }
    aio_context_inc_in_flight(s->ctx);
    while (!task.complete) {
        qemu_coroutine_yield();
    }
    if (task.ret < 0) {
        error_report("rbd request failed: cmd %d offset %" PRId64 " bytes %" PRId64
                     " flags %d task.ret %" PRId64 " (%s)",
                     int(cmd), offset, bytes, flags, task.ret, strerror(int(-task.ret)));
        return int(task.ret);
    }
    if (cmd == RbdCmd::Read && task.ret < bytes) {  // short read past the end: zeroes
        qemu_iovec_memset(qiov, qiov_offset + size_t(task.ret), 0, size_t(bytes - task.ret));
    }
    return 0;
}

int coroutine_fn rbd_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, size_t qiov_offset, int flags)
{
    if (bytes == 0) return 0;
    return rbd_start_co(bs, RbdCmd::Read, offset, bytes, qiov, qiov_offset, flags);
}

int coroutine_fn rbd_resize_co(BlockDriverState *bs, uint64_t size)
{
    RbdState *s = state(bs);
    int r = run_blocking([s, size]() { return rbd_resize(s->image, size); });
    if (r == 0) {
        s->image_size = size;
        bs->total_bytes = int64_t(size);
    }
    return r;
}

int coroutine_fn rbd_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, size_t qiov_offset, int flags)
{
    if (bytes == 0) return 0;
    RbdState *s = state(bs);
    if (uint64_t(offset + bytes) > s->image_size) {  // librbd does not grow on write
        int r = rbd_resize_co(bs, uint64_t(offset + bytes));
        if (r < 0) return r;
    }
    return rbd_start_co(bs, RbdCmd::Write, offset, bytes, qiov, qiov_offset, flags);
}

int coroutine_fn rbd_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                      int flags)
{
    return rbd_start_co(bs, RbdCmd::WriteZeroes, offset, bytes, nullptr, 0, flags);
}

int coroutine_fn rbd_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    if (bytes == 0) return 0;
    return rbd_start_co(bs, RbdCmd::Discard, offset, bytes, nullptr, 0, 0);
}

int coroutine_fn rbd_co_flush(BlockDriverState *bs)
{
    return rbd_start_co(bs, RbdCmd::Flush, 0, 0, nullptr, 0, 0);
}

// ---- allocation (rbd_diff_iterate2 on the object map, as QEMU 7.2) -------

struct DiffReq {
    uint64_t offs;
    uint64_t bytes = 0;
    bool exists = false;
};
// Returned by the callback to end the walk early; librbd passes a negative
// value through as its own result (and stops), any errno would be ambiguous.
constexpr int kDiffStop = -9000;

// Called for each changed extent in offset order; grows @req's run from
// its start: an unallocated run ends at the first allocated extent, an
// allocated one at the first gap.
int diff_iterate_cb(uint64_t offs, size_t len, int exists, void *opaque)
{
    auto *req = (DiffReq *)opaque;
    if (!exists) return 0;  // a hole counts as unallocated
    if (!req->exists && offs > req->offs) {
        req->bytes = offs - req->offs;  // the unallocated run before it
        return kDiffStop;
    }
    if (req->exists && offs > req->offs + req->bytes) return kDiffStop;  // a gap
    req->bytes += len;
    req->exists = true;
    return 0;
}

// Blocking: the status of [offset, offset + bytes) into *pnum / return.
int block_status_blocking(RbdState *s, int64_t offset, int64_t bytes, int64_t *pnum)
{
    int status = BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    *pnum = bytes;
    uint64_t features, flags;
    if (rbd_get_features(s->image, &features) < 0 || !(features & RBD_FEATURE_FAST_DIFF)) {
        return status;
    }
    if (rbd_get_flags(s->image, &flags) < 0 || (flags & RBD_FLAG_FAST_DIFF_INVALID)) {
        return status;
    }
    // librbd before 17.2.1 reports wrong offsets for a start that is not
    // object-aligned (tracker.ceph.com/issues/53784): start at the object
    // boundary, which is only right without fancy striping or a parent.
    if (features & RBD_FEATURE_STRIPINGV2) return status;
    char pool[1], img[1], snap[1];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (rbd_get_parent_info(s->image, pool, 0, img, 0, snap, 0) != -ENOENT) return status;
#pragma GCC diagnostic pop
    DiffReq req{uint64_t(offset)};
    uint64_t head = req.offs & (s->object_size - 1);
    req.offs -= head;
    uint64_t len = uint64_t(bytes) + head;
    int r = rbd_diff_iterate2(s->image, nullptr, req.offs, len, 1, 1, diff_iterate_cb, &req);
    if (r < 0 && r != kDiffStop) return status;
    if (!req.exists) {
        if (r == 0) req.bytes = len;  // no callback at all: all unallocated
        status = BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID;
    }
    if (req.bytes <= head) {  // cannot happen with whole-object extents
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    *pnum = std::min<int64_t>(int64_t(req.bytes - head), bytes);
    return status;
}

int coroutine_fn rbd_co_block_status(BlockDriverState *bs, bool, int64_t offset, int64_t bytes,
                                     int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    RbdState *s = state(bs);
    *map = offset;
    *file = bs;
    int64_t n = bytes;
    int status = run_blocking(
        [s, offset, bytes, &n]() { return block_status_blocking(s, offset, bytes, &n); });
    *pnum = n;
    return status;
}

int64_t coroutine_fn rbd_co_getlength(BlockDriverState *bs)
{
    return int64_t(state(bs)->image_size);
}

int coroutine_fn rbd_co_truncate(BlockDriverState *bs, int64_t offset, bool, PreallocMode prealloc,
                                 Error **errp)
{
    if (prealloc != PreallocMode::Off) {
        error_setg(errp, "Unsupported preallocation mode '%s'", prealloc_mode_name(prealloc));
        return -ENOTSUP;
    }
    int r = rbd_resize_co(bs, uint64_t(offset));
    if (r < 0) {
        error_setg_errno(errp, -r, "failed to resize rbd image");
        return r;
    }
    return 0;
}

int rbd_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    bdi->cluster_size = int(state(bs)->object_size);
    return 0;
}

// ---- snapshots (the image's rbd snapshots, as QEMU lists them) ----------

// Blocking but short (the image's snapshot table); called by tools outside
// coroutines, as QEMU.
int rbd_snapshot_list(BlockDriverState *bs, std::vector<QEMUSnapshotInfo> *out)
{
    RbdState *s = state(bs);
    std::vector<rbd_snap_info_t> snaps(16);
    int n;
    for (;;) {
        int max = int(snaps.size());
        n = rbd_snap_list(s->image, snaps.data(), &max);
        if (n != -ERANGE) break;
        snaps.resize(size_t(max) + 16);
    }
    if (n <= 0) return n;
    for (int i = 0; i < n; i++) {
        QEMUSnapshotInfo sn;
        sn.id_str = snaps[size_t(i)].name;
        sn.name = snaps[size_t(i)].name;
        sn.vm_state_size = snaps[size_t(i)].size;
        sn.icount = 0;
        out->push_back(sn);
    }
    rbd_snap_list_end(snaps.data());
    return n;
}

int coroutine_fn rbd_co_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn)
{
    RbdState *s = state(bs);
    if (sn->name.empty()) return -EINVAL;
    if (!sn->id_str.empty() && sn->id_str != sn->name) return -EINVAL;
    std::string name = sn->name;
    return run_blocking([s, &name]() { return rbd_snap_create(s->image, name.c_str()); });
}

int coroutine_fn rbd_co_snapshot_delete(BlockDriverState *bs, const char *id, Error **errp)
{
    RbdState *s = state(bs);
    std::string name = id;
    int r = run_blocking([s, &name]() { return rbd_snap_remove(s->image, name.c_str()); });
    if (r < 0) error_setg_errno(errp, -r, "Failed to remove the snapshot");
    return r;
}

JsonNode *rbd_get_specific_info(BlockDriverState *, Error **)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "rbd");
    json_builder_set_member_name(b, "data");
    json_builder_begin_object(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    JsonNode *n = json_builder_get_root(b);
    g_object_unref(b);
    return n;
}

// ---- create -------------------------------------------------------------

const CreateOptDesc rbd_create_opts[] = {
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {"cluster_size", CreateOptType::Size, "RBD object size", nullptr},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

int create_blocking(const RbdOptions &o, uint64_t size, int order, Error **errp)
{
    rados_t cluster = nullptr;
    rados_ioctx_t io = nullptr;
    int r = connect_blocking(o, false, &cluster, &io, errp);
    if (r < 0) return r;
    rbd_image_options_t iopts;
    rbd_image_options_create(&iopts);
    if (order) rbd_image_options_set_uint64(iopts, RBD_IMAGE_OPTION_ORDER, uint64_t(order));
    r = rbd_create4(io, o.image.c_str(), size, iopts);
    rbd_image_options_destroy(iopts);
    if (r < 0) error_setg_errno(errp, -r, "error rbd create");
    shutdown_cluster(&cluster, &io);
    return r;
}

int coroutine_fn rbd_co_create_opts(const char *filename, QDict *opts, Error **errp)
{
    uint64_t size = 0, objsize = 0;
    if (const char *v = opts->get("size")) {
        if (qemu_strtosz(v, &size) < 0 || size > uint64_t(INT64_MAX)) {
            error_setg(errp, "Parameter 'size' expects a non-negative number below 2^64");
            return -EINVAL;
        }
    }
    if (const char *v = opts->get("cluster_size")) {
        if (qemu_strtosz(v, &objsize) < 0) {
            error_setg(errp, "Parameter 'cluster_size' expects a size");
            return -EINVAL;
        }
    }
    int order = 0;
    if (objsize) {
        if (!rbd_check_object_size(objsize, errp)) return -EINVAL;
        order = __builtin_ctzll(objsize);
    }
    QDict o;
    ErrorPtr err;
    rbd_parse_filename(filename, &o, &err);
    if (err) {
        error_propagate(errp, err.release());
        return -EINVAL;
    }
    RbdOptions ro;
    if (!rbd_take_options(&o, &ro, errp)) return -EINVAL;
    if (ro.has_snapshot) {
        error_setg(errp, "Can't use snapshot name for image creation");
        return -EINVAL;
    }
    Error **ep = &err;
    const RbdOptions *rp = &ro;
    int r = run_blocking([rp, size, order, ep]() { return create_blocking(*rp, size, order, ep); });
    if (r < 0) error_propagate(errp, err.release());
    return r;
}

BlockDriver make_driver()
{
    BlockDriver d = {};
    d.format_name = "rbd";
    d.protocol_name = "rbd";
    d.bdrv_parse_filename = rbd_parse_filename;
    d.bdrv_co_open = rbd_co_open;
    d.bdrv_co_close = rbd_co_close;
    d.bdrv_co_create_opts = rbd_co_create_opts;
    d.create_opts = rbd_create_opts;
    d.bdrv_refresh_limits = rbd_refresh_limits;
    d.bdrv_co_preadv = rbd_co_preadv;
    d.bdrv_co_pwritev = rbd_co_pwritev;
    d.bdrv_co_pwrite_zeroes = rbd_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = rbd_co_pdiscard;
    d.bdrv_co_flush_to_disk = rbd_co_flush;
    d.bdrv_co_block_status = rbd_co_block_status;
    d.bdrv_co_truncate = rbd_co_truncate;
    d.bdrv_co_getlength = rbd_co_getlength;
    d.bdrv_get_info = rbd_get_info;
    d.bdrv_get_specific_info = rbd_get_specific_info;
    d.bdrv_snapshot_list = rbd_snapshot_list;
    d.bdrv_co_snapshot_create = rbd_co_snapshot_create;
    d.bdrv_co_snapshot_delete = rbd_co_snapshot_delete;
    d.runtime_opts = rbd_runtime_opts;
    return d;
}

}  // namespace

BlockDriver bdrv_rbd = make_driver();
