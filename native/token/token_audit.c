/* token_audit.c - what the running token writes to its audit trail, and the key-use counts
 * it batches (see token/audit.h). Called with tok->lock held. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "token/log.h"
#include "token/token.h"

#define KS_UID_FIELD (KS_UID_LEN + 1)

typedef struct ks_use_count {
    CK_SESSION_HANDLE session;
    char uid[KS_UID_FIELD];
    const char *fn;           /* a static string */
    CK_MECHANISM_TYPE mech;
    uint64_t count;
} ks_use_count;

static int64_t now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

void ks_token_uid(const ks_attrs *obj, char out[KS_UID_LEN + 1])
{
    out[0] = '\0';
    const ks_attr *a = obj ? ks_attrs_find(obj, CKA_UNIQUE_ID) : NULL;
    if (a != NULL && a->len <= KS_UID_LEN) {
        memcpy(out, a->value, a->len);
        out[a->len] = '\0';
    }
}

/* What a record that could not be written means for its operation: refused (the default),
 * or, with audit_failure = log, only a line in the log. */
static CK_RV unrecorded(const ks_token *tok, const char *what)
{
    ks_log_message(KS_LOG_ERROR, what);
    return tok->cfg->audit_failure_log ? CKR_OK : CKR_DEVICE_ERROR;
}

CK_RV ks_token_audit(ks_token *tok, ks_audit_event event, CK_SESSION_HANDLE session,
                     const ks_attrs *obj, CK_MECHANISM_TYPE mech, CK_RV rv, const char *detail)
{
    char uid[KS_UID_FIELD];
    ks_token_uid(obj, uid);
    return ks_token_audit_uid(tok, event, session, uid, mech, rv, detail);
}

CK_RV ks_token_audit_ready(ks_token *tok)
{
    if (tok->store == NULL || ks_audit_ready(tok->store) == CKR_OK) {
        return CKR_OK;
    }
    return unrecorded(tok, "audit: the token's trail cannot be written");
}

CK_RV ks_token_audit_adopt(ks_token *tok)
{
    if (tok->store == NULL || strncmp(tok->path, ":memory:", 8) == 0) {
        return CKR_OK;
    }
    char key_path[PATH_MAX + 16];
    if (snprintf(key_path, sizeof(key_path), "%s.audit-key", tok->path) >=
        (int)sizeof(key_path)) {
        return CKR_DEVICE_ERROR;
    }
    return ks_audit_adopt(tok->store, key_path);
}

CK_RV ks_token_audit_uid(ks_token *tok, ks_audit_event event, CK_SESSION_HANDLE session,
                         const char *uid, CK_MECHANISM_TYPE mech, CK_RV rv, const char *detail)
{
    if (tok->store == NULL) {
        return CKR_OK;
    }
    ks_audit_entry e = {
        .event = event,
        .user = tok->login,
        .session = session,
        .object = uid,
        .mechanism = mech,
        .rv = rv,
        .count = 1,
        .detail = detail,
    };
    if (ks_audit_append(tok->store, &e) != CKR_OK) {
        return unrecorded(tok, "audit: could not append a record to the token's trail");
    }
    return CKR_OK;
}

static CK_RV write_use(ks_token *tok, const ks_use_count *u)
{
    ks_audit_entry e = {
        .event = KS_AUDIT_USE,
        .user = tok->login,
        .session = u->session,
        .object = u->uid,
        .mechanism = u->mech,
        .rv = CKR_OK,
        .count = u->count,
        .detail = u->fn,
    };
    if (tok->store != NULL && ks_audit_append(tok->store, &e) != CKR_OK) {
        return unrecorded(tok, "audit: could not append a key-use record");
    }
    return CKR_OK;
}

/* Counts that cannot be written stay pending (unless audit_failure = log), to be written
 * when the trail can take them again; meanwhile ks_token_audit_use refuses new uses. */
void ks_token_audit_flush(ks_token *tok, CK_SESSION_HANDLE session)
{
    size_t kept = 0;
    for (size_t i = 0; i < tok->use_count; i++) {
        ks_use_count *u = &tok->uses[i];
        if ((session == 0 || u->session == session) && write_use(tok, u) == CKR_OK) {
            continue;
        }
        tok->uses[kept++] = *u;
    }
    tok->use_count = kept;
    if (kept == 0) {
        tok->uses_since = 0;
    }
}

void ks_token_audit_tick(ks_token *tok)
{
    if (tok->use_count > 0 && now_seconds() - tok->uses_since >= 1) {
        ks_token_audit_flush(tok, 0);
    }
}

static ks_use_count *slot_for(ks_token *tok, CK_SESSION_HANDLE session, const char *uid,
                              const char *fn, CK_MECHANISM_TYPE mech)
{
    for (size_t i = 0; i < tok->use_count; i++) {
        ks_use_count *u = &tok->uses[i];
        if (u->session == session && u->fn == fn && u->mech == mech && strcmp(u->uid, uid) == 0) {
            return u;
        }
    }
    if (tok->use_count == tok->use_cap) {
        size_t cap = tok->use_cap ? tok->use_cap * 2 : 16;
        ks_use_count *grown = realloc(tok->uses, cap * sizeof(*grown));
        if (grown == NULL) {
            return NULL;
        }
        tok->uses = grown;
        tok->use_cap = cap;
    }
    ks_use_count *u = &tok->uses[tok->use_count++];
    memset(u, 0, sizeof(*u));
    u->session = session;
    snprintf(u->uid, sizeof(u->uid), "%s", uid);
    u->fn = fn;
    u->mech = mech;
    return u;
}

CK_RV ks_token_audit_use(ks_token *tok, CK_SESSION_HANDLE session, const ks_object *key,
                         const char *fn, CK_MECHANISM_TYPE mech)
{
    char uid[KS_UID_FIELD];
    ks_token_uid(key ? &key->attrs : NULL, uid);
    if (tok->cfg->audit_mode == KS_AUDIT_PER_OP) {
        ks_use_count one = {.session = session, .fn = fn, .mech = mech, .count = 1};
        snprintf(one.uid, sizeof(one.uid), "%s", uid);
        return write_use(tok, &one);
    }
    /* The count is written later: a use starts only while the trail can take records. */
    CK_RV rv = ks_token_audit_ready(tok);
    if (rv != CKR_OK) {
        return rv;
    }
    int64_t now = now_seconds();
    ks_use_count *u = slot_for(tok, session, uid, fn, mech);
    if (u == NULL) {
        ks_use_count one = {.session = session, .fn = fn, .mech = mech, .count = 1};
        snprintf(one.uid, sizeof(one.uid), "%s", uid);
        return write_use(tok, &one); /* no memory for batching: record it alone */
    }
    u->count++;
    if (tok->uses_since == 0) {
        tok->uses_since = now;
    }
    if (now - tok->uses_since >= 1) {
        ks_token_audit_flush(tok, 0);
    }
    return CKR_OK;
}
