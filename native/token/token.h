/* token.h - a token as the running module holds it: its store, the login state shared by all
 * of the application's sessions (PKCS#11 3.0 5.6), the token key while someone is logged in,
 * the token-object cache and the session objects.
 *
 * Locking: token->lock guards every field; it is taken after the module lock and before a
 * session lock is never required (sessions are locked first, then the token, when both). */
#ifndef KS_TOKEN_TOKEN_H
#define KS_TOKEN_TOKEN_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"
#include "token/audit.h"
#include "token/config.h"
#include "token/object.h"
#include "token/role_cache.h"
#include "token/rules.h"
#include "token/store.h"

#define KS_CACHE_BUCKETS 1024
#define KS_UID_POOL (16 * 64) /* 64 unique IDs of 128 random bits */

typedef struct ks_token {
    CK_SLOT_ID slot_id;
    char path[PATH_MAX];
    const ks_config *cfg;         /* &effective: this token's configuration in force */
    const ks_config *configured;  /* the process's configuration (KEYSTEAD_CONF) */
    ks_config effective;          /* configured, raised to the token's policy floor */
    unsigned floor_raised;        /* KS_FLOOR_* bits the floor raised (logged once each) */
    pthread_mutex_t lock;
    ks_store *store;              /* NULL until initialised (fresh slot) */
    CK_USER_TYPE login;           /* (CK_ULONG)-1 when nobody is logged in */
    uint8_t *token_key;           /* KS_TOKEN_KEY_LEN bytes, secure memory, while logged in */
    unsigned long login_epoch;    /* bumped at every logout: ends operations that needed it */
    ks_object *cache[KS_CACHE_BUCKETS]; /* token objects by handle */
    ks_object *retired;           /* cached objects dropped after another process wrote; a
                                   * call may still hold one, so freed only at a call's
                                   * start (ks_token_purge_retired) */
    ks_object **session_buckets;  /* all sessions' session objects by handle: chains in
                                   * session_nbuckets buckets (a power of two, NULL while
                                   * none was ever made), see token.c */
    size_t session_nbuckets;
    size_t session_object_count;
    CK_ULONG next_session_object;
    CK_ULONG session_count;
    CK_ULONG rw_session_count;
    struct ks_use_count *uses;    /* key-use counts not yet written to the audit trail */
    size_t use_count;
    size_t use_cap;
    int64_t uses_since;           /* monotonic seconds of the oldest unwritten count */
    struct ks_lease *leases;      /* usage counts reserved in the store, not yet used */
    size_t lease_count;
    size_t lease_cap;
    ks_role_cache roles;          /* the wrap policy's roles of values, as the store holds
                                   * them (role_cache.h); wiped with the token key */
    uint8_t uid_pool[KS_UID_POOL]; /* random bytes for session objects' CKA_UNIQUE_ID, drawn
                                    * in batches (token.c, random_uid) */
    size_t uid_pool_left;         /* unused bytes at the end of uid_pool */
} ks_token;

CK_RV ks_token_new(ks_token **out, CK_SLOT_ID slot_id, const char *path, int initialized,
                   const ks_config *cfg);
void ks_token_free(ks_token *tok);
/* ks_token_purge_retired frees the retired cache objects; the caller holds tok->lock and no
 * object pointer (the start of a call: pointers never outlive the lock's holding). */
void ks_token_purge_retired(ks_token *tok);

/* Everything below is called with tok->lock held. */

/* ks_token_apply_floor makes tok->cfg the process's configuration raised to the policy floor
 * the token recorded (store.h, ks_store_policy_floor): a weaker wrap_policy or audit_failure
 * gives way to the token's, with one line in the log when that changes. The configuration may
 * always be stricter than the floor. Called at open, after C_InitToken and after each login. */
void ks_token_apply_floor(ks_token *tok);

/* ks_token_rule_ctx describes the login state for the attribute rules. */
ks_rule_ctx ks_token_rule_ctx(const ks_token *tok, CK_MECHANISM_TYPE mechanism);

