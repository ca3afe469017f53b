/* ecdh.h - elliptic-curve Diffie-Hellman primitives through libcrypto: ECDH over P-256, P-384
 * and P-521 (SEC 1 v2.0 3.3.1 and its cofactor variant 3.3.2) and X25519/X448 (RFC 7748).
 * No CK_* types: the private key is a PKCS#8 PrivateKeyInfo DER (or a prepared EVP_PKEY),
 * the peer's public value is the bare encoding of its curve. The PKCS#8 is read with
 * libcrypto's ASN.1 parser and imported through the provider (EVP_PKEY_fromdata, raw keys),
 * never through OpenSSL 3.0's decoders, which look the format up on every call (about a
 * millisecond, against some 0.2 ms for the whole derivation this way).
 *
 * WARNING: the output is the raw shared secret Z, not a key. Feed it to a KDF
 * (crypto/x963kdf.h) unless the protocol says otherwise, and wipe it. */
#ifndef KS_CRYPTO_ECDH_H
#define KS_CRYPTO_ECDH_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

/* The largest shared secret: P-521's 66-byte x-coordinate. */
#define KS_ECDH_MAX_SECRET 66

typedef enum ks_ecdh_curve {
    KS_ECDH_NONE = 0,
    KS_ECDH_P256,
    KS_ECDH_P384,
    KS_ECDH_P521,
    KS_ECDH_X25519,
    KS_ECDH_X448,
} ks_ecdh_curve;

/* ks_ecdh_secret_len returns the length in bytes of Z on curve (the field size: 32, 48, 66,
 * 32, 56), 0 for KS_ECDH_NONE or an unknown value. */
size_t ks_ecdh_secret_len(ks_ecdh_curve curve);

/* ks_ecdh_curve_of returns the curve of a private key given as PKCS#8 DER (pkey NULL) or as
 * an EVP_PKEY (pkey, then pkcs8 is ignored); KS_ECDH_NONE when it is no key of the five
 * curves. */
ks_ecdh_curve ks_ecdh_curve_of(const void *pkey, const uint8_t *pkcs8, size_t pkcs8_len);

/* ks_ecdh_derive computes Z between a private key (pkey, an EVP_PKEY *, or when pkey is NULL
 * the PKCS#8 DER pkcs8) and the peer's public value:
 *   P-256/384/521: an X9.62 point, uncompressed (04 || X || Y) or compressed (02/03 || X);
 *   X25519/X448: the 32/56-byte u-coordinate (RFC 7748 5).
 * cofactor selects cofactor ECDH (SEC 1 3.3.2) on the prime curves (their cofactor is 1, so
 * Z is the same); X25519/X448 always multiply by the cofactor (clamping).
 * *out_len gets the secret's length (ks_ecdh_secret_len), which max_out must hold.
 * KS_ERR_ARGS: the peer's value is no valid public value of the key's curve (wrong length or
 * form, not on the curve, the point at infinity, or a low-order point that makes Z all
 * zero); KS_ERR_KEY_LEN: the private key cannot be parsed or is of another curve;
 * KS_ERR_LEN: max_out too small; KS_ERR_NOMEM. On failure out is wiped. */
ks_status ks_ecdh_derive(uint8_t *out, size_t *out_len, size_t max_out, const void *pkey,
                         const uint8_t *pkcs8, size_t pkcs8_len, int cofactor,
                         const uint8_t *peer, size_t peer_len);

#endif
