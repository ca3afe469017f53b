/* pin.c - PINs: the token key wrapped under PIN-derived keys, login, failure counting.
 *
 * The token key (32 random bytes, made at C_InitToken) is stored once per user type (CKU_SO,
 * CKU_USER, and CKU_KS_MANAGER once the SO has set the manager's PIN) as AES-256-GCM(KEK, iv, token_key, aad), where KEK = KDF(PIN, 16-byte random
 * salt). A wrong PIN gives a wrong KEK, so the GCM tag check fails: the PIN is compared in
 * constant time by the tag comparison, and nothing that equals the PIN is stored. The AAD
 * names the user type and the KDF parameters, so one user's wrap cannot stand in for the
 * other's and the parameters cannot be swapped.
 *
 * KDF cost (stored with each wrap, so a token opens under any configuration):
 *   scrypt (RFC 7914), default N = 2^15, r = 8, p = 1: 32 MiB and about 100 ms of CPU per
 *     login on the reference machine (Debian 12, OpenSSL 3, AMD EPYC, 2 cores); fast (test suites
 *     only): N = 2^4, r = 1, p = 1, under 1 ms.
 *   PBKDF2-HMAC-SHA-256 (SP 800-132), default 600,000 iterations (the OWASP 2023 floor),
 *     about 140 ms of CPU; fast (test suites only): 1,000 iterations.
 * A login adds two synced commits (the failure count before the KDF, its reset after).
 *
 * Failure counting is pessimistic: the counter is raised and committed before the KDF runs
 * and reset only after a success, so killing the process mid-login never yields a free
 * guess. At max_attempts consecutive failures the PIN is locked: nothing is tried. */
#include <stdio.h>
#include <string.h>

#include "crypto/kdf.h"
#include "crypto/mem.h"
#include "crypto/rand.h"
#include "keystead.h"
#include "token/store_internal.h"

#define SALT_LEN 16
#define WRAPPED_LEN (KS_TOKEN_KEY_LEN + KS_SEAL_TAG_LEN)
#define SCRYPT_N_DEFAULT ((uint64_t)1 << 15)
#define SCRYPT_N_FAST ((uint64_t)1 << 4)
#define PBKDF2_DEFAULT 600000u
#define PBKDF2_FAST 1000u

typedef struct pin_wrap {
    int kdf; /* ks_pin_kdf */
    uint64_t n;
    uint32_t r, p, iterations;
    uint8_t salt[SALT_LEN];
    uint8_t iv[KS_SEAL_IV_LEN];
    uint8_t wrapped[WRAPPED_LEN]; /* ciphertext || tag */
} pin_wrap;

static void set_cost(pin_wrap *w, ks_pin_kdf kdf, ks_kdf_cost cost)
{
    int fast = cost == KS_KDF_COST_FAST;
    memset(w, 0, sizeof(*w));
    w->kdf = kdf;
    if (kdf == KS_PIN_KDF_PBKDF2) {
        w->iterations = fast ? PBKDF2_FAST : PBKDF2_DEFAULT;
    } else {
        w->n = fast ? SCRYPT_N_FAST : SCRYPT_N_DEFAULT;
        w->r = fast ? 1 : 8;
        w->p = 1;
    }
}

/* Parameters read from the file are bounded, so a damaged store cannot make a login take
 * minutes or gigabytes. */
static int cost_sane(const pin_wrap *w)
{
    if (w->kdf == KS_PIN_KDF_PBKDF2) {
        return w->iterations >= 1 && w->iterations <= 10000000u;
    }
    return w->kdf == KS_PIN_KDF_SCRYPT && w->n >= 2 && w->n <= ((uint64_t)1 << 20) &&
           (w->n & (w->n - 1)) == 0 && w->r >= 1 && w->r <= 32 && w->p >= 1 && w->p <= 16;
}

static size_t wrap_aad(char *aad, size_t max, CK_USER_TYPE who, const pin_wrap *w)
{
    int n = snprintf(aad, max, "keystead pin wrap v1 who=%lu kdf=%d n=%llu r=%u p=%u i=%u",
                     (unsigned long)who, w->kdf, (unsigned long long)w->n, w->r, w->p,
                     w->iterations);
    return n > 0 && (size_t)n < max ? (size_t)n : 0;
}

