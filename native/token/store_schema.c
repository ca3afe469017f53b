/* store_schema.c - the token database's schema (version KS_STORE_SCHEMA_VERSION) and its
 * meta table.
 *
 * Tables:
 *   meta(key, value)            token state: initialized, label, serial, failure counters...
 *   pin_wraps(who, ...)         the token key wrapped under a PIN-derived key, per user type
 *                               (CKU_SO, CKU_USER), with the KDF and its cost (see pin.c)
 *   objects(handle, uid, ...)   one row per token object; handle is the PKCS#11 object
 *                               handle (AUTOINCREMENT: a handle is never reused, so a
 *                               destroyed object never comes back under its old handle);
 *                               class, key_type, label, id, private are indexed copies of the
 *                               attributes for C_FindObjects
 *   attributes(handle, type, sealed, value)
 *                               every attribute; sealed values are iv || ciphertext || tag
 *   counters(handle, name, value) persistent counters (usage, GCM invocations); handle 0 is
 *                               the token itself
 *   value_roles(fp, role)       the role fixed for a key value (wrap policy), by a keyed
 *                               fingerprint of the value, never the value itself
 *   row_macs(kind, ref, mac)    (version 2) the MAC of each object, counter and role row
 *                               under a key derived from the token key (store_auth.c,
 *                               docs/store.md); meta holds the sealed token id and the census
 * PRAGMA user_version holds the schema version; a newer database is refused. */
#include <stdio.h>
#include <string.h>

#include "crypto/rand.h"
#include "token/store_internal.h"

