/* store_migrate.c - the MAC key at login, and the one-time migration of a store made before
 * the store was authenticated (docs/store.md).
 *
 * A store is authenticated from the moment it holds a sealed token id (meta auth_token_id):
 * C_InitToken writes one, and the first login on an older store writes one and authenticates
 * every row it finds, in one IMMEDIATE transaction (all or nothing; a second process waits on
 * the lock and then finds the token id). A store that holds authentication records (row MACs
 * or a census) without a token id, or whose key check (pin.c) is the version that marks an
 * authenticated store, was authenticated and has been stripped: it is refused, never
 * migrated again. Migration authenticates only what it can check: an object whose sealed value
 * does not open, or that holds a secret value unsealed, stays unauthenticated and is refused
 * when read.
 *
 * A store authenticated before the census carried a tag holds the bare sum: the login upgrades
 * it once to the tagged census if it verifies, and leaves it failing (so refused) if not. */
#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "token/store_internal.h"

static CK_RV count_rows(ks_store *s, const char *sql, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, sql);
    if (rv != CKR_OK) {
        return rv;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
    } else {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

/* One object: authenticated when every sealed value opens and no secret is unsealed. */
static CK_RV migrate_object(ks_store *s, const ks_gcm_key *gk, sqlite3_int64 handle,
                            const char uid[KS_UID_LEN])
{
    ks_attrs tmp;
    int missing = 0;
    ks_attrs_init(&tmp);
    CK_RV rv = ks_st_load_rows(s, gk, (CK_OBJECT_HANDLE)handle, &tmp, &missing, 0);
    int is_public = ks_st_is_public(&tmp);
    ks_attrs_free(&tmp);
    if (rv == CKR_DEVICE_ERROR) {
        s->fault[0] = '\0'; /* reported once, below, as not migrated */
        ks_st_fault(s, uid, "store: object %lld not authenticated at migration (damaged)",
                    (long long)handle);
        return CKR_OK;
    }
    return rv == CKR_OK ? ks_st_auth_object(s, handle, uid, is_public) : rv;
}

static CK_RV migrate_objects(ks_store *s, const ks_gcm_key *gk)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT handle, uid FROM objects ORDER BY handle");
    int rc = SQLITE_DONE;
    while (rv == CKR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char uid[KS_UID_LEN];
        if (sqlite3_column_bytes(st, 1) != KS_UID_LEN) {
            continue; /* cannot be loaded either: refused when read */
        }
        memcpy(uid, sqlite3_column_text(st, 1), KS_UID_LEN);
        rv = migrate_object(s, gk, sqlite3_column_int64(st, 0), uid);
    }
    if (rv == CKR_OK && rc != SQLITE_DONE) {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static CK_RV migrate_values(ks_store *s)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT handle, name, value FROM counters");
    int rc = SQLITE_DONE;
    while (rv == CKR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t ref[8 + KS_ST_NAME_MAX];
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        if (n == 0 || n > KS_ST_NAME_MAX) {
            continue;
        }
        ks_st_handle_ref(ref, (CK_OBJECT_HANDLE)sqlite3_column_int64(st, 0));
        memcpy(ref + 8, sqlite3_column_text(st, 1), n);
        rv = ks_st_auth_value_put(s, KS_ST_COUNTER, ref, 8 + n,
                                  (uint64_t)sqlite3_column_int64(st, 2));
    }
    if (rv == CKR_OK && rc != SQLITE_DONE) {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    if (rv == CKR_OK) {
        rv = ks_st_prepare(s, &st, "SELECT fp, role FROM value_roles");
    }
    while (rv == CKR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != 32) {
            continue;
        }
        rv = ks_st_auth_value_put(s, KS_ST_ROLE, sqlite3_column_blob(st, 0), 32,
                                  (uint64_t)sqlite3_column_int64(st, 1));
    }
    if (rv == CKR_OK && rc != SQLITE_DONE) {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

/* Inside the write transaction: a fresh token id, an empty census, then every row. */
static CK_RV migrate(ks_store *s, ks_st_auth *a, const uint8_t *token_key)
{
    uint8_t sealed[KS_ST_ID_SEALED_LEN], census_rec[KS_ST_CENSUS_LEN];
    int64_t macs = 0, census = 0, init = 0;
    CK_RV rv = count_rows(s, "SELECT count(*) FROM row_macs", &macs);
    if (rv == CKR_OK) {
        rv = count_rows(s, "SELECT count(*) FROM meta WHERE key = 'auth_census'", &census);
    }
    if (rv == CKR_OK && (macs > 0 || census > 0)) {
        ks_st_fault(s, NULL, "store: authentication records without a token id: refused"
                             " (an authenticated store is never migrated again)");
        return CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_get_int(s, "initialized", &init);
    }
    if (rv == CKR_OK && !init) {
        return CKR_USER_NOT_LOGGED_IN; /* no token key exists yet */
    }
    int version = 0;
    if (rv == CKR_OK) {
        rv = ks_st_key_check(s, token_key, &version);
    }
    if (rv == CKR_OK && version != 1) {
        /* The key check says the store was authenticated: its records were stripped. */
        ks_st_fault(s, NULL, "store: authenticated store without a token id: refused"
                             " (an authenticated store is never migrated again)");
        return CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        rv = ks_st_key_check_authenticated(s, token_key);
    }
    if (rv == CKR_OK) {
        rv = ks_st_auth_seal_id(sealed, census_rec, token_key);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_blob(s, "auth_token_id", sealed, sizeof(sealed));
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_blob(s, "auth_census", census_rec, sizeof(census_rec));
    }
    if (rv == CKR_OK) {
        rv = ks_st_auth_open(a, sealed);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    s->auth = a;
    s->census_ok = 0;
    ks_gcm_key gk;
    if (ks_gcm_init(&gk, token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    rv = migrate_objects(s, &gk);
    ks_gcm_clear(&gk);
    return rv == CKR_OK ? migrate_values(s) : rv;
}

/* Reads the sealed token id; *found = 0 when the store has none. */
static CK_RV read_id(ks_store *s, uint8_t sealed[KS_ST_ID_SEALED_LEN], int *found)
{
    return ks_st_meta_get_blob(s, "auth_token_id", sealed, KS_ST_ID_SEALED_LEN, found);
}

/* A key that is not this token's (stale after C_InitToken, or wrong) is the caller's error;
 * the token's own key that does not open the token id means the id was altered. */
static CK_RV open_existing(ks_store *s, ks_st_auth *a, const uint8_t *sealed)
{
    CK_RV rv = ks_st_auth_open(a, sealed);
    if (rv == CKR_DEVICE_ERROR) {
        CK_RV check = ks_st_key_check(s, a->token_key, NULL);
        if (check != CKR_OK) {
            return check;
        }
        ks_st_fault(s, NULL, "store: the token id does not open under the token key");
    }
    return rv;
}

CK_RV ks_st_auth_ready(ks_store *s, const uint8_t *token_key)
{
    if (s->auth != NULL && ks_memeq(s->auth->token_key, token_key, KS_TOKEN_KEY_LEN)) {
        return CKR_OK;
    }
    ks_st_auth_drop(s);
    ks_st_auth *a = ks_secure_alloc(sizeof(*a));
    if (a == NULL) {
        return CKR_HOST_MEMORY;
    }
    memcpy(a->token_key, token_key, KS_TOKEN_KEY_LEN);
    uint8_t sealed[KS_ST_ID_SEALED_LEN];
    int found = 0;
    CK_RV rv = ks_st_begin(s, 0);
    if (rv == CKR_OK) {
        rv = read_id(s, sealed, &found);
        if (rv == CKR_OK) {
            rv = ks_st_commit(s);
        } else {
            ks_st_rollback(s);
        }
    }
    if (rv == CKR_OK && found) {
        rv = open_existing(s, a, sealed);
    } else if (rv == CKR_OK) {
        /* Migrate under the write lock; another process may have done it meanwhile. */
        rv = ks_st_begin(s, 1);
        if (rv == CKR_OK) {
            rv = read_id(s, sealed, &found);
        }
        if (rv == CKR_OK) {
            rv = found ? open_existing(s, a, sealed) : migrate(s, a, token_key);
        }
        s->auth = NULL; /* set below, once committed */
        if (rv == CKR_OK) {
            rv = ks_st_commit(s);
        } else {
            ks_st_rollback(s);
        }
    }
    if (rv != CKR_OK) {
        ks_secure_free(a, sizeof(*a));
        return rv;
    }
    s->auth = a;
    s->census_ok = 0;
    return CKR_OK;
}

/* A census in the earlier, untagged format (written before the census carried a tag) is
 * upgraded once, under the write lock, if it verifies; ks_st_census_upgrade leaves a tagged
 * one alone, so this costs one meta read per login. */
static CK_RV upgrade_census(ks_store *s)
{
    uint8_t old[KS_SHA256_LEN];
    int found = 0;
    CK_RV rv = ks_st_begin(s, 0);
    if (rv == CKR_OK) {
        rv = ks_st_meta_get_blob(s, "auth_census", old, sizeof(old), &found);
        ks_st_commit(s);
    }
    if (rv != CKR_OK || !found) {
        return rv;
    }
    rv = ks_st_begin(s, 1);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = ks_st_census_upgrade(s);
    if (rv == CKR_OK) {
        return ks_st_commit(s);
    }
    ks_st_rollback(s);
    return rv;
}

CK_RV ks_st_auth_login(ks_store *s, const uint8_t *token_key)
{
    pthread_mutex_lock(&s->core->lock);
    CK_RV rv = ks_st_auth_ready(s, token_key);
    /* An untagged census that does not verify is reported below like any census mismatch. */
    CK_RV up = rv == CKR_OK ? upgrade_census(s) : CKR_OK;
    if (rv == CKR_OK && up != CKR_DEVICE_ERROR && ks_st_begin(s, 0) == CKR_OK) {
        /* A mismatch is reported (log, audit) but the login stands: every row is still
         * checked on its own when read, and absent counters and roles are refused. */
        (void)ks_st_census_verify(s);
        ks_st_commit(s);
    }
    pthread_mutex_unlock(&s->core->lock);
    ks_st_fault_report(s);
    return rv;
}
