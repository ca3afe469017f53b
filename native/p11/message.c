/* message.c - message-based encryption and decryption (PKCS#11 3.0 base spec 5.13, 5.14)
 * with CKM_AES_GCM and CK_GCM_MESSAGE_PARAMS (current mechanisms 2.12).
 *
 * C_Message{Encrypt,Decrypt}Init resolves the key once and starts a process that lasts until
 * C_Message{Encrypt,Decrypt}Final (which also drops a multi-part message left unfinished).
 * Its mechanism parameter is optional (NULL, or a CK_GCM_MESSAGE_PARAMS that is not used):
 * each message brings its own. A message is one C_{En,De}cryptMessage, or a
 * C_{En,De}cryptMessageBegin and C_{En,De}cryptMessageNext calls up to the one with
 * CKF_END_OF_MESSAGE. An error ends the message, never the process (5.13: "terminates the
 * current message encryption operation"). The state machine is token/msg_gcm.c; the IV
 * generators and the invocation counter are token/gcm_iv.c. */
#include "p11/message.h"

#include "token/gcm_iv.h"
#include "token/mech.h"
#include "token/msg_gcm.h"
#include "token/policy.h"
#include "token/wrap_policy.h"

/* No C object is larger than PTRDIFF_MAX bytes: a longer length is refused unread. */
#define KS_MAX_DATA_LEN ((CK_ULONG)PTRDIFF_MAX)

void ks_msg_state_free(void *msg)
{
    ks_msg_gcm_free(msg);
}

CK_RV ks_p11_gcm_key(ks_session *s, CK_OBJECT_HANDLE handle, int decrypt, CK_FLAGS mech_flag,
                     const char *fn, ks_object **out)
{
    ks_token *tok = s->token;
    const ks_mech_desc *desc = ks_mech_lookup(tok->cfg, CKM_AES_GCM);
    if (desc == NULL || !(desc->flags & mech_flag)) {
        return CKR_MECHANISM_INVALID;
    }
    ks_object *key = NULL;
    ks_key_use use = {fn, decrypt ? CKA_DECRYPT : CKA_ENCRYPT,
                      decrypt ? KS_USE_PROCESS : KS_USE_PROTECT, CKM_AES_GCM};
    CK_RV rv = ks_p11_key_for_use(tok, s->handle, handle, desc, mech_flag, &use, &key);
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_use(tok, key, KS_ROLE_DATA);
    }
    if (rv == CKR_OK) {
        rv = ks_p11_gate_pass(tok, s->handle, key, &use);
    }
    if (rv == CKR_OK) {
        *out = key;
    }
    return rv;
}

CK_RV ks_p11_gcm_draw(ks_session *s, CK_OBJECT_HANDLE handle, uint64_t n, uint64_t *first)
{
    ks_token *tok = s->token;
    ks_object *key = NULL;
    pthread_mutex_lock(&tok->lock);
    CK_RV rv = ks_token_get(tok, s->handle, handle, &key);
    if (rv == CKR_OK) {
        rv = ks_gcm_iv_draw(tok, key, n, first);
    } else if (rv == CKR_OBJECT_HANDLE_INVALID) {
        rv = CKR_KEY_HANDLE_INVALID;
    }
    pthread_mutex_unlock(&tok->lock);
    return rv;
}

