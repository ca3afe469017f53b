/* pkey_der.h - the DER forms of curve keys, written directly: PKCS#8 PrivateKeyInfo
 * (RFC 5208) holding an RFC 5915 ECPrivateKey or an RFC 8410 CurvePrivateKey, and
 * SubjectPublicKeyInfo (RFC 5480, RFC 8410). libcrypto 3.0 encodes these through its
 * encoder framework at hundreds of microseconds a key; the fixed layouts here cost a copy.
 * The output is what libcrypto writes for the same key (tests/native/test_pkey.py). */
#ifndef KS_CRYPTO_PKEY_DER_H
#define KS_CRYPTO_PKEY_DER_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/curve.h"
#include "crypto/status.h"

/* The longest DER these write (P-521 PKCS#8 with its public key). */
#define KS_CURVE_DER_MAX 256

/* ks_der_curve_key writes the key on curve c into out (max bytes): the PKCS#8 of the private
 * value priv (priv_len = ks_curve_scalar_len(c)) with its public point, or with priv NULL the
 * SubjectPublicKeyInfo of point (point_len = ks_curve_point_len(c); uncompressed for the
 * Weierstrass curves). KS_ERR_ARGS for lengths that do not fit the curve or max. */
ks_status ks_der_curve_key(ks_curve c, const uint8_t *priv, size_t priv_len,
                           const uint8_t *point, size_t point_len, uint8_t *out,
                           size_t *out_len, size_t max);

#endif
