/* login.c - PINs and login (PKCS#11 3.0 5.5 C_InitPIN/C_SetPIN, 5.6 C_Login/C_Logout/
 * C_LoginUser). The login state belongs to the application and the token, shared by all of
 * its sessions. */
#include <string.h>

#include "crypto/mem.h"
#include "p11/guard.h"

#define KS_MIN_PIN 4
#define KS_MAX_PIN 255
#define NO_LOGIN ((CK_USER_TYPE)-1)

static CK_RV pin_shape(CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    if (pin == NULL) {
        return len == 0 ? CKR_PIN_INCORRECT : CKR_ARGUMENTS_BAD;
    }
    if (len < KS_MIN_PIN || len > KS_MAX_PIN) {
        return CKR_PIN_LEN_RANGE;
    }
    return CKR_OK;
}

/* C_InitPIN (who: CKU_USER) and KS_InitManagerPIN (who: CKU_KS_MANAGER): the SO sets a
 * PIN under which the token key is wrapped. */
static CK_RV init_pin(CK_SESSION_HANDLE hSession, CK_USER_TYPE who, CK_UTF8CHAR_PTR pPin,
                      CK_ULONG ulPinLen)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    if (tok->login != CKU_SO) {
        rv = CKR_USER_NOT_LOGGED_IN;
    } else if (!ks_p11_session_rw(s)) {
        rv = CKR_SESSION_READ_ONLY;
    } else {
        rv = pin_shape(pPin, ulPinLen);
    }
    if (rv == CKR_OK) {
        rv = ks_token_audit_ready(tok); /* a PIN change the trail cannot hold is not made */
    }
    if (rv == CKR_OK) {
        rv = ks_store_init_pin_of(tok->store, who, tok->token_key, pPin, ulPinLen);
    }
    ks_token_audit(tok, KS_AUDIT_INIT_PIN, hSession, NULL, KS_NO_MECH, rv,
                   who == CKU_KS_MANAGER ? "KS_InitManagerPIN" : "C_InitPIN");
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    return ks_p11_exit("C_InitPIN", hSession, KS_NO_MECH,
                       init_pin(hSession, CKU_USER, pPin, ulPinLen));
}

/* keystead.h: the SO sets the manager's PIN (docs/authority.md). */
KS_EXPORT CK_RV KS_InitManagerPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin,
                                  CK_ULONG ulPinLen)
{
    return ks_p11_exit("KS_InitManagerPIN", hSession, KS_NO_MECH,
                       init_pin(hSession, CKU_KS_MANAGER, pPin, ulPinLen));
}

/* C_SetPIN changes the PIN of whoever is logged in (SO, user or manager), or the user's in a
 * public session. */
