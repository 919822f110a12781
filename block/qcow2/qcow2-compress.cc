// Cluster compression as QEMU stores it: zlib raw deflate (window 2^12, no
// header) or a plain zstd frame.  Compressed data is read in whole 512-byte
// sectors, so decompression stops once the cluster is full and ignores any
// trailing bytes.
#include <zlib.h>
#include <zstd.h>

#include <cerrno>

#include "block/qcow2/qcow2.h"

namespace {

int64_t zlib_compress(void *out, size_t out_len, const void *in, size_t in_len) {
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

int zlib_decompress(void *out, size_t out_len, const void *in, size_t in_len) {
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

int64_t zstd_compress(void *out, size_t out_len, const void *in, size_t in_len) {
    size_t n = ZSTD_compress(out, out_len, in, in_len, ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(n)) return -ENOSPC;
    return (int64_t)n;
}

int zstd_decompress(void *out, size_t out_len, const void *in, size_t in_len) {
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return -ENOMEM;
    ZSTD_outBuffer ob = {out, out_len, 0};
    ZSTD_inBuffer ib = {in, in_len, 0};
    int ret = -EIO;
    while (ob.pos < ob.size) {
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r)) break;
        if (ob.pos == ob.size) { ret = 0; break; }
        if (r == 0 || ib.pos == ib.size) break;  // frame ended short, or input exhausted
    }
    ZSTD_freeDCtx(d);
    return ret;
}

}  // namespace

int64_t qcow2_compress(Qcow2CompressionType t, void *out, size_t out_len, const void *in,
                       size_t in_len) {
    return t == Qcow2CompressionType::Zstd ? zstd_compress(out, out_len, in, in_len)
                                           : zlib_compress(out, out_len, in, in_len);
}

int qcow2_decompress(Qcow2CompressionType t, void *out, size_t out_len, const void *in,
                     size_t in_len) {
    return t == Qcow2CompressionType::Zstd ? zstd_decompress(out, out_len, in, in_len)
                                           : zlib_decompress(out, out_len, in, in_len);
}
