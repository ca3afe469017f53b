/* ops_mac.c - C_Sign* and C_Verify* with CKM_AES_CMAC, CKM_AES_CMAC_GENERAL (SP 800-38B)
 * and CKM_SHA*_HMAC, CKM_SHA*_HMAC_GENERAL (FIPS 198-1; PKCS#11 3.0 mechanisms, SHA-2 and
 * general-length MAC sections).
 *
 * The general variants take a CK_MAC_GENERAL_PARAMS (a CK_ULONG): the MAC length in bytes,
 * KS_MAC_GENERAL_MIN .. the full length (16 for CMAC, the digest size for HMAC); the MAC is
 * the leading bytes of the full one. The others take no parameter.
 *
 * The minimum: a verification of a caller-chosen length L is a forgery oracle that costs
 * 2^(8L) guesses for the first L bytes and then 256 per further byte (verify L + 1 bytes with
 * the L known ones), so a short L forges the full MAC of a key that may only process (a
 * deactivated key). SP 800-107 Rev. 1 section 5.3.3 sets 32 bits as the floor and SP 800-38B
 * Appendix A advises at least 64; PKCS#11 lets a token constrain the output length (the
 * general-length HMAC sections: "may constrain the output length to be at least 4 or ...").
 * keystead takes 8 bytes (64 bits) for every general MAC, sign and verify alike, and refuses
 * less with CKR_MECHANISM_PARAM_INVALID (README, "Mechanisms").
 *
 * Verification checks the signature length first (CKR_SIGNATURE_LEN_RANGE, decided by the
 * length alone), then compares with ks_memeq, in time independent of where the bytes
 * differ (CKR_SIGNATURE_INVALID). */
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"
#include "token/ops_internal.h"

#define KS_MAC_GENERAL_MIN 8 /* bytes: see above */

typedef struct mac_row {
    CK_MECHANISM_TYPE mech;
    ks_md md; /* KS_MD_NONE for CMAC */
    int general;
} mac_row;

static const mac_row MAC_ROWS[] = {
    {CKM_AES_CMAC, KS_MD_NONE, 0},
    {CKM_AES_CMAC_GENERAL, KS_MD_NONE, 1},
    {CKM_SHA_1_HMAC, KS_MD_SHA1, 0},
    {CKM_SHA_1_HMAC_GENERAL, KS_MD_SHA1, 1},
    {CKM_SHA224_HMAC, KS_MD_SHA224, 0},
    {CKM_SHA224_HMAC_GENERAL, KS_MD_SHA224, 1},
    {CKM_SHA256_HMAC, KS_MD_SHA256, 0},
    {CKM_SHA256_HMAC_GENERAL, KS_MD_SHA256, 1},
    {CKM_SHA384_HMAC, KS_MD_SHA384, 0},
    {CKM_SHA384_HMAC_GENERAL, KS_MD_SHA384, 1},
    {CKM_SHA512_HMAC, KS_MD_SHA512, 0},
    {CKM_SHA512_HMAC_GENERAL, KS_MD_SHA512, 1},
};

static const mac_row *mac_row_of(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < sizeof(MAC_ROWS) / sizeof(MAC_ROWS[0]); i++) {
        if (MAC_ROWS[i].mech == m) {
            return &MAC_ROWS[i];
        }
    }
    return NULL;
}

static CK_RV mac_feed(ks_op *op, const uint8_t *in, size_t in_len)
{
    ks_mac_state *st = &op->u.mac;
    ks_status s = st->is_cmac ? ks_cmac_update(&st->cmac, in, in_len)
                              : ks_hmac_update(&st->hmac, in, in_len);
    return ks_op_status_rv(s, CKR_DATA_LEN_RANGE, CKR_FUNCTION_FAILED);
}

/* The MAC of everything fed, truncated to mac_len, into mac (KS_MD_MAX_SIZE bytes). */
static CK_RV mac_compute(ks_op *op, uint8_t mac[KS_MD_MAX_SIZE])
{
    ks_mac_state *st = &op->u.mac;
    ks_status s = st->is_cmac ? ks_cmac_final(&st->cmac, mac)
                              : ks_hmac_final(&st->hmac, mac, KS_MD_MAX_SIZE);
    return ks_op_status_rv(s, CKR_DATA_LEN_RANGE, CKR_FUNCTION_FAILED);
}

