/* fuzz_store.c - libFuzzer target: the store's records as the store reads them back
 * (token/store_read.c, store_seal.c) and what the token does with a loaded object.
 *
 * The database is one private in-memory token, opened once; each input empties its objects
 * and writes rows straight through SQLite, as a damaged or hostile token file could hold
 * them: objects with any uid (32 hex characters or not), attribute rows with any type, any
 * sealed flag and any bytes, and sometimes a properly sealed value (AES-256-GCM under the
 * token key, so that the load gets past the seal and hands the bytes to the attribute code:
 * packed templates of CKA_WRAP_TEMPLATE, mechanism lists, booleans of the wrong size...).
 * Each object is then loaded with and without the token key and, when it loads, read back
 * through ks_rules_get, matched (ks_rules_match, wrap templates), sized, found by
 * ks_store_find and changed by ks_rules_set. Property besides memory safety: a load either
 * succeeds or returns CKR_DEVICE_ERROR / CKR_OBJECT_HANDLE_INVALID / CKR_ATTRIBUTE_VALUE_INVALID
 * with the output set empty. */
#include <stdio.h>

#include "fuzz_common.h"
#include "token/rules.h"
#include "token/store_internal.h"

static ks_store *g_store;
static uint8_t g_token_key[KS_TOKEN_KEY_LEN];
static ks_gcm_key g_seal;

static void setup(void)
{
    ks_config cfg;
    char err[128];
    static const char conf[] = "token_dir = :memory:\npin_kdf_cost = fast\n";
    if (ks_config_parse(&cfg, "/fuzz.conf", conf, sizeof(conf) - 1, err, sizeof(err)) != CKR_OK ||
        ks_store_open(&g_store, ":memory:", 1, &cfg) != CKR_OK) {
        abort();
    }
    memset(g_token_key, 0x42, sizeof(g_token_key));
    if (ks_gcm_init(&g_seal, g_token_key, sizeof(g_token_key)) != KS_OK) {
        abort();
    }
}

static sqlite3 *db(void)
{
    return g_store->core->db;
}

static void exec_sql(const char *sql)
{
    if (sqlite3_exec(db(), sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db()));
        abort();
    }
}

static void insert_object(fz *f, sqlite3_int64 handle, char uid[KS_UID_LEN + 1])
{
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db(), "INSERT INTO objects(handle, uid, class, key_type, label, id,"
                             " private) VALUES(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
    uint8_t sel = fz_u8(f);
    size_t uid_len = sel & 1 ? KS_UID_LEN : fz_u8(f) % 40;
    for (size_t i = 0; i < KS_UID_LEN; i++) {
        uid[i] = "0123456789abcdef"[(handle * 7 + i) % 16];
    }
    uid[KS_UID_LEN] = 0;
    sqlite3_bind_int64(st, 1, handle);
    sqlite3_bind_text(st, 2, uid, (int)(uid_len < KS_UID_LEN ? uid_len : KS_UID_LEN),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, sel & 2 ? CKO_SECRET_KEY : (sqlite3_int64)fz_u8(f) - 8);
    sqlite3_bind_int64(st, 4, sel & 4 ? CKK_AES : (sqlite3_int64)fz_u8(f));
    size_t llen = fz_u8(f) % 8;
    sqlite3_bind_blob(st, 5, fz_bytes(f, llen), (int)llen, SQLITE_TRANSIENT);
    sqlite3_bind_null(st, 6);
    sqlite3_bind_int(st, 7, sel >> 7);
    (void)sqlite3_step(st); /* a duplicate (short) uid is refused by the schema: no object */
    sqlite3_finalize(st);
}

