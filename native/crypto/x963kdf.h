/* x963kdf.h - the key derivation function of ANSI X9.63 (SEC 1 v2.0 3.6.1), the KDF that
 * PKCS#11 3.0's CKD_SHA1_KDF ... CKD_SHA512_KDF name for ECDH:
 *
 *     K = Hash(Z || Counter || SharedInfo) for Counter = 1, 2, ... (32 bits, big-endian),
 *
 * the blocks concatenated and cut to the length asked. Through libcrypto's EVP digests
 * (crypto/digest.h); no CK_* types. */
#ifndef KS_CRYPTO_X963KDF_H
#define KS_CRYPTO_X963KDF_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/digest.h"
#include "crypto/status.h"

/* ks_x963_kdf writes out_len bytes of key derived from the shared secret z (z_len > 0) and
 * the shared info (info may be NULL when info_len is 0) with hash md. KS_ERR_ARGS for a NULL
 * pointer with a length, an unknown md, out_len 0 or z_len 0; KS_ERR_LEN when out_len needs
 * more than 2^32 - 1 blocks (SEC 1 3.6.1 step 2). On any failure out is wiped. */
ks_status ks_x963_kdf(ks_md md, uint8_t *out, size_t out_len, const uint8_t *z, size_t z_len,
                      const uint8_t *info, size_t info_len);

#endif
