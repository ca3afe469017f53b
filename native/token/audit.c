/* audit.c - the token's sealed audit trail (see audit.h for the construction). */
#include "token/audit.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/digest.h"
#include "crypto/hmac.h"
#include "crypto/mem.h"
#include "crypto/rand.h"
#include "token/store_internal.h"

static const char CHAIN_LABEL[] = "keystead audit chain";
static const char EVOLVE_LABEL[] = "keystead audit evolve";

static const char TABLES[] =
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, time TEXT NOT NULL,"
    " pid INTEGER NOT NULL, user TEXT NOT NULL, session INTEGER NOT NULL,"
    " event TEXT NOT NULL, object TEXT NOT NULL, mechanism INTEGER NOT NULL,"
    " rv INTEGER NOT NULL, count INTEGER NOT NULL, detail TEXT NOT NULL,"
    " chain BLOB NOT NULL, mac BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit_state(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " next_seq INTEGER NOT NULL, key BLOB NOT NULL, chain BLOB NOT NULL);";

static const char *const EVENT_NAMES[] = {
    [KS_AUDIT_INIT_TOKEN] = "init-token", [KS_AUDIT_LOGIN] = "login",
    [KS_AUDIT_LOGOUT] = "logout",         [KS_AUDIT_INIT_PIN] = "init-pin",
    [KS_AUDIT_SET_PIN] = "set-pin",       [KS_AUDIT_GENERATE] = "generate",
    [KS_AUDIT_IMPORT] = "import",         [KS_AUDIT_COPY] = "copy",
    [KS_AUDIT_WRAP] = "wrap",             [KS_AUDIT_UNWRAP] = "unwrap",
    [KS_AUDIT_SET_ATTRIBUTE] = "set-attribute", [KS_AUDIT_TRANSITION] = "transition",
    [KS_AUDIT_OVERRIDE] = "override",     [KS_AUDIT_DESTROY] = "destroy",
    [KS_AUDIT_USE] = "use",
};

const char *ks_audit_event_name(ks_audit_event event)
{
    if ((size_t)event < sizeof(EVENT_NAMES) / sizeof(EVENT_NAMES[0]) && EVENT_NAMES[event]) {
        return EVENT_NAMES[event];
    }
    return "unknown";
}

static const char *user_name(CK_USER_TYPE user)
{
    switch (user) {
    case CKU_SO:
        return "so";
    case CKU_USER:
        return "user";
    default:
        return "public";
    }
}

/* The canonical encoding: fields as 4-byte big-endian length || bytes, in table order. */
typedef struct enc_buf {
    uint8_t bytes[2048];
    size_t len;
} enc_buf;

static void enc_field(enc_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > sizeof(b->bytes) - b->len - 4) {
        n = sizeof(b->bytes) - b->len - 4; /* details are short; never overflow */
    }
    b->bytes[b->len++] = (uint8_t)(n >> 24);
    b->bytes[b->len++] = (uint8_t)(n >> 16);
    b->bytes[b->len++] = (uint8_t)(n >> 8);
    b->bytes[b->len++] = (uint8_t)n;
    memcpy(b->bytes + b->len, s, n);
    b->len += n;
}

typedef struct row {
    char seq[24], time[32], pid[24], user[8], session[24], event[24];
    char object[80], mechanism[24], rv[24], count[24], detail[512];
} row;

static void fill_row(row *r, int64_t seq, const ks_audit_entry *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(r->time, sizeof(r->time), "%Y-%m-%dT%H:%M:%S", &tm);
    size_t n = strlen(r->time);
    snprintf(r->time + n, sizeof(r->time) - n, ".%06ldZ", (long)(ts.tv_nsec / 1000) % 1000000);
    snprintf(r->seq, sizeof(r->seq), "%lld", (long long)seq);
    snprintf(r->pid, sizeof(r->pid), "%ld", (long)getpid());
    snprintf(r->user, sizeof(r->user), "%s", user_name(e->user));
    snprintf(r->session, sizeof(r->session), "%lu", (unsigned long)e->session);
    snprintf(r->event, sizeof(r->event), "%s", ks_audit_event_name(e->event));
    snprintf(r->object, sizeof(r->object), "%s", e->object ? e->object : "");
    snprintf(r->mechanism, sizeof(r->mechanism), "%ld", (long)(CK_LONG)e->mechanism);
    snprintf(r->rv, sizeof(r->rv), "%lu", (unsigned long)e->rv);
    snprintf(r->count, sizeof(r->count), "%llu", (unsigned long long)e->count);
    snprintf(r->detail, sizeof(r->detail), "%s", e->detail ? e->detail : "");
}

