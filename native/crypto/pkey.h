/* pkey.h - key pairs through libcrypto's EVP_PKEY: generation, the DER forms the token
 * keeps (PKCS#8 PrivateKeyInfo, RFC 5208, for a private key; SubjectPublicKeyInfo,
 * RFC 5280 4.1, for a public key), and the components PKCS#11 shows as attributes.
 *
 * Private DER and private components come back in ks_secure_alloc memory (free them with
 * ks_secure_free); public ones in malloc memory. Every EVP_PKEY returned is the caller's
 * (EVP_PKEY_free). No CK_* type here. */
#ifndef KS_CRYPTO_PKEY_H
#define KS_CRYPTO_PKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/curve.h"
#include "crypto/status.h"

#define KS_RSA_MAX_BITS 16384  /* what the parsers take; generation bounds are the caller's */
#define KS_RSA_MAX_EXP_BYTES 32 /* a public exponent below 2^256 (FIPS 186-5 A.1.1) */

/* The RSA components, RFC 8017 A.1.2 order. */
typedef enum ks_rsa_part {
    KS_RSA_N,
    KS_RSA_E,
    KS_RSA_D,
    KS_RSA_P,
    KS_RSA_Q,
    KS_RSA_DP,
    KS_RSA_DQ,
    KS_RSA_QINV,
    KS_RSA_PARTS,
} ks_rsa_part;

/* ks_pkey_gen_rsa makes an RSA key of bits bits with public exponent e (big-endian, e_len
 * bytes; NULL for 65537) by FIPS 186-5 A.1.3 (crypto/rsa_keygen.h). KS_ERR_ARGS for an
 * exponent outside FIPS 186-5's range for new keys (odd, 2^16 < e < 2^256) or a size the
 * generator does not make; KS_ERR_INTERNAL when libcrypto fails. */
ks_status ks_pkey_gen_rsa(EVP_PKEY **out, unsigned bits, const uint8_t *e, size_t e_len);

/* ks_pkey_gen_curve makes a key on curve c (KS_ERR_ARGS for KS_CURVE_NONE). */
ks_status ks_pkey_gen_curve(EVP_PKEY **out, ks_curve c);

/* ks_pkey_gen_curve_values makes a key on curve c and writes only its values: the private
 * value into priv (ks_curve_scalar_len(c) bytes, *priv_len set; max_priv at least that) and
 * the public point into point (ks_curve_point_len(c) bytes, uncompressed for the prime
 * curves; max_point at least that), the forms ks_der_curve_key takes. For the prime curves
 * the scalar is drawn uniformly from [1, n - 1] by libcrypto's private DRBG and multiplied
 * by the generator with EC_POINT_mul, as EC_KEY_generate_key does (constant time), with no
 * EVP_PKEY in between; the other curves go through ks_pkey_gen_curve. KS_ERR_ARGS for a
 * curve keystead lacks or a short buffer, KS_ERR_INTERNAL when libcrypto fails; on any
 * failure priv is wiped. */
ks_status ks_pkey_gen_curve_values(ks_curve c, uint8_t *priv, size_t *priv_len, size_t max_priv,
                                   uint8_t *point, size_t *point_len, size_t max_point);

/* ks_pkey_gen_curve_der makes a key on curve c (ks_pkey_gen_curve_values) and writes its
 * PKCS#8 into pkcs8 and its SubjectPublicKeyInfo into spki (KS_CURVE_DER_MAX bytes each,
 * crypto/pkey_der.h; pkcs8 should be locked memory) and its public point into point
 * (KS_CURVE_POINT_MAX bytes): the caller never holds the bare private value, which is
 * wiped here. Errors as ks_pkey_gen_curve_values; on failure pkcs8 is wiped. */
#define KS_CURVE_POINT_MAX 160
ks_status ks_pkey_gen_curve_der(ks_curve c, uint8_t *pkcs8, size_t *pkcs8_len, uint8_t *spki,
                                size_t *spki_len, uint8_t *point, size_t *point_len);

