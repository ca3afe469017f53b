/* curve.h - the named curves keystead's key pairs use, and their encodings.
 *
 * A curve is named by the DER of its parameters, as PKCS#11 3.0 CKA_EC_PARAMS holds them
 * (mechanisms 2.3.3: an ECParameters CHOICE): an OBJECT IDENTIFIER (RFC 5480 2.1.1.1 for
 * the NIST curves, RFC 8410 3 for Ed25519, Ed448, X25519 and X448) or a PrintableString
 * curve name (mechanisms 2.3.5/2.3.7 for the Edwards and Montgomery curves, and the
 * OpenSSL names of the NIST curves). No CK_* type here. */
#ifndef KS_CRYPTO_CURVE_H
#define KS_CRYPTO_CURVE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

typedef enum ks_curve {
    KS_CURVE_NONE = 0,
    KS_CURVE_P256,
    KS_CURVE_P384,
    KS_CURVE_P521,
    KS_CURVE_ED25519,
    KS_CURVE_ED448,
    KS_CURVE_X25519,
    KS_CURVE_X448,
} ks_curve;

typedef enum ks_curve_kind {
    KS_CURVE_KIND_NONE = 0,
    KS_CURVE_WEIERSTRASS, /* ECDSA and ECDH: CKK_EC */
    KS_CURVE_EDWARDS,     /* EdDSA: CKK_EC_EDWARDS */
    KS_CURVE_MONTGOMERY,  /* X25519/X448: CKK_EC_MONTGOMERY */
} ks_curve_kind;

/* ks_curve_from_params reads the DER of curve parameters: KS_OK with *out set; KS_ERR_ARGS
 * when der is not one well-formed OBJECT IDENTIFIER, PrintableString, NULL or SEQUENCE
 * with nothing after it; KS_ERR_UNSUPPORTED for well-formed parameters of any other curve
 * (or explicit parameters, or implicitlyCA). */
ks_status ks_curve_from_params(ks_curve *out, const uint8_t *der, size_t len);

/* ks_curve_kind_of returns the family of curve c. */
ks_curve_kind ks_curve_kind_of(ks_curve c);

/* ks_curve_oid_der returns the DER OBJECT IDENTIFIER of c (*len set), NULL for none. */
const uint8_t *ks_curve_oid_der(ks_curve c, size_t *len);

/* ks_curve_ossl_name returns libcrypto's name of c ("P-256", "ED25519"), NULL for none. */
const char *ks_curve_ossl_name(ks_curve c);

/* ks_curve_point_len is the length of c's public point as PKCS#11 holds it inside
 * CKA_EC_POINT: the uncompressed SEC 1 point for the Weierstrass curves, the raw RFC 8032 /
 * RFC 7748 public key for the others. ks_curve_scalar_len is the length of its private
 * value (CKA_VALUE of the private key). ks_curve_bits is its field size in bits. 0 for
 * KS_CURVE_NONE. */
size_t ks_curve_point_len(ks_curve c);
size_t ks_curve_scalar_len(ks_curve c);
size_t ks_curve_bits(ks_curve c);

#endif
