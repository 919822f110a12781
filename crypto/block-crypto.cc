// Algorithm tables, PBKDF2, the sector cipher with its IV generators, and
// the legacy qcow AES scheme.  GnuTLS does every cipher, hash and KDF.
#include <time.h>

#include <cstring>
#include <memory>

#include "crypto/block-crypto-int.h"

namespace {

const HashAlg hash_algs[] = {
    {"md5", GNUTLS_DIG_MD5, GNUTLS_MAC_MD5},
    {"sha1", GNUTLS_DIG_SHA1, GNUTLS_MAC_SHA1},
    {"sha224", GNUTLS_DIG_SHA224, GNUTLS_MAC_SHA224},
    {"sha256", GNUTLS_DIG_SHA256, GNUTLS_MAC_SHA256},
    {"sha384", GNUTLS_DIG_SHA384, GNUTLS_MAC_SHA384},
    {"sha512", GNUTLS_DIG_SHA512, GNUTLS_MAC_SHA512},
    {"ripemd160", GNUTLS_DIG_RMD160, GNUTLS_MAC_RMD160},
};

// AES only: GnuTLS has no Serpent, Twofish or CAST5, and no AES-192-XTS.
const CipherAlg cipher_algs[] = {
    {"aes-128", "aes", 16, GNUTLS_CIPHER_AES_128_CBC, GNUTLS_CIPHER_AES_128_XTS},
    {"aes-192", "aes", 24, GNUTLS_CIPHER_AES_192_CBC, GNUTLS_CIPHER_UNKNOWN},
    {"aes-256", "aes", 32, GNUTLS_CIPHER_AES_256_CBC, GNUTLS_CIPHER_AES_256_XTS},
};

const char *const mode_names[] = {"ecb", "cbc", "xts", "ctr"};
const char *const ivgen_names[] = {"plain", "plain64", "essiv"};

uint64_t thread_cpu_ms()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

}  // namespace

const HashAlg *hash_alg_by_name(const char *name)
{
    for (const HashAlg &h : hash_algs) {
        if (!strcmp(h.name, name)) return &h;
    }
    return nullptr;
}

const CipherAlg *cipher_alg_by_name(const char *name)
{
    for (const CipherAlg &c : cipher_algs) {
        if (!strcmp(c.name, name)) return &c;
    }
    return nullptr;
}

const CipherAlg *cipher_alg_by_luks(const char *luks_name, CipherMode mode, size_t key_bytes)
{
    if (mode == CipherMode::Xts) {
        if (key_bytes % 2) return nullptr;
        key_bytes /= 2;
    }
    for (const CipherAlg &c : cipher_algs) {
        if (!strcmp(c.luks_name, luks_name) && c.key_len == key_bytes) return &c;
    }
    return nullptr;
}

const char *cipher_mode_name(CipherMode m) { return mode_names[(int)m]; }

bool cipher_mode_by_name(const char *name, CipherMode *out)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(mode_names[i], name)) {
            *out = (CipherMode)i;
            return true;
        }
    }
    return false;
}

const char *ivgen_name(IvgenAlg a) { return ivgen_names[(int)a]; }

bool ivgen_by_name(const char *name, IvgenAlg *out)
{
    for (int i = 0; i < 3; i++) {
        if (!strcmp(ivgen_names[i], name)) {
            *out = (IvgenAlg)i;
            return true;
        }
    }
    return false;
}

bool qcrypto_random(uint8_t *buf, size_t len, Error **errp)
{
    if (gnutls_rnd(GNUTLS_RND_KEY, buf, len) < 0) {
        error_setg(errp, "Unable to read random bytes");
        return false;
    }
    return true;
}

bool qcrypto_pbkdf2(const HashAlg *hash, const uint8_t *key, size_t nkey, const uint8_t *salt,
                    size_t nsalt, uint64_t iterations, uint8_t *out, size_t nout, Error **errp)
{
    if (iterations > UINT32_MAX) {
        error_setg_errno(errp, ERANGE, "PBKDF iterations %llu must be less than %u",
                         (unsigned long long)iterations, UINT32_MAX);
        return false;
    }
    gnutls_datum_t k = {const_cast<uint8_t *>(key), (unsigned)nkey};
    gnutls_datum_t s = {const_cast<uint8_t *>(salt), (unsigned)nsalt};
    // GnuTLS refuses an empty passphrase as key; QEMU allows it.
    static uint8_t empty;
    if (!nkey) k.data = &empty;
    int r = gnutls_pbkdf2(hash->mac, &k, &s, (unsigned)iterations, out, nout);
    if (r < 0) {
        error_setg(errp, "Cannot derive password: %s", gnutls_strerror(r));
        return false;
    }
    return true;
}

