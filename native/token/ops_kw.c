/* ops_kw.c - CKM_AES_KEY_WRAP (RFC 3394, SP 800-38F KW) and CKM_AES_KEY_WRAP_KWP (RFC 5649,
 * SP 800-38F KWP) as C_Encrypt / C_Decrypt (PKCS#11 3.0 mechanisms, AES Key Wrap).
 *
 * The 3.0 text: "The mechanisms support only single-part operations". A multi-part call
 * (C_EncryptUpdate, C_EncryptFinal and the decrypt pair) answers CKR_FUNCTION_NOT_SUPPORTED:
 * the spec names no code for it, and that one says what happened without suggesting the
 * operation or its arguments were wrong.
 *
 * The optional parameter is the initial value: none (ulParameterLen 0) for the RFC default,
 * else exactly 8 bytes for KW and 4 bytes for KWP. SoftHSMv2's CKM_AES_KEY_WRAP_PAD (0x210A)
 * lands here as KWP; the front admits it only with alias_softhsm.
 *
 * Decryption of KWP cannot know the plaintext length before the integrity check: the length
 * needed (query or CKR_BUFFER_TOO_SMALL) is the upper bound, input length - 8, which is
 * also the room the unwrap works in. The exact length comes back in *out_len. */
#include <string.h>

#include "crypto/kw.h"
#include "crypto/mem.h"
#include "token/ops_internal.h"

static int mech_is_kwp(CK_MECHANISM_TYPE m)
{
    return m == CKM_AES_KEY_WRAP_KWP || m == CKM_AES_KEY_WRAP_PAD;
}

CK_RV ks_kw_mech_params(const CK_MECHANISM *mech, int padded, uint8_t iv[8], int *has_iv)
{
    size_t want = padded ? 4 : 8;

    *has_iv = 0;
    if (mech->ulParameterLen == 0) {
        return CKR_OK;
    }
    if (mech->pParameter == NULL || mech->ulParameterLen != want) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    memcpy(iv, mech->pParameter, want);
    *has_iv = 1;
    return CKR_OK;
}

static CK_RV kw_encrypt(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    ks_kw_state *st = &op->u.kw;
    const uint8_t *iv = st->has_iv ? st->iv : NULL;
    CK_RV rv = CKR_OK;

    /* KW: at least two semiblocks, whole semiblocks (RFC 3394 2); KWP: 1 .. 2^32 - 1. */
    size_t need = st->padded ? ks_kwp_wrapped_len(in_len) : ks_kw_wrapped_len(in_len);
    if (need == 0) {
        return CKR_DATA_LEN_RANGE;
    }
    if (!ks_out_ready(out, out_len, need, &rv)) {
        return rv;
    }
    size_t n = 0;
    ks_status s = st->padded ? ks_kwp_wrap(&st->key, out, &n, *out_len, iv, in, in_len)
                             : ks_kw_wrap(&st->key, out, &n, *out_len, iv, in, in_len);
    if (s == KS_OK) {
        *out_len = n;
    }
    return ks_op_status_rv(s, CKR_DATA_LEN_RANGE, CKR_FUNCTION_FAILED);
}

static CK_RV kw_decrypt(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    ks_kw_state *st = &op->u.kw;
    const uint8_t *iv = st->has_iv ? st->iv : NULL;
    CK_RV rv = CKR_OK;

    /* KW: n >= 2 plaintext semiblocks, so >= 24 bytes; KWP: >= 16; whole semiblocks. */
    size_t min = st->padded ? 16 : 24;
    if (in_len < min || in_len % 8 != 0) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    if (!ks_out_ready(out, out_len, in_len - 8, &rv)) {
        return rv;
    }
    size_t n = 0;
    ks_status s = st->padded ? ks_kwp_unwrap(&st->key, out, &n, *out_len, iv, in, in_len)
                             : ks_kw_unwrap(&st->key, out, &n, *out_len, iv, in, in_len);
    if (s == KS_OK) {
        *out_len = n;
    }
    return ks_op_status_rv(s, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID);
}

static CK_RV kw_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    return op->kind == KS_OP_ENCRYPT ? kw_encrypt(op, out, out_len, in, in_len)
                                     : kw_decrypt(op, out, out_len, in, in_len);
}

static CK_RV kw_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                       size_t in_len)
{
    (void)op;
    (void)out;
    (void)out_len;
    (void)in;
    (void)in_len;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV kw_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    (void)op;
    (void)out;
    (void)out_len;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

static void kw_clear(ks_op *op)
{
    ks_aes_clear(&op->u.kw.key);
    ks_wipe(&op->u.kw, sizeof(op->u.kw));
}

static const ks_op_family KW_FAMILY = {
    .oneshot = kw_oneshot,
    .update = kw_update,
    .final = kw_final,
    .clear = kw_clear,
};

CK_RV ks_op_kw_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    ks_kw_state *st = &op->u.kw;

    st->padded = mech_is_kwp(mech->mechanism);
    CK_RV rv = ks_kw_mech_params(mech, st->padded, st->iv, &st->has_iv);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_status s = ks_aes_init(&st->key, key->value, key->len);
    if (s != KS_OK) {
        ks_aes_clear(&st->key);
        return s == KS_ERR_KEY_LEN ? CKR_KEY_SIZE_RANGE : CKR_FUNCTION_FAILED;
    }
    op->fam = &KW_FAMILY;
    return CKR_OK;
}
