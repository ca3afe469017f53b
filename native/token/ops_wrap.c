/* ops_wrap.c - C_WrapKey and C_UnwrapKey by mechanism (PKCS#11 3.0 5.18.x; mechanisms 3.0:
 * AES ECB, CBC, CBC_PAD, CTR, GCM and AES Key Wrap; RSA PKCS#1 v1.5, X.509, OAEP and RSA-AES
 * key wrap, whose encryption takes the public key and decryption the private key).
 *
 * Wrapping encrypts the wrapped key's CKA_VALUE with the mechanism, through the same
 * operations as C_Encrypt (one code path, one set of tests). Where the mechanism takes only
 * whole blocks (ECB and CBC: 16 bytes; CKM_AES_KEY_WRAP: 8-byte semiblocks) the value is
 * "padded on the trailing end with null bytes" as the spec says for these mechanisms; the
 * unwrapper truncates by CKA_VALUE_LEN.
 *
 * Nothing crosses the API before it is final: the padded value and the whole wrapped result
 * are made in module-owned locked memory (ks_secure_alloc), and only the finished wrapped
 * key is copied to the caller's pWrappedKey (crypto/copyout.h). The caller's buffer may be
 * shared memory or a file mapping; it never holds the key value, padded or not.
 *
 * Unwrapping decrypts; the front gives the plaintext to the new key. Errors of the data
 * path become the wrap codes: a length the mechanism refuses is CKR_KEY_SIZE_RANGE on wrap
 * and CKR_WRAPPED_KEY_LEN_RANGE on unwrap; a failed integrity check (GCM tag, KW/KWP ICV,
 * CBC_PAD padding) is CKR_WRAPPED_KEY_INVALID; the key's type and size become
 * CKR_(UN)WRAPPING_KEY_TYPE_INCONSISTENT / _SIZE_RANGE. */
#include <stdint.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"
#include "token/mech.h"
#include "token/ops_internal.h"

static CK_RV check_kek(const CK_MECHANISM *mech, const ks_key_ref *kek, int alias_softhsm,
                       CK_FLAGS flag, CK_RV type_rv, CK_RV size_rv, const ks_mech_desc **row)
{
    const ks_mech_desc *desc = ks_mech_find(mech->mechanism, alias_softhsm);
    if (desc == NULL || (desc->flags & flag) == 0) {
        return CKR_MECHANISM_INVALID;
    }
    if (kek->value == NULL && kek->len != 0) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!ks_mech_key_type_ok(desc, kek->type)) {
        return type_rv;
    }
    if (!ks_mech_key_len_ok(desc, kek->len)) {
        return size_rv;
    }
    *row = desc;
    return CKR_OK;
}

static CK_RV wrap_rv(CK_RV rv)
{
    switch (rv) {
    case CKR_DATA_LEN_RANGE:
        return CKR_KEY_SIZE_RANGE;
    case CKR_KEY_TYPE_INCONSISTENT:
        return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
    case CKR_KEY_SIZE_RANGE:
        return CKR_WRAPPING_KEY_SIZE_RANGE;
    default:
        return rv;
    }
}

static CK_RV unwrap_rv(CK_RV rv)
{
    switch (rv) {
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
        return CKR_WRAPPED_KEY_LEN_RANGE;
    case CKR_ENCRYPTED_DATA_INVALID:
        return CKR_WRAPPED_KEY_INVALID;
    case CKR_KEY_TYPE_INCONSISTENT:
        return CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
    case CKR_KEY_SIZE_RANGE:
        return CKR_UNWRAPPING_KEY_SIZE_RANGE;
    default:
        return rv;
    }
}

/* Wrap in (in_len bytes, zero-padded to a multiple of unit when unit is not 0) into the
 * caller's out: the padded input and the result are made in one locked work area, then the
 * result is copied out once. A length query (out NULL) or a short buffer follows 5.2. */
static CK_RV wrap_staged(ks_op *op, size_t unit, uint8_t *out, CK_ULONG *out_len,
                         const uint8_t *in, size_t in_len)
{
    size_t padded = unit == 0 ? in_len : (in_len + unit - 1) / unit * unit;
    CK_ULONG need = 0;
    CK_RV rv = ks_op_oneshot(op, NULL, &need, in, padded);
    if (rv != CKR_OK || !ks_out_ready(out, out_len, need, &rv)) {
        return rv;
    }
    if (need > SIZE_MAX - padded) {
        return CKR_KEY_SIZE_RANGE;
    }
    uint8_t *work = ks_secure_alloc(padded + need); /* zeroed: the padding is there */
    if (work == NULL) {
        return CKR_HOST_MEMORY;
    }
    memcpy(work, in, in_len);
    CK_ULONG n = need;
    rv = ks_op_oneshot(op, work + padded, &n, work, padded);
    if (rv == CKR_OK) {
        ks_copy_out(out, work + padded, n);
        *out_len = n;
    }
    ks_secure_free(work, padded + need);
    return rv;
}

CK_RV ks_wrap(const CK_MECHANISM *mech, const ks_key_ref *kek, int alias_softhsm, uint8_t *out,
              CK_ULONG *out_len, const uint8_t *in, CK_ULONG in_len)
{
    if (mech == NULL || kek == NULL || out_len == NULL || (in == NULL && in_len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    const ks_mech_desc *desc = NULL;
    CK_RV rv = check_kek(mech, kek, alias_softhsm, CKF_WRAP,
                         CKR_WRAPPING_KEY_TYPE_INCONSISTENT, CKR_WRAPPING_KEY_SIZE_RANGE, &desc);
    if (rv != CKR_OK) {
        return rv;
    }
    if (in_len == 0) {
        return CKR_KEY_SIZE_RANGE;
    }
    ks_op *op = NULL;
    rv = ks_op_start_as(&op, KS_OP_ENCRYPT, CKF_WRAP, desc, mech, kek);
    if (rv != CKR_OK) {
        return wrap_rv(rv);
    }
    rv = wrap_staged(op, desc->wrap_pad, out, out_len, in, in_len); /* wrap_pad: 0 for none */
    ks_op_free(op);
    return wrap_rv(rv);
}

CK_RV ks_unwrap(const CK_MECHANISM *mech, const ks_key_ref *kek, int alias_softhsm,
                uint8_t *out, size_t *out_len, size_t max_out, const uint8_t *in,
                CK_ULONG in_len)
{
    if (mech == NULL || kek == NULL || out_len == NULL || (in == NULL && in_len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    const ks_mech_desc *desc = NULL;
    CK_RV rv = check_kek(mech, kek, alias_softhsm, CKF_UNWRAP,
                         CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, CKR_UNWRAPPING_KEY_SIZE_RANGE,
                         &desc);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_op *op = NULL;
    rv = ks_op_start_as(&op, KS_OP_DECRYPT, CKF_UNWRAP, desc, mech, kek);
    if (rv != CKR_OK) {
        return unwrap_rv(rv);
    }
    ks_op_rsa_unwrap_len(op, *out_len); /* the length the template fixes, 0 for any */
    CK_ULONG n = max_out;
    rv = ks_op_oneshot(op, out, &n, in, in_len);
    ks_op_free(op);
    if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) {
        *out_len = n;
    }
    return unwrap_rv(rv);
}
