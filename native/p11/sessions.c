/* sessions.c - session management (PKCS#11 3.0 5.6). */
#include <stdlib.h>
#include <string.h>

#include "crypto/copyout.h"
#include "p11/guard.h"
#include "keystead.h"

#define NO_LOGIN ((CK_USER_TYPE)-1)

static CK_RV open_session(CK_SLOT_ID slotID, CK_FLAGS flags, CK_SESSION_HANDLE_PTR phSession)
{
    if (phSession == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    /* 3.0 5.6: CKF_SERIAL_SESSION must be set, for legacy reasons. */
    if (!(flags & CKF_SERIAL_SESSION)) {
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    }
    if (flags & ~(CKF_SERIAL_SESSION | CKF_RW_SESSION)) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = NULL;
    rv = ks_module_token(slotID, &tok);
    if (rv == CKR_OK) {
        pthread_mutex_lock(&tok->lock);
        if (tok->store == NULL) {
            rv = CKR_TOKEN_NOT_RECOGNIZED; /* the fresh, uninitialised token */
        }
        pthread_mutex_unlock(&tok->lock);
    }
    if (rv == CKR_OK) {
        rv = ks_session_open(tok, flags, phSession);
    }
    ks_module_unlock();
    return rv;
}

KS_EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                              CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
    (void)pApplication; /* keystead never calls back: it has no surrender points */
    (void)Notify;
    return ks_p11_exit("C_OpenSession", KS_NO_SESSION, KS_NO_MECH,
                       open_session(slotID, flags, phSession));
}

static CK_RV close_session(CK_SESSION_HANDLE hSession)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session_close(s);
    ks_session_release(s);
    return CKR_OK;
}

KS_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    return ks_p11_exit("C_CloseSession", hSession, KS_NO_MECH, close_session(hSession));
}

static CK_RV close_all(CK_SLOT_ID slotID)
{
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = NULL;
    rv = ks_module_token(slotID, &tok);
    if (rv != CKR_OK) {
        ks_module_unlock();
        return rv;
    }
    size_t n = ks_module_sessions_of(tok, NULL, 0);
    ks_session **list = n ? calloc(n, sizeof(*list)) : NULL;
    if (n && list == NULL) {
        ks_module_unlock();
        return CKR_HOST_MEMORY;
    }
    ks_module_sessions_of(tok, list, n);
    for (size_t i = 0; i < n; i++) {
        list[i]->refs++;
    }
    ks_module_unlock();
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&list[i]->lock);
        if (!list[i]->closed) {
            ks_session_close(list[i]);
        }
        ks_session_release(list[i]);
    }
    free(list);
    return CKR_OK;
}

KS_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    return ks_p11_exit("C_CloseAllSessions", KS_NO_SESSION, KS_NO_MECH, close_all(slotID));
}

static CK_STATE session_state(const ks_session *s, CK_USER_TYPE login)
{
    int rw = (s->flags & CKF_RW_SESSION) != 0;
    if (login == CKU_SO) {
        return CKS_RW_SO_FUNCTIONS;
    }
    if (login == CKU_USER || login == CKU_KS_MANAGER) {
        return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
    }
    return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
}

static CK_RV get_session_info(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    if (pInfo == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&s->token->lock);
    CK_USER_TYPE login = s->token->login;
    pthread_mutex_unlock(&s->token->lock);
    CK_SESSION_INFO info = {.slotID = s->token->slot_id, .state = session_state(s, login),
                            .flags = s->flags, .ulDeviceError = 0};
    ks_copy_out(pInfo, &info, sizeof(info));
    ks_session_release(s);
    return CKR_OK;
}

KS_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    return ks_p11_exit("C_GetSessionInfo", hSession, KS_NO_MECH,
                       get_session_info(hSession, pInfo));
}

/* Saving operation state would export key material; keystead refuses, as 5.6 allows. */
static CK_RV operation_state(CK_SESSION_HANDLE hSession)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session_release(s);
    return CKR_FUNCTION_NOT_SUPPORTED;
}

KS_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                    CK_ULONG_PTR pulOperationStateLen)
{
    (void)pOperationState;
    (void)pulOperationStateLen;
    return ks_p11_exit("C_GetOperationState", hSession, KS_NO_MECH, operation_state(hSession));
}

KS_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                    CK_ULONG ulOperationStateLen,
                                    CK_OBJECT_HANDLE hEncryptionKey,
                                    CK_OBJECT_HANDLE hAuthenticationKey)
{
    (void)pOperationState;
    (void)ulOperationStateLen;
    (void)hEncryptionKey;
    (void)hAuthenticationKey;
    return ks_p11_exit("C_SetOperationState", hSession, KS_NO_MECH, operation_state(hSession));
}

/* 3.0 5.6 C_SessionCancel: end the operations named in flags. */
static CK_RV session_cancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
    static const struct {
        CK_FLAGS flag;
        ks_op_slot slot;
    } map[] = {
        {CKF_ENCRYPT, KS_SLOT_ENCRYPT},
        {CKF_DECRYPT, KS_SLOT_DECRYPT},
        {CKF_DIGEST, KS_SLOT_DIGEST},
        {CKF_SIGN, KS_SLOT_SIGN},
        {CKF_VERIFY, KS_SLOT_VERIFY},
        {CKF_MESSAGE_ENCRYPT, KS_SLOT_MSG_ENCRYPT},
        {CKF_MESSAGE_DECRYPT, KS_SLOT_MSG_DECRYPT},
    };
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (flags & map[i].flag) {
            ks_session_end_op(s, map[i].slot);
        }
    }
    if (flags & CKF_FIND_OBJECTS) {
        ks_session_end_find(s);
    }
    ks_session_release(s);
    return CKR_OK;
}

KS_EXPORT CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
    return ks_p11_exit("C_SessionCancel", hSession, KS_NO_MECH, session_cancel(hSession, flags));
}
