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

/* C_DigestKey feeds a key's value into the digest (CKR_KEY_INDIGESTIBLE for an object that
 * is no key or whose value is not a byte string). Digesting a key is a use of its value: it
 * passes the policy gate (guard.h) as a processing use under the digest's mechanism (a
 * mechanism outside CKA_ALLOWED_MECHANISMS is CKR_MECHANISM_INVALID; the lifecycle state, the
 * processing period and the usage limit CKR_KEY_FUNCTION_NOT_PERMITTED), and is counted and
 * audited. */
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
    ks_key_use use = {"C_DigestKey", KS_NO_ATTR, KS_USE_PROCESS, ks_op_mechanism(op)};
    rv = ks_token_get(tok, hSession, hKey, &key);
    if (rv == CKR_OBJECT_HANDLE_INVALID) {
        rv = CKR_KEY_HANDLE_INVALID;
    }
    if (rv == CKR_OK) {
        const ks_class_desc *cls = ks_class_find(ks_object_class(key));
        /* 5.12 C_DigestKey digests a secret key's value; a key pair's DER is not one */
        rv = cls != NULL && cls->is_key && cls->value_attr == CKA_VALUE ? CKR_OK
                                                                          : CKR_KEY_INDIGESTIBLE;
    }
    if (rv == CKR_OK) {
        rv = ks_p11_gate_check(tok, key, &use);
    }
    if (rv == CKR_OK && ks_p11_key_value(key) == NULL) {
        rv = CKR_KEY_INDIGESTIBLE;
    }
    if (rv == CKR_OK) {
        ks_key_ref ref = ks_p11_key_ref(key);
        rv = ks_op_digest_key(op, &ref);
    }
    if (rv == CKR_OK) {
        rv = ks_p11_gate_pass(tok, hSession, key, &use);
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