static void encode(enc_buf *b, const row *r)
{
    b->len = 0;
    const char *fields[] = {r->seq,    r->time, r->pid,       r->user, r->session, r->event,
                            r->object, r->mechanism, r->rv,   r->count, r->detail};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        enc_field(b, fields[i]);
    }
}

static CK_RV chain_next(uint8_t out[32], const uint8_t prev[32], const enc_buf *b)
{
    ks_digest_ctx ctx;
    size_t len = 32;
    ks_status st = ks_digest_init(&ctx, KS_MD_SHA256);
    if (st == KS_OK) st = ks_digest_update(&ctx, (const uint8_t *)CHAIN_LABEL, sizeof(CHAIN_LABEL) - 1);
    if (st == KS_OK) st = ks_digest_update(&ctx, prev, 32);
    if (st == KS_OK) st = ks_digest_update(&ctx, b->bytes, b->len);
    if (st == KS_OK) st = ks_digest_final(&ctx, out, len);
    ks_digest_clear(&ctx);
    return st == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
}

static CK_RV evolve(uint8_t key[32])
{
    uint8_t in[sizeof(EVOLVE_LABEL) - 1 + 32];
    memcpy(in, EVOLVE_LABEL, sizeof(EVOLVE_LABEL) - 1);
    memcpy(in + sizeof(EVOLVE_LABEL) - 1, key, 32);
    ks_status st = ks_digest(KS_MD_SHA256, key, 32, in, sizeof(in));
    ks_wipe(in, sizeof(in));
    return st == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* The statements of an append, prepared once per connection (an audited call pays for the
 * record, not for parsing SQL): see ks_store_db.audit_stmts. */
enum { ST_READ, ST_WRITE, ST_INSERT, ST_SYNC_NORMAL, ST_SYNC_FULL };

static const char *const STMT_SQL[] = {
    [ST_READ] = "SELECT next_seq, key, chain FROM audit_state WHERE id = 1",
    [ST_WRITE] = "INSERT OR REPLACE INTO audit_state(id, next_seq, key, chain) VALUES(1, ?, ?, ?)",
    [ST_INSERT] = ("INSERT INTO audit(seq, time, pid, user, session, event, object, mechanism,"
                   " rv, count, detail, chain, mac) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
    [ST_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous=FULL",
};

static CK_RV stmt(ks_store *s, int which, sqlite3_stmt **out)
{
    sqlite3_stmt **slot = &s->core->audit_stmts[which];
    if (*slot == NULL) {
        CK_RV rv = ks_st_prepare(s, slot, STMT_SQL[which]);
        if (rv != CKR_OK) {
            *slot = NULL;
            return rv;
        }
    }
    sqlite3_reset(*slot);
    sqlite3_clear_bindings(*slot);
    *out = *slot;
    return CKR_OK;
}

/* Run a cached statement without results. */
static CK_RV run(ks_store *s, int which)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = stmt(s, which, &st);
    if (rv == CKR_OK) {
        int rc = sqlite3_step(st);
        rv = rc == SQLITE_DONE || rc == SQLITE_ROW ? CKR_OK : CKR_DEVICE_ERROR;
        sqlite3_reset(st);
    }
    return rv;
}

static CK_RV ensure_tables(ks_store *s)
{
    if (s->core->audit_tables) {
        return CKR_OK;
    }
    CK_RV rv = ks_st_exec(s, TABLES);
    s->core->audit_tables = rv == CKR_OK;
    return rv;
}

/* Current state: next sequence number, epoch key, last chain value. */
static CK_RV read_state(ks_store *s, int64_t *next_seq, uint8_t key[32], uint8_t chain[32])
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = stmt(s, ST_READ, &st);
    if (rv != CKR_OK) {
        return rv;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32 &&
        sqlite3_column_bytes(st, 2) == 32) {
        *next_seq = sqlite3_column_int64(st, 0);
        memcpy(key, sqlite3_column_blob(st, 1), 32);
        memcpy(chain, sqlite3_column_blob(st, 2), 32);
    } else {
        rv = rc == SQLITE_DONE ? CKR_FUNCTION_FAILED : CKR_DEVICE_ERROR; /* no trail started */
    }
    sqlite3_reset(st);
    return rv;
}

static CK_RV write_state(ks_store *s, int64_t next_seq, const uint8_t key[32],
                         const uint8_t chain[32])
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = stmt(s, ST_WRITE, &st);
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, next_seq);
    sqlite3_bind_blob(st, 2, key, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, chain, 32, SQLITE_TRANSIENT);
    rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* the key must not stay bound to a cached statement */
    return rv;
}

