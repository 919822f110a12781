// The `luks` format: a LUKS1 volume in a file, as QEMU 7.2's block/crypto.c
// makes and opens them.  The header and key slots fill the first payload
// offset bytes (2068480 by default); the guest data follows, each 512-byte
// sector encrypted with the IV of its guest sector number.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "block/luks/block-crypto-int.h"
#include "crypto/crypto.h"
#include "util/cutils.h"
#include "util/iov.h"

namespace {

enum { LUKS_MAX_IO = 1024 * 1024 };

struct LuksState {
    QCryptoBlock *block = nullptr;
    uint64_t payload_offset = 0;
};

LuksState *state(BlockDriverState *bs) { return (LuksState *)bs->opaque; }

const char *const luks_runtime_opts[] = {"key-secret", nullptr};

int coroutine_fn luks_co_open(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    const char *secret = o->get("key-secret");
    std::string key = secret ? secret : "";
    o->del("key-secret");
    QCryptoBlock *b = block_crypto_co_open(bs->file, 0, 0, QCryptoBlockFormat::Luks,
                                           secret ? key.c_str() : nullptr, nullptr, flags, errp);
    if (!b) return -EINVAL;
    auto s = new LuksState;
    s->block = b;
    s->payload_offset = qcrypto_block_get_payload_offset(b);
    bs->opaque = s;
    bs->encrypted = true;
    if (secret) bs->secret_opts = {{"key-secret", key}};
    return 0;
}

void coroutine_fn luks_co_close(BlockDriverState *bs)
{
    LuksState *s = state(bs);
    if (s) qcrypto_block_free(s->block);
    delete s;
    bs->opaque = nullptr;
}

void luks_refresh_limits(BlockDriverState *bs, Error **)
{
    bs->bl.request_alignment =
        std::max<uint32_t>(bs->bl.request_alignment, QCRYPTO_BLOCK_SECTOR_SIZE);
}

int coroutine_fn luks_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, size_t qoff, int)
{
    LuksState *s = state(bs);
    size_t len = (size_t)std::min<int64_t>(bytes, LUKS_MAX_IO);
    std::unique_ptr<uint8_t[]> buf(new uint8_t[len]);
    for (int64_t done = 0; done < bytes;) {
        size_t n = (size_t)std::min<int64_t>(bytes - done, LUKS_MAX_IO);
        int ret = bdrv_co_pread(bs->file, (int64_t)s->payload_offset + offset + done, (int64_t)n,
                                buf.get(), 0);
        if (ret < 0) return ret;
        if (!qcrypto_block_decrypt(s->block, (uint64_t)(offset + done), buf.get(), n, nullptr)) {
            return -EIO;
        }
        qemu_iovec_from_buf(qiov, qoff + (size_t)done, buf.get(), n);
        done += (int64_t)n;
    }
    return 0;
}

int coroutine_fn luks_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, size_t qoff, int flags)
{
    LuksState *s = state(bs);
    size_t len = (size_t)std::min<int64_t>(bytes, LUKS_MAX_IO);
    std::unique_ptr<uint8_t[]> buf(new uint8_t[len]);
    for (int64_t done = 0; done < bytes;) {
        size_t n = (size_t)std::min<int64_t>(bytes - done, LUKS_MAX_IO);
        qemu_iovec_to_buf(qiov, qoff + (size_t)done, buf.get(), n);
        if (!qcrypto_block_encrypt(s->block, (uint64_t)(offset + done), buf.get(), n, nullptr)) {
            return -EIO;
        }
        int ret = bdrv_co_pwrite(bs->file, (int64_t)s->payload_offset + offset + done, (int64_t)n,
                                 buf.get(), flags & BDRV_REQ_FUA);
        if (ret < 0) return ret;
        done += (int64_t)n;
    }
    return 0;
}

// Everything is data, and where it lives means nothing unencrypted: QEMU
// reports no offsets (qemu-img map: "File contains external, encrypted or
// compressed clusters.").
int coroutine_fn luks_co_block_status(BlockDriverState *, bool, int64_t, int64_t bytes,
                                      int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    *pnum = bytes;
    *map = 0;
    *file = nullptr;
    return BDRV_BLOCK_DATA;
}

int64_t coroutine_fn luks_co_getlength(BlockDriverState *bs)
{
    int64_t len = bdrv_co_getlength(bs->file->bs);
    if (len < 0) return len;
    int64_t payload = (int64_t)state(bs)->payload_offset;
    return len < payload ? 0 : len - payload;
}

int coroutine_fn luks_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                                  PreallocMode prealloc, Error **errp)
{
    int64_t payload = (int64_t)state(bs)->payload_offset;
    if (offset < 0 || offset > INT64_MAX - payload) {
        error_setg(errp, "The requested file size is too large");
        return -EFBIG;
    }
    return bdrv_co_truncate(bs->file, offset + payload, exact, prealloc, errp);
}

