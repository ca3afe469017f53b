/* derive_ecdh.h - the value of a key derived by CKM_ECDH1_DERIVE and CKM_ECDH1_COFACTOR_DERIVE
 * (PKCS#11 3.0 mechanisms, "Elliptic curve Diffie-Hellman key derivation" and
 * CK_ECDH1_DERIVE_PARAMS) from a P-256/384/521 (CKK_EC) or X25519/X448 (CKK_EC_MONTGOMERY)
 * private key: the shared secret Z (crypto/ecdh.h), then the KDF the parameter names:
 *
 *  - CKD_NULL: Z itself, truncated to the length asked by removing bytes from its leading
 *    end, as the mechanism's text says ("The truncation removes bytes from the leading end
 *    of the secret value"): the key is the trailing bytes of Z;
 *  - CKD_SHA1_KDF, CKD_SHA224_KDF, CKD_SHA256_KDF, CKD_SHA384_KDF, CKD_SHA512_KDF: the
 *    ANSI X9.63 KDF with that hash over Z and the shared data (crypto/x963kdf.h).
 *
 * Every other KDF (the ASN.1 and concatenation variants, SHA-3, the SP 800-56 ones) is
 * CKR_MECHANISM_PARAM_INVALID. */
#ifndef KS_TOKEN_DERIVE_ECDH_H
#define KS_TOKEN_DERIVE_ECDH_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"
#include "token/ops.h"

/* ks_ecdh_params checks a CK_ECDH1_DERIVE_PARAMS before any key is read (the registry row's
 * parameter check): present and of its size, a KDF of the list above, no shared data with
 * CKD_NULL, no NULL pointer with a length, a public value of 1 to 1024 bytes.
 * CKR_MECHANISM_PARAM_INVALID otherwise. */
CK_RV ks_ecdh_params(const CK_MECHANISM *mech);

/* ks_ecdh_derive_value writes the *len bytes of the derived key's value to out (max_out
 * bytes). *len 0 asks for the natural length, which only CKD_NULL has (the whole Z: the
 * curve's field size, at most KS_ECDH_MAX_SECRET); *len gets it. For the X9.63 KDF the
 * template must give the length (the caller answers CKR_TEMPLATE_INCOMPLETE before).
 * The peer's public value (pPublicData) is accepted raw (an X9.62 point, uncompressed or
 * compressed, or the X25519/X448 u-coordinate; PKCS#11 3.0: a token MUST accept it raw) or
 * as a DER OCTET STRING holding it (the CKA_EC_POINT encoding, which a token MAY accept;
 * OpenSC's pkcs11-tool sends it with --derive-pass-der). Errors:
 * CKR_MECHANISM_PARAM_INVALID for a public value that is no valid point of the base key's
 * curve (off the curve, another curve, wrong length or form, infinity, a low-order X25519/X448
 * value giving an all-zero Z); CKR_KEY_TYPE_INCONSISTENT for a base key of another curve or
 * type; CKR_TEMPLATE_INCONSISTENT for a CKD_NULL key longer than Z; CKR_HOST_MEMORY.
 * CKR_TEMPLATE_INCOMPLETE for *len 0 with a KDF. On failure out is wiped. */
CK_RV ks_ecdh_derive_value(const CK_MECHANISM *mech, const ks_key_ref *base, uint8_t *out,
                           size_t max_out, size_t *len);

#endif
