/* store_policy.c - the token's policy floor: the wrap policy and the audit-failure setting the
 * SO's configuration had when the token was initialised, so that a process started with a
 * weaker configuration of its own (KEYSTEAD_CONF is the caller's) cannot turn them off
 * (README, "Configuration" and "Wrap policy").
 *
 * meta "policy_floor" holds the KS_FLOOR_* bits (set = the stricter setting). C_InitToken
 * writes it plain (the token key exists only inside ks_store_init_token); the SO's next login
 * authenticates it as a row_macs entry of kind KS_ST_META (store_auth.c, in the census), and
 * records one for a token made before floors. Every read fails closed: absent, not a floor,
 * or (once the MAC key is known) unauthenticated or altered reads as KS_FLOOR_ALL. Before any
 * login nothing can be verified, so the stored value serves until the first login. */
#include <string.h>

#include "token/store_internal.h"

static const char FLOOR_KEY[] = "policy_floor";

unsigned ks_store_floor_of(const ks_config *cfg)
{
    unsigned floor = 0;
    if (cfg->wrap_policy != KS_WRAP_POLICY_COMPAT) {
        floor |= KS_FLOOR_STRICT_WRAP;
    }
    if (!cfg->audit_failure_log) {
        floor |= KS_FLOOR_AUDIT_REFUSE;
    }
    return floor;
}

/* The stored value: *present = 0 when absent; *value = KS_FLOOR_ALL when it is not a floor. */
static CK_RV read_plain(ks_store *s, int *present, int64_t *value)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT value FROM meta WHERE key = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_text(st, 1, FLOOR_KEY, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *present = rc == SQLITE_ROW;
    *value = KS_FLOOR_ALL;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        int64_t v = sqlite3_column_int64(st, 0);
        if (v >= 0 && v <= (int64_t)KS_FLOOR_ALL) {
            *value = v;
        }
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static CK_RV has_mac(ks_store *s, int *found)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT 1 FROM row_macs WHERE kind = ? AND ref = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int(st, 1, KS_ST_META);
    sqlite3_bind_blob(st, 2, FLOOR_KEY, (int)strlen(FLOOR_KEY), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    ks_st_finish(s, st);
    *found = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
}

/* Inside a transaction: the floor as read (see store.h); *authentic = 1 when its MAC verified. */
static CK_RV floor_locked(ks_store *s, unsigned *floor, int *present, int64_t *plain,
                          int *authentic)
{
    *authentic = 0;
    *floor = KS_FLOOR_ALL;
    CK_RV rv = read_plain(s, present, plain);
    if (rv != CKR_OK || !*present) {
        return rv;
    }
    if (s->auth == NULL) {
        *floor = (unsigned)*plain; /* before any login: nothing can be verified */
        return CKR_OK;
    }
    int found = 0;
    rv = has_mac(s, &found);
    if (rv != CKR_OK || !found) {
        return rv; /* not authenticated yet (until the SO's login): the strictest */
    }
    if (ks_st_auth_value_check(s, KS_ST_META, (const uint8_t *)FLOOR_KEY, strlen(FLOOR_KEY), 1,
                               (uint64_t)*plain, "the token's policy floor") == CKR_OK) {
        *floor = (unsigned)*plain;
        *authentic = 1;
    }
    return CKR_OK;
}

CK_RV ks_store_policy_floor(ks_store *store, unsigned *floor)
{
    if (store == NULL || floor == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    int present = 0, authentic = 0;
    int64_t plain = 0;
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = ks_st_begin(store, 0);
    if (rv == CKR_OK) {
        rv = floor_locked(store, floor, &present, &plain, &authentic);
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    if (rv != CKR_OK) {
        *floor = KS_FLOOR_ALL;
    }
    return rv;
}

CK_RV ks_store_policy_record(ks_store *store, unsigned floor)
{
    if (store == NULL || floor > KS_FLOOR_ALL) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = ks_st_begin(store, 1);
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_int(store, FLOOR_KEY, (int64_t)floor);
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    return rv;
}

CK_RV ks_store_policy_adopt(ks_store *store, unsigned cfg_floor)
{
    if (store == NULL || cfg_floor > KS_FLOOR_ALL) {
        return CKR_ARGUMENTS_BAD;
    }
    unsigned floor = 0;
    int present = 0, authentic = 0;
    int64_t plain = 0;
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = store->auth == NULL ? CKR_USER_NOT_LOGGED_IN : ks_st_begin(store, 1);
    if (rv == CKR_OK) {
        rv = floor_locked(store, &floor, &present, &plain, &authentic);
        if (rv == CKR_OK && !authentic) {
            uint64_t value = cfg_floor | (present ? (unsigned)plain : 0u);
            rv = ks_st_meta_set_int(store, FLOOR_KEY, (int64_t)value);
            if (rv == CKR_OK) {
                rv = ks_st_auth_value_put(store, KS_ST_META, (const uint8_t *)FLOOR_KEY,
                                          strlen(FLOOR_KEY), value);
            }
        }
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    return rv;
}
