/* store_objects.c - token objects in the store: put, update, delete, load, find.
 *
 * An object is one row of `objects` (its handle, its CKA_UNIQUE_ID and indexed copies of
 * CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL, CKA_ID, CKA_PRIVATE) and one row of `attributes` per
 * attribute. Every write is one IMMEDIATE transaction: an object is stored whole or not at
 * all, whatever the moment a process dies.
 *
 * Which values are sealed: those ks_rules_is_sealed() names, for keys (CKO_SECRET_KEY,
 * CKO_PRIVATE_KEY) always and for other classes when the object is private. A public data
 * object's CKA_VALUE is readable by anyone without login (PKCS#11 3.0 4.4), so it is not
 * secret, and sealing it would forbid creating public objects before login. */
#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "crypto/rand.h"
#include "token/rules.h"
#include "token/store_internal.h"

int ks_st_must_seal(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type)
{
    if (type == CKA_UNIQUE_ID || !ks_rules_is_sealed(type)) {
        return 0;
    }
    CK_ULONG cls;
    if (!ks_attrs_get_ulong(obj, CKA_CLASS, &cls) || cls == CKO_SECRET_KEY ||
        cls == CKO_PRIVATE_KEY) {
        return 1;
    }
    return ks_attrs_bool(obj, CKA_PRIVATE, CK_TRUE) != CK_FALSE;
}

int ks_st_is_public(const ks_attrs *obj)
{
    return !ks_st_must_seal(obj, CKA_VALUE);
}

static size_t sealed_count(const ks_attrs *obj)
{
    size_t n = 0;
    for (size_t i = 0; i < obj->count; i++) {
        n += (size_t)ks_st_must_seal(obj, obj->items[i].type);
    }
    return n;
}

/* Binds len bytes, keeping a zero-length value distinct from NULL (absent). */
static void bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t len)
{
    if (len == 0) {
        sqlite3_bind_zeroblob(st, i, 0);
    } else {
        sqlite3_bind_blob64(st, i, p, len, SQLITE_TRANSIENT);
    }
}

/* The indexed columns, as parameters first..first+4: class, key_type, label, id, private. */
static void bind_index(sqlite3_stmt *st, int first, const ks_attrs *obj)
{
    CK_ULONG v;
    if (ks_attrs_get_ulong(obj, CKA_CLASS, &v)) {
        sqlite3_bind_int64(st, first, (sqlite3_int64)v);
    }
    if (ks_attrs_get_ulong(obj, CKA_KEY_TYPE, &v)) {
        sqlite3_bind_int64(st, first + 1, (sqlite3_int64)v);
    }
    const ks_attr *a = ks_attrs_find(obj, CKA_LABEL);
    if (a != NULL) {
        bind_bytes(st, first + 2, a->value, a->len);
    }
    a = ks_attrs_find(obj, CKA_ID);
    if (a != NULL) {
        bind_bytes(st, first + 3, a->value, a->len);
    }
    sqlite3_bind_int(st, first + 4, ks_attrs_bool(obj, CKA_PRIVATE, CK_TRUE) != CK_FALSE);
}

static CK_RV insert_one(sqlite3_stmt *st, sqlite3_int64 handle, CK_ATTRIBUTE_TYPE type,
                        int sealed, const void *value, size_t len)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_int64(st, 1, handle);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)type);
    sqlite3_bind_int(st, 3, sealed);
    bind_bytes(st, 4, value, len);
    return sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
}

/* Writes every attribute of obj (sealing where due) plus CKA_UNIQUE_ID = uid. */
static CK_RV insert_attrs(ks_store *s, const ks_gcm_key *key, sqlite3_int64 handle,
                          const char uid[KS_UID_LEN], const ks_attrs *obj)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "INSERT INTO attributes(handle, type, sealed, value)"
                                     " VALUES(?, ?, ?, ?)");
    for (size_t i = 0; rv == CKR_OK && i < obj->count; i++) {
        const ks_attr *a = &obj->items[i];
        if (a->type == CKA_UNIQUE_ID) {
            continue; /* the store's own value below replaces any other */
        }
        if (!ks_st_must_seal(obj, a->type)) {
            rv = insert_one(st, handle, a->type, 0, a->value, a->len);
            continue;
        }
        size_t n = (size_t)a->len + KS_SEAL_OVERHEAD;
        uint8_t *buf = malloc(n);
        if (buf == NULL) {
            rv = CKR_HOST_MEMORY;
            break;
        }
        rv = ks_st_seal(key, buf, uid, a->type, a->value, a->len);
        if (rv == CKR_OK) {
            rv = insert_one(st, handle, a->type, 1, buf, n);
        }
        free(buf); /* ciphertext only */
    }
    if (rv == CKR_OK) {
        rv = insert_one(st, handle, CKA_UNIQUE_ID, 0, uid, KS_UID_LEN);
    }
    ks_st_finish(s, st);
    return rv;
}