static const char SCHEMA[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE pin_wraps(who INTEGER PRIMARY KEY, kdf INTEGER NOT NULL,"
    " n INTEGER NOT NULL, r INTEGER NOT NULL, p INTEGER NOT NULL, iterations INTEGER NOT NULL,"
    " salt BLOB NOT NULL, iv BLOB NOT NULL, wrapped BLOB NOT NULL);"
    "CREATE TABLE objects(handle INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL UNIQUE,"
    " class INTEGER, key_type INTEGER, label BLOB, id BLOB, private INTEGER NOT NULL);"
    "CREATE INDEX objects_class ON objects(class);"
    "CREATE INDEX objects_key_type ON objects(key_type);"
    "CREATE INDEX objects_label ON objects(label);"
    "CREATE INDEX objects_id ON objects(id);"
    "CREATE TABLE attributes(handle INTEGER NOT NULL REFERENCES objects(handle)"
    " ON DELETE CASCADE, type INTEGER NOT NULL, sealed INTEGER NOT NULL, value BLOB NOT NULL,"
    " PRIMARY KEY(handle, type)) WITHOUT ROWID;"
    "CREATE TABLE counters(handle INTEGER NOT NULL, name TEXT NOT NULL,"
    " value INTEGER NOT NULL, PRIMARY KEY(handle, name)) WITHOUT ROWID;"
    "CREATE TABLE value_roles(fp BLOB PRIMARY KEY, role INTEGER NOT NULL) WITHOUT ROWID;";

/* Version 2: what a version 1 store gains at open (its rows are authenticated at the first
 * login, store_migrate.c). */
static const char SCHEMA_V2[] =
    "CREATE TABLE IF NOT EXISTS row_macs(kind INTEGER NOT NULL, ref BLOB NOT NULL,"
    " mac BLOB NOT NULL, PRIMARY KEY(kind, ref)) WITHOUT ROWID;";

static int set_version(sqlite3 *db)
{
    char sql[48];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", KS_STORE_SCHEMA_VERSION);
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static int user_version(sqlite3 *db, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
    if (ok) {
        *out = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return ok;
}

static int put_meta(sqlite3 *db, const char *key, int64_t ival, const void *blob, int len)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1,
                           &st, NULL) != SQLITE_OK) {
        return 0;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (blob != NULL) {
        sqlite3_bind_blob(st, 2, blob, len, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_int64(st, 2, ival);
    }
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

static int create_schema(sqlite3 *db)
{
    uint8_t rnd[8];
    char serial[16];
    char label[32];
    static const char HEX[] = "0123456789ABCDEF";
    if (ks_random(rnd, sizeof(rnd)) != KS_OK) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        serial[2 * i] = HEX[rnd[i] >> 4];
        serial[2 * i + 1] = HEX[rnd[i] & 15];
    }
    memset(label, ' ', sizeof(label));
    return sqlite3_exec(db, SCHEMA, NULL, NULL, NULL) == SQLITE_OK &&
           sqlite3_exec(db, SCHEMA_V2, NULL, NULL, NULL) == SQLITE_OK &&
           put_meta(db, "schema_version", KS_STORE_SCHEMA_VERSION, NULL, 0) &&
           put_meta(db, "initialized", 0, NULL, 0) && put_meta(db, "user_pin_set", 0, NULL, 0) &&
           put_meta(db, "label", 0, label, (int)sizeof(label)) &&
           put_meta(db, "serial", 0, serial, (int)sizeof(serial)) &&
           put_meta(db, "so_failures", 0, NULL, 0) && put_meta(db, "user_failures", 0, NULL, 0) &&
           put_meta(db, "max_attempts", 0, NULL, 0) &&
           put_meta(db, "user_pin_to_be_changed", 0, NULL, 0) && set_version(db);
}

CK_RV ks_st_schema_ensure(sqlite3 *db)
{
    int64_t v = 0;
    if (!user_version(db, &v)) {
        return CKR_DEVICE_ERROR;
    }
    if (v == KS_STORE_SCHEMA_VERSION) {
        return CKR_OK;
    }
    if (v > KS_STORE_SCHEMA_VERSION) {
        return CKR_DEVICE_ERROR; /* written by a newer keystead: never downgrade silently */
    }
    /* Two processes may race to create the schema: the IMMEDIATE lock makes one wait, and it
     * then sees the version the other wrote. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return CKR_DEVICE_ERROR;
    }
    if (!user_version(db, &v)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return CKR_DEVICE_ERROR;
    }
    int ok = v == KS_STORE_SCHEMA_VERSION || (v == 0 && create_schema(db)) ||
             (v == 1 && sqlite3_exec(db, SCHEMA_V2, NULL, NULL, NULL) == SQLITE_OK &&
              set_version(db));
    if (!ok || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

CK_RV ks_st_meta_get_int(ks_store *s, const char *key, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT value FROM meta WHERE key = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        *out = sqlite3_column_int64(st, 0);
    } else {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

CK_RV ks_st_meta_set_int(ks_store *s, const char *key, int64_t value)
{
    return put_meta(s->core->db, key, value, NULL, 0) ? CKR_OK : CKR_DEVICE_ERROR;
}

CK_RV ks_st_meta_set_blob(ks_store *s, const char *key, const void *value, size_t len)
{
    if (len > 1024) {
        return CKR_ARGUMENTS_BAD;
    }
    return put_meta(s->core->db, key, 0, value, (int)len) ? CKR_OK : CKR_DEVICE_ERROR;
}

CK_RV ks_st_meta_get_blob(ks_store *s, const char *key, void *out, size_t len, int *found)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT value FROM meta WHERE key = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB &&
             (size_t)sqlite3_column_bytes(st, 0) == len;
    if (*found) {
        memcpy(out, sqlite3_column_blob(st, 0), len);
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static CK_RV get_blob(ks_store *s, const char *key, char *out, size_t len)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT value FROM meta WHERE key = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB &&
        (size_t)sqlite3_column_bytes(st, 0) == len) {
        memcpy(out, sqlite3_column_blob(st, 0), len);
    } else {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

CK_RV ks_st_read_meta(ks_store *s, ks_token_meta *out)
{
    int64_t init = 0, user = 0, sof = 0, uf = 0, change = 0;
    memset(out, 0, sizeof(*out));
    CK_RV rv = ks_st_meta_get_int(s, "initialized", &init);
    if (rv == CKR_OK) {
        rv = ks_st_meta_get_int(s, "user_pin_set", &user);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_get_int(s, "so_failures", &sof);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_get_int(s, "user_failures", &uf);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_get_int(s, "user_pin_to_be_changed", &change);
    }
    if (rv == CKR_OK) {
        rv = get_blob(s, "label", out->label, sizeof(out->label));
    }
    if (rv == CKR_OK) {
        rv = get_blob(s, "serial", out->serial, sizeof(out->serial));
    }
    if (rv != CKR_OK) {
        return rv;
    }
    out->initialized = init != 0;
    out->user_pin_set = user != 0;
    out->so_failures = (unsigned)sof;
    out->user_failures = (unsigned)uf;
    /* The limit in force is this process's configuration (ks_store_login uses it). */
    out->max_attempts = s->max_attempts;
    out->user_pin_to_be_changed = change != 0;
    return CKR_OK;
}
