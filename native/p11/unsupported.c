/* unsupported.c - functions keystead does not implement (PKCS#11 3.0 5.12, 5.13 recovery,
 * 5.14 dual-function, 5.18 derivation, 5.14/5.15 message-based signing). Each
 * answers CKR_FUNCTION_NOT_SUPPORTED, as the specification allows, after the initialisation
 * check every function makes. */
#include "p11/guard.h"

static CK_RV not_supported(void)
{
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_module_unlock();
    return CKR_FUNCTION_NOT_SUPPORTED;
}

#define KS_NOT_SUPPORTED(name, params) \
    KS_EXPORT CK_RV name params        \
    {                                  \
        return not_supported();        \
    }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"

KS_NOT_SUPPORTED(C_SignRecoverInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hKey))
KS_NOT_SUPPORTED(C_SignRecover, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
                                 CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                                 CK_ULONG_PTR pulSignatureLen))
KS_NOT_SUPPORTED(C_VerifyRecoverInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                       CK_OBJECT_HANDLE hKey))
KS_NOT_SUPPORTED(C_VerifyRecover, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                                   CK_ULONG ulSignatureLen, CK_BYTE_PTR pData,
                                   CK_ULONG_PTR pulDataLen))
KS_NOT_SUPPORTED(C_DigestEncryptUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
                                         CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
                                         CK_ULONG_PTR pulEncryptedPartLen))
KS_NOT_SUPPORTED(C_DecryptDigestUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                                         CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                                         CK_ULONG_PTR pulPartLen))
KS_NOT_SUPPORTED(C_SignEncryptUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
                                       CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
                                       CK_ULONG_PTR pulEncryptedPartLen))
KS_NOT_SUPPORTED(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE hSession,
                                         CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
                                         CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen))
KS_NOT_SUPPORTED(C_DeriveKey, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                               CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                               CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey))
KS_NOT_SUPPORTED(C_MessageSignInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hKey))
KS_NOT_SUPPORTED(C_SignMessage, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                 CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                                 CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen))
KS_NOT_SUPPORTED(C_SignMessageBegin, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                      CK_ULONG ulParameterLen))
KS_NOT_SUPPORTED(C_SignMessageNext, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                     CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
                                     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                                     CK_ULONG_PTR pulSignatureLen))
KS_NOT_SUPPORTED(C_MessageSignFinal, (CK_SESSION_HANDLE hSession))
KS_NOT_SUPPORTED(C_MessageVerifyInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                       CK_OBJECT_HANDLE hKey))
KS_NOT_SUPPORTED(C_VerifyMessage, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                   CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
                                   CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                                   CK_ULONG ulSignatureLen))
KS_NOT_SUPPORTED(C_VerifyMessageBegin, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                        CK_ULONG ulParameterLen))
KS_NOT_SUPPORTED(C_VerifyMessageNext, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                       CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
                                       CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                                       CK_ULONG ulSignatureLen))
KS_NOT_SUPPORTED(C_MessageVerifyFinal, (CK_SESSION_HANDLE hSession))

#pragma GCC diagnostic pop
