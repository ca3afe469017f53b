/* ops_aes_gcm.c - CKM_AES_GCM for C_Encrypt* and C_Decrypt* (PKCS#11 3.0 mechanisms,
 * AES-GCM; SP 800-38D).
 *
 * CK_GCM_PARAMS: ulIvLen is the IV length in bytes, 1 .. 2^32 - 1; ulIvBits is ignored, as
 * the 3.0 text says not to use it for the IV length; ulAADLen 0 .. 2^32 - 1; ulTagBits is
 * allowed by the spec from 0 to 128, and keystead takes the byte-aligned values SP 800-38D
 * 5.2.1.2 allows: 32, 40, ..., 128 (shorter tags, and lengths that are not whole bytes,
 * are CKR_MECHANISM_PARAM_INVALID).
 *
 * The IV and the AAD are absorbed at init, so nothing of the parameter is kept. Encryption
 * streams and appends the tag (at C_EncryptFinal when multi-part). Decryption: the last
 * ulTagBits / 8 bytes of the input are the tag. As the 3.0 text asks of an AEAD mechanism,
 * C_DecryptUpdate returns no data: the ciphertext is held until C_DecryptFinal. A decryption
 * (C_Decrypt, C_DecryptFinal) checks the tag first and only then decrypts straight into the
 * caller's buffer (token/gcm_out.h): no plaintext before the tag has verified, no staging;
 * a bad tag writes nothing there and gives CKR_ENCRYPTED_DATA_INVALID. */
#include <stdlib.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"
#include "token/gcm_out.h"
#include "token/ops_internal.h"

#define GCM_MAX_PARAM_LEN UINT64_C(0xFFFFFFFF)

static CK_RV gcm_status_rv(const ks_op *op, ks_status s)
{
    return ks_op_status_rv(s, ks_op_len_rv(op), CKR_ENCRYPTED_DATA_INVALID);
}

static CK_RV encrypt_part(ks_op *op, uint8_t *out, const uint8_t *in, size_t in_len)
{
    ks_gcmop_state *st = &op->u.gcm;
    return gcm_status_rv(op, ks_gcm_out_encrypt(&st->ctx, out, in, in_len));
}

static CK_RV encrypt_tag(ks_op *op, uint8_t *out)
{
    ks_gcmop_state *st = &op->u.gcm;
    uint8_t tag[16];
    ks_status s = ks_gcm_finish(&st->ctx, tag);
    if (s == KS_OK) {
        ks_copy_out(out, tag, st->tag_len);
    }
    ks_wipe(tag, sizeof(tag));
    return gcm_status_rv(op, s);
}

/* Verify the tag that follows the n bytes of ciphertext at in, and only then decrypt them
 * into out (fail closed: nothing is written otherwise). */
static CK_RV decrypt_checked(ks_op *op, uint8_t *out, const uint8_t *in, size_t n,
                             ks_gcm_src src)
{
    ks_gcmop_state *st = &op->u.gcm;
    return gcm_status_rv(op, ks_gcm_out_open(&st->ctx, out, in, n, NULL, 0, in + n,
                                             st->tag_len, src));
}

static CK_RV gcm_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t in_len)
{
    ks_gcmop_state *st = &op->u.gcm;
    CK_RV rv = CKR_OK;

    if (op->kind == KS_OP_ENCRYPT) {
        if ((uint64_t)in_len > KS_GCM_MAX_MSG - st->ctx.msg_len) {
            return CKR_DATA_LEN_RANGE;
        }
        if (!ks_out_ready(out, out_len, in_len + st->tag_len, &rv)) {
            return rv;
        }
        rv = encrypt_part(op, out, in, in_len);
        if (rv == CKR_OK) {
            rv = encrypt_tag(op, out + in_len);
        }
        if (rv == CKR_OK) {
            *out_len = in_len + st->tag_len;
        }
        return rv;
    }
    if (in_len < st->tag_len || (uint64_t)(in_len - st->tag_len) > KS_GCM_MAX_MSG) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    size_t n = in_len - st->tag_len;
    if (!ks_out_ready(out, out_len, n, &rv)) {
        return rv;
    }
    rv = decrypt_checked(op, out, in, n, KS_GCM_SRC_CALLER);
    if (rv == CKR_OK) {
        *out_len = n;
    }
    return rv;
}

