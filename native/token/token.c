/* token.c - one token at run time: login state, token-object cache, session objects. */
#include "token/token.h"
#include "keystead.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "crypto/rand.h"
#include "token/log.h"
#include "token/pair_policy.h"
#include "token/policy.h"

#define NO_LOGIN ((CK_USER_TYPE)-1)

CK_RV ks_token_new(ks_token **out, CK_SLOT_ID slot_id, const char *path, int initialized,
                   const ks_config *cfg)
{
    ks_token *tok = calloc(1, sizeof(*tok));
    if (tok == NULL) {
        return CKR_HOST_MEMORY;
    }
    if (pthread_mutex_init(&tok->lock, NULL) != 0) {
        free(tok);
        return CKR_CANT_LOCK;
    }
    tok->slot_id = slot_id;
    tok->configured = cfg;
    tok->effective = *cfg;
    tok->cfg = &tok->effective;
    tok->login = NO_LOGIN;
    tok->next_session_object = 1;
    snprintf(tok->path, sizeof(tok->path), "%s", path);
    if (initialized) {
        CK_RV rv = ks_store_open(&tok->store, tok->path, 0, cfg);
        if (rv != CKR_OK) {
            pthread_mutex_destroy(&tok->lock);
            free(tok);
            return rv;
        }
        ks_token_apply_floor(tok);
    }
    *out = tok;
    return CKR_OK;
}

void ks_token_apply_floor(ks_token *tok)
{
    unsigned floor = 0;
    if (tok->store != NULL) {
        (void)ks_store_policy_floor(tok->store, &floor); /* fails closed: KS_FLOOR_ALL */
    }
    unsigned raised = floor & ~ks_store_floor_of(tok->configured);
    ks_wrap_policy wrap =
        raised & KS_FLOOR_STRICT_WRAP ? KS_WRAP_POLICY_STRICT : tok->configured->wrap_policy;
    int log_only = raised & KS_FLOOR_AUDIT_REFUSE ? 0 : tok->configured->audit_failure_log;
    if (tok->effective.wrap_policy != wrap) { /* written only when it changes */
        tok->effective.wrap_policy = wrap;
    }
    if (tok->effective.audit_failure_log != log_only) {
        tok->effective.audit_failure_log = log_only;
    }
    if ((raised & ~tok->floor_raised) != 0) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "policy: the token in slot %lu was initialised under a stricter configuration;"
                 " it keeps%s%s although this process's configuration says otherwise",
                 (unsigned long)tok->slot_id,
                 raised & KS_FLOOR_STRICT_WRAP ? " wrap_policy = strict" : "",
                 raised & KS_FLOOR_AUDIT_REFUSE
                     ? (raised & KS_FLOOR_STRICT_WRAP ? " and audit_failure = refuse"
                                                      : " audit_failure = refuse")
                     : "");
        ks_log_message(KS_LOG_ERROR, msg);
    }
    tok->floor_raised = raised;
}

static void free_chain(ks_object *obj)
{
    while (obj != NULL) {
        ks_object *next = obj->next;
        ks_object_free(obj);
        obj = next;
    }
}

void ks_token_purge_retired(ks_token *tok)
{
    ks_object *dead = __atomic_exchange_n(&tok->retired, NULL, __ATOMIC_RELAXED);
    free_chain(dead);
}

/* Called where no object pointer is held (login, logout, C_InitToken, teardown). */
void ks_token_forget_cache(ks_token *tok)
{
    for (size_t b = 0; b < KS_CACHE_BUCKETS; b++) {
        free_chain(tok->cache[b]);
        tok->cache[b] = NULL;
    }
    ks_token_purge_retired(tok);
}

/* Drop every cached object without freeing it: the call in progress may hold one it looked
 * up before this (C_WrapKey holds the wrapping key while it looks up the key to wrap; an
 * unwrap holds its unwrapping key while it stores the new token key). They are freed at the
 * start of a later call (ks_token_purge_retired, from ks_session_acquire). */
