/* opcalls.c - single-part, update and final calls of an active operation. Argument errors end
 * the operation like any other error (PKCS#11 3.0 5.2: "always terminates ... unless it
 * returns CKR_BUFFER_TOO_SMALL or is a successful length query"). */
#include "p11/opcalls.h"

#include <stdint.h>

/* No C object is larger than PTRDIFF_MAX bytes, so a longer input cannot be real: it is
 * refused before a byte is read (lengths that do not fit are refused at once), with
 * the length code of the operation (PKCS#11 3.0 5.8-5.13). */
#define KS_MAX_DATA_LEN ((CK_ULONG)PTRDIFF_MAX)

static CK_RV too_long(ks_op_slot slot)
{
    return slot == KS_SLOT_DECRYPT ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_DATA_LEN_RANGE;
}

CK_RV ks_call_single(CK_SESSION_HANDLE h, ks_op_slot slot, CK_BYTE_PTR in, CK_ULONG in_len,
                     CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    ks_session *s = NULL;
    ks_op *op = NULL;
    CK_RV rv = ks_p11_op_begin(h, slot, &s, &op);
    if (rv != CKR_OK) {
        return rv;
    }
    if (out_len == NULL || (in == NULL && in_len != 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (in_len > KS_MAX_DATA_LEN) {
        rv = too_long(slot);
    } else if (ks_op_started(op)) {
        rv = CKR_OPERATION_ACTIVE; /* a multi-part operation cannot end in a single-part call */
    } else {
        rv = ks_op_oneshot(op, out, out_len, in, in_len);
    }
    return ks_p11_op_end(s, slot, rv, 1, out == NULL && rv == CKR_OK);
}

CK_RV ks_call_update(CK_SESSION_HANDLE h, ks_op_slot slot, CK_BYTE_PTR in, CK_ULONG in_len,
                     CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    ks_session *s = NULL;
    ks_op *op = NULL;
    CK_RV rv = ks_p11_op_begin(h, slot, &s, &op);
    if (rv != CKR_OK) {
        return rv;
    }
    int wants_output = slot == KS_SLOT_ENCRYPT || slot == KS_SLOT_DECRYPT;
    if ((in == NULL && in_len != 0) || (wants_output && out_len == NULL)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (in_len > KS_MAX_DATA_LEN) {
        rv = too_long(slot);
    } else {
        rv = ks_op_update(op, wants_output ? out : NULL, wants_output ? out_len : NULL, in,
                          in_len);
    }
    return ks_p11_op_end(s, slot, rv, 0, 0);
}

CK_RV ks_call_final(CK_SESSION_HANDLE h, ks_op_slot slot, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    ks_session *s = NULL;
    ks_op *op = NULL;
    CK_RV rv = ks_p11_op_begin(h, slot, &s, &op);
    if (rv != CKR_OK) {
        return rv;
    }
    if (out_len == NULL) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        rv = ks_op_final(op, out, out_len);
    }
    return ks_p11_op_end(s, slot, rv, 1, out == NULL && rv == CKR_OK);
}