/* Reads the uid of handle: CKR_OBJECT_HANDLE_INVALID when there is no such object. */
static CK_RV object_uid(ks_store *s, CK_OBJECT_HANDLE handle, char uid[KS_UID_LEN])
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT uid FROM objects WHERE handle = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == KS_UID_LEN) {
        memcpy(uid, sqlite3_column_text(st, 0), KS_UID_LEN);
    } else {
        rv = rc == SQLITE_DONE ? CKR_OBJECT_HANDLE_INVALID : CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static CK_RV count_sealed_rows(ks_store *s, CK_OBJECT_HANDLE handle, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT count(*) FROM attributes WHERE handle = ?"
                                     " AND sealed = 1");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
    } else {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static int valid_handle(CK_OBJECT_HANDLE h)
{
    return h != 0 && h <= (CK_OBJECT_HANDLE)INT64_MAX;
}

/* Inserts one object inside the caller's write transaction, with a fresh random uid. */
static CK_RV insert_object(ks_store *s, const ks_gcm_key *key, const ks_attrs *obj,
                           CK_OBJECT_HANDLE *handle_out)
{
    uint8_t raw[KS_UID_LEN / 2];
    char uid[KS_UID_LEN];
    if (ks_random(raw, sizeof(raw)) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    ks_st_hex(uid, raw, sizeof(raw));
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "INSERT INTO objects(uid, class, key_type, label, id,"
                                     " private) VALUES(?, ?, ?, ?, ?, ?)");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_text(st, 1, uid, KS_UID_LEN, SQLITE_STATIC);
    bind_index(st, 2, obj);
    rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
    ks_st_finish(s, st);
    sqlite3_int64 handle = sqlite3_last_insert_rowid(s->core->db);
    if (rv == CKR_OK) {
        rv = insert_attrs(s, key, handle, uid, obj);
    }
    if (rv == CKR_OK) {
        rv = ks_st_auth_object(s, handle, uid, ks_st_is_public(obj));
    }
    if (rv == CKR_OK) {
        *handle_out = (CK_OBJECT_HANDLE)handle;
    }
    return rv;
}

CK_RV ks_store_put_objects(ks_store *store, const uint8_t *token_key, const ks_attrs *objs,
                           size_t count, CK_OBJECT_HANDLE *handles_out)
{
    if (store == NULL || (count > 0 && (objs == NULL || handles_out == NULL))) {
        return CKR_ARGUMENTS_BAD;
    }
    for (size_t i = 0; token_key == NULL && i < count; i++) {
        if (sealed_count(&objs[i]) > 0) {
            return CKR_USER_NOT_LOGGED_IN;
        }
    }
    ks_gcm_key key;
    if (token_key != NULL && ks_gcm_init(&key, token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = token_key != NULL ? ks_st_auth_ready(store, token_key) : CKR_OK;
    if (rv == CKR_OK) {
        rv = ks_st_begin(store, 1);
    }
    for (size_t i = 0; rv == CKR_OK && i < count; i++) {
        rv = insert_object(store, token_key ? &key : NULL, &objs[i], &handles_out[i]);
    }
    if (rv == CKR_OK) {
        rv = ks_st_commit(store);
    } else {
        ks_st_rollback(store);
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    if (token_key != NULL) {
        ks_gcm_clear(&key);
    }
    return rv;
}

CK_RV ks_store_put_object(ks_store *store, const uint8_t *token_key, const ks_attrs *obj,
                          CK_OBJECT_HANDLE *handle_out)
{
    if (obj == NULL || handle_out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    return ks_store_put_objects(store, token_key, obj, 1, handle_out);
}

static CK_RV update_locked(ks_store *s, const ks_gcm_key *key, CK_OBJECT_HANDLE handle,
                           const ks_attrs *obj, int *scrub)
{
    char uid[KS_UID_LEN];
    int64_t had_sealed = 0;
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_begin(s, 1);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = object_uid(s, handle, uid);
    if (rv == CKR_OK) {
        rv = count_sealed_rows(s, handle, &had_sealed);
    }
    /* Without the token key the sealed values could neither be kept nor rewritten. */
    if (rv == CKR_OK && key == NULL && had_sealed > 0) {
        rv = CKR_USER_NOT_LOGGED_IN;
    }
    if (rv == CKR_OK) {
        rv = ks_st_prepare(s, &st, "DELETE FROM attributes WHERE handle = ?");
    }
    if (rv == CKR_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
        rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
        ks_st_finish(s, st);
    }
    if (rv == CKR_OK) {
        rv = insert_attrs(s, key, (sqlite3_int64)handle, uid, obj);
    }
    if (rv == CKR_OK) {
        rv = ks_st_prepare(s, &st, "UPDATE objects SET class = ?, key_type = ?, label = ?,"
                                   " id = ?, private = ? WHERE handle = ?");
    }
    if (rv == CKR_OK) {
        bind_index(st, 1, obj);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)handle);
        rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
        ks_st_finish(s, st);
    }
    if (rv == CKR_OK) {
        rv = ks_st_auth_object(s, (sqlite3_int64)handle, uid, ks_st_is_public(obj));
    }
    if (rv == CKR_OK) {
        rv = ks_st_commit(s);
    } else {
        ks_st_rollback(s);
    }
    *scrub = rv == CKR_OK && (size_t)had_sealed > sealed_count(obj);
    return rv;
}

CK_RV ks_store_update_object(ks_store *store, const uint8_t *token_key,
                             CK_OBJECT_HANDLE handle, const ks_attrs *obj)
{
    if (store == NULL || obj == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!valid_handle(handle)) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    if (token_key == NULL && sealed_count(obj) > 0) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    ks_gcm_key key;
    if (token_key != NULL && ks_gcm_init(&key, token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    int scrub = 0;
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = token_key != NULL ? ks_st_auth_ready(store, token_key) : CKR_OK;
    if (rv == CKR_OK) {
        rv = update_locked(store, token_key ? &key : NULL, handle, obj, &scrub);
    }
    if (scrub) /* a sealed value was dropped (e.g. a destroyed key): purge the old pages */ {
        ks_st_scrub(store);
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    if (token_key != NULL) {
        ks_gcm_clear(&key);
    }
    return rv;
}

static CK_RV delete_locked(ks_store *s, CK_OBJECT_HANDLE handle, int64_t *had_sealed)
{
    static const char *const SQL[] = {
        "DELETE FROM attributes WHERE handle = ?1",
        "DELETE FROM counters WHERE handle = ?1",
        "DELETE FROM objects WHERE handle = ?1",
    };
    char uid[KS_UID_LEN];
    CK_RV rv = ks_st_begin(s, 1);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = object_uid(s, handle, uid);
    if (rv == CKR_OK) {
        rv = count_sealed_rows(s, handle, had_sealed);
    }
    if (rv == CKR_OK) {
        rv = ks_st_auth_forget_object(s, (sqlite3_int64)handle);
    }
    for (size_t i = 0; rv == CKR_OK && i < sizeof(SQL) / sizeof(SQL[0]); i++) {
        sqlite3_stmt *st = NULL;
        rv = ks_st_prepare(s, &st, SQL[i]);
        if (rv != CKR_OK) {
            break;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
        rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
        ks_st_finish(s, st);
    }
    if (rv == CKR_OK) {
        return ks_st_commit(s);
    }
    ks_st_rollback(s);
    return rv;
}

CK_RV ks_store_delete_object(ks_store *store, CK_OBJECT_HANDLE handle)
{
    if (store == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!valid_handle(handle)) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    int64_t had_sealed = 0;
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = delete_locked(store, handle, &had_sealed);
    /* secure_delete zeroed the rows in the new pages; the checkpoint moves those pages into
     * the database file and truncates the WAL that held the old ones. */
    if (rv == CKR_OK && had_sealed > 0) {
        ks_st_scrub(store);
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    return rv;
}