static CK_RV set_pin(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
                     CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    if ((pOldPin == NULL && ulOldLen != 0) || (pNewPin == NULL && ulNewLen != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    if (!ks_p11_session_rw(s)) {
        rv = CKR_SESSION_READ_ONLY;
    } else if (pOldPin == NULL || ulOldLen > KS_MAX_PIN) {
        rv = CKR_PIN_INCORRECT; /* 5.5: no PIN this long was ever set; never read */
    } else {
        rv = pin_shape(pNewPin, ulNewLen);
    }
    if (rv == CKR_OK) {
        rv = ks_token_audit_ready(tok);
    }
    if (rv == CKR_OK) {
        CK_USER_TYPE who = tok->login == CKU_SO || tok->login == CKU_KS_MANAGER ? tok->login
                                                                                : CKU_USER;
        rv = ks_store_set_pin(tok->store, who, pOldPin, ulOldLen, pNewPin, ulNewLen);
    }
    ks_token_audit(tok, KS_AUDIT_SET_PIN, hSession, NULL, KS_NO_MECH, rv, "C_SetPIN");
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin,
                         CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    return ks_p11_exit("C_SetPIN", hSession, KS_NO_MECH,
                       set_pin(hSession, pOldPin, ulOldLen, pNewPin, ulNewLen));
}

static CK_RV login_locked(ks_token *tok, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                          CK_ULONG ulPinLen)
{
    if (tok->login == userType) {
        return CKR_USER_ALREADY_LOGGED_IN;
    }
    if (tok->login != NO_LOGIN) {
        return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
    }
    if (pPin == NULL) {
        return ulPinLen == 0 ? CKR_PIN_INCORRECT : CKR_ARGUMENTS_BAD;
    }
    if (ulPinLen > KS_MAX_PIN) {
        /* 5.6 C_Login lists no CKR_PIN_LEN_RANGE: no PIN this long was ever set, so it is
         * incorrect; it is not read (a length of 2^63 cannot be) nor counted as an attempt. */
        return CKR_PIN_INCORRECT;
    }
    uint8_t *key = ks_secure_alloc(KS_TOKEN_KEY_LEN);
    if (key == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_RV rv = ks_store_login(tok->store, userType, pPin, ulPinLen, key);
    if (rv != CKR_OK) {
        ks_secure_free(key, KS_TOKEN_KEY_LEN);
        return rv;
    }
    tok->token_key = key;
    tok->login = userType;
    ks_token_forget_cache(tok); /* reload objects with their sealed values */
    return CKR_OK;
}

/* login_context: C_Login(CKU_CONTEXT_SPECIFIC) right after an operation with a key that has
 * CKA_ALWAYS_AUTHENTICATE was initialised (PKCS#11 3.0 4.9, 5.6): the PIN of the user who is
 * logged in (the key's user) lets that one operation run. No such operation waiting:
 * CKR_OPERATION_NOT_INITIALIZED ("improper use of this user type"). The PIN is checked as
 * C_Login checks it (CKR_PIN_INCORRECT, counted towards CKR_PIN_LOCKED); the session's login
 * does not change. */
static CK_RV login_context(ks_session *s, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    ks_active_op *waiting = NULL;
    for (int i = 0; i < KS_SLOT_COUNT; i++) {
        if (s->ops[i].op != NULL && s->ops[i].reauth) {
            waiting = &s->ops[i];
        }
    }
    if (waiting == NULL) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    CK_RV rv = CKR_OK;
    if (tok->login != CKU_USER && tok->login != CKU_KS_MANAGER) {
        rv = CKR_USER_NOT_LOGGED_IN;
    } else if (pPin == NULL) {
        rv = ulPinLen == 0 ? CKR_PIN_INCORRECT : CKR_ARGUMENTS_BAD;
    } else if (ulPinLen > KS_MAX_PIN) {
        rv = CKR_PIN_INCORRECT;
    }
    uint8_t *key = rv == CKR_OK ? ks_secure_alloc(KS_TOKEN_KEY_LEN) : NULL;
    if (rv == CKR_OK && key == NULL) {
        rv = CKR_HOST_MEMORY;
    }
    if (rv == CKR_OK) {
        rv = ks_store_login(tok->store, tok->login, pPin, ulPinLen, key);
    }
    ks_secure_free(key, KS_TOKEN_KEY_LEN);
    CK_RV recorded = ks_token_audit(tok, KS_AUDIT_LOGIN, s->handle, NULL, KS_NO_MECH, rv,
                                    "C_Login context");
    if (rv == CKR_OK && recorded != CKR_OK) {
        rv = recorded;
    }
    if (rv == CKR_OK) {
        waiting->reauth = 0;
    }
    pthread_mutex_unlock(&tok->lock);
    return rv;
}

static CK_RV login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                   CK_ULONG ulPinLen)
{
    if (userType != CKU_SO && userType != CKU_USER && userType != CKU_CONTEXT_SPECIFIC &&
        userType != CKU_KS_MANAGER) {
        return CKR_USER_TYPE_INVALID;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    if (userType == CKU_CONTEXT_SPECIFIC) {
        rv = login_context(s, pPin, ulPinLen);
        ks_session_release(s);
        return rv;
    }
    pthread_mutex_lock(&tok->lock);
    /* PKCS#11 3.0 5.6: no SO login while a read-only session of the application exists;
     * checked under the token lock, which C_OpenSession holds to check and count. */
    if (userType == CKU_SO && tok->session_count > tok->rw_session_count) {
        rv = CKR_SESSION_READ_ONLY_EXISTS;
    } else {
        rv = login_locked(tok, userType, pPin, ulPinLen);
    }
    if (rv == CKR_OK && userType == CKU_SO) {
        (void)ks_token_audit_adopt(tok); /* a token older than its trail gets one now */
        /* a token older than its policy floor records the SO's configuration now */
        (void)ks_store_policy_adopt(tok->store, ks_store_floor_of(tok->configured));
    }
    if (rv == CKR_OK) {
        ks_token_apply_floor(tok); /* the MAC key is known now: the floor is verified */
    }
    CK_RV recorded = ks_token_audit(tok, KS_AUDIT_LOGIN, hSession, NULL, KS_NO_MECH, rv,
                                    userType == CKU_SO           ? "C_Login so"
                                    : userType == CKU_KS_MANAGER ? "C_Login manager"
                                                                 : "C_Login user");
    if (rv == CKR_OK && recorded != CKR_OK) {
        ks_token_logout(tok); /* a login the trail does not hold */
        rv = recorded;
    }
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
                        CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    return ks_p11_exit("C_Login", hSession, KS_NO_MECH,
                       login(hSession, userType, pPin, ulPinLen));
}

/* 3.0 5.6 C_LoginUser: keystead has one user per token; a user name is not supported. */
KS_EXPORT CK_RV C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
                            CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                            CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen)
{
    if (pUsername == NULL && ulUsernameLen != 0) {
        return ks_p11_exit("C_LoginUser", hSession, KS_NO_MECH, CKR_ARGUMENTS_BAD);
    }
    return ks_p11_exit("C_LoginUser", hSession, KS_NO_MECH,
                       login(hSession, userType, pPin, ulPinLen));
}

static CK_RV logout(CK_SESSION_HANDLE hSession)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    if (tok->login == NO_LOGIN) {
        rv = CKR_USER_NOT_LOGGED_IN;
    } else {
        ks_token_audit_flush(tok, 0);
        ks_token_audit(tok, KS_AUDIT_LOGOUT, hSession, NULL, KS_NO_MECH, CKR_OK, "C_Logout");
        ks_token_logout(tok); /* bumps login_epoch: operations that needed it end */
    }
    pthread_mutex_unlock(&tok->lock);
    ks_session_end_all(s, 1);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    return ks_p11_exit("C_Logout", hSession, KS_NO_MECH, logout(hSession));
}
