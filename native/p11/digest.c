/* digest.c - message digesting (PKCS#11 3.0 5.10). */
#include "p11/opcalls.h"

KS_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
    return ks_p11_exit("C_DigestInit", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       ks_p11_op_init(hSession, KS_SLOT_DIGEST, KS_OP_DIGEST, pMechanism,
                                      CK_INVALID_HANDLE));
}

KS_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                         CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    return ks_p11_exit("C_Digest", hSession, KS_NO_MECH,
                       ks_call_single(hSession, KS_SLOT_DIGEST, pData, ulDataLen, pDigest,
                                      pulDigestLen));
}

KS_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return ks_p11_exit("C_DigestUpdate", hSession, KS_NO_MECH,
                       ks_call_update(hSession, KS_SLOT_DIGEST, pPart, ulPartLen, NULL, NULL));
}

/* C_DigestKey feeds a secret key's value into the digest (CKR_KEY_INDIGESTIBLE otherwise). */
static CK_RV digest_key(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
    ks_session *s = NULL;
    ks_op *op = NULL;
    CK_RV rv = ks_p11_op_begin(hSession, KS_SLOT_DIGEST, &s, &op);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    ks_object *key = NULL;
    rv = ks_token_get(tok, hSession, hKey, &key);
    if (rv == CKR_OBJECT_HANDLE_INVALID) {
        rv = CKR_KEY_HANDLE_INVALID;
    }
    if (rv == CKR_OK && ks_object_class(key) != CKO_SECRET_KEY) {
        rv = CKR_KEY_INDIGESTIBLE;
    }
    if (rv == CKR_OK && (key->sealed_missing || !ks_attrs_has(&key->attrs, CKA_VALUE))) {
        rv = CKR_KEY_INDIGESTIBLE;
    }
    if (rv == CKR_OK) {
        const ks_attr *value = ks_attrs_find(&key->attrs, CKA_VALUE);
        CK_ULONG kt = (CK_ULONG)-1;
        ks_attrs_get_ulong(&key->attrs, CKA_KEY_TYPE, &kt);
        ks_key_ref ref = {kt, value->value, value->len};
        rv = ks_op_digest_key(op, &ref);
    }
    pthread_mutex_unlock(&tok->lock);
    return ks_p11_op_end(s, KS_SLOT_DIGEST, rv, 0, 0);
}

KS_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
    return ks_p11_exit("C_DigestKey", hSession, KS_NO_MECH, digest_key(hSession, hKey));
}

KS_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
                              CK_ULONG_PTR pulDigestLen)
{
    return ks_p11_exit("C_DigestFinal", hSession, KS_NO_MECH,
                       ks_call_final(hSession, KS_SLOT_DIGEST, pDigest, pulDigestLen));
}
