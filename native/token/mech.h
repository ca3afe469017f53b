/* mech.h - the mechanism registry: what keystead supports, with which key sizes and for which
 * functions. It answers C_GetMechanismList and C_GetMechanismInfo, and the front checks every
 * *Init against it (CKR_MECHANISM_INVALID when the mechanism or the function is not listed). */
#ifndef KS_TOKEN_MECH_H
#define KS_TOKEN_MECH_H

#include <stddef.h>

#include "pkcs11.h"

typedef struct ks_mech_desc {
    CK_MECHANISM_TYPE type;
    CK_ULONG min_key;  /* as CK_MECHANISM_INFO reports it: bytes for the AES and HMAC
                          mechanisms, BITS for CKM_GENERIC_SECRET_KEY_GEN (mechanisms
                          3.0, generic secret key generation); check a key length in
                          bytes with ks_mech_key_len_ok */
    CK_ULONG max_key;
    CK_FLAGS flags;    /* CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN, CKF_VERIFY, CKF_DIGEST, CKF_WRAP,
                          CKF_UNWRAP, CKF_GENERATE, CKF_MESSAGE_ENCRYPT, ... */
    const CK_KEY_TYPE *key_types; /* accepted key types, ended by (CK_KEY_TYPE)-1 */
    const char *name;  /* "CKM_AES_GCM" */
} ks_mech_desc;

/* ks_mech_find returns the descriptor or NULL. alias_softhsm makes 0x210A answer as
 * CKM_AES_KEY_WRAP_KWP. */
const ks_mech_desc *ks_mech_find(CK_MECHANISM_TYPE type, int alias_softhsm);
size_t ks_mech_count(int alias_softhsm);
const ks_mech_desc *ks_mech_at(size_t index, int alias_softhsm);

/* ks_mech_key_type_ok returns 1 when desc accepts key type kt. */
int ks_mech_key_type_ok(const ks_mech_desc *desc, CK_KEY_TYPE kt);

/* ks_mech_key_len_ok returns 1 when a key of len BYTES is within desc's key size range
 * (converting from bits where the mechanism counts bits). Mechanisms without a key size
 * range (digests) accept every length. */
int ks_mech_key_len_ok(const ks_mech_desc *desc, size_t len);

#endif
