// Block-layer side of encryption shared by the `luks` driver and qcow2:
// reading a LUKS header area through a child and unlocking it, and the
// create options of the encryption (QEMU's block_crypto_* helpers).
#pragma once

#include "block/block-int.h"
#include "crypto/block-crypto.h"

// Opens the crypto header at [@hdr_offset, @hdr_offset + @hdr_len) of
// @child (@hdr_len 0: up to the end of the file): reads it, looks up
// @key_secret and unlocks a key slot unless @flags has BDRV_O_NO_IO.
QCryptoBlock *coroutine_fn block_crypto_co_open(BdrvChild *child, uint64_t hdr_offset,
                                                uint64_t hdr_len, QCryptoBlockFormat format,
                                                const char *key_secret, const char *optprefix,
                                                int flags, Error **errp);

// Takes the encryption create options "<prefix>key-secret", ... out of
// @opts ("" for luks, "encrypt." for qcow2) into @out; false with QEMU's
// message when a value is bad.
bool block_crypto_take_create_opts(QDict *opts, const char *prefix, QCryptoBlockCreateOptions *out,
                                   Error **errp);
