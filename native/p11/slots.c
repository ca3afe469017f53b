/* slots.c - slot and token management (PKCS#11 3.0 5.5): slot list, slot/token/mechanism
 * information, C_InitToken. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/copyout.h"
#include "p11/guard.h"
#include "p11/util.h"
#include "token/mech.h"

#ifndef KS_VERSION_STRING
#define KS_VERSION_STRING "0.0.0"
#endif

#define KS_MIN_PIN 4
#define KS_MAX_PIN 255

/* slot_token resolves a slot to its token under the module lock (CKR_CRYPTOKI_NOT_INITIALIZED,
 * CKR_SLOT_ID_INVALID). Tokens live until C_Finalize, so the pointer stays valid after. */
static CK_RV slot_token(CK_SLOT_ID slotID, ks_token **out)
{
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    rv = ks_module_token(slotID, out);
    ks_module_unlock();
    return rv;
}

static CK_RV get_slot_list(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
                           CK_ULONG_PTR pulCount)
{
    (void)tokenPresent; /* every slot holds a token, the last one a fresh one */
    if (pulCount == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    /* A length query refreshes the list (new tokens appear); the second call of the usual
     * two-call idiom then sees the same list. */
    if (pSlotList == NULL) {
        rv = ks_module_refresh_slots();
    }
    CK_ULONG n = (CK_ULONG)ks_mod.token_count;
    if (rv == CKR_OK && pSlotList != NULL) {
        if (*pulCount < n) {
            rv = CKR_BUFFER_TOO_SMALL;
        } else {
            for (CK_ULONG i = 0; i < n; i++) {
                pSlotList[i] = ks_mod.tokens[i]->slot_id;
            }
        }
    }
    if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) {
        *pulCount = n;
    }
    ks_module_unlock();
    return rv;
}

KS_EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
                              CK_ULONG_PTR pulCount)
{
    return ks_p11_exit("C_GetSlotList", KS_NO_SESSION, KS_NO_MECH,
                       get_slot_list(tokenPresent, pSlotList, pulCount));
}

static CK_RV get_slot_info(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    if (pInfo == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_token *tok = NULL;
    CK_RV rv = slot_token(slotID, &tok);
    if (rv != CKR_OK) {
        return rv;
    }
    char desc[64];
    snprintf(desc, sizeof(desc), "keystead slot %lu", (unsigned long)slotID);
    ks_p11_pad(pInfo->slotDescription, sizeof(pInfo->slotDescription), desc);
    ks_p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "keystead");
    pInfo->flags = CKF_TOKEN_PRESENT;
    ks_p11_version(&pInfo->hardwareVersion, KS_VERSION_STRING);
    ks_p11_version(&pInfo->firmwareVersion, KS_VERSION_STRING);
    return CKR_OK;
}

KS_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    return ks_p11_exit("C_GetSlotInfo", KS_NO_SESSION, KS_NO_MECH,
                       get_slot_info(slotID, pInfo));
}

/* PIN state flags of PKCS#11 3.0 3.2 table 9 from the failure counter. */
static CK_FLAGS pin_flags(unsigned failures, unsigned max, CK_FLAGS low, CK_FLAGS final,
                          CK_FLAGS locked)
{
    if (failures == 0) {
        return 0;
    }
    if (failures >= max) {
        return locked;
    }
    return failures + 1 == max ? (low | final) : low;
}

