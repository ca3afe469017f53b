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
#include "token/store.h"

#define KS_STORE_SCHEMA_VERSION 1
#define KS_STORE_BUSY_MS 10000 /* wait this long for another writer before giving up */
#define KS_SEAL_IV_LEN 12
#define KS_SEAL_TAG_LEN 16
#define KS_SEAL_OVERHEAD (KS_SEAL_IV_LEN + KS_SEAL_TAG_LEN)

typedef struct ks_store_db {
    pthread_mutex_t lock; /* guards db and seq; every store call holds it */
    sqlite3 *db;
    unsigned refs;        /* handles + the registry's reference (memory tokens) */
    uint64_t seq;         /* commits made through this connection */
    int memory;
    sqlite3_stmt *data_version; /* "PRAGMA data_version", prepared once (checked every call) */
    char *path;           /* the database file, NULL for memory tokens */
    struct ks_audit_file *audit; /* the audit trail (token/audit.c), opened on first use */
} ks_store_db;

struct ks_store {
    ks_store_db *core;
    uint64_t seen_seq;       /* core->seq at the last ks_store_changed, own commits included */
    int64_t data_version;    /* PRAGMA data_version at the last ks_store_changed */
    ks_pin_kdf pin_kdf;      /* copied from the configuration at open */
    ks_kdf_cost pin_kdf_cost;
    unsigned max_attempts;
    int writing;             /* the open transaction is a write (BEGIN IMMEDIATE) */
};

/* store.c: connections and transactions (caller holds core->lock). */
CK_RV ks_st_configure(sqlite3 *db, int memory);
CK_RV ks_st_begin(ks_store *s, int write);
CK_RV ks_st_commit(ks_store *s);
void ks_st_rollback(ks_store *s);
/* ks_st_exec runs SQL without results; CKR_DEVICE_ERROR on failure. */
CK_RV ks_st_exec(ks_store *s, const char *sql);
CK_RV ks_st_prepare(ks_store *s, sqlite3_stmt **out, const char *sql);
/* ks_st_scrub checkpoints and truncates the WAL (best effort, short wait) so that values
 * deleted with secure_delete are gone from every file. */
void ks_st_scrub(ks_store *s);
CK_RV ks_st_db_free(ks_store_db *core);

/* store_schema.c */
CK_RV ks_st_schema_ensure(sqlite3 *db);
CK_RV ks_st_meta_get_int(ks_store *s, const char *key, int64_t *out);
CK_RV ks_st_meta_set_int(ks_store *s, const char *key, int64_t value);
CK_RV ks_st_meta_set_blob(ks_store *s, const char *key, const void *value, size_t len);
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

#endif