static void insert_attrs(fz *f, sqlite3_int64 handle, const char uid[KS_UID_LEN + 1])
{
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db(), "INSERT OR REPLACE INTO attributes(handle, type, sealed, value)"
                             " VALUES(?, ?, ?, ?)", -1, &st, NULL);
    for (int n = fz_u8(f) % 12; n > 0; n--) {
        CK_ATTRIBUTE a = {fz_attr_type(f), NULL, 0};
        uint8_t sel = fz_u8(f);
        int sealed = sel & 1;
        fz_value(f, &a, 1);
        if (a.pValue == NULL || a.ulValueLen > 4096) {
            a.ulValueLen = 0;
        }
        const uint8_t *blob = a.pValue;
        size_t blob_len = a.ulValueLen;
        uint8_t *sealed_blob = NULL;
        if (sealed && (sel & 2)) {
            /* A value sealed as the store would seal it, so the load opens it. */
            sealed_blob = fz_alloc(f, blob_len + KS_SEAL_OVERHEAD);
            if (sealed_blob == NULL ||
                ks_st_seal(&g_seal, sealed_blob, uid, a.type, blob, blob_len) != CKR_OK) {
                continue;
            }
            blob = sealed_blob;
            blob_len += KS_SEAL_OVERHEAD;
        }
        sqlite3_bind_int64(st, 1, handle);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)a.type);
        sqlite3_bind_int(st, 3, sealed);
        sqlite3_bind_blob(st, 4, blob_len ? (const void *)blob : "", (int)blob_len,
                          SQLITE_TRANSIENT);
        (void)sqlite3_step(st); /* refused when the object row was (foreign key) */
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

static void use_object(fz *f, ks_attrs *obj)
{
    CK_ATTRIBUTE *t = NULL;
    CK_ULONG n = 0;
    fz_template_into(f, &t, &n, 2);
    (void)ks_rules_get(obj, t, n);
    (void)ks_rules_match(obj, t, n);
    for (size_t i = 0; i < obj->count; i++) {
        CK_ATTRIBUTE q = {obj->items[i].type, NULL, 0};
        (void)ks_rules_get(obj, &q, 1);
        if (q.ulValueLen != CK_UNAVAILABLE_INFORMATION && q.ulValueLen <= 1 << 16) {
            /* Array attributes come back as CK_ATTRIBUTE arrays: ask for the inner sizes. */
            q.pValue = fz_alloc(f, q.ulValueLen);
            if (q.pValue != NULL) {
                memset(q.pValue, 0, q.ulValueLen);
                (void)ks_rules_get(obj, &q, 1);
            }
        }
    }
    (void)ks_rules_template_matches(obj, ks_attrs_find(obj, CKA_WRAP_TEMPLATE));
    (void)ks_rules_template_matches(obj, ks_attrs_find(obj, CKA_UNWRAP_TEMPLATE));
    (void)ks_rules_object_size(obj);
    ks_why why;
    ks_rule_ctx ctx = {fz_u8(f) & 1, 1, CKM_AES_KEY_GEN, 0, 0, 0, 0};
    fz_template_into(f, &t, &n, 1);
    (void)ks_rules_set(obj, t, n, &ctx, &why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_store == NULL) {
        setup();
    }
    fz f;
    fz_init(&f, data, size);
    exec_sql("DELETE FROM attributes; DELETE FROM objects;");
    int nobj = 1 + fz_u8(&f) % 3;
    char uids[3][KS_UID_LEN + 1];
    for (int i = 0; i < nobj; i++) {
        insert_object(&f, i + 1, uids[i]);
        insert_attrs(&f, i + 1, uids[i]);
    }
    for (CK_OBJECT_HANDLE h = 0; h <= (CK_OBJECT_HANDLE)nobj + 1; h++) {
        for (int with_key = 0; with_key < 2; with_key++) {
            ks_attrs obj;
            ks_attrs_init(&obj);
            int missing = 0;
            CK_RV rv = ks_store_load_object(g_store, with_key ? g_token_key : NULL, h, &obj,
                                            &missing);
            if (rv == CKR_OK) {
                use_object(&f, &obj);
            } else if ((rv != CKR_DEVICE_ERROR && rv != CKR_OBJECT_HANDLE_INVALID &&
                        rv != CKR_ATTRIBUTE_VALUE_INVALID && rv != CKR_USER_NOT_LOGGED_IN) ||
                       obj.count != 0) {
                /* CKR_USER_NOT_LOGGED_IN: an authenticated store verifies a record with the
                 * MAC key a login makes (docs/store.md); rows written here carry no MAC. */
                fprintf(stderr, "ks_store_load_object: rv=0x%lx, %zu attributes left\n", rv,
                        obj.count);
                abort();
            }
            ks_attrs_free(&obj);
        }
    }
    CK_ATTRIBUTE *t = NULL;
    CK_ULONG n = 0;
    fz_template_into(&f, &t, &n, 1);
    CK_OBJECT_HANDLE *found = NULL;
    size_t nfound = 0;
    if (ks_store_find(g_store, t, n, &found, &nfound) == CKR_OK) {
        ks_store_free_handles(found);
    }
    fz_free(&f);
    return 0;
}