static void fill_token_info(ks_token *tok, const ks_token_meta *meta, CK_TOKEN_INFO *info)
{
    memset(info, 0, sizeof(*info));
    if (meta->initialized) {
        memcpy(info->label, meta->label, sizeof(info->label));
        memcpy(info->serialNumber, meta->serial, sizeof(info->serialNumber));
    } else {
        ks_p11_pad(info->label, sizeof(info->label), "");
        ks_p11_pad(info->serialNumber, sizeof(info->serialNumber), "");
    }
    ks_p11_pad(info->manufacturerID, sizeof(info->manufacturerID), "keystead");
    ks_p11_pad(info->model, sizeof(info->model), "software HSM");
    info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_CLOCK_ON_TOKEN;
    if (meta->initialized) {
        info->flags |= CKF_TOKEN_INITIALIZED;
    }
    if (meta->user_pin_set) {
        info->flags |= CKF_USER_PIN_INITIALIZED;
    }
    if (meta->user_pin_to_be_changed) {
        info->flags |= CKF_USER_PIN_TO_BE_CHANGED;
    }
    unsigned max = meta->max_attempts ? meta->max_attempts : tok->cfg->max_pin_attempts;
    info->flags |= pin_flags(meta->user_failures, max, CKF_USER_PIN_COUNT_LOW,
                             CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED);
    info->flags |= pin_flags(meta->so_failures, max, CKF_SO_PIN_COUNT_LOW,
                             CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED);
    info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulSessionCount = tok->session_count;
    info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulRwSessionCount = tok->rw_session_count;
    info->ulMaxPinLen = KS_MAX_PIN;
    info->ulMinPinLen = KS_MIN_PIN;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    ks_p11_version(&info->hardwareVersion, KS_VERSION_STRING);
    ks_p11_version(&info->firmwareVersion, KS_VERSION_STRING);
    /* 3.0 3.2: utcTime is YYYYMMDDhhmmss00 when CKF_CLOCK_ON_TOKEN is set. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char buf[32];
    snprintf(buf, sizeof(buf), "%04u%02u%02u%02u%02u%02u00",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 60u);
    memcpy(info->utcTime, buf, 16);
}

static CK_RV get_token_info(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    if (pInfo == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_token *tok = NULL;
    CK_RV rv = slot_token(slotID, &tok);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&tok->lock);
    ks_token_meta meta;
    memset(&meta, 0, sizeof(meta));
    if (tok->store != NULL) {
        rv = ks_store_meta(tok->store, &meta);
    }
    if (rv == CKR_OK) {
        CK_TOKEN_INFO info;
        fill_token_info(tok, &meta, &info);
        ks_copy_out(pInfo, &info, sizeof(info));
    }
    pthread_mutex_unlock(&tok->lock);
    return rv;
}

KS_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    return ks_p11_exit("C_GetTokenInfo", KS_NO_SESSION, KS_NO_MECH,
                       get_token_info(slotID, pInfo));
}


/* C_GetMechanismList and C_GetMechanismInfo both read ks_mech_offer: the registry's rows
 * under the configuration's alias setting and the active wrap policy. */
static CK_RV get_mechanism_list(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pList,
                                CK_ULONG_PTR pulCount)
{
    if (pulCount == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_token *tok = NULL;
    CK_RV rv = slot_token(slotID, &tok);
    if (rv != CKR_OK) {
        return rv;
    }
    CK_MECHANISM_TYPE type;
    CK_MECHANISM_INFO info;
    CK_ULONG n = 0;
    pthread_mutex_lock(&tok->lock); /* tok->cfg: a login may raise it to the token's floor */
    while (ks_mech_offer(tok->cfg, n, &type, &info)) {
        n++;
    }
    if (pList != NULL && *pulCount < n) {
        rv = CKR_BUFFER_TOO_SMALL;
    } else if (pList != NULL) {
        for (CK_ULONG i = 0; i < n && ks_mech_offer(tok->cfg, i, &type, &info); i++) {
            pList[i] = type;
        }
    }
    pthread_mutex_unlock(&tok->lock);
    *pulCount = n;
    return rv;
}

KS_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                                   CK_ULONG_PTR pulCount)
{
    return ks_p11_exit("C_GetMechanismList", KS_NO_SESSION, KS_NO_MECH,
                       get_mechanism_list(slotID, pMechanismList, pulCount));
}

static CK_RV get_mechanism_info(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
                                CK_MECHANISM_INFO_PTR pInfo)
{
    if (pInfo == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_token *tok = NULL;
    CK_RV rv = slot_token(slotID, &tok);
    if (rv != CKR_OK) {
        return rv;
    }
    CK_MECHANISM_TYPE listed;
    CK_MECHANISM_INFO info;
    rv = CKR_MECHANISM_INVALID;
    pthread_mutex_lock(&tok->lock); /* tok->cfg: a login may raise it to the token's floor */
    for (size_t i = 0; ks_mech_offer(tok->cfg, i, &listed, &info); i++) {
        if (listed == type) {
            *pInfo = info;
            rv = CKR_OK;
            break;
        }
    }
    pthread_mutex_unlock(&tok->lock);
    return rv;
}

KS_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
                                   CK_MECHANISM_INFO_PTR pInfo)
{
    return ks_p11_exit("C_GetMechanismInfo", KS_NO_SESSION, type,
                       get_mechanism_info(slotID, type, pInfo));
}

/* A new audit trail begins with every initialisation; its initial key goes to a file beside
 * the token database for the SO to move off the machine (token/audit.h). */
static CK_RV start_audit(ks_token *tok)
{
    if (strncmp(tok->path, ":memory:", 8) == 0) {
        return ks_audit_start(tok->store, NULL);
    }
    char key_path[PATH_MAX + 16];
    snprintf(key_path, sizeof(key_path), "%s.audit-key", tok->path);
    return ks_audit_start(tok->store, key_path);
}

/* 3.0 5.5 C_InitToken: refused while any session is open on the token; a fresh slot becomes
 * an initialised token and a new fresh slot appears at the next C_GetSlotList. */
static CK_RV init_token(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                        CK_UTF8CHAR_PTR pLabel)
{
    if (pLabel == NULL || (pPin == NULL && ulPinLen != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (pPin == NULL) {
        return CKR_PIN_INCORRECT; /* no protected authentication path */
    }
    if (ulPinLen < KS_MIN_PIN || ulPinLen > KS_MAX_PIN) {
        return CKR_PIN_LEN_RANGE;
    }
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = NULL;
    rv = ks_module_token(slotID, &tok);
    if (rv == CKR_OK && ks_module_sessions_of(tok, NULL, 0) > 0) {
        rv = CKR_SESSION_EXISTS;
    }
    if (rv == CKR_OK) {
        pthread_mutex_lock(&tok->lock);
        if (tok->store == NULL) {
            rv = ks_store_open(&tok->store, tok->path, 1, &ks_mod.cfg);
        }
        if (rv == CKR_OK) {
            rv = ks_store_init_token(tok->store, pPin, ulPinLen, (const char *)pLabel);
        }
        if (rv == CKR_OK) { /* the token keeps the policy it was made under (store.h) */
            rv = ks_store_policy_record(tok->store, ks_store_floor_of(tok->configured));
        }
        if (tok->store != NULL) {
            ks_token_apply_floor(tok);
        }
        if (rv == CKR_OK) {
            ks_token_logout(tok);
            ks_token_forget_cache(tok);
            rv = start_audit(tok);
        }
        if (tok->store != NULL) {
            ks_token_audit(tok, KS_AUDIT_INIT_TOKEN, 0, NULL, KS_NO_MECH, rv, "C_InitToken");
        }
        pthread_mutex_unlock(&tok->lock);
    }
    if (rv == CKR_OK) {
        rv = ks_module_refresh_slots();
    }
    ks_module_unlock();
    return rv;
}

KS_EXPORT CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                            CK_UTF8CHAR_PTR pLabel)
{
    return ks_p11_exit("C_InitToken", KS_NO_SESSION, KS_NO_MECH,
                       init_token(slotID, pPin, ulPinLen, pLabel));
}
