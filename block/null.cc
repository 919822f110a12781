// null-co and null-aio: protocol drivers with no storage, for benchmarks
// and tests.  Writes are dropped; reads leave the buffer alone unless
// read-zeroes=on.  QEMU's two variants differ only in how they complete
// (coroutine vs AIO callback); here both are coroutine drivers.
#include <cstring>

#include "block/block-int.h"
#include "util/aio.h"
#include "util/cutils.h"

namespace {

struct NullState {
    int64_t length = int64_t(1) << 30;  // QEMU's default: 1 GiB
    int64_t latency_ns = 0;
    bool read_zeroes = false;
};

NullState *state(BlockDriverState *bs) { return (NullState *)bs->opaque; }

const char *const null_runtime_opts[] = {"filename", "size", "latency-ns", "read-zeroes", nullptr};

bool take_opts(QDict *o, NullState *s, Error **errp)
{
    if (const char *v = o->get("size")) {
        uint64_t n;
        if (qemu_strtosz(v, &n) < 0 || n > (uint64_t)INT64_MAX) {
            error_setg(errp, "Parameter 'size' expects a non-negative number below 2^64");
            return false;
        }
        s->length = (int64_t)n;
    }
    if (const char *v = o->get("latency-ns")) {
        uint64_t n;
        if (qemu_strtosz(v, &n) < 0 || n > (uint64_t)INT64_MAX) {
            error_setg(errp, "Parameter 'latency-ns' expects a number");
            return false;
        }
        s->latency_ns = (int64_t)n;
    }
    if (const char *v = o->get("read-zeroes")) {
        if (!keyval_parse_bool(v, &s->read_zeroes)) {
            error_setg(errp, "Parameter 'read-zeroes' expects 'on' or 'off'");
            return false;
        }
    }
    for (const char *k : null_runtime_opts) {
        if (k) o->del(k);
    }
    return true;
}

// "null-co://" is the only file name either driver takes.
template <const char *Name>
void null_parse_filename(const char *filename, QDict *o, Error **errp)
{
    std::string only = std::string(Name) + "://";
    if (only != filename) {
        error_setg(errp, "The only allowed filename for this driver is '%s'", only.c_str());
        return;
    }
    (void)o;
}

int coroutine_fn null_co_open(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    (void)flags;
    auto *s = new NullState;
    // As QEMU's null_refresh_filename: a node with options of its
    // own has no plain name; otherwise it is "null-co://" (or null-aio).
    if (bs->filename.empty() && !o->has("size") && !o->has("latency-ns") &&
        !o->has("read-zeroes")) {
        bs->filename = std::string(bs->drv->format_name) + "://";
    }
    if (!take_opts(o, s, errp)) {
        delete s;
        return -EINVAL;
    }
    bs->opaque = s;
    bs->supported_write_flags = BDRV_REQ_FUA;
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    return 0;
}

void coroutine_fn null_co_close(BlockDriverState *bs)
{
    delete state(bs);
    bs->opaque = nullptr;
}

void coroutine_fn null_delay(BlockDriverState *bs)
{
    if (state(bs)->latency_ns) {
        qemu_co_sleep_ns(state(bs)->latency_ns);
    }
}

int coroutine_fn null_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, size_t qoff, int flags)
{
    (void)offset;
    (void)flags;
    if (state(bs)->read_zeroes) {
        qemu_iovec_memset(qiov, qoff, 0, (size_t)bytes);
    }
    null_delay(bs);
    return 0;
}

int coroutine_fn null_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, size_t qoff, int flags)
{
    (void)offset, (void)bytes, (void)qiov, (void)qoff, (void)flags;
    null_delay(bs);
    return 0;
}

int coroutine_fn null_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                       int flags)
{
    (void)offset, (void)bytes, (void)flags;
    null_delay(bs);
    return 0;
}

int coroutine_fn null_co_flush(BlockDriverState *bs)
{
    null_delay(bs);
    return 0;
}

int coroutine_fn null_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                                      int64_t bytes, int64_t *pnum, int64_t *map,
                                      BlockDriverState **file)
{
    (void)want_zero;
    *pnum = bytes;
    *map = offset;
    *file = bs;
    return BDRV_BLOCK_OFFSET_VALID | (state(bs)->read_zeroes ? BDRV_BLOCK_ZERO : 0);
}

int64_t coroutine_fn null_co_getlength(BlockDriverState *bs) { return state(bs)->length; }

int64_t coroutine_fn null_co_allocated_size(BlockDriverState *bs)
{
    (void)bs;
    return 0;
}

constexpr char kNullCo[] = "null-co";
constexpr char kNullAio[] = "null-aio";

template <const char *Name>
BlockDriver null_driver()
{
    BlockDriver d{};
    d.format_name = Name;
    d.protocol_name = Name;
    d.bdrv_parse_filename = null_parse_filename<Name>;
    d.bdrv_co_open = null_co_open;
    d.bdrv_co_close = null_co_close;
    d.bdrv_co_preadv = null_co_preadv;
    d.bdrv_co_pwritev = null_co_pwritev;
    d.bdrv_co_pwrite_zeroes = null_co_pwrite_zeroes;
    d.bdrv_co_flush_to_disk = null_co_flush;
    d.bdrv_co_block_status = null_co_block_status;
    d.bdrv_co_getlength = null_co_getlength;
    d.bdrv_co_get_allocated_file_size = null_co_allocated_size;
    d.runtime_opts = null_runtime_opts;
    return d;
}

}  // namespace

BlockDriver bdrv_null_co = null_driver<kNullCo>();
BlockDriver bdrv_null_aio = null_driver<kNullAio>();