static CK_RV derive_kek(uint8_t kek[32], const pin_wrap *w, const uint8_t *pin, size_t len)
{
    static const uint8_t EMPTY[1] = {0};
    if (pin == NULL) {
        pin = EMPTY;
    }
    ks_status st = w->kdf == KS_PIN_KDF_PBKDF2
                       ? ks_pbkdf2_sha256(kek, 32, pin, len, w->salt, SALT_LEN, w->iterations)
                       : ks_scrypt(kek, 32, pin, len, w->salt, SALT_LEN, w->n, w->r, w->p);
    if (st != KS_OK) {
        ks_wipe(kek, 32);
        return st == KS_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_FUNCTION_FAILED;
    }
    return CKR_OK;
}

/* Fills w (cost from the store's configuration, fresh salt and IV) with token_key wrapped
 * under pin. */
static CK_RV wrap_token_key(pin_wrap *w, const ks_store *s, CK_USER_TYPE who,
                            const uint8_t *pin, size_t len, const uint8_t *token_key)
{
    uint8_t kek[32];
    char aad[128];
    ks_gcm_key gk;
    set_cost(w, s->pin_kdf, s->pin_kdf_cost);
    size_t aad_len = wrap_aad(aad, sizeof(aad), who, w);
    if (aad_len == 0 || ks_random(w->salt, SALT_LEN) != KS_OK ||
        ks_random(w->iv, KS_SEAL_IV_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    CK_RV rv = derive_kek(kek, w, pin, len);
    if (rv != CKR_OK) {
        return rv;
    }
    if (ks_gcm_init(&gk, kek, sizeof(kek)) != KS_OK) {
        ks_wipe(kek, sizeof(kek));
        return CKR_FUNCTION_FAILED;
    }
    ks_status st = ks_gcm_seal(&gk, w->wrapped, w->wrapped + KS_TOKEN_KEY_LEN, KS_SEAL_TAG_LEN,
                               w->iv, KS_SEAL_IV_LEN, (const uint8_t *)aad, aad_len, token_key,
                               KS_TOKEN_KEY_LEN);
    ks_gcm_clear(&gk);
    ks_wipe(kek, sizeof(kek));
    return st == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* Opens w with pin into token_key: CKR_PIN_INCORRECT (token_key wiped) when the tag fails. */
static CK_RV unwrap_token_key(const pin_wrap *w, CK_USER_TYPE who, const uint8_t *pin,
                              size_t len, uint8_t token_key[KS_TOKEN_KEY_LEN])
{
    uint8_t kek[32];
    char aad[128];
    ks_gcm_key gk;
    size_t aad_len = wrap_aad(aad, sizeof(aad), who, w);
    if (aad_len == 0 || !cost_sane(w)) {
        return CKR_DEVICE_ERROR;
    }
    CK_RV rv = derive_kek(kek, w, pin, len);
    if (rv != CKR_OK) {
        return rv;
    }
    if (ks_gcm_init(&gk, kek, sizeof(kek)) != KS_OK) {
        ks_wipe(kek, sizeof(kek));
        return CKR_FUNCTION_FAILED;
    }
    ks_status st = ks_gcm_open(&gk, token_key, w->iv, KS_SEAL_IV_LEN, (const uint8_t *)aad,
                               aad_len, w->wrapped, KS_TOKEN_KEY_LEN,
                               w->wrapped + KS_TOKEN_KEY_LEN, KS_SEAL_TAG_LEN);
    ks_gcm_clear(&gk);
    ks_wipe(kek, sizeof(kek));
    if (st == KS_OK) {
        return CKR_OK;
    }
    ks_wipe(token_key, KS_TOKEN_KEY_LEN);
    return st == KS_ERR_AUTH ? CKR_PIN_INCORRECT : CKR_FUNCTION_FAILED;
}

static int copy_col(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB ||
        (size_t)sqlite3_column_bytes(st, col) != len) {
        return 0;
    }
    memcpy(out, sqlite3_column_blob(st, col), len);
    return 1;
}

/* CKR_USER_PIN_NOT_INITIALIZED when there is no wrap for who. */
static CK_RV read_wrap(ks_store *s, CK_USER_TYPE who, pin_wrap *w)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT kdf, n, r, p, iterations, salt, iv, wrapped"
                                     " FROM pin_wraps WHERE who = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)who);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        w->kdf = sqlite3_column_int(st, 0);
        w->n = (uint64_t)sqlite3_column_int64(st, 1);
        w->r = (uint32_t)sqlite3_column_int64(st, 2);
        w->p = (uint32_t)sqlite3_column_int64(st, 3);
        w->iterations = (uint32_t)sqlite3_column_int64(st, 4);
        if (!copy_col(st, 5, w->salt, SALT_LEN) || !copy_col(st, 6, w->iv, KS_SEAL_IV_LEN) ||
            !copy_col(st, 7, w->wrapped, WRAPPED_LEN)) {
            rv = CKR_DEVICE_ERROR;
        }
    } else {
        rv = rc == SQLITE_DONE ? CKR_USER_PIN_NOT_INITIALIZED : CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static CK_RV write_wrap(ks_store *s, CK_USER_TYPE who, const pin_wrap *w)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "INSERT OR REPLACE INTO pin_wraps(who, kdf, n, r, p,"
                                     " iterations, salt, iv, wrapped)"
                                     " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)who);
    sqlite3_bind_int(st, 2, w->kdf);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)w->n);
    sqlite3_bind_int64(st, 4, w->r);
    sqlite3_bind_int64(st, 5, w->p);
    sqlite3_bind_int64(st, 6, w->iterations);
    sqlite3_bind_blob(st, 7, w->salt, SALT_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, w->iv, KS_SEAL_IV_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 9, w->wrapped, WRAPPED_LEN, SQLITE_STATIC);
    rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
    ks_st_finish(s, st);
    return rv;
}