/* ks_token_get finds an object visible to the session (private ones only when the user is
 * logged in). CKR_OBJECT_HANDLE_INVALID otherwise. The object stays owned by the token. */
CK_RV ks_token_get(ks_token *tok, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE handle,
                   ks_object **out);

/* ks_token_add stores a new object (token or session by its CKA_TOKEN) after the permission
 * checks of C_CreateObject: CKR_SESSION_READ_ONLY, CKR_USER_NOT_LOGGED_IN. */
CK_RV ks_token_add(ks_token *tok, CK_SESSION_HANDLE session, int rw, ks_attrs *attrs,
                   CK_OBJECT_HANDLE *handle_out);

/* ks_token_update replaces an object's attributes (all or nothing). */
CK_RV ks_token_update(ks_token *tok, int rw, ks_object *obj, const ks_attrs *attrs);

/* ks_token_remove destroys an object (its value wiped from memory and store). */
CK_RV ks_token_remove(ks_token *tok, int rw, ks_object *obj);

/* ks_token_find lists the handles of visible objects matching tmpl. *out is malloc'd. */
CK_RV ks_token_find(ks_token *tok, CK_SESSION_HANDLE session, const CK_ATTRIBUTE *tmpl,
                    CK_ULONG count, CK_OBJECT_HANDLE **out, size_t *out_count);

/* ks_token_drop_session_objects destroys the session objects of one session. */
void ks_token_drop_session_objects(ks_token *tok, CK_SESSION_HANDLE session);

/* ks_token_forget_cache drops cached token objects (after login/logout or outside writes). */
void ks_token_forget_cache(ks_token *tok);

/* ks_token_audit appends one record to the token's audit trail (see token/audit.h); obj may
 * be NULL. A record that cannot be written is logged and answers CKR_DEVICE_ERROR: the
 * caller then refuses its operation and undoes its effect (docs/robustness-2.md, "an audit
 * that fails closed"). With audit_failure = log it answers CKR_OK. */
CK_RV ks_token_audit(ks_token *tok, ks_audit_event event, CK_SESSION_HANDLE session,
                     const ks_attrs *obj, CK_MECHANISM_TYPE mech, CK_RV rv, const char *detail);

/* ks_token_audit_uid is ks_token_audit for an object known by its CKA_UNIQUE_ID. */
CK_RV ks_token_audit_uid(ks_token *tok, ks_audit_event event, CK_SESSION_HANDLE session,
                         const char *uid, CK_MECHANISM_TYPE mech, CK_RV rv, const char *detail);

/* ks_token_audit_ready: CKR_OK when a record could be written now, else as ks_token_audit
 * for a record that failed. For operations that cannot be undone once done (a PIN change,
 * an attribute change): checked before they start. */
CK_RV ks_token_audit_ready(ks_token *tok);

/* ks_token_audit_adopt gives a token made before tokens had an audit trail its trail (and
 * initial key file), at the SO's login; nothing when the token has or had one. */
CK_RV ks_token_audit_adopt(ks_token *tok);

/* ks_token_uid copies an object's CKA_UNIQUE_ID into uid ("" when it has none). */
void ks_token_uid(const ks_attrs *obj, char uid[KS_UID_LEN + 1]);

/* ks_token_audit_use counts one use of a key (fn: "C_EncryptInit", ...), or records it at
 * once with audit_mode = per-op. Counts are written at least every second while calls
 * continue, and by ks_token_audit_flush. Not CKR_OK (as ks_token_audit): the use must not
 * start (the record failed, or the trail cannot take the count). */
CK_RV ks_token_audit_use(ks_token *tok, CK_SESSION_HANDLE session, const ks_object *key,
                         const char *fn, CK_MECHANISM_TYPE mech);

/* ks_token_audit_tick writes pending counts older than a second. */
void ks_token_audit_tick(ks_token *tok);

/* ks_token_audit_flush writes the counts of one session (0: all sessions). */
void ks_token_audit_flush(ks_token *tok, CK_SESSION_HANDLE session);

/* ks_token_logout wipes the token key and forgets the login. */
void ks_token_logout(ks_token *tok);

#endif