static CK_RV gcm_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    ks_gcmop_state *st = &op->u.gcm;
    CK_RV rv = CKR_OK;

    if (op->kind == KS_OP_DECRYPT) {
        /* No plaintext before the tag is verified: this call outputs nothing. */
        if (!ks_out_ready(out, out_len, 0, &rv)) {
            return rv;
        }
        rv = ks_gcm_hold_add(&st->held, in, in_len, KS_GCM_MAX_MSG + st->tag_len);
        if (rv == CKR_OK) {
            *out_len = 0;
        }
        return rv;
    }
    if ((uint64_t)in_len > KS_GCM_MAX_MSG - st->ctx.msg_len) {
        return CKR_DATA_LEN_RANGE;
    }
    if (!ks_out_ready(out, out_len, in_len, &rv)) {
        return rv;
    }
    rv = encrypt_part(op, out, in, in_len);
    if (rv == CKR_OK) {
        *out_len = in_len;
    }
    return rv;
}

static CK_RV gcm_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    ks_gcmop_state *st = &op->u.gcm;
    CK_RV rv = CKR_OK;

    if (op->kind == KS_OP_ENCRYPT) {
        if (!ks_out_ready(out, out_len, st->tag_len, &rv)) {
            return rv;
        }
        rv = encrypt_tag(op, out);
        if (rv == CKR_OK) {
            *out_len = st->tag_len;
        }
        return rv;
    }
    if (st->held.len < st->tag_len) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    size_t n = st->held.len - st->tag_len;
    if (!ks_out_ready(out, out_len, n, &rv)) {
        return rv;
    }
    rv = decrypt_checked(op, out, st->held.buf, n, KS_GCM_SRC_HELD);
    if (rv == CKR_OK) {
        *out_len = n;
    }
    return rv;
}

static void gcm_clear(ks_op *op)
{
    ks_gcmop_state *st = &op->u.gcm;
    ks_gcm_ctx_clear(&st->ctx);
    ks_gcm_clear(&st->key);
    ks_gcm_hold_free(&st->held);
}

static const ks_op_family GCM_FAMILY = {
    .oneshot = gcm_oneshot,
    .update = gcm_update,
    .final = gcm_final,
    .clear = gcm_clear,
};

static CK_RV gcm_params(const CK_MECHANISM *mech, const CK_GCM_PARAMS **out)
{
    const CK_GCM_PARAMS *p = mech->pParameter;
    if (p == NULL || mech->ulParameterLen != sizeof(*p)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p->ulIvLen == 0 || p->ulIvLen > GCM_MAX_PARAM_LEN || p->pIv == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p->ulAADLen > GCM_MAX_PARAM_LEN || (p->pAAD == NULL && p->ulAADLen != 0)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p->ulTagBits < 32 || p->ulTagBits > 128 || p->ulTagBits % 8 != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    *out = p;
    return CKR_OK;
}

CK_RV ks_op_gcm_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    ks_gcmop_state *st = &op->u.gcm;
    const CK_GCM_PARAMS *p = NULL;

    CK_RV rv = gcm_params(mech, &p);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_status s = ks_gcm_init(&st->key, key->value, key->len);
    if (s != KS_OK) {
        return s == KS_ERR_KEY_LEN ? CKR_KEY_SIZE_RANGE : ks_op_status_rv(s, 0, 0);
    }
    s = ks_gcm_start(&st->ctx, &st->key, p->pIv, p->ulIvLen);
    if (s == KS_OK) {
        s = ks_gcm_aad(&st->ctx, p->pAAD, p->ulAADLen);
    }
    if (s != KS_OK) {
        ks_gcm_ctx_clear(&st->ctx);
        ks_gcm_clear(&st->key);
        return s == KS_ERR_LEN ? CKR_MECHANISM_PARAM_INVALID : ks_op_status_rv(s, 0, 0);
    }
    st->tag_len = p->ulTagBits / 8;
    op->fam = &GCM_FAMILY;
    return CKR_OK;
}
