/* store_read.c - reading token objects: load one object, find candidates by indexed columns.
 *
 * Reads run in a deferred (read) transaction: under WAL they see one consistent snapshot and
 * never wait for a writer. */
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "crypto/mem.h"
#include "token/rules.h"
#include "token/store_internal.h"

/* Adds one stored attribute to out, opening it when sealed. */
static CK_RV load_attr(const ks_gcm_key *key, ks_attrs *out, const char uid[KS_UID_LEN],
                       CK_ATTRIBUTE_TYPE type, const uint8_t *blob, size_t len)
{
    if (len < KS_SEAL_OVERHEAD) {
        return CKR_DEVICE_ERROR;
    }
    size_t n = len - KS_SEAL_OVERHEAD;
    uint8_t *clear = malloc(n ? n : 1);
    if (clear == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_RV rv = ks_st_unseal(key, clear, uid, type, blob, len);
    if (rv == CKR_OK) {
        rv = ks_attrs_set(out, type, clear, (CK_ULONG)n);
    }
    ks_wipe(clear, n);
    free(clear);
    return rv;
}

/* The object's MAC input (store_auth.c): its ref, its uid, then each attribute row in type
 * order, stored form (sealed values as ciphertext). */
static void mac_begin(ks_st_mac *m, const ks_st_auth *a, CK_OBJECT_HANDLE handle,
                      const char uid[KS_UID_LEN])
{
    uint8_t ref[8];
    ks_st_handle_ref(ref, handle);
    ks_st_mac_row(m, a, KS_ST_OBJECT, ref, sizeof(ref));
    ks_st_mac_bytes(m, uid, KS_UID_LEN);
}

static CK_RV read_uid(ks_store *s, CK_OBJECT_HANDLE handle, char uid[KS_UID_LEN])
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

static CK_RV prepare_rows(ks_store *s, sqlite3_stmt **st, CK_OBJECT_HANDLE handle)
{
    CK_RV rv = ks_st_prepare(s, st, "SELECT type, sealed, value FROM attributes"
                                    " WHERE handle = ? ORDER BY type");
    if (rv == CKR_OK) {
        sqlite3_bind_int64(*st, 1, (sqlite3_int64)handle);
    }
    return rv;
}

CK_RV ks_st_object_mac(ks_store *s, sqlite3_int64 handle, const char uid[KS_UID_LEN],
                       uint8_t mac[KS_SHA256_LEN])
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = prepare_rows(s, &st, (CK_OBJECT_HANDLE)handle);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_st_mac m;
    mac_begin(&m, s->auth, (CK_OBJECT_HANDLE)handle, uid);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ks_st_mac_attr(&m, (CK_ATTRIBUTE_TYPE)sqlite3_column_int64(st, 0),
                       sqlite3_column_int(st, 1), sqlite3_column_blob(st, 2),
                       (size_t)sqlite3_column_bytes(st, 2));
    }
    ks_st_finish(s, st);
    ks_st_mac_end(&m, mac);
    return rc == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
}

/* After the rows: a secret value must have been sealed, and with the MAC key the object's
 * MAC must match its record. */
static CK_RV check_object(ks_store *s, CK_OBJECT_HANDLE handle, const char uid[KS_UID_LEN],
                          const ks_attrs *out, int unsealed, CK_ATTRIBUTE_TYPE type,
                          ks_st_mac *m)
{
    uint8_t mac[KS_SHA256_LEN], ref[8];
    char what[48];
    snprintf(what, sizeof(what), "object %llu", (unsigned long long)handle);
    CK_RV rv = CKR_OK;
    if (unsealed && ks_st_must_seal(out, type)) {
        ks_st_fault(s, uid, "store: %s holds a secret value that is not sealed", what);
        rv = CKR_DEVICE_ERROR;
    }
    if (m == NULL) {
        return rv;
    }
    ks_st_mac_end(m, mac);
    ks_st_handle_ref(ref, handle);
    if (rv == CKR_OK) {
        rv = ks_st_is_public(out)
                 ? ks_st_auth_verify_public(s, ref, mac, uid, what)
                 : ks_st_auth_verify(s, KS_ST_OBJECT, ref, sizeof(ref), mac, uid, what);
    }
    return rv;
}

