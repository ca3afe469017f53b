/* store_internal.h - what the store's files share (store.c, store_schema.c, store_memory.c,
 * store_seal.c, store_objects.c, store_counters.c, pin.c). Not part of the store's API.
 *
 * A ks_store is a handle; the SQLite connection and its lock live in a ks_store_db that the
 * handle points to. Every database token has its own ks_store_db (one connection per handle,
 * so two handles on one file behave like two processes). An in-memory token ":memory:<id>"
 * has one ks_store_db shared by every handle that opens it, kept alive by the process-wide
 * registry of store_memory.c, so that its objects outlive C_Finalize/C_Initialize. */
#ifndef KS_TOKEN_STORE_INTERNAL_H
#define KS_TOKEN_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "crypto/gcm.h"
#include "crypto/sha256.h"
#include "token/store.h"

#define KS_STORE_SCHEMA_VERSION 2 /* 2: row_macs (store_auth.c) */
#define KS_STORE_BUSY_MS 10000 /* wait this long for another writer before giving up */
#define KS_SEAL_IV_LEN 12
#define KS_SEAL_TAG_LEN 16
#define KS_SEAL_OVERHEAD (KS_SEAL_IV_LEN + KS_SEAL_TAG_LEN)
#define KS_ST_TOKEN_ID_LEN 16
#define KS_ST_ID_SEALED_LEN (KS_ST_TOKEN_ID_LEN + KS_SEAL_OVERHEAD)
#define KS_ST_NAME_MAX 64 /* longest counter name */
#define KS_ST_CENSUS_LEN 64 /* meta auth_census: sum (32, little-endian) || tag (32) */

/* What row_macs authenticates (store_auth.c); a new authenticated table adds a kind. */
typedef enum ks_st_kind {
    KS_ST_OBJECT = 1,  /* ref: handle (8 bytes big-endian) */
    KS_ST_COUNTER = 2, /* ref: handle || name */
    KS_ST_ROLE = 3,    /* ref: value fingerprint (value_roles) */
    KS_ST_META = 4,    /* ref: the meta key (store_policy.c: "policy_floor") */
} ks_st_kind;

/* KEYED: the MAC key is known; LOCKED: the store is authenticated but its key is not known
 * (no login): nothing can be written; LEGACY: a store made before authentication, not yet
 * migrated (the first login migrates it). */
typedef enum ks_st_mode { KS_ST_KEYED, KS_ST_LOCKED, KS_ST_LEGACY } ks_st_mode;

/* The MAC key and token id, in ks_secure_alloc memory, held by a ks_store handle. */
typedef struct ks_st_auth {
    uint8_t token_key[KS_TOKEN_KEY_LEN]; /* the key this state was made from */
    uint8_t mac_key[KS_SHA256_LEN];
    uint8_t token_id[KS_ST_TOKEN_ID_LEN];
} ks_st_auth;

/* A streaming HMAC-SHA-256: the crypto layer's (crypto/sha256.h). */
typedef ks_hmac_sha256_ctx ks_st_mac;

/* Prepared statements kept per connection (store.c ks_st_prepare/ks_st_finish): the store's
 * SQL is a fixed set of texts, so each is parsed and planned once instead of per call. */
#define KS_ST_CACHE 64
typedef struct ks_st_cached {
    char *sql;         /* a copy of the text it was prepared from */
    sqlite3_stmt *st;
    int busy;          /* handed out and not finished yet */
} ks_st_cached;

enum { KS_ST_SYNC_FULL = 0, KS_ST_SYNC_NORMAL = 1, KS_ST_SYNC_LOST = 2 };

typedef struct ks_store_db {
    pthread_mutex_t lock; /* guards db and seq; every store call holds it */
    sqlite3 *db;
    unsigned refs;        /* handles + the registry's reference (memory tokens) */
    uint64_t seq;         /* commits made through this connection */
    int memory;
    int unsynced;         /* KS_ST_SYNC_*: FULL in force; NORMAL for the one transaction of
                           * ks_store_counter_add_unsynced; or FULL not restored after it,
                           * which every write transaction then restores first, or fails */
    sqlite3_stmt *data_version; /* "PRAGMA data_version", prepared once (checked every call) */
    char *path;           /* the database file, NULL for memory tokens */
    struct ks_audit_file *audit; /* the audit trail (token/audit.c), opened on first use */
    ks_st_cached cache[KS_ST_CACHE]; /* guarded by lock */
    size_t cached;
} ks_store_db;

struct ks_store {
    ks_store_db *core;
    uint64_t seen_seq;       /* core->seq at the last ks_store_changed, own commits included */
    int64_t data_version;    /* PRAGMA data_version at the last ks_store_changed */
    ks_pin_kdf pin_kdf;      /* copied from the configuration at open */
    ks_kdf_cost pin_kdf_cost;
    unsigned max_attempts;
    int writing;             /* the open transaction is a write (BEGIN IMMEDIATE) */
    ks_st_auth *auth;        /* NULL until a token key is seen (login) */
    int census_ok;           /* the census verified at data_version census_dv */
    int census_bad;          /* the last census check failed: nothing authenticated serves */
    int64_t census_dv;
    char fault[192];         /* the first failed verification of the call, for the report */
    char fault_uid[KS_UID_LEN + 1];
};

