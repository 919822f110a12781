// Block encryption for the format drivers (QEMU 7.2's crypto/block*.c
// behaviour): LUKS1 headers (the `luks` format and qcow2's
// encrypt.format=luks) and the legacy qcow AES-CBC scheme.  All ciphers,
// hashes and the PBKDF2 come from GnuTLS; nothing here does I/O, so the
// drivers read and write the header themselves:
//
//   open:   qcrypto_block_open(header bytes)      -> key material regions
//           read each region, qcrypto_block_unlock(material)
//   create: qcrypto_block_create()                 -> the header area bytes
//           (payload offset long), written by the driver at its place
//   I/O:    qcrypto_block_encrypt/decrypt(offset) on 512-byte sectors,
//           the IV derived from offset / 512 (plain, plain64 or essiv).
#pragma once

#include <json-glib/json-glib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "util/error.h"

enum class QCryptoBlockFormat { Qcow, Luks };

enum {
    QCRYPTO_BLOCK_OPEN_NO_IO = 1,  // header only: info works without the secret
    QCRYPTO_BLOCK_SECTOR_SIZE = 512,
    QCRYPTO_LUKS_HEADER_LEN = 592,  // partition header + 8 key slots
    QCRYPTO_LUKS_NUM_KEY_SLOTS = 8,
    QCRYPTO_LUKS_STRIPES = 4000,
};

// Creation options (QCryptoBlockCreateOptionsLUKS; empty string = default).
struct QCryptoBlockCreateOptions {
    QCryptoBlockFormat format = QCryptoBlockFormat::Luks;
    std::string key_secret;   // "" = not given
    std::string cipher_alg;   // aes-256
    std::string cipher_mode;  // xts
    std::string ivgen_alg;    // plain64
    std::string ivgen_hash_alg;
    std::string hash_alg;      // sha256
    int64_t iter_time = 2000;  // milliseconds of PBKDF2 per key
};

// ---- the LUKS1 on-disk header -------------------------------------------
struct LuksKeySlot {
    uint32_t active = 0;  // 0x00AC71F3 enabled, 0x0000DEAD disabled
    uint32_t iterations = 0;
    uint8_t salt[32] = {};
    uint32_t key_offset = 0;  // sectors
    uint32_t stripes = 0;
};

struct LuksHeader {
    uint16_t version = 0;
    char cipher_name[33] = {};
    char cipher_mode[33] = {};
    char hash_spec[33] = {};
    uint32_t payload_offset = 0;  // sectors
    uint32_t key_bytes = 0;
    uint8_t mk_digest[20] = {};
    uint8_t mk_digest_salt[32] = {};
    uint32_t mk_digest_iterations = 0;
    char uuid[41] = {};
    LuksKeySlot slots[QCRYPTO_LUKS_NUM_KEY_SLOTS];
};

// Decodes the first QCRYPTO_LUKS_HEADER_LEN bytes (no validation beyond
// the magic and version; qcrypto_block_open checks the rest).
bool qcrypto_luks_header_decode(const uint8_t *buf, size_t len, LuksHeader *h, Error **errp);
void qcrypto_luks_header_encode(const LuksHeader &h, uint8_t *buf);

// ---- blocks -------------------------------------------------------------
struct QCryptoBlock;

struct QCryptoRegion {
    uint64_t offset;  // from the start of the header area
    uint64_t length;
};

// Parses and validates a LUKS header (@hdr: its first bytes, at least
// QCRYPTO_LUKS_HEADER_LEN) and looks the secret up (unless NO_IO).
// @optprefix names the option in messages ("encrypt." for qcow2).
// For Qcow the key comes from the secret and no header is read.
QCryptoBlock *qcrypto_block_open(QCryptoBlockFormat format, const char *key_secret,
                                 const char *optprefix, const uint8_t *hdr, size_t hdr_len,
                                 unsigned flags, Error **errp);
// LUKS: the key material of every active slot, to be read and handed to
// qcrypto_block_unlock in this order.  Empty for Qcow and NO_IO opens.
std::vector<QCryptoRegion> qcrypto_block_key_regions(QCryptoBlock *block);
// Tries the passphrase on each slot's material; "Invalid password, cannot
// unlock any keyslot" when none opens.
bool qcrypto_block_unlock(QCryptoBlock *block, const std::vector<std::vector<uint8_t>> &material,
                          Error **errp);

// Makes a new block: LUKS fills @header with the whole header area
// (payload offset bytes: header, key slot 0's material, zeroes elsewhere).
QCryptoBlock *qcrypto_block_create(const QCryptoBlockCreateOptions &opts, const char *optprefix,
                                   std::vector<uint8_t> *header, Error **errp);
void qcrypto_block_free(QCryptoBlock *block);

// Where the encrypted payload starts (LUKS: payload offset * 512; Qcow: 0).
uint64_t qcrypto_block_get_payload_offset(QCryptoBlock *block);
uint64_t qcrypto_block_get_sector_size(QCryptoBlock *block);
// In-place; @offset and @len are multiples of the sector size.  Thread-safe.
bool qcrypto_block_encrypt(QCryptoBlock *block, uint64_t offset, uint8_t *buf, size_t len,
                           Error **errp);
bool qcrypto_block_decrypt(QCryptoBlock *block, uint64_t offset, uint8_t *buf, size_t len,
                           Error **errp);

// QEMU's QCryptoBlockInfoLUKS members (ivgen-alg, ..., master-key-iters)
// added to the object being built, with "format": @format (qcow2) after
// "uuid" when non-null; only that for Qcow.
void qcrypto_block_add_info(QCryptoBlock *block, JsonBuilder *b, const char *format);

// The header area a LUKS block of these options needs (measure, qcow2
// create's size estimate): payload offset in bytes.  -1 with errp on bad
// options.
int64_t qcrypto_block_luks_header_size(const QCryptoBlockCreateOptions &opts, Error **errp);