static CK_RV insert_row(ks_store *s, const row *r, const ks_audit_entry *e,
                        const uint8_t chain[32], const uint8_t mac[32])
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = stmt(s, ST_INSERT, &st);
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_text(st, 1, r->seq, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->time, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)getpid());
    sqlite3_bind_text(st, 4, r->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)e->session);
    sqlite3_bind_text(st, 6, r->event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, r->object, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)(CK_LONG)e->mechanism);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)e->rv);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)e->count);
    sqlite3_bind_text(st, 11, r->detail, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 12, chain, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 13, mac, 32, SQLITE_STATIC);
    rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* bindings point into this call's stack */
    return rv;
}

static CK_RV append_locked(ks_store *s, const ks_audit_entry *e)
{
    int64_t seq = 0;
    uint8_t key[32];
    uint8_t prev[32];
    uint8_t chain[32];
    uint8_t mac[32];
    row r;
    enc_buf b;
    CK_RV rv = read_state(s, &seq, key, prev);
    if (rv == CKR_OK) {
        fill_row(&r, seq, e);
        encode(&b, &r);
        rv = chain_next(chain, prev, &b);
    }
    if (rv == CKR_OK) {
        rv = ks_hmac(KS_MD_SHA256, mac, sizeof(mac), key, sizeof(key), chain, sizeof(chain)) ==
                     KS_OK
                 ? CKR_OK
                 : CKR_FUNCTION_FAILED;
    }
    if (rv == CKR_OK) {
        rv = insert_row(s, &r, e, chain, mac);
    }
    if (rv == CKR_OK) {
        rv = evolve(key); /* the key that sealed this record is gone once we commit */
    }
    if (rv == CKR_OK) {
        rv = write_state(s, seq + 1, key, chain);
    }
    ks_wipe(key, sizeof(key));
    return rv;
}

CK_RV ks_audit_append(ks_store *store, const ks_audit_entry *entry)
{
    if (store == NULL || entry == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&store->core->lock);
    /* A record is committed without its own fsync (WAL with synchronous=NORMAL): a killed
     * process never loses it, the next synced commit or checkpoint makes it durable against
     * power loss too, and an audited call does not pay a disk sync (5 ms here) for it. */
    int memory = store->core->memory;
    CK_RV rv = ensure_tables(store);
    if (rv == CKR_OK && !memory) {
        rv = run(store, ST_SYNC_NORMAL);
    }
    if (rv == CKR_OK) {
        rv = ks_st_begin(store, 1);
    }
    if (rv == CKR_OK) {
        rv = append_locked(store, entry);
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    if (!memory && run(store, ST_SYNC_FULL) != CKR_OK && rv == CKR_OK) {
        rv = CKR_DEVICE_ERROR;
    }
    pthread_mutex_unlock(&store->core->lock);
    return rv;
}

static CK_RV write_key_file(const char *path, const uint8_t key[32])
{
    char hex[65];
    ks_st_hex(hex, key, 32);
    hex[64] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        ks_wipe(hex, sizeof(hex));
        return CKR_DEVICE_ERROR;
    }
    ssize_t n = write(fd, hex, sizeof(hex));
    int ok = n == (ssize_t)sizeof(hex) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ks_wipe(hex, sizeof(hex));
    return ok ? CKR_OK : CKR_DEVICE_ERROR;
}

CK_RV ks_audit_start(ks_store *store, const char *key_path)
{
    if (store == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    uint8_t key[32];
    uint8_t zero[32] = {0};
    if (ks_random(key, sizeof(key)) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    CK_RV rv = key_path != NULL ? write_key_file(key_path, key) : CKR_OK;
    pthread_mutex_lock(&store->core->lock);
    if (rv == CKR_OK) {
        rv = ensure_tables(store);
    }
    if (rv == CKR_OK) {
        rv = ks_st_begin(store, 1);
    }
    if (rv == CKR_OK) {
        rv = ks_st_exec(store, "DELETE FROM audit");
        if (rv == CKR_OK) {
            rv = write_state(store, 1, key, zero);
        }
        if (rv == CKR_OK) {
            rv = ks_st_commit(store);
        } else {
            ks_st_rollback(store);
        }
    }
    pthread_mutex_unlock(&store->core->lock);
    ks_wipe(key, sizeof(key));
    return rv;
}