/* store.c: connections and transactions (caller holds core->lock). */
CK_RV ks_st_configure(sqlite3 *db, int memory);
/* ks_st_sync: synchronous=FULL (full != 0) or NORMAL on the connection, outside a
 * transaction; see store.c. */
CK_RV ks_st_sync(ks_store *s, int full);
CK_RV ks_st_begin(ks_store *s, int write);
CK_RV ks_st_commit(ks_store *s);
void ks_st_rollback(ks_store *s);
/* ks_st_exec runs SQL without results; CKR_DEVICE_ERROR on failure. */
CK_RV ks_st_exec(ks_store *s, const char *sql);
/* ks_st_prepare hands out a prepared statement for sql, from the connection's cache when it
 * has one that is not in use; ks_st_finish gives it back (reset, bindings cleared) or
 * finalizes a statement the cache does not hold. Every statement from ks_st_prepare ends in
 * ks_st_finish. */
CK_RV ks_st_prepare(ks_store *s, sqlite3_stmt **out, const char *sql);
void ks_st_finish(ks_store *s, sqlite3_stmt *st);
/* ks_st_prepare_once prepares a text made for one call (a search's query), outside the cache;
 * ks_st_finish finalizes it. */
CK_RV ks_st_prepare_once(ks_store *s, sqlite3_stmt **out, const char *sql);
/* ks_st_scrub checkpoints and truncates the WAL (best effort, short wait) so that values
 * deleted with secure_delete are gone from every file. */
void ks_st_scrub(ks_store *s);
CK_RV ks_st_db_free(ks_store_db *core);
/* ks_st_data_version: PRAGMA data_version (changes when another connection commits). */
int64_t ks_st_data_version(ks_store_db *core);

/* store_schema.c */
CK_RV ks_st_schema_ensure(sqlite3 *db);
CK_RV ks_st_meta_get_int(ks_store *s, const char *key, int64_t *out);
CK_RV ks_st_meta_set_int(ks_store *s, const char *key, int64_t value);
CK_RV ks_st_meta_set_blob(ks_store *s, const char *key, const void *value, size_t len);
/* ks_st_meta_get_blob: *found = 0 when key is absent or not a blob of exactly len bytes. */
CK_RV ks_st_meta_get_blob(ks_store *s, const char *key, void *out, size_t len, int *found);
CK_RV ks_st_read_meta(ks_store *s, ks_token_meta *out);

/* store_memory.c: the registry of in-memory tokens ":memory:<id>". */
CK_RV ks_st_memory_attach(ks_store_db **out, const char *path, int create);
/* ks_st_core_release drops one reference; frees the core at zero. */
void ks_st_core_release(ks_store_db *core);

/* store_seal.c: AES-256-GCM sealing of attribute values (SP 800-38D), AAD = uid || type. */
void ks_st_seal_aad(uint8_t aad[KS_UID_LEN + 8], const char uid[KS_UID_LEN],
                    CK_ATTRIBUTE_TYPE type);
/* ks_st_seal writes iv || ciphertext || tag (in_len + KS_SEAL_OVERHEAD bytes) to out. */
CK_RV ks_st_seal(const ks_gcm_key *key, uint8_t *out, const char uid[KS_UID_LEN],
                 CK_ATTRIBUTE_TYPE type, const uint8_t *in, size_t in_len);
/* ks_st_unseal writes in_len - KS_SEAL_OVERHEAD bytes to out; CKR_DEVICE_ERROR (out wiped)
 * when the value was altered or belongs to another object or attribute. */
CK_RV ks_st_unseal(const ks_gcm_key *key, uint8_t *out, const char uid[KS_UID_LEN],
                   CK_ATTRIBUTE_TYPE type, const uint8_t *in, size_t in_len);
/* ks_st_hex writes 2 * len lowercase hex digits (no NUL). */
void ks_st_hex(char *out, const uint8_t *in, size_t len);

/* store_read.c: ks_st_load_rows loads handle into out (sealed values opened with key when
 * not NULL, else *sealed_missing set). Refuses with CKR_DEVICE_ERROR (and a fault) a value
 * that must be sealed and is not, and, when verify and s->auth, an object whose MAC fails. */
CK_RV ks_st_load_rows(ks_store *s, const ks_gcm_key *key, CK_OBJECT_HANDLE handle,
                      ks_attrs *out, int *sealed_missing, int verify);
/* ks_st_object_mac computes the MAC of the object's stored rows (s->auth set). */
CK_RV ks_st_object_mac(ks_store *s, sqlite3_int64 handle, const char uid[KS_UID_LEN],
                       uint8_t mac[KS_SHA256_LEN]);
/* store_objects.c: ks_st_must_seal: obj's value of type is stored only sealed. */
int ks_st_must_seal(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type);
/* ks_st_is_public: obj is a public object that holds no secret (not a key, CKA_PRIVATE
 * false): writable without a PIN, so not authenticated (docs/store.md). */
