/* store_memory.c - the process-wide registry of in-memory tokens (`token_dir = :memory:`).
 *
 * An in-memory token is named ":memory:<id>" (its slot id). Its SQLite connection lives in a
 * ks_store_db held by this registry for the life of the process (or until
 * ks_store_memory_reset), so that C_Finalize followed by C_Initialize finds the same tokens,
 * as a test suite expects of one "device". The plain path ":memory:" is a private, unnamed
 * database that disappears with its handle. */
#include <stdlib.h>
#include <string.h>

#include "token/slots.h"
#include "token/store_internal.h"

typedef struct mem_entry {
    CK_SLOT_ID id;
    ks_store_db *core;
} mem_entry;

/* Guards the registry and the reference counts of every core (memory or file). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static mem_entry reg[KS_MAX_SLOTS];
static size_t reg_count;

static CK_RV new_memory_core(ks_store_db **out)
{
    ks_store_db *core = calloc(1, sizeof(*core));
    if (core == NULL) {
        return CKR_HOST_MEMORY;
    }
    if (pthread_mutex_init(&core->lock, NULL) != 0) {
        free(core);
        return CKR_CANT_LOCK;
    }
    core->memory = 1;
    core->refs = 1;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
                SQLITE_OPEN_MEMORY;
    if (sqlite3_open_v2(":memory:", &core->db, flags, NULL) != SQLITE_OK ||
        ks_st_configure(core->db, 1) != CKR_OK || ks_st_schema_ensure(core->db) != CKR_OK) {
        ks_st_db_free(core);
        return CKR_DEVICE_ERROR;
    }
    *out = core;
    return CKR_OK;
}

/* ":memory:<decimal id>" -> id; 0 when the name is not of that form. */
static int parse_id(const char *path, CK_SLOT_ID *id)
{
    const char *p = path + 8;
    if (*p < '0' || *p > '9' || strlen(p) > 6) {
        return 0;
    }
    char *end = NULL;
    unsigned long v = strtoul(p, &end, 10);
    if (*end != '\0') {
        return 0;
    }
    *id = (CK_SLOT_ID)v;
    return 1;
}

CK_RV ks_st_memory_attach(ks_store_db **out, const char *path, int create)
{
    *out = NULL;
    if (strcmp(path, ":memory:") == 0) {
        return new_memory_core(out);
    }
    CK_SLOT_ID id;
    if (!parse_id(path, &id)) {
        return CKR_DEVICE_ERROR;
    }
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_count; i++) {
        if (reg[i].id == id) {
            reg[i].core->refs++;
            *out = reg[i].core;
            pthread_mutex_unlock(&reg_lock);
            return CKR_OK;
        }
    }
    if (!create) {
        rv = CKR_DEVICE_ERROR;
    } else if (reg_count == KS_MAX_SLOTS) {
        rv = CKR_DEVICE_MEMORY;
    } else {
        ks_store_db *core = NULL;
        rv = new_memory_core(&core);
        if (rv == CKR_OK) {
            core->refs = 2; /* the registry's and the caller's */
            reg[reg_count].id = id;
            reg[reg_count].core = core;
            reg_count++;
            *out = core;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rv;
}

void ks_st_core_release(ks_store_db *core)
{
    if (core == NULL) {
        return;
    }
    pthread_mutex_lock(&reg_lock);
    unsigned left = --core->refs;
    pthread_mutex_unlock(&reg_lock);
    if (left == 0) {
        ks_st_db_free(core);
    }
}

static int core_initialized(ks_store_db *core)
{
    int64_t v = 0;
    pthread_mutex_lock(&core->lock);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(core->db, "SELECT value FROM meta WHERE key = 'initialized'", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&core->lock);
    return v != 0;
}

size_t ks_store_memory_tokens(CK_SLOT_ID *ids, int *initialized, size_t max)
{
    ks_store_db *cores[KS_MAX_SLOTS];
    CK_SLOT_ID found[KS_MAX_SLOTS];
    size_t n = 0;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_count; i++) {
        reg[i].core->refs++;
        cores[n] = reg[i].core;
        found[n] = reg[i].id;
        n++;
    }
    pthread_mutex_unlock(&reg_lock);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        int init = core_initialized(cores[i]);
        if (out < max) {
            ids[out] = found[i];
            initialized[out] = init;
            out++;
        }
        ks_st_core_release(cores[i]);
    }
    return out;
}

void ks_store_memory_reset(void)
{
    ks_store_db *drop[KS_MAX_SLOTS];
    size_t n = 0;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_count; i++) {
        drop[n++] = reg[i].core;
    }
    reg_count = 0;
    pthread_mutex_unlock(&reg_lock);
    for (size_t i = 0; i < n; i++) {
        ks_st_core_release(drop[i]);
    }
}