/* ks_pkey_pkcs8 encodes the private key as PKCS#8 PrivateKeyInfo DER (secure memory). */
ks_status ks_pkey_pkcs8(const EVP_PKEY *k, uint8_t **der, size_t *len);

/* ks_pkey_spki encodes the public key as SubjectPublicKeyInfo DER (heap memory). */
ks_status ks_pkey_spki(const EVP_PKEY *k, uint8_t **der, size_t *len);

/* ks_pkey_from_pkcs8 / ks_pkey_from_spki parse the DER forms above, the whole input and
 * nothing after it; KS_ERR_ARGS when it is not one. */
ks_status ks_pkey_from_pkcs8(EVP_PKEY **out, const uint8_t *der, size_t len);
ks_status ks_pkey_from_spki(EVP_PKEY **out, const uint8_t *der, size_t len);

/* ks_pkey_is_rsa: 1 for an RSA key. ks_pkey_curve: the curve of an EC, EdDSA or
 * Montgomery key, KS_CURVE_NONE for others (RSA, or a curve keystead does not name). */
int ks_pkey_is_rsa(const EVP_PKEY *k);
ks_curve ks_pkey_curve(const EVP_PKEY *k);

/* ks_pkey_bits: the modulus length of an RSA key in bits (0 for others). */
size_t ks_pkey_bits(const EVP_PKEY *k);

/* ks_pkey_rsa_part: an RSA component as an unsigned big-endian integer without leading
 * zeros (one zero byte for 0). The private parts (D and after) in secure memory.
 * KS_ERR_ARGS when k lacks the component (a key without CRT values). */
ks_status ks_pkey_rsa_part(const EVP_PKEY *k, ks_rsa_part part, uint8_t **out, size_t *len);

/* ks_pkey_public_point writes the public point as ks_curve_point_len says into out
 * (max bytes): the uncompressed point, or the raw public key. */
ks_status ks_pkey_public_point(const EVP_PKEY *k, uint8_t *out, size_t *len, size_t max);

/* ks_pkey_private_value writes the private value (ks_curve_scalar_len bytes: the scalar,
 * big-endian and zero-padded, or the raw private key) into out (max bytes). */
ks_status ks_pkey_private_value(const EVP_PKEY *k, uint8_t *out, size_t *len, size_t max);

/* ks_pkey_from_rsa_parts builds an RSA private key from its components (parts[i] of
 * lens[i] bytes, big-endian; N, E and D required, the five CRT values all or none; NULL
 * parts absent), checks it (RSA key pair validation) and returns it. KS_ERR_ARGS when the
 * components are missing, inconsistent or out of range. */
ks_status ks_pkey_from_rsa_parts(EVP_PKEY **out, const uint8_t *const parts[KS_RSA_PARTS],
                                 const size_t lens[KS_RSA_PARTS]);

/* ks_pkey_from_rsa_public builds an RSA public key from n and e. KS_ERR_ARGS for an even
 * modulus, a modulus above KS_RSA_MAX_BITS, or an exponent that is even or below 3. */
ks_status ks_pkey_from_rsa_public(EVP_PKEY **out, const uint8_t *n, size_t n_len,
                                  const uint8_t *e, size_t e_len);

/* ks_pkey_from_private_value builds a private key on curve c from its private value
 * (ks_curve_scalar_len bytes; a Weierstrass scalar may be given shorter, and must be in
 * [1, order - 1]). KS_ERR_ARGS when it is not a valid private value. */
ks_status ks_pkey_from_private_value(EVP_PKEY **out, ks_curve c, const uint8_t *v,
                                     size_t len);

/* ks_pkey_from_public_point builds a public key on curve c from its point
 * (ks_curve_point_len bytes; a Weierstrass point may also be compressed); KS_ERR_ARGS for a
 * point that is malformed or not on the curve. */
ks_status ks_pkey_from_public_point(EVP_PKEY **out, ks_curve c, const uint8_t *p,
                                    size_t len);

/* ks_pkey_same_public: 1 when a and b have the same public key. */
int ks_pkey_same_public(const EVP_PKEY *a, const EVP_PKEY *b);

#endif
