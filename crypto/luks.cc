// LUKS1 (the on-disk format of cryptsetup, as QEMU 7.2 writes and reads
// it) and the QCryptoBlock that both `luks` and qcow2 encryption use.
//
// Layout QEMU writes (and so do we), all big endian:
//   0      592-byte partition header: magic "LUKS\xba\xbe", version 1,
//          cipher name "aes", mode "xts-plain64", hash "sha256", payload
//          offset (sectors), key bytes, master key digest (PBKDF2 of the
//          master key, 20 bytes) with its salt and iterations, uuid, and 8
//          key slots {active, iterations, salt, key offset, stripes}
//   4096   key slot i's material at sector 8 + i * 504 (for a 64-byte key:
//          64 * 4000 stripes = 500 sectors, rounded up to 4 KiB)
//   payload offset = 8 + 8 * 504 sectors = 2068480 bytes
// A key slot holds the master key AF-split into 4000 stripes (diffused
// with the header's hash) and encrypted with PBKDF2(passphrase, slot salt)
// by the payload's cipher, sectors numbered from 0.
#include <json-glib/json-glib.h>

#include <cstring>
#include <memory>

#include "crypto/block-crypto-int.h"
#include "crypto/crypto.h"

namespace {

const uint8_t luks_magic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
enum : uint32_t {
    SLOT_ENABLED = 0x00AC71F3,
    SLOT_DISABLED = 0x0000DEAD,
    SALT_LEN = 32,
    DIGEST_LEN = 20,
    KEY_SLOT_OFFSET = 4096,
    HEADER_SECTORS = KEY_SLOT_OFFSET / QCRYPTO_BLOCK_SECTOR_SIZE,
    MIN_SLOT_KEY_ITERS = 1000,
    MIN_MASTER_KEY_ITERS = 1000,
};

uint32_t ld32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
void st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint64_t round_up_u64(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// Sectors a slot's material occupies, rounded as QEMU (to the header size).
uint64_t splitkey_sectors(uint32_t key_bytes, uint32_t stripes)
{
    uint64_t bytes = (uint64_t)key_bytes * stripes;
    return round_up_u64((bytes + QCRYPTO_BLOCK_SECTOR_SIZE - 1) / QCRYPTO_BLOCK_SECTOR_SIZE,
                        HEADER_SECTORS);
}

// ---- anti-forensic splitter ----------------------------------------------
// The diffuser: each digest-sized piece of @block (the last may be short)
// replaced by hash(be32(index) || piece), truncated to the piece.
bool af_diffuse(const HashAlg *hash, uint8_t *block, size_t len, Error **errp)
{
    size_t dlen = gnutls_hash_get_len(hash->dig);
    uint8_t out[64];
    for (size_t i = 0, off = 0; off < len; i++, off += dlen) {
        size_t n = std::min(dlen, len - off);
        uint8_t iv[4];
        st32(iv, (uint32_t)i);
        gnutls_hash_hd_t h;
        if (gnutls_hash_init(&h, hash->dig) < 0) {
            error_setg(errp, "Unable to initialize hash %s", hash->name);
            return false;
        }
        gnutls_hash(h, iv, 4);
        gnutls_hash(h, block + off, n);
        gnutls_hash_deinit(h, out);
        memcpy(block + off, out, n);
    }
    return true;
}

void xor_into(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = a[i] ^ b[i];
}

bool af_split(const HashAlg *hash, size_t blocklen, uint32_t stripes, const uint8_t *in,
              uint8_t *out, Error **errp)
{
    std::vector<uint8_t> block(blocklen, 0);
    if (!qcrypto_random(out, blocklen * (stripes - 1), errp)) return false;
    for (uint32_t i = 0; i + 1 < stripes; i++) {
        xor_into(block.data(), out + i * blocklen, block.data(), blocklen);
        if (!af_diffuse(hash, block.data(), blocklen, errp)) return false;
    }
    xor_into(out + (size_t)(stripes - 1) * blocklen, in, block.data(), blocklen);
    return true;
}

bool af_merge(const HashAlg *hash, size_t blocklen, uint32_t stripes, const uint8_t *in,
              uint8_t *out, Error **errp)
{
    std::vector<uint8_t> block(blocklen, 0);
    for (uint32_t i = 0; i + 1 < stripes; i++) {
        xor_into(block.data(), in + i * blocklen, block.data(), blocklen);
        if (!af_diffuse(hash, block.data(), blocklen, errp)) return false;
    }
    xor_into(out, in + (size_t)(stripes - 1) * blocklen, block.data(), blocklen);
    return true;
}

void uuid_generate(char *out)
{
    uint8_t u[16];
    gnutls_rnd(GNUTLS_RND_NONCE, u, sizeof(u));
    u[6] = (u[6] & 0x0f) | 0x40;  // version 4
    u[8] = (u[8] & 0x3f) | 0x80;  // RFC 4122 variant
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

}  // namespace

struct QCryptoBlock {
    QCryptoBlockFormat format = QCryptoBlockFormat::Luks;
    LuksHeader hdr;
    const CipherAlg *alg = nullptr;
    CipherMode mode = CipherMode::Xts;
    IvgenAlg ivgen = IvgenAlg::Plain64;
    const HashAlg *ivhash = nullptr;  // essiv only
    const HashAlg *hash = nullptr;
    std::string password;
    bool no_io = false;  // opened for the header only
    std::unique_ptr<SectorCipher> cipher;
    uint64_t payload_offset = 0;
};

// ---- header encoding -------------------------------------------------------

bool qcrypto_luks_header_decode(const uint8_t *buf, size_t len, LuksHeader *h, Error **errp)
{
    if (len < QCRYPTO_LUKS_HEADER_LEN || memcmp(buf, luks_magic, 6)) {
        error_setg(errp, "Volume is not in LUKS format");
        return false;
    }
    *h = LuksHeader{};
    h->version = (uint16_t)(buf[6] << 8 | buf[7]);
    memcpy(h->cipher_name, buf + 8, 32);
    memcpy(h->cipher_mode, buf + 40, 32);
    memcpy(h->hash_spec, buf + 72, 32);
    h->payload_offset = ld32(buf + 104);
    h->key_bytes = ld32(buf + 108);
    memcpy(h->mk_digest, buf + 112, 20);
    memcpy(h->mk_digest_salt, buf + 132, 32);
    h->mk_digest_iterations = ld32(buf + 164);
    memcpy(h->uuid, buf + 168, 40);
    for (int i = 0; i < QCRYPTO_LUKS_NUM_KEY_SLOTS; i++) {
        const uint8_t *p = buf + 208 + 48 * i;
        LuksKeySlot &s = h->slots[i];
        s.active = ld32(p);
        s.iterations = ld32(p + 4);
        memcpy(s.salt, p + 8, 32);
        s.key_offset = ld32(p + 40);
        s.stripes = ld32(p + 44);
    }
    if (h->version != 1) {
        error_setg(errp, "LUKS version %u is not supported", h->version);
        return false;
    }
    return true;
}

void qcrypto_luks_header_encode(const LuksHeader &h, uint8_t *buf)
{
    memset(buf, 0, QCRYPTO_LUKS_HEADER_LEN);
    memcpy(buf, luks_magic, 6);
    buf[6] = (uint8_t)(h.version >> 8), buf[7] = (uint8_t)h.version;
    memcpy(buf + 8, h.cipher_name, 32);
    memcpy(buf + 40, h.cipher_mode, 32);
    memcpy(buf + 72, h.hash_spec, 32);
    st32(buf + 104, h.payload_offset);
    st32(buf + 108, h.key_bytes);
    memcpy(buf + 112, h.mk_digest, 20);
    memcpy(buf + 132, h.mk_digest_salt, 32);
    st32(buf + 164, h.mk_digest_iterations);
    memcpy(buf + 168, h.uuid, 40);
    for (int i = 0; i < QCRYPTO_LUKS_NUM_KEY_SLOTS; i++) {
        uint8_t *p = buf + 208 + 48 * i;
        const LuksKeySlot &s = h.slots[i];
        st32(p, s.active);
        st32(p + 4, s.iterations);
        memcpy(p + 8, s.salt, 32);
        st32(p + 40, s.key_offset);
        st32(p + 44, s.stripes);
    }
}

namespace {

// QEMU 7.2's qcrypto_block_luks_check_header, in its order.
bool luks_check_header(const LuksHeader &h, Error **errp)
{
    if (memchr(h.cipher_name, 0, 32) == nullptr) {
        error_setg(errp, "LUKS header cipher name is not NUL terminated");
        return false;
    }
    if (memchr(h.cipher_mode, 0, 32) == nullptr) {
        error_setg(errp, "LUKS header cipher mode is not NUL terminated");
        return false;
    }
    if (memchr(h.hash_spec, 0, 32) == nullptr) {
        error_setg(errp, "LUKS header hash spec is not NUL terminated");
        return false;
    }
    if (h.payload_offset < HEADER_SECTORS) {
        error_setg(errp, "LUKS payload is overlapping with the header");
        return false;
    }
    if (h.mk_digest_iterations == 0) {
        error_setg(errp, "LUKS key iteration count is zero");
        return false;
    }
    for (size_t i = 0; i < QCRYPTO_LUKS_NUM_KEY_SLOTS; i++) {
        const LuksKeySlot &s1 = h.slots[i];
        uint64_t start1 = s1.key_offset;
        uint64_t len1 = splitkey_sectors(h.key_bytes, s1.stripes);
        if (s1.stripes != QCRYPTO_LUKS_STRIPES) {
            error_setg(errp, "Keyslot %zu is corrupted (stripes %d != %d)", i, (int)s1.stripes,
                       QCRYPTO_LUKS_STRIPES);
            return false;
        }
        if (s1.active != SLOT_DISABLED && s1.active != SLOT_ENABLED) {
            error_setg(errp, "Keyslot %zu state (active/disable) is corrupted", i);
            return false;
        }
        if (s1.active == SLOT_ENABLED && s1.iterations == 0) {
            error_setg(errp, "Keyslot %zu iteration count is zero", i);
            return false;
        }
        if (start1 < HEADER_SECTORS) {
            error_setg(errp, "Keyslot %zu is overlapping with the LUKS header", i);
            return false;
        }
        if (start1 + len1 > h.payload_offset) {
            error_setg(errp, "Keyslot %zu is overlapping with the encrypted payload", i);
            return false;
        }
        for (size_t j = i + 1; j < QCRYPTO_LUKS_NUM_KEY_SLOTS; j++) {
            uint64_t start2 = h.slots[j].key_offset;
            uint64_t len2 = splitkey_sectors(h.key_bytes, h.slots[j].stripes);
            if (start1 < start2 + len2 && start2 < start1 + len1) {
                error_setg(errp, "Keyslots %zu and %zu are overlapping in the header", i, j);
                return false;
            }
        }
    }
    return true;
}

// The algorithms named in the header (qcrypto_block_luks_parse_header).
bool luks_parse_algs(QCryptoBlock *b, Error **errp)
{
    const LuksHeader &h = b->hdr;
    std::string mode = h.cipher_mode;
    size_t dash = mode.find('-');
    if (dash == std::string::npos) {
        error_setg(errp, "Unexpected cipher mode string format %s", h.cipher_mode);
        return false;
    }
    std::string ivname = mode.substr(dash + 1);
    mode.resize(dash);
    std::string ivhash;
    bool has_ivhash = false;
    size_t colon = ivname.find(':');
    if (colon != std::string::npos) {
        ivhash = ivname.substr(colon + 1);
        ivname.resize(colon);
        has_ivhash = true;
        b->ivhash = hash_alg_by_name(ivhash.c_str());
        if (!b->ivhash) {
            error_setg(errp, "Hash algorithm '%s' not supported", ivhash.c_str());
            return false;
        }
    }
    if (!cipher_mode_by_name(mode.c_str(), &b->mode)) {
        error_setg(errp, "Cipher mode '%s' not supported", mode.c_str());
        return false;
    }
    b->alg = cipher_alg_by_luks(h.cipher_name, b->mode, h.key_bytes);
    if (!b->alg || (b->mode != CipherMode::Xts && b->mode != CipherMode::Cbc) ||
        (b->mode == CipherMode::Xts && b->alg->xts == GNUTLS_CIPHER_UNKNOWN)) {
        error_setg(errp, "Algorithm '%s' with key size %u bytes not supported", h.cipher_name,
                   h.key_bytes);
        return false;
    }
    b->hash = hash_alg_by_name(h.hash_spec);
    if (!b->hash) {
        error_setg(errp, "Hash algorithm '%s' not supported", h.hash_spec);
        return false;
    }
    if (!ivgen_by_name(ivname.c_str(), &b->ivgen)) {
        error_setg(errp, "IV generator '%s' not supported", ivname.c_str());
        return false;
    }
    if (b->ivgen == IvgenAlg::Essiv && !has_ivhash) {
        error_setg(errp, "Missing IV generator hash specification");
        return false;
    }
    if (b->ivgen != IvgenAlg::Essiv) {
        b->ivhash = nullptr;  // ignored, as dm-crypt does
    }
    return true;
}

bool lookup_password(const char *key_secret, const char *optprefix, std::string *out, Error **errp)
{
    if (!key_secret || !*key_secret) {
        error_setg(errp, "Parameter '%skey-secret' is required for cipher",
                   optprefix ? optprefix : "");
        return false;
    }
    return qcrypto_secret_lookup_as_utf8(key_secret, out, errp);
}

}  // namespace

// ---- open ------------------------------------------------------------------

QCryptoBlock *qcrypto_block_open(QCryptoBlockFormat format, const char *key_secret,
                                 const char *optprefix, const uint8_t *hdr, size_t hdr_len,
                                 unsigned flags, Error **errp)
{
    auto b = std::make_unique<QCryptoBlock>();
    b->format = format;
    b->no_io = flags & QCRYPTO_BLOCK_OPEN_NO_IO;
    if (!(flags & QCRYPTO_BLOCK_OPEN_NO_IO) &&
        !lookup_password(key_secret, optprefix, &b->password, errp)) {
        return nullptr;
    }
    if (format == QCryptoBlockFormat::Qcow) {
        if (!(flags & QCRYPTO_BLOCK_OPEN_NO_IO)) {
            // The old qcow key: the passphrase's first 16 bytes, zero padded.
            uint8_t key[16] = {};
            memcpy(key, b->password.data(), std::min<size_t>(16, b->password.size()));
            b->cipher = std::make_unique<SectorCipher>();
            if (!b->cipher->init(cipher_alg_by_name("aes-128"), CipherMode::Cbc, IvgenAlg::Plain64,
                                 nullptr, key, 16, errp)) {
                return nullptr;
            }
        }
        return b.release();
    }
    if (!qcrypto_luks_header_decode(hdr, hdr_len, &b->hdr, errp) ||
        !luks_check_header(b->hdr, errp) || !luks_parse_algs(b.get(), errp)) {
        return nullptr;
    }
    b->payload_offset = (uint64_t)b->hdr.payload_offset * QCRYPTO_BLOCK_SECTOR_SIZE;
    return b.release();
}

std::vector<QCryptoRegion> qcrypto_block_key_regions(QCryptoBlock *b)
{
    std::vector<QCryptoRegion> out;
    if (b->format != QCryptoBlockFormat::Luks || b->no_io) return out;
    for (const LuksKeySlot &s : b->hdr.slots) {
        if (s.active == SLOT_ENABLED) {
            out.push_back({(uint64_t)s.key_offset * QCRYPTO_BLOCK_SECTOR_SIZE,
                           (uint64_t)b->hdr.key_bytes * s.stripes});
        }
    }
    return out;
}

bool qcrypto_block_unlock(QCryptoBlock *b, const std::vector<std::vector<uint8_t>> &material,
                          Error **errp)
{
    if (b->format != QCryptoBlockFormat::Luks) return true;
    const LuksHeader &h = b->hdr;
    std::vector<uint8_t> masterkey(h.key_bytes), slotkey(h.key_bytes);
    size_t m = 0;
    for (const LuksKeySlot &s : h.slots) {
        if (s.active != SLOT_ENABLED) continue;
        if (m >= material.size()) break;
        std::vector<uint8_t> split = material[m++];
        if (split.size() != (size_t)h.key_bytes * s.stripes) {
            error_setg(errp, "Short read of LUKS key material");
            return false;
        }
        if (!qcrypto_pbkdf2(b->hash, (const uint8_t *)b->password.data(), b->password.size(),
                            s.salt, SALT_LEN, s.iterations, slotkey.data(), slotkey.size(), errp)) {
            return false;
        }
        SectorCipher c;
        if (!c.init(b->alg, b->mode, b->ivgen, b->ivhash, slotkey.data(), slotkey.size(), errp) ||
            !c.run(false, 0, split.data(), split.size(), errp) ||
            !af_merge(b->hash, h.key_bytes, s.stripes, split.data(), masterkey.data(), errp)) {
            return false;
        }
        uint8_t digest[DIGEST_LEN];
        if (!qcrypto_pbkdf2(b->hash, masterkey.data(), masterkey.size(), h.mk_digest_salt, SALT_LEN,
                            h.mk_digest_iterations, digest, DIGEST_LEN, errp)) {
            return false;
        }
        if (!memcmp(digest, h.mk_digest, DIGEST_LEN)) {
            b->cipher = std::make_unique<SectorCipher>();
            bool ok = b->cipher->init(b->alg, b->mode, b->ivgen, b->ivhash, masterkey.data(),
                                      masterkey.size(), errp);
            gnutls_memset(masterkey.data(), 0, masterkey.size());
            gnutls_memset(slotkey.data(), 0, slotkey.size());
            return ok;
        }
    }
    gnutls_memset(masterkey.data(), 0, masterkey.size());
    gnutls_memset(slotkey.data(), 0, slotkey.size());
    error_setg(errp, "Invalid password, cannot unlock any keyslot");
    return false;
}

// ---- create ----------------------------------------------------------------

namespace {

struct LuksAlgs {
    const CipherAlg *alg;
    CipherMode mode;
    IvgenAlg ivgen;
    const HashAlg *ivhash;  // nullptr: none given
    const HashAlg *hash;
};

bool luks_create_algs(const QCryptoBlockCreateOptions &o, LuksAlgs *a, Error **errp)
{
    const char *cname = o.cipher_alg.empty() ? "aes-256" : o.cipher_alg.c_str();
    a->alg = cipher_alg_by_name(cname);
    if (!a->alg) {
        error_setg(errp, "Parameter 'cipher-alg' does not accept value '%s'", cname);
        return false;
    }
    const char *mname = o.cipher_mode.empty() ? "xts" : o.cipher_mode.c_str();
    if (!cipher_mode_by_name(mname, &a->mode)) {
        error_setg(errp, "Parameter 'cipher-mode' does not accept value '%s'", mname);
        return false;
    }
    const char *iname = o.ivgen_alg.empty() ? "plain64" : o.ivgen_alg.c_str();
    if (!ivgen_by_name(iname, &a->ivgen)) {
        error_setg(errp, "Parameter 'ivgen-alg' does not accept value '%s'", iname);
        return false;
    }
    a->ivhash = nullptr;
    if (!o.ivgen_hash_alg.empty()) {
        a->ivhash = hash_alg_by_name(o.ivgen_hash_alg.c_str());
        if (!a->ivhash) {
            error_setg(errp, "Parameter 'ivgen-hash-alg' does not accept value '%s'",
                       o.ivgen_hash_alg.c_str());
            return false;
        }
    } else if (a->ivgen == IvgenAlg::Essiv) {
        a->ivhash = hash_alg_by_name("sha256");
    }
    const char *hname = o.hash_alg.empty() ? "sha256" : o.hash_alg.c_str();
    a->hash = hash_alg_by_name(hname);
    if (!a->hash) {
        error_setg(errp, "Parameter 'hash-alg' does not accept value '%s'", hname);
        return false;
    }
    gnutls_cipher_algorithm_t id = a->mode == CipherMode::Xts   ? a->alg->xts
                                   : a->mode == CipherMode::Cbc ? a->alg->cbc
                                                                : GNUTLS_CIPHER_UNKNOWN;
    if (id == GNUTLS_CIPHER_UNKNOWN) {
        error_setg(errp, "Cipher %s in mode %s is not supported by qemu-lite", a->alg->name,
                   cipher_mode_name(a->mode));
        return false;
    }
    return true;
}

uint32_t luks_key_bytes(const LuksAlgs &a)
{
    return (uint32_t)(a.alg->key_len * (a.mode == CipherMode::Xts ? 2 : 1));
}

}  // namespace

int64_t qcrypto_block_luks_header_size(const QCryptoBlockCreateOptions &opts, Error **errp)
{
    LuksAlgs a;
    if (!luks_create_algs(opts, &a, errp)) return -1;
    return (int64_t)(HEADER_SECTORS + splitkey_sectors(luks_key_bytes(a), QCRYPTO_LUKS_STRIPES) *
                                          QCRYPTO_LUKS_NUM_KEY_SLOTS) *
           QCRYPTO_BLOCK_SECTOR_SIZE;
}

QCryptoBlock *qcrypto_block_create(const QCryptoBlockCreateOptions &o, const char *optprefix,
                                   std::vector<uint8_t> *header, Error **errp)
{
    auto b = std::make_unique<QCryptoBlock>();
    b->format = o.format;
    if (o.format == QCryptoBlockFormat::Qcow) {
        if (!lookup_password(o.key_secret.c_str(), optprefix, &b->password, errp)) return nullptr;
        QCryptoBlock *q = qcrypto_block_open(QCryptoBlockFormat::Qcow, o.key_secret.c_str(),
                                             optprefix, nullptr, 0, 0, errp);
        header->clear();
        return q;
    }
    LuksAlgs a;
    if (!luks_create_algs(o, &a, errp)) return nullptr;
    if (!lookup_password(o.key_secret.c_str(), optprefix, &b->password, errp)) return nullptr;
    if (o.iter_time <= 0) {
        error_setg(errp, "Parameter 'iter-time' expects a positive number");
        return nullptr;
    }
    b->alg = a.alg, b->mode = a.mode, b->ivgen = a.ivgen, b->hash = a.hash;
    b->ivhash = a.ivgen == IvgenAlg::Essiv ? a.ivhash : nullptr;
    LuksHeader &h = b->hdr;
    h.version = 1;
    uuid_generate(h.uuid);
    snprintf(h.cipher_name, sizeof(h.cipher_name), "%s", a.alg->luks_name);
    std::string mode_spec = std::string(cipher_mode_name(a.mode)) + "-" + ivgen_name(a.ivgen);
    if (a.ivhash) mode_spec += std::string(":") + a.ivhash->name;
    snprintf(h.cipher_mode, sizeof(h.cipher_mode), "%s", mode_spec.c_str());
    snprintf(h.hash_spec, sizeof(h.hash_spec), "%s", a.hash->name);
    h.key_bytes = luks_key_bytes(a);

    std::vector<uint8_t> masterkey(h.key_bytes), slotkey(h.key_bytes);
    auto wipe = [&]() {
        gnutls_memset(masterkey.data(), 0, masterkey.size());
        gnutls_memset(slotkey.data(), 0, slotkey.size());
    };
    if (!qcrypto_random(h.mk_digest_salt, SALT_LEN, errp) ||
        !qcrypto_random(masterkey.data(), masterkey.size(), errp)) {
        return nullptr;
    }
    b->cipher = std::make_unique<SectorCipher>();
    if (!b->cipher->init(a.alg, a.mode, a.ivgen, b->ivhash, masterkey.data(), masterkey.size(),
                         errp)) {
        wipe();
        return nullptr;
    }
    uint64_t iters;
    if (!qcrypto_pbkdf2_count_iters(a.hash, masterkey.data(), masterkey.size(), h.mk_digest_salt,
                                    SALT_LEN, DIGEST_LEN, &iters, errp)) {
        wipe();
        return nullptr;
    }
    iters = iters * (uint64_t)o.iter_time / 1000 / 8;
    h.mk_digest_iterations =
        (uint32_t)std::max<uint64_t>(std::min<uint64_t>(iters, UINT32_MAX), MIN_MASTER_KEY_ITERS);
    if (!qcrypto_pbkdf2(a.hash, masterkey.data(), masterkey.size(), h.mk_digest_salt, SALT_LEN,
                        h.mk_digest_iterations, h.mk_digest, DIGEST_LEN, errp)) {
        wipe();
        return nullptr;
    }
    uint64_t slot_sectors = splitkey_sectors(h.key_bytes, QCRYPTO_LUKS_STRIPES);
    for (int i = 0; i < QCRYPTO_LUKS_NUM_KEY_SLOTS; i++) {
        h.slots[i].active = i == 0 ? SLOT_ENABLED : SLOT_DISABLED;
        h.slots[i].stripes = QCRYPTO_LUKS_STRIPES;
        h.slots[i].key_offset = (uint32_t)(HEADER_SECTORS + i * slot_sectors);
    }
    h.payload_offset = (uint32_t)(HEADER_SECTORS + QCRYPTO_LUKS_NUM_KEY_SLOTS * slot_sectors);
    b->payload_offset = (uint64_t)h.payload_offset * QCRYPTO_BLOCK_SECTOR_SIZE;

    LuksKeySlot &s0 = h.slots[0];
    if (!qcrypto_random(s0.salt, SALT_LEN, errp) ||
        !qcrypto_pbkdf2_count_iters(a.hash, (const uint8_t *)b->password.data(), b->password.size(),
                                    s0.salt, SALT_LEN, h.key_bytes, &iters, errp)) {
        wipe();
        return nullptr;
    }
    iters = iters * (uint64_t)o.iter_time / 1000;
    s0.iterations =
        (uint32_t)std::max<uint64_t>(std::min<uint64_t>(iters, UINT32_MAX), MIN_SLOT_KEY_ITERS);
    size_t splitlen = (size_t)h.key_bytes * QCRYPTO_LUKS_STRIPES;
    header->assign(b->payload_offset, 0);
    uint8_t *split = header->data() + (size_t)s0.key_offset * QCRYPTO_BLOCK_SECTOR_SIZE;
    SectorCipher c;
    bool ok =
        qcrypto_pbkdf2(a.hash, (const uint8_t *)b->password.data(), b->password.size(), s0.salt,
                       SALT_LEN, s0.iterations, slotkey.data(), slotkey.size(), errp) &&
        af_split(a.hash, h.key_bytes, QCRYPTO_LUKS_STRIPES, masterkey.data(), split, errp) &&
        c.init(a.alg, a.mode, a.ivgen, b->ivhash, slotkey.data(), slotkey.size(), errp) &&
        c.run(true, 0, split, splitlen, errp);
    wipe();
    if (!ok) return nullptr;
    qcrypto_luks_header_encode(h, header->data());
    return b.release();
}

// ---- the rest --------------------------------------------------------------

void qcrypto_block_free(QCryptoBlock *block) { delete block; }

uint64_t qcrypto_block_get_payload_offset(QCryptoBlock *block) { return block->payload_offset; }

uint64_t qcrypto_block_get_sector_size(QCryptoBlock *) { return QCRYPTO_BLOCK_SECTOR_SIZE; }

bool qcrypto_block_encrypt(QCryptoBlock *b, uint64_t offset, uint8_t *buf, size_t len, Error **errp)
{
    if (!b->cipher) {
        error_setg(errp, "The image was opened without its key");
        return false;
    }
    return b->cipher->run(true, offset / QCRYPTO_BLOCK_SECTOR_SIZE, buf, len, errp);
}

bool qcrypto_block_decrypt(QCryptoBlock *b, uint64_t offset, uint8_t *buf, size_t len, Error **errp)
{
    if (!b->cipher) {
        error_setg(errp, "The image was opened without its key");
        return false;
    }
    return b->cipher->run(false, offset / QCRYPTO_BLOCK_SECTOR_SIZE, buf, len, errp);
}

void qcrypto_block_add_info(QCryptoBlock *b, JsonBuilder *jb, const char *format)
{
    if (b->format != QCryptoBlockFormat::Luks) {
        if (format) {
            json_builder_set_member_name(jb, "format");
            json_builder_add_string_value(jb, format);
        }
        return;
    }
    const LuksHeader &h = b->hdr;
    auto str = [&](const char *k, const char *v) {
        json_builder_set_member_name(jb, k);
        json_builder_add_string_value(jb, v);
    };
    auto num = [&](const char *k, int64_t v) {
        json_builder_set_member_name(jb, k);
        json_builder_add_int_value(jb, v);
    };
    // QEMU 7.2's member order (its dictionary's).
    str("ivgen-alg", ivgen_name(b->ivgen));
    if (b->ivgen == IvgenAlg::Essiv && b->ivhash) str("ivgen-hash-alg", b->ivhash->name);
    str("hash-alg", b->hash->name);
    str("cipher-alg", b->alg->name);
    str("uuid", std::string(h.uuid, strnlen(h.uuid, 40)).c_str());
    if (format) str("format", format);
    str("cipher-mode", cipher_mode_name(b->mode));
    json_builder_set_member_name(jb, "slots");
    json_builder_begin_array(jb);
    for (const LuksKeySlot &s : h.slots) {
        json_builder_begin_object(jb);
        bool active = s.active == SLOT_ENABLED;
        json_builder_set_member_name(jb, "active");
        json_builder_add_boolean_value(jb, active);
        if (active) num("iters", s.iterations);
        num("key-offset", (int64_t)s.key_offset * QCRYPTO_BLOCK_SECTOR_SIZE);
        if (active) num("stripes", s.stripes);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    num("payload-offset", (int64_t)b->payload_offset);
    num("master-key-iters", h.mk_digest_iterations);
}
