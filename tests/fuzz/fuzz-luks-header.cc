// libFuzzer target: the LUKS1 header parser and key slot unlocking
// (crypto/luks.cc), as the luks format and qcow2 encryption use them on an
// untrusted image.  The input is a LUKS header area: the 592-byte header,
// then whatever key material the slots point at.  Open must refuse bad
// headers cleanly; an accepted one has its key regions checked against the
// input and, when its PBKDF2 iteration counts are small enough to keep the
// run fast, is unlocked with a fixed passphrase (failing, normally).
#include <cstdint>
#include <vector>

#include "crypto/block-crypto.h"
#include "crypto/crypto.h"
#include "tests/fuzz/fuzz-common.h"

namespace {

constexpr uint32_t kMaxIters = 2000;  // PBKDF2 work per slot a run may do

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool inited = [] {
        bool help = false;
        ErrorPtr err;
        user_creatable_add("secret,id=sec0,data=astrochicken", &help, &err);
        return true;
    }();
    (void)inited;
    LuksHeader h;
    {
        ErrorPtr err;
        if (!qcrypto_luks_header_decode(data, size, &h, &err)) return 0;
    }
    for (unsigned flags : {(unsigned)QCRYPTO_BLOCK_OPEN_NO_IO, 0u}) {
        ErrorPtr err;
        QCryptoBlock *b =
            qcrypto_block_open(QCryptoBlockFormat::Luks, "sec0", nullptr, data, size, flags, &err);
        if (!b) return 0;
        bool cheap = h.mk_digest_iterations <= kMaxIters;
        std::vector<std::vector<uint8_t>> material;
        for (const QCryptoRegion &r : qcrypto_block_key_regions(b)) {
            if (r.offset > size || r.length > size - r.offset) {
                cheap = false;  // the driver refuses a short read
                break;
            }
            material.emplace_back(data + r.offset, data + r.offset + r.length);
        }
        for (const LuksKeySlot &s : h.slots) {
            cheap &= s.iterations <= kMaxIters;
        }
        if (flags == 0 && cheap && !material.empty()) {
            ErrorPtr uerr;
            if (qcrypto_block_unlock(b, material, &uerr)) {
                uint8_t sector[512] = {};
                qcrypto_block_decrypt(b, 0, sector, sizeof(sector), nullptr);
                qcrypto_block_encrypt(b, 512, sector, sizeof(sector), nullptr);
            }
        }
        qcrypto_block_free(b);
    }
    return 0;
}