static void retire_cache(ks_token *tok)
{
    ks_object *list = tok->retired;
    for (size_t b = 0; b < KS_CACHE_BUCKETS; b++) {
        ks_object *obj = tok->cache[b];
        while (obj != NULL) {
            ks_object *next = obj->next;
            obj->next = list;
            list = obj;
            obj = next;
        }
        tok->cache[b] = NULL;
    }
    __atomic_store_n(&tok->retired, list, __ATOMIC_RELAXED);
}

/* Session objects live in a hash table by handle: C_UnwrapKey or C_GenerateKey into session
 * objects by the thousand must not cost a list walk per handle lookup or destroy. Handles
 * are KS_SESSION_OBJECT_BIT | a counter, so the counter's low bits spread them evenly. The
 * table doubles past two objects per bucket; growing is best effort (a failed growth leaves
 * longer chains, never a lost object). */
enum { SESSION_BUCKETS_MIN = 64, SESSION_LOAD = 2 };

static ks_object **session_chain(const ks_token *tok, CK_OBJECT_HANDLE handle)
{
    return &tok->session_buckets[handle & (tok->session_nbuckets - 1)];
}

static void session_rehash(ks_token *tok, size_t nbuckets)
{
    ks_object **grown = calloc(nbuckets, sizeof(*grown));
    if (grown == NULL) {
        return;
    }
    for (size_t b = 0; b < tok->session_nbuckets; b++) {
        ks_object *obj = tok->session_buckets[b];
        while (obj != NULL) {
            ks_object *next = obj->next;
            ks_object **chain = &grown[obj->handle & (nbuckets - 1)];
            obj->next = *chain;
            *chain = obj;
            obj = next;
        }
    }
    free(tok->session_buckets);
    tok->session_buckets = grown;
    tok->session_nbuckets = nbuckets;
}

static CK_RV session_insert(ks_token *tok, ks_object *obj)
{
    if (tok->session_buckets == NULL) {
        session_rehash(tok, SESSION_BUCKETS_MIN);
        if (tok->session_buckets == NULL) {
            return CKR_HOST_MEMORY;
        }
    } else if (tok->session_object_count >= SESSION_LOAD * tok->session_nbuckets &&
               tok->session_nbuckets <= SIZE_MAX / 2 / sizeof(ks_object *)) {
        session_rehash(tok, tok->session_nbuckets * 2);
    }
    ks_object **chain = session_chain(tok, obj->handle);
    obj->next = *chain;
    *chain = obj;
    tok->session_object_count++;
    return CKR_OK;
}

static ks_object *session_lookup(const ks_token *tok, CK_OBJECT_HANDLE handle)
{
    if (tok->session_buckets == NULL) {
        return NULL;
    }
    ks_object *obj = *session_chain(tok, handle);
    while (obj != NULL && obj->handle != handle) {
        obj = obj->next;
    }
    return obj;
}

static void session_unlink(ks_token *tok, ks_object *obj)
{
    ks_object **link = session_chain(tok, obj->handle);
    while (*link != NULL && *link != obj) {
        link = &(*link)->next;
    }
    if (*link == obj) {
        *link = obj->next;
        tok->session_object_count--;
    }
}

enum { DROP_ALL, DROP_PRIVATE, DROP_OWNED };

/* drop_session_objects frees every session object (DROP_ALL), the private ones, or those
 * owned by one session; the table itself goes when no object is left. */
static void drop_session_objects(ks_token *tok, int which, CK_SESSION_HANDLE owner)
{
    for (size_t b = 0; b < tok->session_nbuckets; b++) {
        ks_object **link = &tok->session_buckets[b];
        while (*link != NULL) {
            ks_object *obj = *link;
            int doomed = which == DROP_ALL ||
                         (which == DROP_PRIVATE && ks_object_is_private(obj)) ||
                         (which == DROP_OWNED && obj->owner == owner);
            if (doomed) {
                *link = obj->next;
                tok->session_object_count--;
                ks_object_free(obj);
            } else {
                link = &obj->next;
            }
        }
    }
    if (tok->session_object_count == 0) {
        free(tok->session_buckets);
        tok->session_buckets = NULL;
        tok->session_nbuckets = 0;
    }
}

