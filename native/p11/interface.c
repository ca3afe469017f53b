/* interface.c - C_GetFunctionList, C_GetInterfaceList, C_GetInterface (PKCS#11 3.0 5.4):
 * the 2.40 function list and the "PKCS 11" 3.0 interface. */
#include <string.h>

#include "crypto/copyout.h"
#include "p11/guard.h"

#define KS_FN(name) .name = name

#define KS_FUNCTIONS_2_40                                                                     \
    KS_FN(C_Initialize), KS_FN(C_Finalize), KS_FN(C_GetInfo), KS_FN(C_GetFunctionList),      \
        KS_FN(C_GetSlotList), KS_FN(C_GetSlotInfo), KS_FN(C_GetTokenInfo),                    \
        KS_FN(C_GetMechanismList), KS_FN(C_GetMechanismInfo), KS_FN(C_InitToken),             \
        KS_FN(C_InitPIN), KS_FN(C_SetPIN), KS_FN(C_OpenSession), KS_FN(C_CloseSession),       \
        KS_FN(C_CloseAllSessions), KS_FN(C_GetSessionInfo), KS_FN(C_GetOperationState),       \
        KS_FN(C_SetOperationState), KS_FN(C_Login), KS_FN(C_Logout), KS_FN(C_CreateObject),   \
        KS_FN(C_CopyObject), KS_FN(C_DestroyObject), KS_FN(C_GetObjectSize),                  \
        KS_FN(C_GetAttributeValue), KS_FN(C_SetAttributeValue), KS_FN(C_FindObjectsInit),     \
        KS_FN(C_FindObjects), KS_FN(C_FindObjectsFinal), KS_FN(C_EncryptInit),                \
        KS_FN(C_Encrypt), KS_FN(C_EncryptUpdate), KS_FN(C_EncryptFinal),                      \
        KS_FN(C_DecryptInit), KS_FN(C_Decrypt), KS_FN(C_DecryptUpdate),                       \
        KS_FN(C_DecryptFinal), KS_FN(C_DigestInit), KS_FN(C_Digest), KS_FN(C_DigestUpdate),   \
        KS_FN(C_DigestKey), KS_FN(C_DigestFinal), KS_FN(C_SignInit), KS_FN(C_Sign),           \
        KS_FN(C_SignUpdate), KS_FN(C_SignFinal), KS_FN(C_SignRecoverInit),                    \
        KS_FN(C_SignRecover), KS_FN(C_VerifyInit), KS_FN(C_Verify), KS_FN(C_VerifyUpdate),    \
        KS_FN(C_VerifyFinal), KS_FN(C_VerifyRecoverInit), KS_FN(C_VerifyRecover),             \
        KS_FN(C_DigestEncryptUpdate), KS_FN(C_DecryptDigestUpdate),                           \
        KS_FN(C_SignEncryptUpdate), KS_FN(C_DecryptVerifyUpdate), KS_FN(C_GenerateKey),       \
        KS_FN(C_GenerateKeyPair), KS_FN(C_WrapKey), KS_FN(C_UnwrapKey), KS_FN(C_DeriveKey),   \
        KS_FN(C_SeedRandom), KS_FN(C_GenerateRandom), KS_FN(C_GetFunctionStatus),             \
        KS_FN(C_CancelFunction), KS_FN(C_WaitForSlotEvent)

static CK_FUNCTION_LIST functions_2_40 = {
    .version = {2, 40},
    KS_FUNCTIONS_2_40,
};

static CK_FUNCTION_LIST_3_0 functions_3_0 = {
    .version = {3, 0},
    KS_FUNCTIONS_2_40,
    KS_FN(C_GetInterfaceList),
    KS_FN(C_GetInterface),
    KS_FN(C_LoginUser),
    KS_FN(C_SessionCancel),
    KS_FN(C_MessageEncryptInit),
    KS_FN(C_EncryptMessage),
    KS_FN(C_EncryptMessageBegin),
    KS_FN(C_EncryptMessageNext),
    KS_FN(C_MessageEncryptFinal),
    KS_FN(C_MessageDecryptInit),
    KS_FN(C_DecryptMessage),
    KS_FN(C_DecryptMessageBegin),
    KS_FN(C_DecryptMessageNext),
    KS_FN(C_MessageDecryptFinal),
    KS_FN(C_MessageSignInit),
    KS_FN(C_SignMessage),
    KS_FN(C_SignMessageBegin),
    KS_FN(C_SignMessageNext),
    KS_FN(C_MessageSignFinal),
    KS_FN(C_MessageVerifyInit),
    KS_FN(C_VerifyMessage),
    KS_FN(C_VerifyMessageBegin),
    KS_FN(C_VerifyMessageNext),
    KS_FN(C_MessageVerifyFinal),
};

static CK_CHAR interface_name[] = "PKCS 11";

/* The 3.0 interface first: C_GetInterface(NULL, NULL) returns the default, which is 3.0. */
static CK_INTERFACE interfaces[] = {
    {interface_name, &functions_3_0, 0},
    {interface_name, &functions_2_40, 0},
};

#define INTERFACE_COUNT (sizeof(interfaces) / sizeof(interfaces[0]))

/* PKCS#11 3.0 5.4 C_GetFunctionList: the 2.40-compatible list. */
KS_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (ppFunctionList == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    *ppFunctionList = &functions_2_40;
    return CKR_OK;
}

/* PKCS#11 3.0 5.4 C_GetInterfaceList: length query with NULL, CKR_BUFFER_TOO_SMALL. */
KS_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    if (pulCount == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (pInterfacesList == NULL) {
        *pulCount = INTERFACE_COUNT;
        return CKR_OK;
    }
    if (*pulCount < INTERFACE_COUNT) {
        *pulCount = INTERFACE_COUNT;
        return CKR_BUFFER_TOO_SMALL;
    }
    ks_copy_out(pInterfacesList, interfaces, sizeof(interfaces));
    ks_copy_out_call_end(); /* this entry point does not return through ks_p11_exit */
    *pulCount = INTERFACE_COUNT;
    return CKR_OK;
}

/* PKCS#11 3.0 5.4 C_GetInterface: by name (NULL = default), version (NULL = any) and flags
 * (the interface must have every flag asked for). */
KS_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                               CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    if (ppInterface == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    for (size_t i = 0; i < INTERFACE_COUNT; i++) {
        CK_INTERFACE *it = &interfaces[i];
        const CK_VERSION *v = (const CK_VERSION *)it->pFunctionList;
        if (pInterfaceName != NULL &&
            strcmp((const char *)pInterfaceName, (const char *)it->pInterfaceName) != 0) {
            continue;
        }
        if (pVersion != NULL && (pVersion->major != v->major || pVersion->minor != v->minor)) {
            continue;
        }
        if ((it->flags & flags) != flags) {
            continue;
        }
        *ppInterface = it;
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}
