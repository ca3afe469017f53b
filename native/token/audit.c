/* audit.c - the token's sealed audit trail (see audit.h for the construction). */
#include "token/audit.h"
#include "keystead.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/mem.h"
#include "crypto/rand.h"
#include "crypto/sha256.h"
#include "token/audit_file.h"
#include "token/store_internal.h"

static const char CHAIN_LABEL[] = "keystead audit chain";
static const char EVOLVE_LABEL[] = "keystead audit evolve";

static const char *const EVENT_NAMES[] = {
    [KS_AUDIT_INIT_TOKEN] = "init-token", [KS_AUDIT_LOGIN] = "login",
    [KS_AUDIT_LOGOUT] = "logout",         [KS_AUDIT_INIT_PIN] = "init-pin",
    [KS_AUDIT_SET_PIN] = "set-pin",       [KS_AUDIT_GENERATE] = "generate",
    [KS_AUDIT_IMPORT] = "import",         [KS_AUDIT_COPY] = "copy",
    [KS_AUDIT_WRAP] = "wrap",             [KS_AUDIT_UNWRAP] = "unwrap",
    [KS_AUDIT_SET_ATTRIBUTE] = "set-attribute", [KS_AUDIT_TRANSITION] = "transition",
    [KS_AUDIT_OVERRIDE] = "override",     [KS_AUDIT_DESTROY] = "destroy",
    [KS_AUDIT_USE] = "use",               [KS_AUDIT_INTEGRITY] = "integrity",
    [KS_AUDIT_DERIVE] = "derive",
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
    case CKU_KS_MANAGER:
        return "manager";
    default:
        return "public";
    }
}

/* The canonical encoding: fields as 4-byte big-endian length || bytes, in record order. A
 * record on file is u32 big-endian encoding length || encoding || chain || seal. */
enum { ENC_MAX = 2048, REC_MAX = 4 + ENC_MAX + 64, STR_MAX = 768 };

/* Eleven length prefixes, nine number or time fields of at most 27 bytes and two strings of at
 * most STR_MAX: every record fits ENC_MAX whole, so no field is ever cut or left out (the
 * verifier wants all eleven). */
_Static_assert(11 * 4 + 9 * 27 + 2 * STR_MAX <= ENC_MAX, "a record always fits ENC_MAX");

typedef struct rec_buf {
    uint8_t bytes[REC_MAX];
    size_t len; /* bytes of the encoding so far, after the 4-byte length */
} rec_buf;

static void put_field(rec_buf *b, const char *s, size_t n)
{
    /* Never past ENC_MAX, even were a caller's string longer than STR_MAX allows for. */
    if (b->len + 4 > ENC_MAX) {
        return;
    }
    size_t room = ENC_MAX - b->len - 4;
    n = n < room ? n : room;
    uint8_t *p = b->bytes + 4 + b->len;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    memcpy(p + 4, s, n);
    b->len += 4 + n;
}

static void put_str(rec_buf *b, const char *s)
{
    s = s ? s : "";
    put_field(b, s, strnlen(s, STR_MAX));
}

/* A decimal integer field, "-" first when negative is set (m is then the magnitude). */
static void put_decimal(rec_buf *b, int negative, uint64_t m)
{
    char digits[21];
    size_t n = 0;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m != 0);
    if (negative) {
        digits[sizeof(digits) - 1 - n++] = '-';
    }
    put_field(b, digits + sizeof(digits) - n, n);
}

static void put_u64(rec_buf *b, uint64_t v)
{
    put_decimal(b, 0, v);
}