void ks_token_logout(ks_token *tok)
{
    ks_role_cache_clear(&tok->roles); /* fingerprints under the token key that goes */
    if (tok->token_key != NULL) {
        ks_secure_free(tok->token_key, KS_TOKEN_KEY_LEN);
        tok->token_key = NULL;
        ks_store_forget_key(tok->store); /* its MAC key too */
    }
    if (tok->login != NO_LOGIN) {
        tok->login = NO_LOGIN;
        tok->login_epoch++;
        ks_token_forget_cache(tok);
        /* PKCS#11 3.0 5.6 C_Logout: all private session objects of the application's
         * sessions are destroyed. */
        drop_session_objects(tok, DROP_PRIVATE, 0);
    }
}

void ks_token_free(ks_token *tok)
{
    if (tok == NULL) {
        return;
    }
    ks_token_audit_flush(tok, 0);
    ks_policy_return_leases(tok);
    free(tok->uses);
    free(tok->leases);
    ks_token_logout(tok);
    ks_token_forget_cache(tok);
    drop_session_objects(tok, DROP_ALL, 0);
    if (tok->store != NULL) {
        ks_store_close(tok->store);
    }
    pthread_mutex_destroy(&tok->lock);
    free(tok);
}

ks_rule_ctx ks_token_rule_ctx(const ks_token *tok, CK_MECHANISM_TYPE mechanism)
{
    ks_rule_ctx ctx = {
        .so = tok->login == CKU_SO,
        .user = tok->login == CKU_USER || tok->login == CKU_KS_MANAGER,
        .mechanism = mechanism,
        .manager = tok->login == CKU_KS_MANAGER,
        .one_purpose = tok->cfg != NULL && tok->cfg->wrap_policy != KS_WRAP_POLICY_COMPAT,
    };
    return ctx;
}

static size_t cache_bucket(CK_OBJECT_HANDLE h)
{
    return (size_t)((h * 0x9E3779B97F4A7C15ULL) >> 54) % KS_CACHE_BUCKETS;
}

static int visible(const ks_token *tok, const ks_object *obj)
{
    return !ks_object_is_private(obj) || tok->login == CKU_USER ||
           tok->login == CKU_KS_MANAGER;
}

/* Outside writes (another process) make every cached object suspect. */
static void refresh(ks_token *tok)
{
    if (tok->store != NULL && ks_store_changed(tok->store)) {
        retire_cache(tok);
    }
}