CK_RV ks_st_load_rows(ks_store *s, const ks_gcm_key *key, CK_OBJECT_HANDLE handle,
                      ks_attrs *out, int *sealed_missing, int verify)
{
    char uid[KS_UID_LEN];
    sqlite3_stmt *st = NULL;
    CK_RV rv = read_uid(s, handle, uid);
    if (rv == CKR_OK) {
        rv = prepare_rows(s, &st, handle);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    ks_st_mac m;
    verify = verify && s->auth != NULL;
    if (verify) {
        /* After another connection's commit, the census once more (records deleted or
         * replayed meanwhile); a mismatch refuses every authenticated record. */
        (void)ks_st_census_verify(s);
        mac_begin(&m, s->auth, handle, uid);
    }
    int unsealed = 0, rc = SQLITE_DONE;
    CK_ATTRIBUTE_TYPE unsealed_type = 0;
    while (rv == CKR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        CK_ATTRIBUTE_TYPE type = (CK_ATTRIBUTE_TYPE)sqlite3_column_int64(st, 0);
        int sealed = sqlite3_column_int(st, 1);
        const uint8_t *blob = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        if (verify) {
            ks_st_mac_attr(&m, type, sealed, blob, len);
        }
        if (!sealed) {
            if (type != CKA_UNIQUE_ID && ks_rules_is_sealed(type)) {
                unsealed = 1;
                unsealed_type = type;
            }
            rv = ks_attrs_set(out, type, blob, (CK_ULONG)len);
        } else if (key == NULL) {
            *sealed_missing = 1;
        } else {
            rv = load_attr(key, out, uid, type, blob, len);
            if (rv == CKR_DEVICE_ERROR) {
                ks_st_fault(s, uid, "store: object %llu: a sealed value does not open",
                            (unsigned long long)handle);
            }
        }
    }
    if (rv == CKR_OK && rc != SQLITE_DONE) {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    if (rv == CKR_OK) {
        return check_object(s, handle, uid, out, unsealed, unsealed_type, verify ? &m : NULL);
    }
    if (verify) {
        uint8_t ignored[KS_SHA256_LEN];
        ks_st_mac_end(&m, ignored); /* wipes the keyed state */
    }
    return rv;
}

CK_RV ks_store_load_object(ks_store *store, const uint8_t *token_key, CK_OBJECT_HANDLE handle,
                           ks_attrs *out, int *sealed_missing)
{
    int missing = 0;
    if (store == NULL || out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (handle == 0 || handle > (CK_OBJECT_HANDLE)INT64_MAX) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    ks_gcm_key key;
    if (token_key != NULL && ks_gcm_init(&key, token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = token_key != NULL ? ks_st_auth_ready(store, token_key) : CKR_OK;
    if (rv == CKR_OK) {
        rv = ks_st_begin(store, 0);
    }
    if (rv == CKR_OK) {
        rv = ks_st_load_rows(store, token_key ? &key : NULL, handle, out, &missing, 1);
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_st_fault_report(store);
    if (token_key != NULL) {
        ks_gcm_clear(&key);
    }
    if (rv != CKR_OK) {
        ks_attrs_free(out);
        missing = 0;
    }
    if (sealed_missing != NULL) {
        *sealed_missing = missing;
    }
    return rv;
}

/* Find: the indexed attributes of a template become WHERE conditions. A value of the wrong
 * shape for its column can match no stored object, so the answer is empty at once. */
#define MAX_CONDITIONS 32

typedef struct find_cond {
    const char *sql;
    const CK_ATTRIBUTE *attr;
    int kind; /* 0 integer (CK_ULONG), 1 bytes, 2 bool */
} find_cond;

static int cond_for(const CK_ATTRIBUTE *a, find_cond *c, int *impossible)
{
    c->attr = a;
    switch (a->type) {
    case CKA_CLASS:
    case CKA_KEY_TYPE:
        c->sql = a->type == CKA_CLASS ? "class = ?" : "key_type = ?";
        c->kind = 0;
        if (a->ulValueLen != sizeof(CK_ULONG)) {
            *impossible = 1;
        }
        return 1;
    case CKA_LABEL:
    case CKA_ID:
        c->sql = a->type == CKA_LABEL ? "label = ?" : "id = ?";
        c->kind = 1;
        return 1;
    case CKA_PRIVATE:
        c->sql = "private = ?";
        c->kind = 2;
        if (a->ulValueLen != sizeof(CK_BBOOL) || *(const CK_BBOOL *)a->pValue > 1) {
            *impossible = 1;
        }
        return 1;
    default:
        return 0;
    }
}

static void bind_cond(sqlite3_stmt *st, int i, const find_cond *c)
{
    const CK_ATTRIBUTE *a = c->attr;
    if (c->kind == 0) {
        CK_ULONG v;
        memcpy(&v, a->pValue, sizeof(v));
        sqlite3_bind_int64(st, i, (sqlite3_int64)v);
    } else if (c->kind == 2) {
        sqlite3_bind_int(st, i, *(const CK_BBOOL *)a->pValue);
    } else if (a->ulValueLen == 0) {
        sqlite3_bind_zeroblob(st, i, 0);
    } else {
        sqlite3_bind_blob64(st, i, a->pValue, a->ulValueLen, SQLITE_STATIC);
    }
}

static CK_RV collect(sqlite3_stmt *st, CK_OBJECT_HANDLE **out, size_t *out_count)
{
    size_t cap = 16, n = 0;
    CK_OBJECT_HANDLE *list = malloc(cap * sizeof(*list));
    if (list == NULL) {
        return CKR_HOST_MEMORY;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            CK_OBJECT_HANDLE *bigger = realloc(list, 2 * cap * sizeof(*list));
            if (bigger == NULL) {
                free(list);
                return CKR_HOST_MEMORY;
            }
            list = bigger;
            cap *= 2;
        }
        list[n++] = (CK_OBJECT_HANDLE)sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_DONE) {
        free(list);
        return CKR_DEVICE_ERROR;
    }
    *out = list;
    *out_count = n;
    return CKR_OK;
}

static CK_RV find_locked(ks_store *s, const find_cond *conds, size_t nconds,
                         CK_OBJECT_HANDLE **out, size_t *out_count)
{
    /* Without statistics SQLite may pick the class index (a few distinct values) over the
     * label or id index (nearly unique), and scan most of the table. When a selective column
     * is constrained, the others are written as +column, which keeps them out of index
     * selection (SQLite's documented way to disqualify a term from an index). */
    int selective = 0;
    for (size_t i = 0; i < nconds; i++) {
        selective |= conds[i].kind == 1;
    }
    char sql[64 + MAX_CONDITIONS * 24] = "SELECT handle FROM objects WHERE 1";
    for (size_t i = 0; i < nconds; i++) {
        strcat(sql, selective && conds[i].kind != 1 ? " AND +" : " AND ");
        strcat(sql, conds[i].sql);
    }
    strcat(sql, " ORDER BY handle");
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_begin(s, 0);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = ks_st_prepare_once(s, &st, sql);
    if (rv == CKR_OK) {
        for (size_t i = 0; i < nconds; i++) {
            bind_cond(st, (int)i + 1, &conds[i]);
        }
        rv = collect(st, out, out_count);
        ks_st_finish(s, st);
    }
    if (rv == CKR_OK) {
        rv = ks_st_commit(s);
    } else {
        ks_st_rollback(s);
    }
    return rv;
}

CK_RV ks_store_find(ks_store *store, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                    CK_OBJECT_HANDLE **out, size_t *out_count)
{
    if (store == NULL || out == NULL || out_count == NULL || (tmpl == NULL && count > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    *out = NULL;
    *out_count = 0;
    find_cond conds[MAX_CONDITIONS];
    size_t nconds = 0;
    int impossible = 0;
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].pValue == NULL && tmpl[i].ulValueLen > 0) {
            return CKR_ARGUMENTS_BAD;
        }
        /* Further conditions only narrow the candidates; the caller's ks_rules_match checks
         * every attribute anyway, so stopping at MAX_CONDITIONS stays correct. */
        if (nconds < MAX_CONDITIONS && cond_for(&tmpl[i], &conds[nconds], &impossible)) {
            nconds++;
        }
    }
    if (impossible) {
        *out = malloc(sizeof(CK_OBJECT_HANDLE));
        return *out == NULL ? CKR_HOST_MEMORY : CKR_OK;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = find_locked(store, conds, nconds, out, out_count);
    pthread_mutex_unlock(&store->core->lock);
    return rv;
}

void ks_store_free_handles(CK_OBJECT_HANDLE *list)
{
    free(list);
}