static void put_i64(rec_buf *b, int64_t v)
{
    put_decimal(b, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

static void two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* UTC as 2026-11-28T13:05:18.123456Z. Days to civil date after the proleptic Gregorian
 * calendar's 400-year cycle (eras of 146097 days starting 0000-03-01). */
static void put_time(rec_buf *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t secs = ts.tv_sec;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    unsigned day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    unsigned month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    int64_t year = yoe + era * 400 + (month <= 2);
    char t[32];
    if (year < 0 || year > 9999) {
        year = 0; /* not a clock this token will meet */
    }
    unsigned y = (unsigned)year;
    two(t, y / 100);
    two(t + 2, y % 100);
    t[4] = '-';
    two(t + 5, month);
    t[7] = '-';
    two(t + 8, day);
    t[10] = 'T';
    two(t + 11, (unsigned)(sod / 3600));
    t[13] = ':';
    two(t + 14, (unsigned)(sod / 60 % 60));
    t[16] = ':';
    two(t + 17, (unsigned)(sod % 60));
    t[19] = '.';
    unsigned us = (unsigned)(ts.tv_nsec / 1000) % 1000000;
    two(t + 20, us / 10000);
    two(t + 22, us / 100 % 100);
    two(t + 24, us % 100);
    t[26] = 'Z';
    put_field(b, t, 27);
}

/* getpid(2) is a system call per record without this; a forked child refreshes it. */
static _Atomic long cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
    atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

static void watch_forks(void)
{
    (void)pthread_atfork(NULL, NULL, forget_pid);
}

static long current_pid(void)
{
    pthread_once(&pid_once, watch_forks);
    long pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    if (pid == 0) {
        pid = (long)getpid();
        atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
    }
    return pid;
}

static void encode(rec_buf *b, uint64_t seq, const ks_audit_entry *e)
{
    b->len = 0;
    put_u64(b, seq);
    put_time(b);
    put_i64(b, (int64_t)current_pid());
    put_str(b, user_name(e->user));
    put_u64(b, (uint64_t)e->session);
    put_str(b, ks_audit_event_name(e->event));
    put_str(b, e->object);
    put_i64(b, (int64_t)(CK_LONG)e->mechanism);
    put_u64(b, (uint64_t)e->rv);
    put_u64(b, e->count);
    put_str(b, e->detail);
    uint8_t *p = b->bytes;
    p[0] = (uint8_t)(b->len >> 24);
    p[1] = (uint8_t)(b->len >> 16);
    p[2] = (uint8_t)(b->len >> 8);
    p[3] = (uint8_t)b->len;
}

/* chain_i = SHA-256(label || chain_{i-1} || enc_i) */
static void chain_next(uint8_t out[32], const uint8_t prev[32], const rec_buf *b)
{
    ks_sha256_ctx ctx;
    ks_sha256_init(&ctx);
    ks_sha256_update(&ctx, (const uint8_t *)CHAIN_LABEL, sizeof(CHAIN_LABEL) - 1);
    ks_sha256_update(&ctx, prev, 32);
    ks_sha256_update(&ctx, b->bytes + 4, b->len);
    ks_sha256_final(&ctx, out);
}

/* k_{i+1} = SHA-256(label || k_i) */
static void evolve(uint8_t out[32], const uint8_t key[32])
{
    ks_sha256_ctx ctx;
    ks_sha256_init(&ctx);
    ks_sha256_update(&ctx, (const uint8_t *)EVOLVE_LABEL, sizeof(EVOLVE_LABEL) - 1);
    ks_sha256_update(&ctx, key, 32);
    ks_sha256_final(&ctx, out);
}

/* The trail of the store's token, opened on first use (create: make the file if missing; a
 * trail found deleted or cut is then replaced, as C_InitToken starts a new one anyway). */
static CK_RV trail(ks_store *s, int create, ks_audit_file **out)
{
    ks_store_db *core = s->core;
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&core->lock);
    if (create && core->audit != NULL && ks_audit_file_broken(core->audit)) {
        ks_audit_file_close(core->audit);
        core->audit = NULL;
    }
    if (core->audit == NULL) {
        rv = ks_audit_file_open(&core->audit, core->memory ? NULL : core->path, create);
    }
    *out = core->audit;
    pthread_mutex_unlock(&core->lock);
    return rv;
}

CK_RV ks_audit_append(ks_store *store, const ks_audit_entry *entry)
{
    if (store == NULL || entry == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_audit_file *f = NULL;
    CK_RV rv = trail(store, 0, &f);
    const ks_audit_state *cur = NULL;
    if (rv == CKR_OK) {
        rv = ks_audit_file_lock(f, &cur);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    if (cur->next_seq == 0) {
        ks_audit_file_unlock(f);
        return CKR_FUNCTION_FAILED; /* no trail started */
    }
    rec_buf b;
    ks_audit_state next;
    encode(&b, cur->next_seq, entry);
    chain_next(next.chain, cur->chain, &b);
    uint8_t *tail = b.bytes + 4 + b.len;
    memcpy(tail, next.chain, 32);
    ks_hmac_sha256(tail + 32, cur->key, 32, next.chain, 32);
    evolve(next.key, cur->key); /* the key that sealed this record is gone once committed */
    next.next_seq = cur->next_seq + 1;
    next.end = 0;
    rv = ks_audit_file_append(f, b.bytes, 4 + b.len + 64, &next);
    ks_audit_file_unlock(f);
    ks_wipe(&next, sizeof(next));
    return rv;
}

CK_RV ks_audit_ready(ks_store *store)
{
    if (store == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_audit_file *f = NULL;
    const ks_audit_state *cur = NULL;
    CK_RV rv = trail(store, 0, &f);
    if (rv == CKR_OK && ks_audit_file_broken(f)) {
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        rv = ks_audit_file_lock(f, &cur);
    }
    if (rv == CKR_OK) {
        rv = cur->next_seq == 0 ? CKR_FUNCTION_FAILED : ks_audit_file_reserve(f, REC_MAX);
        ks_audit_file_unlock(f);
    }
    return rv;
}

CK_RV ks_audit_adopt(ks_store *store, const char *key_path)
{
    if (store == NULL || key_path == NULL || store->core->memory) {
        return CKR_OK;
    }
    char path[PATH_MAX + 8];
    if (snprintf(path, sizeof(path), "%s.audit", store->core->path) >= (int)sizeof(path)) {
        return CKR_DEVICE_ERROR;
    }
    struct stat st;
    if (lstat(path, &st) == 0 || errno != ENOENT || lstat(key_path, &st) == 0 ||
        errno != ENOENT) {
        return CKR_OK; /* a trail was started once: a missing file is damage, not age */
    }
    return ks_audit_start(store, key_path);
}

int ks_audit_dirty_fd(ks_store *store)
{
    if (store == NULL) {
        return -1;
    }
    pthread_mutex_lock(&store->core->lock);
    int fd = ks_audit_file_dirty_fd(store->core->audit);
    pthread_mutex_unlock(&store->core->lock);
    return fd;
}

static CK_RV write_key_file(const char *path, const uint8_t key[32])
{
    char hex[65];
    ks_st_hex(hex, key, 32);
    hex[64] = '\n';
    /* O_CREAT's mode applies only to a new file: an old key file left readable (restored
     * from a backup, say) is made 0600 before the new key goes in; never through a link. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ks_wipe(hex, sizeof(hex));
        return CKR_DEVICE_ERROR;
    }
    ssize_t n = fchmod(fd, 0600) == 0 ? write(fd, hex, sizeof(hex)) : -1;
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
    ks_audit_state first;
    memset(&first, 0, sizeof(first));
    first.next_seq = 1;
    if (ks_random(first.key, sizeof(first.key)) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    CK_RV rv = key_path != NULL ? write_key_file(key_path, first.key) : CKR_OK;
    ks_audit_file *f = NULL;
    const ks_audit_state *cur = NULL;
    if (rv == CKR_OK) {
        rv = trail(store, 1, &f);
    }
    if (rv == CKR_OK) {
        rv = ks_audit_file_lock(f, &cur);
    }
    if (rv == CKR_OK) {
        rv = ks_audit_file_reset(f, &first);
        ks_audit_file_unlock(f);
    }
    ks_wipe(&first, sizeof(first));
    return rv;
}