static CK_RV load_token_object(ks_token *tok, CK_OBJECT_HANDLE handle, ks_object **out)
{
    size_t b = cache_bucket(handle);
    for (ks_object *obj = tok->cache[b]; obj != NULL; obj = obj->next) {
        if (obj->handle == handle) {
            *out = obj;
            return CKR_OK;
        }
    }
    if (tok->store == NULL) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    ks_object *obj = ks_object_new();
    if (obj == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_RV rv = ks_store_load_object(tok->store, tok->token_key, handle, &obj->attrs,
                                    &obj->sealed_missing);
    if (rv != CKR_OK) {
        ks_object_free(obj);
        return rv;
    }
    obj->handle = handle;
    obj->is_token = 1;
    obj->next = tok->cache[b];
    tok->cache[b] = obj;
    *out = obj;
    return CKR_OK;
}

CK_RV ks_token_get(ks_token *tok, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE handle,
                   ks_object **out)
{
    (void)session; /* session objects are visible to all of the application's sessions */
    ks_object *obj = NULL;
    if (handle == CK_INVALID_HANDLE) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    if (handle & KS_SESSION_OBJECT_BIT) {
        obj = session_lookup(tok, handle);
        if (obj == NULL) {
            return CKR_OBJECT_HANDLE_INVALID;
        }
    } else {
        refresh(tok);
        ks_token_audit_tick(tok);
        CK_RV rv = load_token_object(tok, handle, &obj);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    if (!visible(tok, obj)) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    *out = obj;
    return CKR_OK;
}

/* A session object's CKA_UNIQUE_ID: 128 bits from the DRBG, as hex. The bits are drawn 64
 * IDs at a time: one libcrypto call per object (its locks, its fork check, its parameter
 * lookups) was a tenth of an unwrap-and-destroy. An ID is a public attribute, so holding the
 * next ones in memory reveals nothing; each is wiped from the pool when taken, and a forked
 * child's C_Initialize makes new tokens and so a new pool (token/module.c). */
static CK_RV random_uid(ks_token *tok, char uid[KS_UID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    enum { RAW = KS_UID_LEN / 2 };
    if (tok->uid_pool_left < RAW) {
        if (ks_random(tok->uid_pool, sizeof(tok->uid_pool)) != KS_OK) {
            tok->uid_pool_left = 0;
            return CKR_FUNCTION_FAILED;
        }
        tok->uid_pool_left = sizeof(tok->uid_pool);
    }
    uint8_t *raw = tok->uid_pool + (sizeof(tok->uid_pool) - tok->uid_pool_left);
    for (size_t i = 0; i < RAW; i++) {
        uid[2 * i] = hex[raw[i] >> 4];
        uid[2 * i + 1] = hex[raw[i] & 15];
    }
    uid[KS_UID_LEN] = '\0';
    ks_wipe(raw, RAW); /* each ID is given once */
    tok->uid_pool_left -= RAW;
    return CKR_OK;
}

CK_RV ks_token_add(ks_token *tok, CK_SESSION_HANDLE session, int rw, ks_attrs *attrs,
                   CK_OBJECT_HANDLE *handle_out)
{
    int is_token = ks_attrs_bool(attrs, CKA_TOKEN, CK_FALSE) == CK_TRUE;
    int is_private = ks_attrs_bool(attrs, CKA_PRIVATE, CK_TRUE) == CK_TRUE;
    /* PKCS#11 3.0 5.7 C_CreateObject: token objects need a R/W session, private objects a
     * normal user (the SO may create public objects only). */
    if (is_token && !rw) {
        return CKR_SESSION_READ_ONLY;
    }
    if (is_private && tok->login != CKU_USER && tok->login != CKU_KS_MANAGER) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    if (ks_pair_check_purpose(tok->cfg, NULL, attrs) != CKR_OK) {
        return CKR_TEMPLATE_INCONSISTENT; /* one key, one purpose (token/pair_policy.h) */
    }
    if (is_token) {
        if (tok->store == NULL) {
            return CKR_TOKEN_NOT_RECOGNIZED;
        }
        refresh(tok);
        return ks_store_put_object(tok->store, tok->token_key, attrs, handle_out);
    }
    char uid[KS_UID_LEN + 1];
    CK_RV rv = random_uid(tok, uid);
    if (rv == CKR_OK) {
        rv = ks_attrs_set(attrs, CKA_UNIQUE_ID, uid, KS_UID_LEN);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    ks_object *obj = ks_object_new();
    if (obj == NULL) {
        return CKR_HOST_MEMORY;
    }
    obj->attrs = *attrs; /* moved: the caller's set is emptied below */
    ks_attrs_init(attrs);
    obj->handle = KS_SESSION_OBJECT_BIT | tok->next_session_object++;
    obj->owner = session;
    rv = session_insert(tok, obj);
    if (rv != CKR_OK) {
        *attrs = obj->attrs; /* the caller keeps (and frees) its attributes as on any error */
        ks_attrs_init(&obj->attrs);
        ks_object_free(obj);
        return rv;
    }
    *handle_out = obj->handle;
    return CKR_OK;
}

CK_RV ks_token_update(ks_token *tok, int rw, ks_object *obj, const ks_attrs *attrs)
{
    if (ks_pair_check_purpose(tok->cfg, &obj->attrs, attrs) != CKR_OK) {
        return CKR_TEMPLATE_INCONSISTENT; /* one key, one purpose (token/pair_policy.h) */
    }
    ks_attrs copy;
    ks_attrs_init(&copy);
    CK_RV rv = ks_attrs_copy(&copy, attrs);
    if (rv != CKR_OK) {
        return rv;
    }
    if (obj->is_token) {
        if (!rw) {
            ks_attrs_free(&copy);
            return CKR_SESSION_READ_ONLY;
        }
        rv = ks_store_update_object(tok->store, tok->token_key, obj->handle, &copy);
        if (rv != CKR_OK) {
            ks_attrs_free(&copy);
            return rv;
        }
    }
    ks_attrs_free(&obj->attrs);
    obj->attrs = copy;
    ks_object_drop_prepared(obj); /* the next use prepares the key from the new attributes */
    return CKR_OK;
}

static void unlink_object(ks_object **head, ks_object *obj)
{
    while (*head != NULL && *head != obj) {
        head = &(*head)->next;
    }
    if (*head == obj) {
        *head = obj->next;
    }
}

CK_RV ks_token_remove(ks_token *tok, int rw, ks_object *obj)
{
    if (obj->is_token) {
        if (!rw) {
            return CKR_SESSION_READ_ONLY;
        }
        CK_RV rv = ks_store_delete_object(tok->store, obj->handle);
        if (rv != CKR_OK) {
            return rv;
        }
        unlink_object(&tok->cache[cache_bucket(obj->handle)], obj);
    } else {
        session_unlink(tok, obj);
    }
    ks_object_free(obj);
    return CKR_OK;
}

void ks_token_drop_session_objects(ks_token *tok, CK_SESSION_HANDLE session)
{
    drop_session_objects(tok, DROP_OWNED, session);
}

static CK_RV push_handle(CK_OBJECT_HANDLE **list, size_t *count, size_t *cap,
                         CK_OBJECT_HANDLE h)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        CK_OBJECT_HANDLE *grown = realloc(*list, ncap * sizeof(**list));
        if (grown == NULL) {
            return CKR_HOST_MEMORY;
        }
        *list = grown;
        *cap = ncap;
    }
    (*list)[(*count)++] = h;
    return CKR_OK;
}

static CK_RV find_token_objects(ks_token *tok, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                                CK_OBJECT_HANDLE **out, size_t *n, size_t *cap)
{
    CK_OBJECT_HANDLE *cand = NULL;
    size_t ncand = 0;
    CK_RV rv = ks_store_find(tok->store, tmpl, count, &cand, &ncand);
    for (size_t i = 0; rv == CKR_OK && i < ncand; i++) {
        ks_object *obj = NULL;
        CK_RV got = load_token_object(tok, cand[i], &obj);
        if (got == CKR_OBJECT_HANDLE_INVALID || got == CKR_DEVICE_ERROR) {
            /* destroyed by another process since the query, or refused by the store's
             * verification (reported there): the others still serve */
            continue;
        }
        if (got != CKR_OK) {
            rv = got;
            break;
        }
        if (visible(tok, obj) && ks_rules_match(&obj->attrs, tmpl, count)) {
            rv = push_handle(out, n, cap, obj->handle);
        }
    }
    free(cand);
    return rv;
}

static int newest_first(const void *a, const void *b)
{
    CK_OBJECT_HANDLE x = *(const CK_OBJECT_HANDLE *)a;
    CK_OBJECT_HANDLE y = *(const CK_OBJECT_HANDLE *)b;
    return (x < y) - (x > y);
}

CK_RV ks_token_find(ks_token *tok, CK_SESSION_HANDLE session, const CK_ATTRIBUTE *tmpl,
                    CK_ULONG count, CK_OBJECT_HANDLE **out, size_t *out_count)
{
    (void)session;
    CK_OBJECT_HANDLE *list = NULL;
    size_t n = 0;
    size_t cap = 0;
    CK_RV rv = CKR_OK;
    if (tok->store != NULL) {
        refresh(tok);
        rv = find_token_objects(tok, tmpl, count, &list, &n, &cap);
    }
    size_t first_session = n;
    for (size_t b = 0; rv == CKR_OK && b < tok->session_nbuckets; b++) {
        for (ks_object *obj = tok->session_buckets[b]; rv == CKR_OK && obj != NULL;
             obj = obj->next) {
            if (visible(tok, obj) && ks_rules_match(&obj->attrs, tmpl, count)) {
                rv = push_handle(&list, &n, &cap, obj->handle);
            }
        }
    }
    if (rv == CKR_OK && n - first_session > 1) {
        /* Newest first, the order of the list the table replaced. */
        qsort(list + first_session, n - first_session, sizeof(*list), newest_first);
    }
    if (rv != CKR_OK) {
        free(list);
        return rv;
    }
    *out = list;
    *out_count = n;
    return CKR_OK;
}