int luks_get_info(BlockDriverState *, BlockDriverInfo *bdi)
{
    *bdi = BlockDriverInfo{};
    return 0;
}

JsonNode *luks_get_specific_info(BlockDriverState *bs, Error **)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "luks");
    json_builder_set_member_name(b, "data");
    json_builder_begin_object(b);
    qcrypto_block_add_info(state(bs)->block, b, nullptr);
    json_builder_end_object(b);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    g_object_unref(b);
    return root;
}

int luks_probe(const uint8_t *buf, int buf_size, const char *)
{
    static const uint8_t magic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
    if (buf_size >= QCRYPTO_LUKS_HEADER_LEN && !memcmp(buf, magic, 6) && buf[6] == 0 &&
        buf[7] == 1) {
        return 100;
    }
    return 0;
}

int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return 0;
}

int coroutine_fn luks_co_create_opts(const char *filename, QDict *opts, Error **errp)
{
    QCryptoBlockCreateOptions co;
    co.format = QCryptoBlockFormat::Luks;
    if (!block_crypto_take_create_opts(opts, "", &co, errp)) return -EINVAL;
    uint64_t size = 0;
    if (const char *v = opts->get("size")) {
        if (qemu_strtosz(v, &size) < 0) {
            error_setg(errp, "Invalid size '%s'", v);
            return -EINVAL;
        }
    }
    opts->del("size");
    PreallocMode prealloc = PreallocMode::Off;
    if (const char *p = opts->get("preallocation")) {
        if (!prealloc_mode_parse(p, &prealloc) || prealloc == PreallocMode::Metadata) {
            error_setg(errp, "Parameter 'preallocation' does not accept value '%s'", p);
            return -EINVAL;
        }
    }
    opts->del("preallocation");
    // The header is made (secret looked up, keys derived) before the file
    // is touched, as QEMU's block_crypto_co_create_generic.
    std::vector<uint8_t> hdr;
    QCryptoBlock *b = qcrypto_block_create(co, nullptr, &hdr, errp);
    if (!b) return -EINVAL;
    qcrypto_block_free(b);
    int ret = bdrv_co_create_file(filename, opts, errp);
    if (ret < 0) return ret;
    int fd = open(filename, O_RDWR);
    if (fd < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not open '%s'", filename);
        return ret;
    }
    uint64_t total = hdr.size() + size;
    // Only the header and the material of slot 0 are written (QEMU leaves
    // the other slots' space a hole); the rest is the truncate's zeroes.
    for (size_t off = 0; ret == 0 && off < hdr.size(); off += 4096) {
        size_t n = std::min<size_t>(4096, hdr.size() - off);
        if (!buffer_is_zero(hdr.data() + off, n)) ret = pwrite_all(fd, hdr.data() + off, n, off);
    }
    if (ret == 0 && ftruncate(fd, (off_t)total) < 0) ret = -errno;
    if (ret == 0 && prealloc == PreallocMode::Falloc && size &&
        posix_fallocate(fd, (off_t)hdr.size(), (off_t)size) != 0) {
        ret = -EIO;
    }
    if (ret == 0 && prealloc == PreallocMode::Full) {
        std::vector<uint8_t> zero(LUKS_MAX_IO, 0);
        for (uint64_t off = hdr.size(); ret == 0 && off < total; off += zero.size()) {
            ret = pwrite_all(fd, zero.data(), std::min<uint64_t>(zero.size(), total - off), off);
        }
    }
    if (ret == 0 && fsync(fd) < 0) ret = -errno;
    close(fd);
    if (ret < 0) error_setg_errno(errp, -ret, "Could not write LUKS header");
    return ret;
}

const CreateOptDesc luks_create_opts[] = {
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {"key-secret", CreateOptType::String, "ID of the secret that provides the keyslot passphrase",
     nullptr},
    {"cipher-alg", CreateOptType::String, "Name of encryption cipher algorithm", nullptr},
    {"cipher-mode", CreateOptType::String, "Name of encryption cipher mode", nullptr},
    {"ivgen-alg", CreateOptType::String, "Name of IV generator algorithm", nullptr},
    {"ivgen-hash-alg", CreateOptType::String, "Name of IV generator hash algorithm", nullptr},
    {"hash-alg", CreateOptType::String, "Name of encryption hash algorithm", nullptr},
    {"iter-time", CreateOptType::Number, "Time to spend in PBKDF in milliseconds", nullptr},
    {"preallocation", CreateOptType::String,
     "Preallocation mode (allowed values: off, falloc, full)", nullptr},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

}  // namespace

