/* mech.h - the mechanism registry: one row per mechanism keystead implements, carrying
 * everything about it: the functions it serves (CKF_* flags), the key types and object classes
 * it takes, its key size bounds, the check of its parameter and its family's operations.
 *
 * Every user of a mechanism reads the row: C_GetMechanismList and C_GetMechanismInfo
 * (ks_mech_offer, with the active policy), every *Init, C_WrapKey, C_UnwrapKey and
 * C_GenerateKey in the front, the operation dispatch (token/ops.c), the wrap policy and the
 * fuzz targets. A new mechanism is a row here and, for a new family, a family file
 * (docs/architecture.md). */
#ifndef KS_TOKEN_MECH_H
#define KS_TOKEN_MECH_H

#include <stddef.h>

#include "pkcs11.h"

struct ks_config;
struct ks_mech_family; /* token/ops_internal.h: the family's operations */

/* ks_mech_desc.traits */
#define KS_MECH_KEY_BITS 0x1u  /* min_key/max_key count bits, not bytes */
#define KS_MECH_ALIAS 0x2u     /* listed only with kwp_alias = softhsm (0x210A) */
#define KS_MECH_KEY_WRAP 0x4u  /* authenticated key wrapping: the strict wrap policy's
                                  only carriers of keys (token/wrap_policy.h rule 6) */
#define KS_MECH_DECRYPT_PROTECTS 0x8u /* decryption is the encryption computation (a keystream
                                  xor: CTR), so it gives E_K of chosen blocks: it needs the
                                  protect permission as well as the process one */
#define KS_MECH_KEY_PAIR 0x10u /* takes (or, for a generator, makes) a key pair: the key class
                                  depends on the operation (ks_mech_key_class_ok), the key
                                  value is DER (ks_key_ref), sizes are checked by the family */

typedef struct ks_mech_desc {
    CK_MECHANISM_TYPE type;
    CK_ULONG min_key;  /* as CK_MECHANISM_INFO reports it: bytes for the AES and HMAC
                          mechanisms, BITS for CKM_GENERIC_SECRET_KEY_GEN (mechanisms
                          3.0, generic secret key generation; KS_MECH_KEY_BITS); check a key
                          length in bytes with ks_mech_key_len_ok */
    CK_ULONG max_key;
    CK_FLAGS flags;    /* CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN, CKF_VERIFY, CKF_DIGEST, CKF_WRAP,
                          CKF_UNWRAP, CKF_GENERATE, CKF_MESSAGE_ENCRYPT, ... */
    const CK_KEY_TYPE *key_types; /* accepted key types, ended by (CK_KEY_TYPE)-1; for a
                                     generator the types it makes */
    const char *name;  /* "CKM_AES_GCM" */
    /* The object class of the keys it takes (CKO_SECRET_KEY; CK_UNAVAILABLE_INFORMATION for
     * the digests, which take none) or, for a generator, of the keys it makes. */
    CK_OBJECT_CLASS key_class;
    unsigned traits;   /* KS_MECH_* */
    /* C_WrapKey pads the wrapped value with zero bytes to a multiple of this many bytes where
     * the mechanism takes whole blocks only ("padded on the trailing end with null bytes":
     * ECB and CBC 16, CKM_AES_KEY_WRAP 8); 0 for none. */
    unsigned wrap_pad;
    /* params checks the mechanism parameter before any key is read
     * (CKR_MECHANISM_PARAM_INVALID); NULL where the family's init parses it into the
     * operation (IVs, counters, tag and MAC lengths). */
    CK_RV (*params)(const CK_MECHANISM *mech);
    /* The family that runs the mechanism's operations (NULL for the generators, which run
     * none: C_GenerateKey makes the value). */
    const struct ks_mech_family *family;
} ks_mech_desc;

/* ks_mech_find returns the row or NULL. alias_softhsm makes 0x210A answer as
 * CKM_AES_KEY_WRAP_KWP. */
const ks_mech_desc *ks_mech_find(CK_MECHANISM_TYPE type, int alias_softhsm);
size_t ks_mech_count(int alias_softhsm);
const ks_mech_desc *ks_mech_at(size_t index, int alias_softhsm);

/* ks_mech_lookup: the one lookup of the front, with the configuration's alias setting. */
const ks_mech_desc *ks_mech_lookup(const struct ks_config *cfg, CK_MECHANISM_TYPE type);

/* ks_mech_offer computes what the token advertises for row index (under cfg's alias
 * setting) from the row and the active policy: *type and *info as C_GetMechanismList and
 * C_GetMechanismInfo report them (the strict wrap policy takes CKF_WRAP/CKF_UNWRAP from every
 * mechanism but the key-wrap ones). Returns 0 past the last row. The only source of both
 * calls. */
int ks_mech_offer(const struct ks_config *cfg, size_t index, CK_MECHANISM_TYPE *type,
                  CK_MECHANISM_INFO *info);

/* ks_mech_key_type_ok returns 1 when desc accepts key type kt. */
int ks_mech_key_type_ok(const ks_mech_desc *desc, CK_KEY_TYPE kt);

/* ks_mech_key_class_ok returns 1 when desc takes keys of object class cls for the operation
 * op, a CKF_* function flag (CKF_SIGN, CKF_VERIFY, CKF_ENCRYPT, CKF_DECRYPT, CKF_WRAP,
 * CKF_UNWRAP, CKF_DERIVE, CKF_MESSAGE_*). A KS_MECH_KEY_PAIR row takes the private key to
 * sign, decrypt, unwrap and derive, and the public key to verify, encrypt and wrap
 * (PKCS#11 3.0 5.10-5.18); any other row takes its key_class whatever the operation. */
int ks_mech_key_class_ok(const ks_mech_desc *desc, CK_OBJECT_CLASS cls, CK_FLAGS op);

/* ks_mech_key_len_ok returns 1 when a key of len BYTES is within desc's key size range
 * (converting from bits where the mechanism counts bits). Mechanisms without a key size
 * range (digests) accept every length, and so do KS_MECH_KEY_PAIR rows, whose key value is
 * DER: their family checks the key's size with ks_mech_key_bits_ok. */
int ks_mech_key_len_ok(const ks_mech_desc *desc, size_t len);

/* ks_mech_key_bits_ok returns 1 when a key of bits BITS (an RSA modulus) is within desc's
 * key size range, or the row has none. */
int ks_mech_key_bits_ok(const ks_mech_desc *desc, size_t bits);

/* ks_mech_is_key_wrap returns 1 for the authenticated key-wrap mechanisms
 * (KS_MECH_KEY_WRAP), the SoftHSMv2 alias included. */
int ks_mech_is_key_wrap(CK_MECHANISM_TYPE type);

/* ks_mech_params_none: the mechanism takes no parameter (CKR_MECHANISM_PARAM_INVALID for
 * any). */
CK_RV ks_mech_params_none(const CK_MECHANISM *mech);

#endif