static CK_RV msg_init(CK_SESSION_HANDLE h, ks_op_slot slot, const CK_MECHANISM *mech,
                      CK_OBJECT_HANDLE key_handle)
{
    int decrypt = slot == KS_SLOT_MSG_DECRYPT;
    if (mech == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(h, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_active_op *a = &s->ops[slot];
    if (a->op != NULL || a->msg != NULL) {
        rv = CKR_OPERATION_ACTIVE;
    } else if (mech->mechanism != CKM_AES_GCM) {
        rv = CKR_MECHANISM_INVALID;
    } else if (!(mech->pParameter == NULL && mech->ulParameterLen == 0) &&
               !(mech->pParameter != NULL &&
                 mech->ulParameterLen == sizeof(CK_GCM_MESSAGE_PARAMS))) {
        rv = CKR_MECHANISM_PARAM_INVALID;
    }
    if (rv != CKR_OK) {
        ks_session_release(s);
        return rv;
    }
    ks_token *tok = s->token;
    ks_object *key = NULL;
    ks_msg_gcm *m = NULL;
    pthread_mutex_lock(&tok->lock);
    rv = ks_p11_gcm_key(s, key_handle, decrypt,
                        decrypt ? CKF_MESSAGE_DECRYPT : CKF_MESSAGE_ENCRYPT,
                        decrypt ? "C_MessageDecryptInit" : "C_MessageEncryptInit", &key);
    if (rv == CKR_OK) {
        const ks_attr *value = ks_p11_key_value(key);
        rv = ks_msg_gcm_new(&m, decrypt, value->value, value->len);
    }
    if (rv == CKR_OK) {
        *a = (ks_active_op){
            .key = key_handle,
            .needs_login = ks_object_is_private(key),
            .epoch = tok->login_epoch,
            .msg = m,
        };
    }
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

/* Acquire the session and its message-based process in slot (CKR_OPERATION_NOT_INITIALIZED
 * when none, or when a logout ended it: 5.6 C_Logout). On success the caller releases s. */
static CK_RV msg_acquire(CK_SESSION_HANDLE h, ks_op_slot slot, ks_session **s, ks_msg_gcm **m)
{
    CK_RV rv = ks_session_acquire(h, s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_active_op *a = &(*s)->ops[slot];
    int ended = a->msg == NULL;
    if (!ended && a->needs_login) {
        ks_token *tok = (*s)->token;
        pthread_mutex_lock(&tok->lock);
        ended = tok->login_epoch != a->epoch;
        pthread_mutex_unlock(&tok->lock);
        if (ended) {
            ks_session_end_op(*s, slot);
        }
    }
    if (ended) {
        ks_session_release(*s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    *m = a->msg;
    return CKR_OK;
}

/* A token-generated IV takes an invocation number and is written back to pIv. */
static CK_RV make_iv(ks_session *s, ks_op_slot slot, const CK_GCM_MESSAGE_PARAMS *p,
                     ks_msg_iv_kind kind)
{
    if (kind == KS_MSG_IV_CALLER) {
        return CKR_OK;
    }
    uint64_t invocation = 0;
    CK_RV rv = ks_p11_gcm_draw(s, s->ops[slot].key, 1, &invocation);
    return rv == CKR_OK ? ks_msg_gcm_make_iv(p, kind, invocation) : rv;
}

static CK_RV one_message(CK_SESSION_HANDLE h, ks_op_slot slot, void *param, CK_ULONG param_len,
                         const CK_BYTE *aad, CK_ULONG aad_len, const CK_BYTE *in,
                         CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    int decrypt = slot == KS_SLOT_MSG_DECRYPT;
    ks_session *s = NULL;
    ks_msg_gcm *m = NULL;
    CK_RV rv = msg_acquire(h, slot, &s, &m);
    if (rv != CKR_OK) {
        return rv;
    }
    const CK_GCM_MESSAGE_PARAMS *p = NULL;
    ks_msg_iv_kind kind = KS_MSG_IV_CALLER;
    if (ks_msg_gcm_active(m)) {
        rv = CKR_OPERATION_ACTIVE; /* not in the middle of a multi-part message */
    } else if (out_len == NULL || (in == NULL && in_len != 0) ||
               (aad == NULL && aad_len != 0) || aad_len > KS_MAX_DATA_LEN) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (in_len > KS_MAX_DATA_LEN) {
        rv = decrypt ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_DATA_LEN_RANGE;
    } else {
        rv = ks_msg_gcm_params(param, param_len, decrypt, 1, &p, &kind);
    }
    if (rv == CKR_OK && decrypt) {
        rv = ks_msg_gcm_open(m, p, aad, aad_len, in, in_len, out, out_len);
    } else if (rv == CKR_OK && ks_msg_gcm_out_ready(out, out_len, in_len, &rv)) {
        /* Only a call that will encrypt takes an invocation number (never a length query). */
        rv = make_iv(s, slot, p, kind);
        if (rv == CKR_OK) {
            rv = ks_msg_gcm_seal(m, p, aad, aad_len, in, in_len, out);
        }
        if (rv == CKR_OK) {
            *out_len = in_len;
        }
    }
    ks_session_release(s);
    return rv;
}

static CK_RV begin_message(CK_SESSION_HANDLE h, ks_op_slot slot, void *param,
                           CK_ULONG param_len, const CK_BYTE *aad, CK_ULONG aad_len)
{
    int decrypt = slot == KS_SLOT_MSG_DECRYPT;
    ks_session *s = NULL;
    ks_msg_gcm *m = NULL;
    CK_RV rv = msg_acquire(h, slot, &s, &m);
    if (rv != CKR_OK) {
        return rv;
    }
    const CK_GCM_MESSAGE_PARAMS *p = NULL;
    ks_msg_iv_kind kind = KS_MSG_IV_CALLER;
    if (ks_msg_gcm_active(m)) {
        rv = CKR_OPERATION_ACTIVE;
    } else if ((aad == NULL && aad_len != 0) || aad_len > KS_MAX_DATA_LEN) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        /* The tag comes with the last part (mechanisms 2.12): pTag may be NULL here. */
        rv = ks_msg_gcm_params(param, param_len, decrypt, 0, &p, &kind);
    }
    if (rv == CKR_OK) {
        rv = make_iv(s, slot, p, kind);
    }
    if (rv == CKR_OK) {
        rv = ks_msg_gcm_begin(m, p, aad, aad_len);
    }
    ks_session_release(s);
    return rv;
}

static CK_RV next_part(CK_SESSION_HANDLE h, ks_op_slot slot, void *param, CK_ULONG param_len,
                       const CK_BYTE *in, CK_ULONG in_len, CK_BYTE_PTR out,
                       CK_ULONG_PTR out_len, CK_FLAGS flags)
{
    int decrypt = slot == KS_SLOT_MSG_DECRYPT;
    ks_session *s = NULL;
    ks_msg_gcm *m = NULL;
    CK_RV rv = msg_acquire(h, slot, &s, &m);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!ks_msg_gcm_active(m)) {
        ks_session_release(s);
        return CKR_OPERATION_NOT_INITIALIZED; /* "MUST have been started with ...Begin" */
    }
    int last = (flags & CKF_END_OF_MESSAGE) != 0;
    const CK_GCM_MESSAGE_PARAMS *p = NULL;
    ks_msg_iv_kind kind = KS_MSG_IV_CALLER;
    if ((flags & ~CKF_END_OF_MESSAGE) != 0 || out_len == NULL || (in == NULL && in_len != 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (in_len > KS_MAX_DATA_LEN) {
        rv = decrypt ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_DATA_LEN_RANGE;
    } else if (last) {
        /* The last part carries the tag: written to pTag (encrypt) or read from it. */
        rv = ks_msg_gcm_params(param, param_len, decrypt, 1, &p, &kind);
    }
    if (rv == CKR_OK) {
        int ended = 0;
        rv = ks_msg_gcm_next(m, p, in, in_len, out, out_len, last, &ended);
    } else {
        ks_msg_gcm_abort(m); /* an error other than CKR_BUFFER_TOO_SMALL ends the message */
    }
    ks_session_release(s);
    return rv;
}

static CK_RV msg_final(CK_SESSION_HANDLE h, ks_op_slot slot)
{
    ks_session *s = NULL;
    ks_msg_gcm *m = NULL;
    CK_RV rv = msg_acquire(h, slot, &s, &m);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session_end_op(s, slot);
    ks_session_release(s);
    return CKR_OK;
}

/* ---- PKCS#11 3.0 5.13 message-based encryption ---------------------------------------- */

KS_EXPORT CK_RV C_MessageEncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hKey)
{
    return ks_p11_exit("C_MessageEncryptInit", hSession,
                       pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       msg_init(hSession, KS_SLOT_MSG_ENCRYPT, pMechanism, hKey));
}

KS_EXPORT CK_RV C_EncryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                 CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                 CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext,
                                 CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext,
                                 CK_ULONG_PTR pulCiphertextLen)
{
    return ks_p11_exit("C_EncryptMessage", hSession, KS_NO_MECH,
                       one_message(hSession, KS_SLOT_MSG_ENCRYPT, pParameter, ulParameterLen,
                                   pAssociatedData, ulAssociatedDataLen, pPlaintext,
                                   ulPlaintextLen, pCiphertext, pulCiphertextLen));
}

KS_EXPORT CK_RV C_EncryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                      CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                      CK_ULONG ulAssociatedDataLen)
{
    return ks_p11_exit("C_EncryptMessageBegin", hSession, KS_NO_MECH,
                       begin_message(hSession, KS_SLOT_MSG_ENCRYPT, pParameter, ulParameterLen,
                                     pAssociatedData, ulAssociatedDataLen));
}

KS_EXPORT CK_RV C_EncryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                     CK_ULONG ulParameterLen, CK_BYTE_PTR pPlaintextPart,
                                     CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
                                     CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags)
{
    return ks_p11_exit("C_EncryptMessageNext", hSession, KS_NO_MECH,
                       next_part(hSession, KS_SLOT_MSG_ENCRYPT, pParameter, ulParameterLen,
                                 pPlaintextPart, ulPlaintextPartLen, pCiphertextPart,
                                 pulCiphertextPartLen, flags));
}

KS_EXPORT CK_RV C_MessageEncryptFinal(CK_SESSION_HANDLE hSession)
{
    return ks_p11_exit("C_MessageEncryptFinal", hSession, KS_NO_MECH,
                       msg_final(hSession, KS_SLOT_MSG_ENCRYPT));
}

/* ---- PKCS#11 3.0 5.14 message-based decryption ---------------------------------------- */

KS_EXPORT CK_RV C_MessageDecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hKey)
{
    return ks_p11_exit("C_MessageDecryptInit", hSession,
                       pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       msg_init(hSession, KS_SLOT_MSG_DECRYPT, pMechanism, hKey));
}

KS_EXPORT CK_RV C_DecryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                 CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                 CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext,
                                 CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext,
                                 CK_ULONG_PTR pulPlaintextLen)
{
    return ks_p11_exit("C_DecryptMessage", hSession, KS_NO_MECH,
                       one_message(hSession, KS_SLOT_MSG_DECRYPT, pParameter, ulParameterLen,
                                   pAssociatedData, ulAssociatedDataLen, pCiphertext,
                                   ulCiphertextLen, pPlaintext, pulPlaintextLen));
}

KS_EXPORT CK_RV C_DecryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                      CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                      CK_ULONG ulAssociatedDataLen)
{
    return ks_p11_exit("C_DecryptMessageBegin", hSession, KS_NO_MECH,
                       begin_message(hSession, KS_SLOT_MSG_DECRYPT, pParameter, ulParameterLen,
                                     pAssociatedData, ulAssociatedDataLen));
}

KS_EXPORT CK_RV C_DecryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                     CK_ULONG ulParameterLen, CK_BYTE_PTR pCiphertextPart,
                                     CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
                                     CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags)
{
    return ks_p11_exit("C_DecryptMessageNext", hSession, KS_NO_MECH,
                       next_part(hSession, KS_SLOT_MSG_DECRYPT, pParameter, ulParameterLen,
                                 pCiphertextPart, ulCiphertextPartLen, pPlaintextPart,
                                 pulPlaintextPartLen, flags));
}

KS_EXPORT CK_RV C_MessageDecryptFinal(CK_SESSION_HANDLE hSession)
{
    return ks_p11_exit("C_MessageDecryptFinal", hSession, KS_NO_MECH,
                       msg_final(hSession, KS_SLOT_MSG_DECRYPT));
}
