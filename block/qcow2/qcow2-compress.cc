// Cluster compression as QEMU stores it: zlib raw deflate (window 2^12, no
// header) or a plain zstd frame.  Guest I/O (de)compresses clusters of 16
// KiB and more in thread-pool workers, so parallel requests (convert -c -m N)
// use every CPU and the main loop keeps serving I/O.  Compressed data is read in whole 512-byte
// sectors, so decompression stops once the cluster is full and ignores any
// trailing bytes.
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <vector>

#include "block/qcow2/qcow2-int.h"
#include "util/thread-pool.h"

namespace {

int64_t zlib_compress(void *out, size_t out_len, const void *in, size_t in_len)
{
    z_stream z = {};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        return -EIO;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)out_len;
    int ret = deflate(&z, Z_FINISH);
    int64_t n = ret == Z_STREAM_END ? (int64_t)(out_len - z.avail_out) : -ENOSPC;
    deflateEnd(&z);
    return n;
}

int zlib_decompress(void *out, size_t out_len, const void *in, size_t in_len)
{
    z_stream z = {};
    if (inflateInit2(&z, -12) != Z_OK) return -EIO;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)out_len;
    int ret = inflate(&z, Z_FINISH);
    bool ok = ret == Z_STREAM_END || (ret == Z_BUF_ERROR && z.avail_out == 0) ||
              (ret == Z_OK && z.avail_out == 0);
    inflateEnd(&z);
    return ok && z.avail_out == 0 ? 0 : -EIO;
}

int64_t zstd_compress(void *out, size_t out_len, const void *in, size_t in_len)
{
    size_t n = ZSTD_compress(out, out_len, in, in_len, ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(n)) return -ENOSPC;
    return (int64_t)n;
}

int zstd_decompress(void *out, size_t out_len, const void *in, size_t in_len)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return -ENOMEM;
    ZSTD_outBuffer ob = {out, out_len, 0};
    ZSTD_inBuffer ib = {in, in_len, 0};
    int ret = -EIO;
    while (ob.pos < ob.size) {
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r)) break;
        if (ob.pos == ob.size) {
            ret = 0;
            break;
        }
        if (r == 0 || ib.pos == ib.size) break;  // frame ended short, or input exhausted
    }
    ZSTD_freeDCtx(d);
    return ret;
}

}  // namespace

int64_t qcow2_compress(Qcow2CompressionType t, void *out, size_t out_len, const void *in,
                       size_t in_len)
{
    return t == Qcow2CompressionType::Zstd ? zstd_compress(out, out_len, in, in_len)
                                           : zlib_compress(out, out_len, in, in_len);
}

int qcow2_decompress(Qcow2CompressionType t, void *out, size_t out_len, const void *in,
                     size_t in_len)
{
    return t == Qcow2CompressionType::Zstd ? zstd_decompress(out, out_len, in, in_len)
                                           : zlib_decompress(out, out_len, in, in_len);
}

namespace {

// Below this cluster size the hand-off to a worker costs more than the
// (de)compression it moves off the main loop.
constexpr size_t kOffloadMinBytes = 16384;

struct CompressCall {
    Qcow2CompressionType type;
    void *out;
    size_t out_len;
    const void *in;
    size_t in_len;
};

int compress_worker(void *opaque)
{
    auto *c = static_cast<CompressCall *>(opaque);
    return (int)qcow2_compress(c->type, c->out, c->out_len, c->in, c->in_len);
}

int decompress_worker(void *opaque)
{
    auto *c = static_cast<CompressCall *>(opaque);
    return qcow2_decompress(c->type, c->out, c->out_len, c->in, c->in_len);
}

}  // namespace

int64_t coroutine_fn qcow2_co_compress(Qcow2CompressionType t, void *out, size_t out_len,
                                       const void *in, size_t in_len)
{
    if (in_len < kOffloadMinBytes) return qcow2_compress(t, out, out_len, in, in_len);
    CompressCall c{t, out, out_len, in, in_len};
    return thread_pool_submit_co(compress_worker, &c);
}

int coroutine_fn qcow2_co_decompress(Qcow2CompressionType t, void *out, size_t out_len,
                                     const void *in, size_t in_len)
{
    if (out_len < kOffloadMinBytes) return qcow2_decompress(t, out, out_len, in, in_len);
    CompressCall c{t, out, out_len, in, in_len};
    return thread_pool_submit_co(decompress_worker, &c);
}

namespace {

struct BatchWait {
    int pending;
    Coroutine *co;
};

struct BatchItem {
    CompressCall call;
    int64_t *result;
    BatchWait *wait;
};

void batch_done(void *opaque, int ret)
{
    auto *it = static_cast<BatchItem *>(opaque);
    *it->result = ret;
    if (--it->wait->pending == 0 && it->wait->co) aio_co_wake(it->wait->co);
}

}  // namespace

void coroutine_fn qcow2_co_compress_clusters(Qcow2CompressionType t, size_t cluster_size, int n,
                                             uint8_t *out, const uint8_t *in, int64_t *csize)
{
    if (n == 1 || cluster_size < kOffloadMinBytes) {
        for (int i = 0; i < n; i++) {
            size_t o = (size_t)i * cluster_size;
            csize[i] = qcow2_co_compress(t, out + o, cluster_size - 1, in + o, cluster_size);
        }
        return;
    }
    std::vector<BatchItem> items((size_t)n);
    BatchWait wait{n, nullptr};
    AioContext *ctx = qemu_get_current_aio_context();
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * cluster_size;
        items[(size_t)i] = {{t, out + o, cluster_size - 1, in + o, cluster_size}, &csize[i], &wait};
        thread_pool_submit_aio(ctx, compress_worker, &items[(size_t)i].call, batch_done,
                               &items[(size_t)i]);
    }
    while (wait.pending > 0) {
        wait.co = qemu_coroutine_self();
        qemu_coroutine_yield();
    }
}
