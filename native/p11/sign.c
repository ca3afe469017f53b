/* sign.c - signing and MACing, verifying (PKCS#11 3.0 5.11, 5.13). Recovery variants are not
 * supported: no mechanism here recovers data from a signature. */
#include "p11/opcalls.h"

#include <stdint.h>

KS_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                           CK_OBJECT_HANDLE hKey)
{
    return ks_p11_exit("C_SignInit", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       ks_p11_op_init(hSession, KS_SLOT_SIGN, KS_OP_SIGN, pMechanism, hKey));
}

KS_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    return ks_p11_exit("C_Sign", hSession, KS_NO_MECH,
                       ks_call_single(hSession, KS_SLOT_SIGN, pData, ulDataLen, pSignature,
                                      pulSignatureLen));
}

KS_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return ks_p11_exit("C_SignUpdate", hSession, KS_NO_MECH,
                       ks_call_update(hSession, KS_SLOT_SIGN, pPart, ulPartLen, NULL, NULL));
}

KS_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                            CK_ULONG_PTR pulSignatureLen)
{
    return ks_p11_exit("C_SignFinal", hSession, KS_NO_MECH,
                       ks_call_final(hSession, KS_SLOT_SIGN, pSignature, pulSignatureLen));
}

KS_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hKey)
{
    return ks_p11_exit("C_VerifyInit", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       ks_p11_op_init(hSession, KS_SLOT_VERIFY, KS_OP_VERIFY, pMechanism, hKey));
}

static CK_RV verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                    CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen, int final)
{
    ks_session *s = NULL;
    ks_op *op = NULL;
    CK_RV rv = ks_p11_op_begin(hSession, KS_SLOT_VERIFY, &s, &op);
    if (rv != CKR_OK) {
        return rv;
    }
    if ((pData == NULL && ulDataLen != 0) || (pSignature == NULL && ulSignatureLen != 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (ulDataLen > (CK_ULONG)PTRDIFF_MAX) {
        rv = CKR_DATA_LEN_RANGE; /* no buffer is that long: refused unread (as opcalls.c) */
    } else if (ulSignatureLen > (CK_ULONG)PTRDIFF_MAX) {
        rv = CKR_SIGNATURE_LEN_RANGE;
    } else if (final) {
        rv = ks_op_verify_final(op, pSignature, ulSignatureLen);
    } else if (ks_op_started(op)) {
        rv = CKR_OPERATION_ACTIVE;
    } else {
        rv = ks_op_verify(op, pData, ulDataLen, pSignature, ulSignatureLen);
    }
    /* A verification always ends the operation, whatever its result. */
    ks_session_end_op(s, KS_SLOT_VERIFY);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                         CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    return ks_p11_exit("C_Verify", hSession, KS_NO_MECH,
                       verify(hSession, pData, ulDataLen, pSignature, ulSignatureLen, 0));
}

KS_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return ks_p11_exit("C_VerifyUpdate", hSession, KS_NO_MECH,
                       ks_call_update(hSession, KS_SLOT_VERIFY, pPart, ulPartLen, NULL, NULL));
}

KS_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                              CK_ULONG ulSignatureLen)
{
    return ks_p11_exit("C_VerifyFinal", hSession, KS_NO_MECH,
                       verify(hSession, NULL, 0, pSignature, ulSignatureLen, 1));
}
