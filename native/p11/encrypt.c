/* encrypt.c - encryption and decryption (PKCS#11 3.0 5.8, 5.9). */
#include "p11/opcalls.h"

KS_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_OBJECT_HANDLE hKey)
{
    return ks_p11_exit("C_EncryptInit", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       ks_p11_op_init(hSession, KS_SLOT_ENCRYPT, KS_OP_ENCRYPT, pMechanism, hKey));
}

KS_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                          CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
    return ks_p11_exit("C_Encrypt", hSession, KS_NO_MECH,
                       ks_call_single(hSession, KS_SLOT_ENCRYPT, pData, ulDataLen, pEncryptedData,
                                      pulEncryptedDataLen));
}

KS_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                                CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    return ks_p11_exit("C_EncryptUpdate", hSession, KS_NO_MECH,
                       ks_call_update(hSession, KS_SLOT_ENCRYPT, pPart, ulPartLen, pEncryptedPart,
                                      pulEncryptedPartLen));
}

KS_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                               CK_ULONG_PTR pulLastEncryptedPartLen)
{
    return ks_p11_exit("C_EncryptFinal", hSession, KS_NO_MECH,
                       ks_call_final(hSession, KS_SLOT_ENCRYPT, pLastEncryptedPart,
                                     pulLastEncryptedPartLen));
}

KS_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_OBJECT_HANDLE hKey)
{
    return ks_p11_exit("C_DecryptInit", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       ks_p11_op_init(hSession, KS_SLOT_DECRYPT, KS_OP_DECRYPT, pMechanism, hKey));
}

KS_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData,
                          CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    return ks_p11_exit("C_Decrypt", hSession, KS_NO_MECH,
                       ks_call_single(hSession, KS_SLOT_DECRYPT, pEncryptedData,
                                      ulEncryptedDataLen, pData, pulDataLen));
}

KS_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                                CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                                CK_ULONG_PTR pulPartLen)
{
    return ks_p11_exit("C_DecryptUpdate", hSession, KS_NO_MECH,
                       ks_call_update(hSession, KS_SLOT_DECRYPT, pEncryptedPart,
                                      ulEncryptedPartLen, pPart, pulPartLen));
}

KS_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart,
                               CK_ULONG_PTR pulLastPartLen)
{
    return ks_p11_exit("C_DecryptFinal", hSession, KS_NO_MECH,
                       ks_call_final(hSession, KS_SLOT_DECRYPT, pLastPart, pulLastPartLen));
}
