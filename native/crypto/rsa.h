/* rsa.h - the RSA primitive through libcrypto: the raw public and private operations
 * (RFC 8017 5.1 RSAEP and RSADP, no padding) over an EVP_PKEY, and the implicit-rejection
 * key derivation key of a private key (crypto/rsa_pad.h).
 *
 * libcrypto does the modular exponentiation only; the private operation uses its RSA
 * blinding (on by default for every RSA key it loads). Paddings are crypto/rsa_pad.c. */
#ifndef KS_CRYPTO_RSA_H
#define KS_CRYPTO_RSA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/rsa_pad.h"
#include "crypto/status.h"

/* ks_rsa_from_der parses a PKCS#8 PrivateKeyInfo (private != 0) or a SubjectPublicKeyInfo
 * into an RSA EVP_PKEY; NULL when der is not exactly one such structure of an RSA key.
 * Release with ks_rsa_free. */
EVP_PKEY *ks_rsa_from_der(const uint8_t *der, size_t der_len, int private_key);
/* ks_rsa_ref takes a reference to an already parsed key (a prepared key, token/object.h) when
 * it is an RSA key; NULL otherwise. Release with ks_rsa_free. */
EVP_PKEY *ks_rsa_ref(EVP_PKEY *pkey);
void ks_rsa_free(EVP_PKEY *pkey);

/* ks_rsa_size returns the modulus length k in bytes, 0 when pkey is not an RSA key. */
size_t ks_rsa_size(const EVP_PKEY *pkey);

/* ks_rsa_public_raw computes out = in^e mod n over k-byte big-endian blocks (k =
 * ks_rsa_size). KS_ERR_LEN when in_len != k or in >= n. */
ks_status ks_rsa_public_raw(EVP_PKEY *pkey, uint8_t *out, const uint8_t *in, size_t in_len);

/* ks_rsa_private_raw computes out = in^d mod n (blinded) over k-byte blocks. KS_ERR_LEN when
 * in_len != k or in >= n (both public facts); KS_ERR_INTERNAL when libcrypto fails. */
ks_status ks_rsa_private_raw(EVP_PKEY *pkey, uint8_t *out, const uint8_t *in, size_t in_len);

/* ks_rsa_ir_kdk computes the implicit-rejection key derivation key of the private key pkey
 * for the k-byte ciphertext c (draft-irtf-cfrg-rsa-guidance: HMAC-SHA256 keyed with
 * SHA-256 of the private exponent as k bytes). */
ks_status ks_rsa_ir_kdk(EVP_PKEY *pkey, uint8_t kdk[KS_RSA_KDK_LEN], const uint8_t *c,
                        size_t c_len);

#endif