static CK_RV mac_sign_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    ks_mac_state *st = &op->u.mac;
    uint8_t mac[KS_MD_MAX_SIZE];
    CK_RV rv = CKR_OK;

    if (!ks_out_ready(out, out_len, st->mac_len, &rv)) {
        return rv;
    }
    rv = mac_compute(op, mac);
    if (rv == CKR_OK) {
        ks_copy_out(out, mac, st->mac_len);
        *out_len = st->mac_len;
    }
    ks_wipe(mac, sizeof(mac));
    return rv;
}

static CK_RV mac_sign(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                      size_t in_len)
{
    CK_RV rv = CKR_OK;
    /* A length query must leave the state as it was: answer before feeding anything. */
    if (!ks_out_ready(out, out_len, op->u.mac.mac_len, &rv)) {
        return rv;
    }
    rv = mac_feed(op, in, in_len);
    return rv == CKR_OK ? mac_sign_final(op, out, out_len) : rv;
}

static CK_RV mac_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    (void)out;
    (void)out_len;
    return mac_feed(op, in, in_len);
}

static CK_RV mac_verify_final(ks_op *op, const uint8_t *sig, size_t sig_len)
{
    ks_mac_state *st = &op->u.mac;
    uint8_t mac[KS_MD_MAX_SIZE];

    if (sig_len != st->mac_len) {
        return CKR_SIGNATURE_LEN_RANGE;
    }
    CK_RV rv = mac_compute(op, mac);
    if (rv == CKR_OK && !ks_memeq(mac, sig, st->mac_len)) {
        rv = CKR_SIGNATURE_INVALID;
    }
    ks_wipe(mac, sizeof(mac));
    return rv;
}

static CK_RV mac_verify(ks_op *op, const uint8_t *data, size_t data_len, const uint8_t *sig,
                        size_t sig_len)
{
    if (sig_len != op->u.mac.mac_len) {
        return CKR_SIGNATURE_LEN_RANGE;
    }
    CK_RV rv = mac_feed(op, data, data_len);
    return rv == CKR_OK ? mac_verify_final(op, sig, sig_len) : rv;
}

static void mac_clear(ks_op *op)
{
    ks_mac_state *st = &op->u.mac;
    if (st->is_cmac) {
        ks_cmac_clear(&st->cmac);
    } else {
        ks_hmac_clear(&st->hmac);
    }
}

static const ks_op_family MAC_FAMILY = {
    .oneshot = mac_sign,
    .update = mac_update,
    .final = mac_sign_final,
    .verify = mac_verify,
    .verify_final = mac_verify_final,
    .clear = mac_clear,
};

CK_RV ks_op_mac_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    ks_mac_state *st = &op->u.mac;
    const mac_row *row = mac_row_of(mech->mechanism);

    if (row == NULL) {
        return CKR_MECHANISM_INVALID;
    }
    size_t full = row->md == KS_MD_NONE ? 16 : ks_md_size(row->md);
    st->mac_len = full;
    if (row->general) {
        const CK_MAC_GENERAL_PARAMS *p = mech->pParameter;
        if (p == NULL || mech->ulParameterLen != sizeof(*p) || *p < KS_MAC_GENERAL_MIN ||
            *p > full) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        st->mac_len = *p;
    } else if (mech->ulParameterLen != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    st->is_cmac = row->md == KS_MD_NONE;
    ks_status s = st->is_cmac ? ks_cmac_init(&st->cmac, key->value, key->len)
                              : ks_hmac_init(&st->hmac, row->md, key->value, key->len);
    if (s != KS_OK) {
        mac_clear(op);
        return s == KS_ERR_KEY_LEN ? CKR_KEY_SIZE_RANGE : ks_op_status_rv(s, 0, 0);
    }
    op->fam = &MAC_FAMILY;
    return CKR_OK;
}
