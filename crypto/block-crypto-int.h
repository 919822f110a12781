// Internals shared by crypto/block-crypto.cc and crypto/luks.cc: the
// algorithms (names as QEMU's QAPI enums) and the sector cipher.
#pragma once

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <mutex>

#include "crypto/block-crypto.h"

enum class CipherMode { Ecb, Cbc, Xts, Ctr };
enum class IvgenAlg { Plain, Plain64, Essiv };

struct HashAlg {
    const char *name;  // "sha256"
    gnutls_digest_algorithm_t dig;
    gnutls_mac_algorithm_t mac;
};
struct CipherAlg {
    const char *name;       // "aes-256"
    const char *luks_name;  // "aes"
    size_t key_len;
    gnutls_cipher_algorithm_t cbc, xts;  // GNUTLS_CIPHER_UNKNOWN if none
};

const HashAlg *hash_alg_by_name(const char *name);
const CipherAlg *cipher_alg_by_name(const char *name);
// The AES variant a LUKS "aes" + key size names (XTS keys are doubled).
const CipherAlg *cipher_alg_by_luks(const char *luks_name, CipherMode mode, size_t key_bytes);
const char *cipher_mode_name(CipherMode m);
bool cipher_mode_by_name(const char *name, CipherMode *out);
const char *ivgen_name(IvgenAlg a);
bool ivgen_by_name(const char *name, IvgenAlg *out);

bool qcrypto_random(uint8_t *buf, size_t len, Error **errp);
bool qcrypto_pbkdf2(const HashAlg *hash, const uint8_t *key, size_t nkey, const uint8_t *salt,
                    size_t nsalt, uint64_t iterations, uint8_t *out, size_t nout, Error **errp);
// Iterations per second of PBKDF2 on this thread's CPU time.
bool qcrypto_pbkdf2_count_iters(const HashAlg *hash, const uint8_t *key, size_t nkey,
                                const uint8_t *salt, size_t nsalt, size_t nout, uint64_t *out,
                                Error **errp);

// A cipher + IV generator over 512-byte sectors (QEMU's
// qcrypto_block_cipher_{en,de}crypt_helper): each sector gets the IV of its
// number; a last partial sector is processed as it is.
struct SectorCipher {
    const CipherAlg *alg = nullptr;
    CipherMode mode = CipherMode::Xts;
    IvgenAlg ivgen = IvgenAlg::Plain64;
    gnutls_cipher_hd_t h = nullptr;
    gnutls_cipher_hd_t essiv = nullptr;  // AES-CBC with a zero IV = one ECB block
    std::mutex lock;
    ~SectorCipher();
    bool init(const CipherAlg *alg, CipherMode mode, IvgenAlg ivgen, const HashAlg *ivhash,
              const uint8_t *key, size_t nkey, Error **errp);
    bool run(bool encrypt, uint64_t start_sector, uint8_t *buf, size_t len, Error **errp);
};