/* The key check: GCM tag of the empty message under the token key. init_pin and set_pin
 * verify it inside their transaction, so a stale or wrong token key (another process
 * re-initialised the token meanwhile) is never wrapped under a new PIN. Its associated data
 * also says whether the store is authenticated (v2: docs/store.md): a store whose key check
 * says so but that holds no token id was stripped, and is never migrated again. */
static const char *const KEY_CHECK_AAD[] = {
    "keystead token key check v1",
    "keystead token key check v2 authenticated store",
};
#define KEY_CHECK_LEN (KS_SEAL_IV_LEN + KS_SEAL_TAG_LEN)

static CK_RV make_key_check(uint8_t out[KEY_CHECK_LEN], const uint8_t *token_key)
{
    ks_gcm_key gk;
    const char *aad = KEY_CHECK_AAD[1]; /* every store made now is authenticated */
    if (ks_random(out, KS_SEAL_IV_LEN) != KS_OK ||
        ks_gcm_init(&gk, token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    ks_status st = ks_gcm_seal(&gk, NULL, out + KS_SEAL_IV_LEN, KS_SEAL_TAG_LEN, out,
                               KS_SEAL_IV_LEN, (const uint8_t *)aad, strlen(aad), NULL, 0);
    ks_gcm_clear(&gk);
    return st == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* CKR_USER_NOT_LOGGED_IN when token_key is not this token's key; else *version is the key
 * check's version (1, or 2 for an authenticated store). */
static CK_RV verify_key_check_version(ks_store *s, const uint8_t *token_key, int *version)
{
    uint8_t check[KEY_CHECK_LEN];
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT value FROM meta WHERE key = 'key_check'");
    if (rv != CKR_OK) {
        return rv;
    }
    int found = sqlite3_step(st) == SQLITE_ROW && copy_col(st, 0, check, sizeof(check));
    ks_st_finish(s, st);
    if (!found) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    ks_gcm_key gk;
    if (ks_gcm_init(&gk, token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    ks_status k = KS_ERR_AUTH;
    for (int v = 2; v >= 1 && k == KS_ERR_AUTH; v--) {
        const char *aad = KEY_CHECK_AAD[v - 1];
        k = ks_gcm_open(&gk, NULL, check, KS_SEAL_IV_LEN, (const uint8_t *)aad, strlen(aad),
                        NULL, 0, check + KS_SEAL_IV_LEN, KS_SEAL_TAG_LEN);
        *version = v;
    }
    ks_gcm_clear(&gk);
    return k == KS_OK ? CKR_OK : k == KS_ERR_AUTH ? CKR_USER_NOT_LOGGED_IN
                                                  : CKR_FUNCTION_FAILED;
}

static CK_RV verify_key_check(ks_store *s, const uint8_t *token_key)
{
    int version = 0;
    return verify_key_check_version(s, token_key, &version);
}

static const char *failures_key(CK_USER_TYPE who)
{
    return who == CKU_SO ? "so_failures"
           : who == CKU_KS_MANAGER ? "manager_failures"
                                   : "user_failures";
}

/* The meta key that says who's PIN is set. */
static const char *pin_set_key(CK_USER_TYPE who)
{
    return who == CKU_SO ? "initialized"
           : who == CKU_KS_MANAGER ? "manager_pin_set"
                                   : "user_pin_set";
}

/* A meta integer that a store made before the manager user type lacks reads as 0. */
static CK_RV meta_int_or_zero(ks_store *s, const char *key, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT value FROM meta WHERE key = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        *out = sqlite3_column_int64(st, 0);
    } else if (rc == SQLITE_DONE) {
        *out = 0;
    } else {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static int known_user(CK_USER_TYPE who)
{
    return who == CKU_SO || who == CKU_USER || who == CKU_KS_MANAGER;
}

/* First half of a PIN check, under the lock: refuse when locked or not set, else count the
 * attempt as failed (committed) and return the wrap to try. */
static CK_RV begin_attempt(ks_store *s, CK_USER_TYPE who, pin_wrap *w)
{
    int64_t set = 0, failures = 0;
    CK_RV rv = ks_st_begin(s, 1);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = meta_int_or_zero(s, pin_set_key(who), &set);
    if (rv == CKR_OK && !set) {
        rv = CKR_USER_PIN_NOT_INITIALIZED;
    }
    if (rv == CKR_OK) {
        rv = meta_int_or_zero(s, failures_key(who), &failures);
    }
    if (rv == CKR_OK && failures >= (int64_t)s->max_attempts) {
        rv = CKR_PIN_LOCKED;
    }
    if (rv == CKR_OK) {
        rv = read_wrap(s, who, w);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_int(s, failures_key(who), failures + 1);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_int(s, "max_attempts", (int64_t)s->max_attempts);
    }
    if (rv == CKR_OK) {
        return ks_st_commit(s);
    }
    ks_st_rollback(s);
    return rv;
}

static CK_RV reset_failures(ks_store *s, CK_USER_TYPE who)
{
    CK_RV rv = ks_st_begin(s, 1);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = ks_st_meta_set_int(s, failures_key(who), 0);
    if (rv == CKR_OK) {
        return ks_st_commit(s);
    }
    ks_st_rollback(s);
    return rv;
}

/* Checks pin for who; on success token_key holds the token key and the counter is reset.
 * The KDF runs without the store lock, so other threads are not held up for its ~100 ms. */
static CK_RV check_pin(ks_store *s, CK_USER_TYPE who, const uint8_t *pin, size_t len,
                       uint8_t token_key[KS_TOKEN_KEY_LEN])
{
    pin_wrap w;
    pthread_mutex_lock(&s->core->lock);
    CK_RV rv = begin_attempt(s, who, &w);
    pthread_mutex_unlock(&s->core->lock);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = unwrap_token_key(&w, who, pin, len, token_key);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&s->core->lock);
    rv = reset_failures(s, who);
    pthread_mutex_unlock(&s->core->lock);
    if (rv != CKR_OK) {
        ks_wipe(token_key, KS_TOKEN_KEY_LEN);
    }
    return rv;
}

CK_RV ks_store_login(ks_store *store, CK_USER_TYPE user_type, const uint8_t *pin,
                     size_t pin_len, uint8_t token_key[KS_TOKEN_KEY_LEN])
{
    if (store == NULL || token_key == NULL || (pin == NULL && pin_len > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!known_user(user_type)) {
        return CKR_USER_TYPE_INVALID;
    }
    CK_RV rv = check_pin(store, user_type, pin, pin_len, token_key);
    /* The token key is known: derive the MAC key, migrate a store made before the store was
     * authenticated, check the census (store_migrate.c). */
    if (rv == CKR_OK) {
        rv = ks_st_auth_login(store, token_key);
    }
    if (rv != CKR_OK) {
        ks_wipe(token_key, KS_TOKEN_KEY_LEN);
    }
    return rv;
}

static const char *const ERASE[] = {
    "DELETE FROM attributes", "DELETE FROM counters", "DELETE FROM objects",
    "DELETE FROM pin_wraps", "DELETE FROM value_roles", "DELETE FROM row_macs",
};

/* The write half of init_token. was_init: what the caller saw before checking the SO PIN;
 * CKR_FUNCTION_REJECTED when another process initialised the token in between. */
static CK_RV init_locked(ks_store *s, int64_t was_init, const pin_wrap *w,
                         const uint8_t check[KEY_CHECK_LEN], const char label[32],
                         const uint8_t sealed_id[KS_ST_ID_SEALED_LEN],
                         const uint8_t census[KS_ST_CENSUS_LEN])
{
    int64_t init = 0;
    CK_RV rv = ks_st_begin(s, 1);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = ks_st_meta_get_int(s, "initialized", &init);
    if (rv == CKR_OK && init != was_init) {
        rv = CKR_FUNCTION_REJECTED;
    }
    for (size_t i = 0; rv == CKR_OK && i < sizeof(ERASE) / sizeof(ERASE[0]); i++) {
        rv = ks_st_exec(s, ERASE[i]);
    }
    if (rv == CKR_OK) {
        rv = write_wrap(s, CKU_SO, w);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_blob(s, "key_check", check, KEY_CHECK_LEN);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_blob(s, "label", label, 32);
    }
    if (rv == CKR_OK) { /* the store is authenticated from birth (store_auth.c) */
        rv = ks_st_meta_set_blob(s, "auth_token_id", sealed_id, KS_ST_ID_SEALED_LEN);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_blob(s, "auth_census", census, KS_ST_CENSUS_LEN);
    }
    static const char *const ZERO[] = {"user_pin_set", "so_failures", "user_failures",
                                       "user_pin_to_be_changed", "manager_pin_set",
                                       "manager_failures"};
    for (size_t i = 0; rv == CKR_OK && i < sizeof(ZERO) / sizeof(ZERO[0]); i++) {
        rv = ks_st_meta_set_int(s, ZERO[i], 0);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_int(s, "initialized", 1);
    }
    if (rv == CKR_OK) {
        rv = ks_st_meta_set_int(s, "max_attempts", (int64_t)s->max_attempts);
    }
    if (rv == CKR_OK) {
        return ks_st_commit(s);
    }
    ks_st_rollback(s);
    return rv;
}

static CK_RV read_initialized(ks_store *s, int64_t *init)
{
    pthread_mutex_lock(&s->core->lock);
    CK_RV rv = ks_st_begin(s, 0);
    if (rv == CKR_OK) {
        rv = ks_st_meta_get_int(s, "initialized", init);
        if (rv == CKR_OK) {
            rv = ks_st_commit(s);
        } else {
            ks_st_rollback(s);
        }
    }
    pthread_mutex_unlock(&s->core->lock);
    return rv;
}

CK_RV ks_store_init_token(ks_store *store, const uint8_t *so_pin, size_t so_pin_len,
                          const char label[32])
{
    uint8_t key[KS_TOKEN_KEY_LEN];
    uint8_t check[KEY_CHECK_LEN];
    uint8_t sealed_id[KS_ST_ID_SEALED_LEN], census[KS_ST_CENSUS_LEN];
    pin_wrap w;
    int64_t init = 0;
    if (store == NULL || label == NULL || (so_pin == NULL && so_pin_len > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = read_initialized(store, &init);
    /* Re-initialisation needs the old SO PIN (PKCS#11 3.0 5.6 C_InitToken), counted. */
    if (rv == CKR_OK && init) {
        rv = check_pin(store, CKU_SO, so_pin, so_pin_len, key);
    }
    ks_wipe(key, sizeof(key));
    if (rv == CKR_OK && ks_random(key, sizeof(key)) != KS_OK) {
        rv = CKR_FUNCTION_FAILED;
    }
    if (rv == CKR_OK) {
        rv = wrap_token_key(&w, store, CKU_SO, so_pin, so_pin_len, key);
    }
    if (rv == CKR_OK) {
        rv = make_key_check(check, key);
    }
    if (rv == CKR_OK) {
        rv = ks_st_auth_seal_id(sealed_id, census, key);
    }
    ks_wipe(key, sizeof(key));
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&store->core->lock);
    rv = init_locked(store, init, &w, check, label, sealed_id, census);
    ks_st_auth_drop(store); /* the old token key's MAC key */
    if (rv == CKR_OK) {
        ks_st_scrub(store); /* the erased objects' pages, the old wraps */
    }
    pthread_mutex_unlock(&store->core->lock);
    return rv;
}

/* Stores w as the wrap of who, after checking token_key is still this token's key. */
static CK_RV store_wrap(ks_store *s, CK_USER_TYPE who, const uint8_t *token_key,
                        const pin_wrap *w)
{
    pthread_mutex_lock(&s->core->lock);
    CK_RV rv = ks_st_begin(s, 1);
    if (rv == CKR_OK) {
        rv = verify_key_check(s, token_key);
        if (rv == CKR_OK) {
            rv = write_wrap(s, who, w);
        }
        if (rv == CKR_OK && who == CKU_KS_MANAGER) {
            rv = ks_st_meta_set_int(s, "manager_pin_set", 1);
            if (rv == CKR_OK) {
                rv = ks_st_meta_set_int(s, "manager_failures", 0);
            }
        }
        if (rv == CKR_OK && who == CKU_USER) {
            rv = ks_st_meta_set_int(s, "user_pin_set", 1);
            if (rv == CKR_OK) {
                rv = ks_st_meta_set_int(s, "user_failures", 0);
            }
            if (rv == CKR_OK) {
                rv = ks_st_meta_set_int(s, "user_pin_to_be_changed", 0);
            }
        }
        if (rv == CKR_OK) {
            rv = ks_st_commit(s);
        } else {
            ks_st_rollback(s);
        }
    }
    if (rv == CKR_OK) {
        ks_st_scrub(s); /* the replaced wrap must not linger in the WAL */
    }
    pthread_mutex_unlock(&s->core->lock);
    return rv;
}

CK_RV ks_store_init_pin_of(ks_store *store, CK_USER_TYPE who,
                           const uint8_t token_key[KS_TOKEN_KEY_LEN], const uint8_t *pin,
                           size_t pin_len)
{
    pin_wrap w;
    if (store == NULL || token_key == NULL || (pin == NULL && pin_len > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (who != CKU_USER && who != CKU_KS_MANAGER) {
        return CKR_USER_TYPE_INVALID;
    }
    CK_RV rv = wrap_token_key(&w, store, who, pin, pin_len, token_key);
    if (rv == CKR_OK) {
        rv = store_wrap(store, who, token_key, &w);
    }
    return rv;
}

CK_RV ks_store_init_pin(ks_store *store, const uint8_t token_key[KS_TOKEN_KEY_LEN],
                        const uint8_t *pin, size_t pin_len)
{
    return ks_store_init_pin_of(store, CKU_USER, token_key, pin, pin_len);
}

CK_RV ks_store_set_pin(ks_store *store, CK_USER_TYPE user_type, const uint8_t *old_pin,
                       size_t old_len, const uint8_t *new_pin, size_t new_len)
{
    uint8_t key[KS_TOKEN_KEY_LEN];
    pin_wrap w;
    if (store == NULL || (old_pin == NULL && old_len > 0) || (new_pin == NULL && new_len > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!known_user(user_type)) {
        return CKR_USER_TYPE_INVALID;
    }
    CK_RV rv = check_pin(store, user_type, old_pin, old_len, key);
    if (rv == CKR_OK) {
        rv = wrap_token_key(&w, store, user_type, new_pin, new_len, key);
    }
    if (rv == CKR_OK) {
        rv = store_wrap(store, user_type, key, &w);
    }
    ks_wipe(key, sizeof(key));
    return rv;
}

CK_RV ks_st_key_check(ks_store *s, const uint8_t *token_key, int *version)
{
    int ignored = 0;
    return verify_key_check_version(s, token_key, version ? version : &ignored);
}

CK_RV ks_st_key_check_authenticated(ks_store *s, const uint8_t *token_key)
{
    uint8_t check[KEY_CHECK_LEN];
    CK_RV rv = make_key_check(check, token_key);
    return rv == CKR_OK ? ks_st_meta_set_blob(s, "key_check", check, sizeof(check)) : rv;
}
