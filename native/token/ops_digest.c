/* ops_digest.c - C_Digest*, C_DigestKey with CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384
 * and CKM_SHA512 (FIPS 180-4; PKCS#11 3.0 mechanisms, SHA-1 and SHA-2 sections: no
 * parameter), and CKM_MD5 (RFC 1321) with legacy_mechanisms = on. C_DigestKey digests the key's CKA_VALUE, as if passed to C_DigestUpdate. */
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"
#include "token/ops_internal.h"

static ks_md md_of(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_SHA_1:
        return KS_MD_SHA1;
    case CKM_SHA224:
        return KS_MD_SHA224;
    case CKM_SHA256:
        return KS_MD_SHA256;
    case CKM_SHA384:
        return KS_MD_SHA384;
    case CKM_SHA512:
        return KS_MD_SHA512;
    case CKM_MD5: /* legacy_mechanisms = on only (token/mech.c) */
        return KS_MD_MD5;
    default:
        return KS_MD_NONE;
    }
}

static CK_RV dig_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    (void)out;
    (void)out_len;
    ks_status s = ks_digest_update(&op->u.dig.ctx, in, in_len);
    return ks_op_status_rv(s, CKR_DATA_LEN_RANGE, CKR_FUNCTION_FAILED);
}

/* The digest, produced in the caller's buffer through the copy-out helper. */
static ks_status digest_into(void *arg, uint8_t *dst, size_t len)
{
    return ks_digest_final(arg, dst, len);
}

static CK_RV dig_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    ks_digest_ctx *ctx = &op->u.dig.ctx;
    size_t n = ks_md_size(ctx->md);
    CK_RV rv = CKR_OK;

    if (!ks_out_ready(out, out_len, n, &rv)) {
        return rv;
    }
    ks_status s = ks_copy_out_produce(out, n, digest_into, ctx);
    if (s == KS_OK) {
        *out_len = n;
    }
    return ks_op_status_rv(s, CKR_DATA_LEN_RANGE, CKR_FUNCTION_FAILED);
}

static CK_RV dig_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t in_len)
{
    CK_RV rv = CKR_OK;
    /* Answer a length query or a short buffer before absorbing anything. */
    if (!ks_out_ready(out, out_len, ks_md_size(op->u.dig.ctx.md), &rv)) {
        return rv;
    }
    rv = dig_update(op, NULL, NULL, in, in_len);
    return rv == CKR_OK ? dig_final(op, out, out_len) : rv;
}

static CK_RV dig_key(ks_op *op, const ks_key_ref *key)
{
    return dig_update(op, NULL, NULL, key->value, key->len);
}

static void dig_clear(ks_op *op)
{
    ks_digest_clear(&op->u.dig.ctx);
}

static const ks_op_family DIGEST_FAMILY = {
    .oneshot = dig_oneshot,
    .update = dig_update,
    .final = dig_final,
    .digest_key = dig_key,
    .clear = dig_clear,
};

CK_RV ks_op_digest_init(ks_op *op, const CK_MECHANISM *mech)
{
    ks_md md = md_of(mech->mechanism);
    if (md == KS_MD_NONE) {
        return CKR_MECHANISM_INVALID;
    }
    if (mech->ulParameterLen != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    ks_status s = ks_digest_init(&op->u.dig.ctx, md);
    if (s != KS_OK) {
        return s == KS_ERR_UNSUPPORTED ? CKR_MECHANISM_INVALID : ks_op_status_rv(s, 0, 0);
    }
    op->fam = &DIGEST_FAMILY;
    return CKR_OK;
}
