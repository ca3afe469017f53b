/* store.c - opening a token's SQLite database, transactions, change detection.
 *
 * Durability and isolation come from SQLite: WAL journal with synchronous=FULL (a commit is
 * on disk when COMMIT returns, and a kill -9 at any point leaves the last committed state;
 * the one exception, ks_store_counter_add_unsynced, is durable with the next synced commit),
 * BEGIN IMMEDIATE for every write (writers queue on the database lock instead of failing
 * half-way with SQLITE_BUSY), a 10 s busy timeout, and secure_delete so that deleted values
 * are overwritten with zeros rather than left in free pages. */
#include "token/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token/audit_file.h"
#include "token/store_internal.h"

CK_RV ks_st_configure(sqlite3 *db, int memory)
{
    sqlite3_busy_timeout(db, KS_STORE_BUSY_MS);
    sqlite3_extended_result_codes(db, 1);
    /* WAL: readers never block the writer and the writer never blocks readers, so a second
     * process sees a commit at once; FULL syncs the WAL at each commit (durable). */
    const char *pragmas = memory ? "PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;"
                                 : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   " PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;";
    if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        return CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

CK_RV ks_st_prepare_once(ks_store *s, sqlite3_stmt **out, const char *sql)
{
    *out = NULL;
    int rc = sqlite3_prepare_v2(s->core->db, sql, -1, out, NULL);
    if (rc == SQLITE_NOMEM) {
        return CKR_HOST_MEMORY;
    }
    return rc == SQLITE_OK ? CKR_OK : CKR_DEVICE_ERROR;
}

CK_RV ks_st_prepare(ks_store *s, sqlite3_stmt **out, const char *sql)
{
    *out = NULL;
    ks_store_db *core = s->core;
    for (size_t i = 0; i < core->cached; i++) {
        ks_st_cached *c = &core->cache[i];
        if (!c->busy && strcmp(c->sql, sql) == 0) {
            c->busy = 1;
            *out = c->st;
            return CKR_OK;
        }
    }
    char *text = core->cached < KS_ST_CACHE ? strdup(sql) : NULL;
    int keep = text != NULL;
    int rc = sqlite3_prepare_v3(core->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, out,
                                NULL);
    if (rc != SQLITE_OK || *out == NULL) {
        free(text);
        return rc == SQLITE_NOMEM ? CKR_HOST_MEMORY : rc == SQLITE_OK ? CKR_OK : CKR_DEVICE_ERROR;
    }
    if (keep) {
        core->cache[core->cached++] = (ks_st_cached){text, *out, 1};
    }
    return CKR_OK;
}

void ks_st_finish(ks_store *s, sqlite3_stmt *st)
{
    if (st == NULL) {
        return;
    }
    ks_store_db *core = s->core;
    for (size_t i = 0; i < core->cached; i++) {
        if (core->cache[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            core->cache[i].busy = 0;
            return;
        }
    }
    sqlite3_finalize(st);
}

CK_RV ks_st_exec(ks_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, sql);
    if (rv == CKR_OK && st != NULL) {
        int rc = sqlite3_step(st);
        rv = rc == SQLITE_DONE || rc == SQLITE_ROW ? CKR_OK : CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

/* ks_st_sync sets the connection's synchronous mode: FULL (every commit synced) or NORMAL
 * (WAL commits not synced; ks_store_counter_add_unsynced). A connection whose FULL could not
 * be restored stays marked, and its next write transaction restores FULL or fails. */
CK_RV ks_st_sync(ks_store *s, int full)
{
    if (s->core->memory) {
        return CKR_OK;
    }
    /* Until FULL is known to be in force again: the one unsynced transaction, or (when
     * FULL could not be restored) lost for every later write. */
    s->core->unsynced = full ? KS_ST_SYNC_LOST : KS_ST_SYNC_NORMAL;
    /* Not through the statement cache: SQLite applies this pragma when it compiles it, so a
     * kept statement would not apply it again. */
    int rc = sqlite3_exec(s->core->db,
                          full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL,
                          NULL, NULL);
    CK_RV rv = rc == SQLITE_OK ? CKR_OK : CKR_DEVICE_ERROR;
    if (rv == CKR_OK && full) {
        s->core->unsynced = KS_ST_SYNC_FULL;
    }
    return rv;
}

CK_RV ks_st_begin(ks_store *s, int write)
{
    if (write && s->core->unsynced == KS_ST_SYNC_LOST && ks_st_sync(s, 1) != CKR_OK) {
        return CKR_DEVICE_ERROR; /* no write that would not be synced */
    }
    s->writing = write;
    return ks_st_exec(s, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

CK_RV ks_st_commit(ks_store *s)
{
    if (ks_st_exec(s, "COMMIT") != CKR_OK) {
        ks_st_rollback(s);
        return CKR_DEVICE_ERROR;
    }
    if (!s->writing) {
        return CKR_OK;
    }
    /* Our own commits do not count as changes for this handle (see ks_store_changed), unless
     * another handle on the same core committed since this handle last looked. */
    s->core->seq++;
    if (s->seen_seq + 1 == s->core->seq) {
        s->seen_seq = s->core->seq;
    }
    return CKR_OK;
}

void ks_st_rollback(ks_store *s)
{
    if (!sqlite3_get_autocommit(s->core->db)) {
        sqlite3_exec(s->core->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

void ks_st_scrub(ks_store *s)
{
    if (s->core->memory) {
        return;
    }
    /* Wait briefly only: a reader in another process may hold old frames; the values are
     * sealed anyway, the scrub only shortens how long their ciphertext stays around. */
    sqlite3_busy_timeout(s->core->db, 200);
    sqlite3_wal_checkpoint_v2(s->core->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(s->core->db, KS_STORE_BUSY_MS);
}

/* PRAGMA data_version changes when another connection commits. It is asked at every object
 * lookup, so the statement is prepared once per connection and reset after each use. */
int64_t ks_st_data_version(ks_store_db *core)
{
    int64_t v = -1;
    if (core->data_version == NULL &&
        sqlite3_prepare_v2(core->db, "PRAGMA data_version", -1, &core->data_version, NULL) !=
            SQLITE_OK) {
        core->data_version = NULL;
        return v;
    }
    if (sqlite3_step(core->data_version) == SQLITE_ROW) {
        v = sqlite3_column_int64(core->data_version, 0);
    }
    sqlite3_reset(core->data_version);
    return v;
}

CK_RV ks_st_db_free(ks_store_db *core)
{
    if (core == NULL) {
        return CKR_OK;
    }
    sqlite3_finalize(core->data_version);
    for (size_t i = 0; i < core->cached; i++) {
        sqlite3_finalize(core->cache[i].st);
        free(core->cache[i].sql);
    }
    core->cached = 0;
    ks_audit_file_close(core->audit);
    free(core->path);
    int rc = sqlite3_close(core->db);
    pthread_mutex_destroy(&core->lock);
    free(core);
    return rc == SQLITE_OK ? CKR_OK : CKR_DEVICE_ERROR;
}

/* Create the file with mode 0600 before SQLite does (it would use 0644 & ~umask); SQLite
 * gives the -wal and -shm files the database file's permissions. */
static int precreate(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return 0;
    }
    close(fd);
    return 1;
}

static CK_RV open_file_core(ks_store_db **out, const char *path, int create)
{
    *out = NULL;
    if (create) {
        if (!precreate(path)) {
            return CKR_DEVICE_ERROR;
        }
    } else if (access(path, R_OK | W_OK) != 0) {
        return CKR_DEVICE_ERROR;
    }
    ks_store_db *core = calloc(1, sizeof(*core));
    if (core == NULL) {
        return CKR_HOST_MEMORY;
    }
    if (pthread_mutex_init(&core->lock, NULL) != 0) {
        free(core);
        return CKR_CANT_LOCK;
    }
    core->refs = 1;
    core->path = strdup(path);
    if (core->path == NULL) {
        ks_st_db_free(core);
        return CKR_HOST_MEMORY;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW;
    if (sqlite3_open_v2(path, &core->db, flags, NULL) != SQLITE_OK ||
        ks_st_configure(core->db, 0) != CKR_OK || ks_st_schema_ensure(core->db) != CKR_OK) {
        ks_st_db_free(core);
        return CKR_DEVICE_ERROR;
    }
    *out = core;
    return CKR_OK;
}

CK_RV ks_store_open(ks_store **out, const char *path, int create, const ks_config *cfg)
{
    if (out == NULL || path == NULL || cfg == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    *out = NULL;
    ks_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_RV rv;
    if (strncmp(path, ":memory:", 8) == 0) {
        rv = ks_st_memory_attach(&s->core, path, create);
    } else {
        rv = open_file_core(&s->core, path, create);
    }
    if (rv != CKR_OK) {
        free(s);
        return rv;
    }
    s->pin_kdf = cfg->pin_kdf;
    s->pin_kdf_cost = cfg->pin_kdf_cost;
    s->max_attempts = cfg->max_pin_attempts ? cfg->max_pin_attempts : 10;
    pthread_mutex_lock(&s->core->lock);
    s->seen_seq = s->core->seq;
    s->data_version = ks_st_data_version(s->core);
    pthread_mutex_unlock(&s->core->lock);
    *out = s;
    return CKR_OK;
}

void ks_store_close(ks_store *store)
{
    if (store == NULL) {
        return;
    }
    ks_st_auth_drop(store);
    ks_st_core_release(store->core);
    free(store);
}

void ks_store_forget_key(ks_store *store)
{
    if (store == NULL) {
        return;
    }
    pthread_mutex_lock(&store->core->lock);
    ks_st_auth_drop(store);
    pthread_mutex_unlock(&store->core->lock);
}

int ks_store_changed(ks_store *store)
{
    if (store == NULL) {
        return 0;
    }
    pthread_mutex_lock(&store->core->lock);
    int64_t v = ks_st_data_version(store->core);
    int changed = v != store->data_version || store->seen_seq != store->core->seq;
    store->data_version = v;
    store->seen_seq = store->core->seq;
    pthread_mutex_unlock(&store->core->lock);
    return changed;
}

CK_RV ks_store_meta(ks_store *store, ks_token_meta *out)
{
    if (store == NULL || out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    CK_RV rv = ks_st_begin(store, 0);
    if (rv == CKR_OK) {
        rv = ks_st_read_meta(store, out);
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    return rv;
}