int ks_st_is_public(const ks_attrs *obj);

/* store_auth.c: row authentication (docs/store.md). The caller holds the lock and, except
 * for ks_st_fault_report, a transaction. Failures set a fault and return CKR_DEVICE_ERROR. */
void ks_st_mac_row(ks_st_mac *m, const ks_st_auth *a, ks_st_kind kind, const uint8_t *ref,
                   size_t ref_len);
void ks_st_mac_u64(ks_st_mac *m, uint64_t v);
void ks_st_mac_bytes(ks_st_mac *m, const void *p, size_t len);
void ks_st_mac_attr(ks_st_mac *m, CK_ATTRIBUTE_TYPE type, int sealed, const uint8_t *value,
                    size_t len);
void ks_st_mac_end(ks_st_mac *m, uint8_t out[KS_SHA256_LEN]);
void ks_st_handle_ref(uint8_t ref[8], CK_OBJECT_HANDLE handle);
CK_RV ks_st_auth_mode(ks_store *s, ks_st_mode *mode);
/* ks_st_auth_write records mac for row (kind, ref) and updates the census. */
CK_RV ks_st_auth_write(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                       const uint8_t mac[KS_SHA256_LEN]);
CK_RV ks_st_auth_verify(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                        const uint8_t mac[KS_SHA256_LEN], const char *uid, const char *what);
/* The generic calls for a row holding one 64-bit value (counters, roles, and any later
 * counter table): put after writing the row, check after reading it (present = 0 when the
 * row is absent, which is then valid only if the census proves no record was deleted). */
CK_RV ks_st_auth_value_put(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                           uint64_t value);
CK_RV ks_st_auth_value_check(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                             int present, uint64_t value, const char *what);
/* ks_st_auth_object authenticates the object as stored (is_public: ks_st_is_public of its
 * attributes, an object that carries no MAC). */
CK_RV ks_st_auth_object(ks_store *s, sqlite3_int64 handle, const char uid[KS_UID_LEN],
                        int is_public);
/* ks_st_auth_verify_public: a public object's MAC, when it has a record, must verify. */
CK_RV ks_st_auth_verify_public(ks_store *s, const uint8_t ref[8],
                               const uint8_t mac[KS_SHA256_LEN], const char *uid,
                               const char *what);
CK_RV ks_st_auth_forget_object(ks_store *s, sqlite3_int64 handle);
/* ks_st_census_verify: the census tag verifies and the sum is the sum of the row_macs
 * entries (a full rescan only when another connection committed since the last check). */
CK_RV ks_st_census_verify(ks_store *s);
/* ks_st_census_record: the stored census (sum || tag) for sum. */
void ks_st_census_record(const ks_st_auth *a, const uint8_t sum[KS_SHA256_LEN],
                         uint8_t out[KS_ST_CENSUS_LEN]);
/* ks_st_census_upgrade (write transaction): an untagged census of the earlier format that
 * verifies is replaced by a tagged one; one that does not verify fails (and stays untagged,
 * so refused). A tagged census is left alone. */
CK_RV ks_st_census_upgrade(ks_store *s);
/* ks_st_auth_seal_id makes a fresh token id, sealed under token_key, and the empty census
 * of the store it authenticates. */
CK_RV ks_st_auth_seal_id(uint8_t out[KS_ST_ID_SEALED_LEN], uint8_t census[KS_ST_CENSUS_LEN],
                         const uint8_t *token_key);
/* ks_st_auth_open opens the sealed token id with a->token_key and derives the MAC key;
 * CKR_DEVICE_ERROR when it does not open. */
CK_RV ks_st_auth_open(ks_st_auth *a, const uint8_t sealed[KS_ST_ID_SEALED_LEN]);
void ks_st_auth_drop(ks_store *s);
void ks_st_fault(ks_store *s, const char *uid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ks_st_fault_report (lock NOT held): logs and audits the call's fault, if any. */
void ks_st_fault_report(ks_store *s);

/* store_migrate.c: ks_st_auth_ready (lock held, no transaction) makes s->auth for
 * token_key, migrating a store made before authentication (once, all or nothing).
 * CKR_DEVICE_ERROR when the token id does not open or authentication records exist without
 * it (no downgrade). */
CK_RV ks_st_auth_ready(ks_store *s, const uint8_t *token_key);
/* ks_st_auth_login (lock not held): ks_st_auth_ready, then the census check (reported,
 * not fatal: the token goes on serving what verifies). */
CK_RV ks_st_auth_login(ks_store *s, const uint8_t *token_key);
/* pin.c: ks_st_key_check is CKR_USER_NOT_LOGGED_IN when token_key is not the token's key;
 * else *version (may be NULL) is 2 when the key check marks the store authenticated, 1 for a
 * store made before. ks_st_key_check_authenticated writes a version 2 key check. */
CK_RV ks_st_key_check(ks_store *s, const uint8_t *token_key, int *version);
CK_RV ks_st_key_check_authenticated(ks_store *s, const uint8_t *token_key);

#endif
