// qcow2 encryption (QEMU 7.2's): LUKS (crypt_method 2) with the LUKS header
// in clusters of the image file named by the full disk encryption header
// pointer extension (0x0537be77: be64 offset, be64 length), and the legacy
// AES-CBC (crypt_method 1, key = the passphrase's first 16 bytes).
//
// Data clusters hold the guest data encrypted per 512-byte sector: LUKS
// takes the IV from the sector's *host* offset in the image file, legacy
// AES from its guest offset (QEMU's crypt_physical_offset).  Zero and
// unallocated clusters are not encrypted (they read as zeroes), metadata
// never is.  The cryptography is crypto/block-crypto.h's.
#include <cstring>
#include <memory>

#include "block/luks/block-crypto-int.h"
#include "block/qcow2/qcow2-int.h"

namespace {

const Qcow2HeaderExt *find_crypto_ext(const Qcow2Header &h)
{
    for (const Qcow2HeaderExt &e : h.unknown_exts) {
        if (e.type == QCOW2_EXT_CRYPTO) return &e;
    }
    return nullptr;
}

uint64_t iv_offset(BDRVQcow2State *s, uint64_t host, uint64_t guest)
{
    return s->hdr.crypt_method == QCOW2_CRYPT_LUKS ? host : guest;
}

}  // namespace

int qcow2_crypto_create_opts(QDict *opts, uint32_t *method, QCryptoBlockCreateOptions *co,
                             Error **errp)
{
    *method = 0;
    const char *fmt = opts->get("encrypt.format");
    const char *legacy = opts->get("encryption");
    if (legacy && !strcmp(legacy, "off")) legacy = nullptr;
    if (fmt && legacy) {
        error_setg(errp, "'encrypt.format' and its alias 'encryption' can't be used at the "
                         "same time");
        return -EINVAL;
    }
    std::string f = legacy ? (strcmp(legacy, "on") ? legacy : "aes") : fmt ? fmt : "";
    if (f.empty()) {
        for (const CreateOptDesc *d = qcow2_create_opts; d->name; d++) {
            if (!strncmp(d->name, "encrypt.", 8) && opts->get(d->name)) {
                error_setg(errp, "Parameter 'encrypt.format' is missing");
                return -EINVAL;
            }
        }
        return 0;
    }
    if (f != "aes" && f != "luks") {
        error_setg(errp, "Parameter 'format' does not accept value '%s'", f.c_str());
        return -EINVAL;
    }
    opts->del("encrypt.format");
    opts->del("encryption");
    co->format = f == "aes" ? QCryptoBlockFormat::Qcow : QCryptoBlockFormat::Luks;
    if (!block_crypto_take_create_opts(opts, "encrypt.", co, errp)) return -EINVAL;
    *method = f == "aes" ? QCOW2_CRYPT_AES : QCOW2_CRYPT_LUKS;
    return 0;
}

int qcow2_crypto_create_header(const QCryptoBlockCreateOptions &co, std::vector<uint8_t> *hdr,
                               Error **errp)
{
    QCryptoBlock *b = qcrypto_block_create(co, "encrypt.", hdr, errp);
    if (!b) return -EINVAL;
    qcrypto_block_free(b);
    return 0;
}

int coroutine_fn qcow2_crypto_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    const char *fmt = options ? options->get("encrypt.format") : nullptr;
    const char *secret = options ? options->get("encrypt.key-secret") : nullptr;
    uint32_t method = s->hdr.crypt_method;
    const char *hdr_fmt = method == QCOW2_CRYPT_AES ? "aes" : "luks";
    if (fmt && !method) {
        error_setg(errp, "No encryption in image header, but options specified format '%s'", fmt);
        return -EINVAL;
    }
    if (fmt && strcmp(fmt, hdr_fmt)) {
        error_setg(errp, "Header reported '%s' encryption format but options specify '%s'", hdr_fmt,
                   fmt);
        return -EINVAL;
    }
    if (!method) return 0;
    std::string key = secret ? secret : "";
    uint64_t off = 0, len = 0;
    if (method == QCOW2_CRYPT_LUKS) {
        const Qcow2HeaderExt *e = find_crypto_ext(s->hdr);
        if (!e) {
            error_setg(errp, "Missing CRYPTO header for crypt method %u", method);
            return -EINVAL;
        }
        if (e->data.size() != 16) {
            error_setg(errp, "CRYPTO header extension size %zu, but expected size 16",
                       e->data.size());
            return -EINVAL;
        }
        off = be64_load(e->data.data());
        len = be64_load(e->data.data() + 8);
        if (off % s->cluster_size) {
            error_setg(errp,
                       "Encryption header offset '%llu' is not a multiple of cluster size '%llu'",
                       (unsigned long long)off, (unsigned long long)s->cluster_size);
            return -EINVAL;
        }
        if (len < QCRYPTO_LUKS_HEADER_LEN) {
            error_setg(errp, "Request for data outside of extension header");
            return -EINVAL;
        }
    } else if (find_crypto_ext(s->hdr)) {
        error_setg(errp, "CRYPTO header extension only expected with LUKS encryption method");
        return -EINVAL;
    }
    s->crypto = block_crypto_co_open(bs->file, off, len,
                                     method == QCOW2_CRYPT_LUKS ? QCryptoBlockFormat::Luks
                                                                : QCryptoBlockFormat::Qcow,
                                     secret ? key.c_str() : nullptr, "encrypt.", flags, errp);
    if (!s->crypto) return -EINVAL;
    s->crypto_hdr_offset = off;
    s->crypto_hdr_length = len;
    bs->encrypted = true;
    if (secret) bs->secret_opts = {{"encrypt.key-secret", key}};
    return 0;
}

void qcow2_crypto_close(BDRVQcow2State *s)
{
    if (s->crypto) qcrypto_block_free(s->crypto);
    s->crypto = nullptr;
}

int coroutine_fn qcow2_crypto_co_read(BlockDriverState *bs, uint64_t host, uint64_t guest,
                                      uint64_t bytes, QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes]);
    BLKDBG_EVENT(bs->file, BLKDBG_READ_AIO);
    int ret = bdrv_co_pread(s->data_file, (int64_t)host, (int64_t)bytes, buf.get(), 0);
    if (ret < 0) return ret;
    if (!qcrypto_block_decrypt(s->crypto, iv_offset(s, host, guest), buf.get(), bytes, nullptr)) {
        return -EIO;
    }
    qemu_iovec_from_buf(qiov, qoff, buf.get(), bytes);
    return 0;
}

int coroutine_fn qcow2_crypto_co_write(BlockDriverState *bs, uint64_t host, uint64_t guest,
                                       uint64_t bytes, QEMUIOVector *qiov, size_t qoff)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes]);
    qemu_iovec_to_buf(qiov, qoff, buf.get(), bytes);
    if (!qcrypto_block_encrypt(s->crypto, iv_offset(s, host, guest), buf.get(), bytes, nullptr)) {
        return -EIO;
    }
    return bdrv_co_pwrite(s->data_file, (int64_t)host, (int64_t)bytes, buf.get(), 0);
}

void qcow2_crypto_add_info(BlockDriverState *bs, JsonBuilder *b)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!s->crypto) return;
    json_builder_set_member_name(b, "encrypt");
    json_builder_begin_object(b);
    qcrypto_block_add_info(s->crypto, b, s->hdr.crypt_method == QCOW2_CRYPT_AES ? "aes" : "luks");
    json_builder_end_object(b);
}
