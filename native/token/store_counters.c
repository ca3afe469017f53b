/* store_counters.c - persistent per-object counters (usage counts, GCM invocations), and the
 * wrap policy's record of the role fixed for each key value: both are read-check-write facts
 * that must be atomic across processes and never go back.
 *
 * The read-check-write of an add is one IMMEDIATE transaction, so two processes adding at
 * once are serialised by the database lock and neither add is lost; the commit is synced
 * (WAL, synchronous=FULL) before the call returns, so no crash makes a counter go backwards.
 * Values are unsigned 64-bit, held in SQLite's signed INTEGER by two's complement. Handle 0
 * names the token itself (counters that belong to no object): the roles of key values
 * ("role:<fingerprint>") and the usage counts of key values ("use:<fingerprint>"). Every row
 * is authenticated (store_auth: its MAC written in the same transaction, checked on read). */
#include <stdio.h>
#include <string.h>

#include "token/store_internal.h"

/* The counter's authentication ref: handle (8 bytes big-endian) || name. */
static size_t counter_ref(uint8_t ref[8 + KS_ST_NAME_MAX], CK_OBJECT_HANDLE handle,
                          const char *name)
{
    size_t n = strlen(name);
    ks_st_handle_ref(ref, handle);
    memcpy(ref + 8, name, n);
    return 8 + n;
}

/* Reads and verifies (when the MAC key is known) one counter; absent reads 0. */
static CK_RV read_counter(ks_store *s, CK_OBJECT_HANDLE handle, const char *name,
                          uint64_t *value);

static CK_RV check_object(ks_store *s, CK_OBJECT_HANDLE handle)
{
    if (handle == 0) {
        return CKR_OK;
    }
    if (handle > (CK_OBJECT_HANDLE)INT64_MAX) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT 1 FROM objects WHERE handle = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    int rc = sqlite3_step(st);
    rv = rc == SQLITE_ROW ? CKR_OK : rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID
                                                       : CKR_DEVICE_ERROR;
    ks_st_finish(s, st);
    return rv;
}

static CK_RV read_counter_row(ks_store *s, CK_OBJECT_HANDLE handle, const char *name,
                              uint64_t *value, int *found)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT value FROM counters WHERE handle = ? AND name = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        *value = (uint64_t)sqlite3_column_int64(st, 0);
    } else if (rc == SQLITE_DONE) {
        *value = 0;
    } else {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static CK_RV read_counter(ks_store *s, CK_OBJECT_HANDLE handle, const char *name,
                          uint64_t *value)
{
    int found = 0;
    CK_RV rv = read_counter_row(s, handle, name, value, &found);
    if (rv != CKR_OK) {
        return rv;
    }
    uint8_t ref[8 + KS_ST_NAME_MAX];
    char what[48 + KS_ST_NAME_MAX];
    snprintf(what, sizeof(what), "counter \"%s\" of object %llu", name,
             (unsigned long long)handle);
    return ks_st_auth_value_check(s, KS_ST_COUNTER, ref, counter_ref(ref, handle, name), found,
                                  *value, what);
}

static CK_RV write_counter(ks_store *s, CK_OBJECT_HANDLE handle, const char *name,
                           uint64_t value)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "INSERT OR REPLACE INTO counters(handle, name, value)"
                                     " VALUES(?, ?, ?)");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)value);
    rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
    ks_st_finish(s, st);
    uint8_t ref[8 + KS_ST_NAME_MAX];
    return rv == CKR_OK ? ks_st_auth_value_put(s, KS_ST_COUNTER, ref,
                                               counter_ref(ref, handle, name), value)
                        : rv;
}

static int valid_name(const char *name)
{
    return name != NULL && name[0] != '\0' && strlen(name) <= KS_ST_NAME_MAX;
}

