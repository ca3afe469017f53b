/* ops_internal.h - what ops.c and the mechanism family files (ops_aes_block.c,
 * ops_aes_gcm.c, ops_kw.c, ops_mac.c, ops_digest.c) share. Not part of the token's API.
 *
 * ops.c checks the arguments every call shares (NULL pointers, the operation kind) and
 * dispatches through the family's table; a family applies the PKCS#11 3.0 section 5.2 length
 * rules with ks_out_ready() before any cryptography, so a length query and
 * CKR_BUFFER_TOO_SMALL leave the state untouched. */
#ifndef KS_TOKEN_OPS_INTERNAL_H
#define KS_TOKEN_OPS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/digest.h"
#include "crypto/gcm.h"
#include "crypto/hmac.h"
#include "crypto/pkey_sign.h"
#include "token/gcm_hold.h"
#include "token/ops.h"

typedef struct ks_op_family {
    CK_RV (*oneshot)(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                     size_t in_len);
    /* update for encrypt/decrypt; out_len is NULL for sign, verify and digest. */
    CK_RV (*update)(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                    size_t in_len);
    CK_RV (*final)(ks_op *op, uint8_t *out, CK_ULONG *out_len);
    /* NULL where the family has no such call. */
    CK_RV (*verify)(ks_op *op, const uint8_t *data, size_t data_len, const uint8_t *sig,
                    size_t sig_len);
    CK_RV (*verify_final)(ks_op *op, const uint8_t *sig, size_t sig_len);
    CK_RV (*digest_key)(ks_op *op, const ks_key_ref *key);
    /* clear wipes and releases everything the family holds (never the op itself). */
    void (*clear)(ks_op *op);
} ks_op_family;

/* ECB, CBC, CBC_PAD (SP 800-38A, PKCS#7 padding) and CTR. */
typedef struct ks_blk_state {
    ks_aes_key key;
    uint8_t iv[16];   /* CBC chaining value */
    uint8_t buf[16];  /* bytes held between update calls (a partial block, or for CBC_PAD
                         decryption the last full block, which may carry the padding) */
    size_t buf_len;
    ks_aes_ctr ctr;
} ks_blk_state;

/* AES-GCM (SP 800-38D). The IV and the AAD are absorbed at init, so nothing of the
 * parameter is kept. Multi-part decryption holds the ciphertext back (heap, grown
 * geometrically) until C_DecryptFinal verifies the tag. */
typedef struct ks_gcmop_state {
    ks_gcm_key key;
    ks_gcm_ctx ctx;
    size_t tag_len;
    ks_gcm_hold held; /* the ciphertext of a multi-part decryption (token/gcm_hold.h) */
} ks_gcmop_state;

/* AES key wrap (RFC 3394) and with padding (RFC 5649), single-part only. */
typedef struct ks_kw_state {
    ks_aes_key key;
    uint8_t iv[8];
    int has_iv;
    int padded;       /* KWP */
} ks_kw_state;

/* CMAC (SP 800-38B) and HMAC (FIPS 198-1), full length or general. */
typedef struct ks_mac_state {
    ks_cmac_ctx cmac;
    ks_hmac_ctx hmac;
    int is_cmac;
    size_t mac_len;   /* bytes output (the general length) */
} ks_mac_state;

typedef struct ks_dig_state {
    ks_digest_ctx ctx;
} ks_dig_state;

/* RSA PKCS#1 v1.5 and PSS, ECDSA, EdDSA signatures (ops_pkey_sign.c): the libcrypto context
 * bound to the prepared key, and for the hashed variants the running hash of the message. */
typedef struct ks_pksig_state {
    ks_sig_ctx sig;
    ks_digest_ctx dig;  /* hashed variants (multi-part); dig.evp NULL for the others */
    ks_md hash;         /* the mechanism's own hash, KS_MD_NONE for single-part ones */
} ks_pksig_state;

struct ks_op {
    union {
        ks_blk_state blk;
        ks_gcmop_state gcm;
        ks_kw_state kw;
        ks_mac_state mac;
        ks_dig_state dig;
        /* key-pair signatures */
        ks_pksig_state pksig;

        /* RSA encryption */

        /* legacy ciphers */

    } u;
    const ks_op_family *fam;
    CK_MECHANISM_TYPE mech;
    ks_op_kind kind;
    int started;
};

/* ks_out_ready applies section 5.2 for an output of need bytes: it returns 1 when out can
 * take them; otherwise it sets *out_len = need and *rv (CKR_OK for a length query,
 * CKR_BUFFER_TOO_SMALL) and returns 0. */
static inline int ks_out_ready(uint8_t *out, CK_ULONG *out_len, size_t need, CK_RV *rv)
{
    if (out == NULL) {
        *out_len = need;
        *rv = CKR_OK;
        return 0;
    }
    if (*out_len < need) {
        *out_len = need;
        *rv = CKR_BUFFER_TOO_SMALL;
        return 0;
    }
    return 1;
}

/* ks_op_status_rv converts a crypto status for a data path: KS_ERR_LEN becomes len_rv
 * (CKR_DATA_LEN_RANGE or CKR_ENCRYPTED_DATA_LEN_RANGE), KS_ERR_AUTH auth_rv. */
CK_RV ks_op_status_rv(ks_status st, CK_RV len_rv, CK_RV auth_rv);

/* ks_op_len_rv returns CKR_DATA_LEN_RANGE for encryption and signing,
 * CKR_ENCRYPTED_DATA_LEN_RANGE for decryption. */
CK_RV ks_op_len_rv(const ks_op *op);

/* A mechanism family as the registry's rows name it (token/mech.h): init checks the
 * mechanism parameter (CKR_MECHANISM_PARAM_INVALID), sets up the state from the key (NULL for
 * the digests) and sets op->fam, the family's operations. On failure it leaves nothing to
 * release. The key's class, type and size were checked against the row by ks_op_start. */
typedef struct ks_mech_family {
    const char *name;
    CK_RV (*init)(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key);
} ks_mech_family;

extern const ks_mech_family ks_fam_block; /* ECB, CBC, CBC_PAD, CTR */
extern const ks_mech_family ks_fam_gcm;
extern const ks_mech_family ks_fam_kw;    /* KW, KWP */
extern const ks_mech_family ks_fam_mac;   /* CMAC, HMAC */
extern const ks_mech_family ks_fam_digest;
extern const ks_mech_family ks_fam_pkey_sign; /* RSA PKCS#1 v1.5, PSS, ECDSA, EdDSA */

/* Family initialisers, behind the families above. */
CK_RV ks_op_aes_block_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key);
CK_RV ks_op_gcm_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key);
CK_RV ks_op_kw_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key);
CK_RV ks_op_mac_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key);
CK_RV ks_op_digest_init(ks_op *op, const CK_MECHANISM *mech);
CK_RV ks_op_pkey_sign_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key);

/* ks_kw_mech_params parses the optional IV parameter of KW (8 bytes) or KWP (4 bytes). */
CK_RV ks_kw_mech_params(const CK_MECHANISM *mech, int padded, uint8_t iv[8], int *has_iv);

#endif
