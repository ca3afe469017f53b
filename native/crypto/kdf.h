/* kdf.h - password-based key derivation for PINs (scrypt, RFC 7914; PBKDF2-HMAC-SHA-256,
 * SP 800-132) through libcrypto. */
#ifndef KS_CRYPTO_KDF_H
#define KS_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

ks_status ks_pbkdf2_sha256(uint8_t *out, size_t out_len, const uint8_t *pass, size_t pass_len,
                           const uint8_t *salt, size_t salt_len, uint32_t iterations);

/* n must be a power of two > 1; r * p < 2^30. */
ks_status ks_scrypt(uint8_t *out, size_t out_len, const uint8_t *pass, size_t pass_len,
                    const uint8_t *salt, size_t salt_len, uint64_t n, uint32_t r, uint32_t p);

#endif