static CK_RV add_locked(ks_store *s, CK_OBJECT_HANDLE handle, const char *name, uint64_t delta,
                        uint64_t limit, uint64_t *before)
{
    uint64_t cur = 0;
    CK_RV rv = ks_st_begin(s, 1);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = check_object(s, handle);
    if (rv == CKR_OK) {
        rv = read_counter(s, handle, name, &cur);
    }
    /* Refuse rather than wrap: a counter that overflowed would read as unused. */
    if (rv == CKR_OK && (delta > UINT64_MAX - cur || (limit != 0 && cur + delta > limit))) {
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (rv == CKR_OK && delta != 0) {
        rv = write_counter(s, handle, name, cur + delta);
    }
    if (rv == CKR_OK) {
        rv = ks_st_commit(s);
    } else {
        ks_st_rollback(s);
    }
    if (rv == CKR_OK) {
        *before = cur;
    }
    return rv;
}

CK_RV ks_store_counter_add(ks_store *store, CK_OBJECT_HANDLE handle, const char *name,
                           uint64_t delta, uint64_t limit, uint64_t *before)
{
    uint64_t ignored;
    if (store == NULL || !valid_name(name)) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = add_locked(store, handle, name, delta, limit, before ? before : &ignored);
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    return rv;
}

CK_RV ks_store_counter_add_unsynced(ks_store *store, CK_OBJECT_HANDLE handle, const char *name,
                                    uint64_t delta, uint64_t limit, uint64_t *before)
{
    uint64_t ignored;
    if (store == NULL || !valid_name(name)) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    /* The one transaction commits without a sync (WAL, synchronous=NORMAL): visible to every
     * connection when it returns, durable with the next synced commit or checkpoint of the
     * file (store.h). FULL is back before the lock is released, or the next write restores
     * it first (ks_st_begin). */
    CK_RV rv = ks_st_sync(store, 0);
    if (rv == CKR_OK) {
        rv = add_locked(store, handle, name, delta, limit, before ? before : &ignored);
    }
    CK_RV restored = ks_st_sync(store, 1);
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    return rv == CKR_OK && restored != CKR_OK ? CKR_DEVICE_ERROR : rv;
}

CK_RV ks_store_counter_get(ks_store *store, CK_OBJECT_HANDLE handle, const char *name,
                           uint64_t *value)
{
    if (store == NULL || !valid_name(name) || value == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = ks_st_begin(store, 0);
    if (rv == CKR_OK) {
        rv = check_object(store, handle);
    }
    if (rv == CKR_OK) {
        rv = read_counter(store, handle, name, value);
    }
    if (rv == CKR_OK) {
        rv = ks_st_commit(store);
    } else {
        ks_st_rollback(store);
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    return rv;
}

/* The uses of a key value: the token-wide counter `name` (handle 0), raised first to the
 * per-object "usage" counter a store made before per-value counting holds for
 * legacy_handle (0: none), so an upgrade never gives a key back uses it had made. */
static CK_RV value_uses_read(ks_store *s, const char *name, CK_OBJECT_HANDLE legacy_handle,
                             uint64_t *value)
{
    uint64_t legacy = 0;
    CK_RV rv = read_counter(s, 0, name, value);
    if (rv == CKR_OK && legacy_handle != 0 && legacy_handle <= (CK_OBJECT_HANDLE)INT64_MAX) {
        rv = read_counter(s, legacy_handle, "usage", &legacy);
    }
    if (rv == CKR_OK && legacy > *value) {
        *value = legacy;
    }
    return rv;
}

CK_RV ks_store_value_uses_add(ks_store *store, const char *name, CK_OBJECT_HANDLE legacy_handle,
                              uint64_t delta, uint64_t limit, uint64_t *before)
{
    if (store == NULL || !valid_name(name) || before == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    uint64_t cur = 0;
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = ks_st_begin(store, 1);
    if (rv == CKR_OK) {
        rv = value_uses_read(store, name, legacy_handle, &cur);
        /* Refuse rather than wrap, as add_locked does. */
        if (rv == CKR_OK &&
            (delta > UINT64_MAX - cur || (limit != 0 && cur + delta > limit))) {
            rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        }
        if (rv == CKR_OK) {
            rv = write_counter(store, 0, name, cur + delta);
        }
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    if (rv == CKR_OK) {
        *before = cur;
    }
    return rv;
}

CK_RV ks_store_value_uses_get(ks_store *store, const char *name, CK_OBJECT_HANDLE legacy_handle,
                              uint64_t *value)
{
    if (store == NULL || !valid_name(name) || value == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = ks_st_begin(store, 0);
    if (rv == CKR_OK) {
        rv = value_uses_read(store, name, legacy_handle, value);
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    return rv;
}

static CK_RV role_locked(ks_store *s, const uint8_t fp[32], int role, int *fixed)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_begin(s, role != 0);
    if (rv == CKR_OK) {
        rv = ks_st_prepare(s, &st, "SELECT role FROM value_roles WHERE fp = ?");
    }
    if (rv == CKR_OK) {
        sqlite3_bind_blob(st, 1, fp, 32, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *fixed = sqlite3_column_int(st, 0);
        } else if (rc == SQLITE_DONE) {
            *fixed = 0;
        } else {
            rv = CKR_DEVICE_ERROR;
        }
        ks_st_finish(s, st);
        if (rv == CKR_OK) {
            rv = ks_st_auth_value_check(s, KS_ST_ROLE, fp, 32, rc == SQLITE_ROW,
                                        (uint64_t)(int64_t)*fixed, "the role of a key value");
        }
    }
    if (rv == CKR_OK && *fixed == 0 && role != 0) {
        rv = ks_st_prepare(s, &st, "INSERT INTO value_roles(fp, role) VALUES(?, ?)");
        if (rv == CKR_OK) {
            sqlite3_bind_blob(st, 1, fp, 32, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, role);
            rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
            ks_st_finish(s, st);
        }
        if (rv == CKR_OK) {
            rv = ks_st_auth_value_put(s, KS_ST_ROLE, fp, 32, (uint64_t)role);
        }
        if (rv == CKR_OK) {
            *fixed = role;
        }
    }
    if (rv == CKR_OK) {
        return ks_st_commit(s);
    }
    ks_st_rollback(s);
    return rv;
}

CK_RV ks_store_value_role(ks_store *store, const uint8_t fingerprint[32], int role,
                          int *fixed)
{
    if (store == NULL || fingerprint == NULL || fixed == NULL || role < 0) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = role_locked(store, fingerprint, role, fixed);
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    return rv;
}