bool qcrypto_pbkdf2_count_iters(const HashAlg *hash, const uint8_t *key, size_t nkey,
                                const uint8_t *salt, size_t nsalt, size_t nout, uint64_t *out,
                                Error **errp)
{
    // As QEMU: time a run on this thread's CPU clock and scale up until one
    // takes long enough to measure; our threshold is shorter (100 ms).
    std::unique_ptr<uint8_t[]> buf(new uint8_t[nout]);
    uint64_t iterations = 1 << 12;
    for (;;) {
        uint64_t start = thread_cpu_ms();
        if (!qcrypto_pbkdf2(hash, key, nkey, salt, nsalt, iterations, buf.get(), nout, errp)) {
            return false;
        }
        uint64_t delta = thread_cpu_ms() - start;
        if (delta > 100) {
            *out = iterations * 1000 / delta;
            return true;
        }
        if (iterations >= UINT32_MAX / 16) {
            *out = UINT32_MAX;  // too fast to measure: plenty
            return true;
        }
        iterations *= delta < 10 ? 16 : 2;
    }
}

SectorCipher::~SectorCipher()
{
    if (h) gnutls_cipher_deinit(h);
    if (essiv) gnutls_cipher_deinit(essiv);
}

bool SectorCipher::init(const CipherAlg *a, CipherMode m, IvgenAlg iv, const HashAlg *ivhash,
                        const uint8_t *key, size_t nkey, Error **errp)
{
    alg = a;
    mode = m;
    ivgen = iv;
    gnutls_cipher_algorithm_t id = m == CipherMode::Xts   ? a->xts
                                   : m == CipherMode::Cbc ? a->cbc
                                                          : GNUTLS_CIPHER_UNKNOWN;
    size_t want = a->key_len * (m == CipherMode::Xts ? 2 : 1);
    if (id == GNUTLS_CIPHER_UNKNOWN) {
        error_setg(errp, "Cipher mode %s not supported for algorithm %s", cipher_mode_name(m),
                   a->name);
        return false;
    }
    if (nkey != want) {
        error_setg(errp, "Cipher key length %zu should be %zu", nkey, want);
        return false;
    }
    gnutls_datum_t k = {const_cast<uint8_t *>(key), (unsigned)nkey};
    uint8_t zero_iv[16] = {};
    gnutls_datum_t ivd = {zero_iv, 16};
    int r = gnutls_cipher_init(&h, id, &k, &ivd);
    if (r < 0) {
        h = nullptr;
        error_setg(errp, "Cannot initialize cipher: %s", gnutls_strerror(r));
        return false;
    }
    if (iv == IvgenAlg::Essiv) {
        // ESSIV: the IV is the sector number encrypted (one block, ECB)
        // with the hash of the key as key, by the same cipher family.
        uint8_t salt[64];
        size_t nsalt = gnutls_hash_get_len(ivhash->dig);
        const CipherAlg *ea = nullptr;
        for (const char *n : {"aes-128", "aes-192", "aes-256"}) {
            const CipherAlg *c = cipher_alg_by_name(n);
            if (c->key_len == nsalt) ea = c;
        }
        if (!ea) {
            error_setg(errp, "Cipher key size %zu bytes does not match hash %s digest size", nsalt,
                       ivhash->name);
            return false;
        }
        if (gnutls_hash_fast(ivhash->dig, key, nkey, salt) < 0) {
            error_setg(errp, "Unable to hash the key for ESSIV");
            return false;
        }
        gnutls_datum_t ek = {salt, (unsigned)nsalt};
        r = gnutls_cipher_init(&essiv, ea->cbc, &ek, &ivd);
        gnutls_memset(salt, 0, sizeof(salt));
        if (r < 0) {
            essiv = nullptr;
            error_setg(errp, "Cannot initialize ESSIV cipher: %s", gnutls_strerror(r));
            return false;
        }
    }
    return true;
}

bool SectorCipher::run(bool encrypt, uint64_t sector, uint8_t *buf, size_t len, Error **errp)
{
    std::lock_guard<std::mutex> guard(lock);
    while (len) {
        size_t n = std::min<size_t>(len, QCRYPTO_BLOCK_SECTOR_SIZE);
        uint8_t iv[16] = {};
        uint64_t s = ivgen == IvgenAlg::Plain ? (sector & 0xffffffff) : sector;
        for (int i = 0; i < 8; i++)
            iv[i] = (uint8_t)(s >> (8 * i));  // little endian
        if (ivgen == IvgenAlg::Essiv) {
            uint8_t zero[16] = {};
            gnutls_cipher_set_iv(essiv, zero, 16);
            if (gnutls_cipher_encrypt(essiv, iv, 16) < 0) {
                error_setg(errp, "Cannot generate ESSIV");
                return false;
            }
        }
        gnutls_cipher_set_iv(h, iv, 16);
        int r = encrypt ? gnutls_cipher_encrypt(h, buf, n) : gnutls_cipher_decrypt(h, buf, n);
        if (r < 0) {
            error_setg(errp, "Cannot %s data: %s", encrypt ? "encrypt" : "decrypt",
                       gnutls_strerror(r));
            return false;
        }
        buf += n;
        len -= n;
        sector++;
    }
    return true;
}