QCryptoBlock *coroutine_fn block_crypto_co_open(BdrvChild *child, uint64_t hdr_offset,
                                                uint64_t hdr_len, QCryptoBlockFormat format,
                                                const char *key_secret, const char *optprefix,
                                                int flags, Error **errp)
{
    unsigned cflags = (flags & BDRV_O_NO_IO) ? QCRYPTO_BLOCK_OPEN_NO_IO : 0;
    std::vector<uint8_t> hdr;
    if (format == QCryptoBlockFormat::Luks) {
        int64_t flen = bdrv_co_getlength(child->bs);
        if (flen < 0) {
            error_setg_errno(errp, (int)-flen, "Could not get the size of the file");
            return nullptr;
        }
        uint64_t end = hdr_len ? hdr_offset + hdr_len : (uint64_t)flen;
        if (end < hdr_offset + QCRYPTO_LUKS_HEADER_LEN ||
            hdr_offset + QCRYPTO_LUKS_HEADER_LEN > (uint64_t)flen) {
            error_setg(errp, "Volume is not in LUKS format");
            return nullptr;
        }
        hdr.resize(QCRYPTO_LUKS_HEADER_LEN);
        int ret = bdrv_co_pread(child, (int64_t)hdr_offset, (int64_t)hdr.size(), hdr.data(), 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read encryption header");
            return nullptr;
        }
    }
    QCryptoBlock *b =
        qcrypto_block_open(format, key_secret, optprefix, hdr.data(), hdr.size(), cflags, errp);
    if (!b) return nullptr;
    std::vector<QCryptoRegion> regions = qcrypto_block_key_regions(b);
    if (regions.empty()) return b;
    std::vector<std::vector<uint8_t>> material;
    for (const QCryptoRegion &r : regions) {
        if (hdr_len && r.offset + r.length > hdr_len) {
            error_setg(errp, "LUKS key material is outside of the encryption header");
            qcrypto_block_free(b);
            return nullptr;
        }
        std::vector<uint8_t> m(r.length);
        int ret =
            bdrv_co_pread(child, (int64_t)(hdr_offset + r.offset), (int64_t)r.length, m.data(), 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read encryption header");
            qcrypto_block_free(b);
            return nullptr;
        }
        material.push_back(std::move(m));
    }
    if (!qcrypto_block_unlock(b, material, errp)) {
        qcrypto_block_free(b);
        return nullptr;
    }
    return b;
}

bool block_crypto_take_create_opts(QDict *opts, const char *prefix, QCryptoBlockCreateOptions *out,
                                   Error **errp)
{
    auto take = [&](const char *name, std::string *dst) {
        std::string key = std::string(prefix) + name;
        if (const char *v = opts->get(key)) *dst = v;
        opts->del(key);
    };
    take("key-secret", &out->key_secret);
    take("cipher-alg", &out->cipher_alg);
    take("cipher-mode", &out->cipher_mode);
    take("ivgen-alg", &out->ivgen_alg);
    take("ivgen-hash-alg", &out->ivgen_hash_alg);
    take("hash-alg", &out->hash_alg);
    std::string iter;
    take("iter-time", &iter);
    if (!iter.empty()) {
        char *end;
        errno = 0;
        long long v = strtoll(iter.c_str(), &end, 0);
        if (errno || *end || v < 0) {
            error_setg(errp, "Parameter '%siter-time' expects a number", prefix);
            return false;
        }
        out->iter_time = v;
    }
    return true;
}

int64_t bdrv_measure_luks_header(const QDict &opts, const char *prefix, Error **errp)
{
    QDict o = opts;
    if (*prefix) {
        const char *fmt = o.get(std::string(prefix) + "format");
        if (!fmt || strcmp(fmt, "luks")) return 0;
    }
    QCryptoBlockCreateOptions co;
    if (!block_crypto_take_create_opts(&o, prefix, &co, errp)) return -1;
    std::string password;
    if (co.key_secret.empty()) {
        error_setg(errp, "Parameter '%skey-secret' is required for cipher", prefix);
        return -1;
    }
    if (!qcrypto_secret_lookup_as_utf8(co.key_secret.c_str(), &password, errp)) return -1;
    return qcrypto_block_luks_header_size(co, errp);
}

BlockDriver bdrv_luks = [] {
    BlockDriver d{};
    d.format_name = "luks";
    d.is_format = true;
    d.bdrv_probe = luks_probe;
    d.bdrv_co_open = luks_co_open;
    d.bdrv_co_close = luks_co_close;
    d.bdrv_co_create_opts = luks_co_create_opts;
    d.create_opts = luks_create_opts;
    d.bdrv_refresh_limits = luks_refresh_limits;
    d.bdrv_co_preadv = luks_co_preadv;
    d.bdrv_co_pwritev = luks_co_pwritev;
    d.bdrv_co_block_status = luks_co_block_status;
    d.bdrv_co_truncate = luks_co_truncate;
    d.bdrv_co_getlength = luks_co_getlength;
    d.bdrv_get_info = luks_get_info;
    d.bdrv_get_specific_info = luks_get_specific_info;
    d.runtime_opts = luks_runtime_opts;
    return d;
}();
