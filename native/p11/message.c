/* message.c - message-based encryption and decryption (PKCS#11 3.0 5.12, 5.13).
 * Not yet implemented: every function answers CKR_FUNCTION_NOT_SUPPORTED. */
#include <stdlib.h>

#include "p11/guard.h"

void ks_msg_state_free(void *msg)
{
    free(msg);
}

static CK_RV not_yet(void)
{
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_module_unlock();
    return CKR_FUNCTION_NOT_SUPPORTED;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"

KS_EXPORT CK_RV C_MessageEncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hKey)
{
    return not_yet();
}

KS_EXPORT CK_RV C_EncryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                 CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                 CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext,
                                 CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext,
                                 CK_ULONG_PTR pulCiphertextLen)
{
    return not_yet();
}

KS_EXPORT CK_RV C_EncryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                      CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                      CK_ULONG ulAssociatedDataLen)
{
    return not_yet();
}

KS_EXPORT CK_RV C_EncryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                     CK_ULONG ulParameterLen, CK_BYTE_PTR pPlaintextPart,
                                     CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
                                     CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags)
{
    return not_yet();
}

KS_EXPORT CK_RV C_MessageEncryptFinal(CK_SESSION_HANDLE hSession)
{
    return not_yet();
}

KS_EXPORT CK_RV C_MessageDecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hKey)
{
    return not_yet();
}

KS_EXPORT CK_RV C_DecryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                 CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                 CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext,
                                 CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext,
                                 CK_ULONG_PTR pulPlaintextLen)
{
    return not_yet();
}

KS_EXPORT CK_RV C_DecryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                      CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                      CK_ULONG ulAssociatedDataLen)
{
    return not_yet();
}

KS_EXPORT CK_RV C_DecryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                     CK_ULONG ulParameterLen, CK_BYTE_PTR pCiphertextPart,
                                     CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
                                     CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags)
{
    return not_yet();
}

KS_EXPORT CK_RV C_MessageDecryptFinal(CK_SESSION_HANDLE hSession)
{
    return not_yet();
}

#pragma GCC diagnostic pop
