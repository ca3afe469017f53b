/* gcm_iv.c - token-generated GCM IVs (SP 800-38D 8.2.1 deterministic, 8.2.2 RBG-based) and
 * the per-key invocation counter, reserved in durable blocks (SP 800-38D 8.3). See gcm_iv.h.
 */
#include "token/gcm_iv.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "crypto/rand.h"
#include "token/store.h"

#define BUCKETS 256

/* One key object's numbers: next .. end - 1 are reserved and not yet handed out. */
typedef struct reservation {
    char uid[KS_UID_LEN];
    uint64_t next;
    uint64_t end;
    struct reservation *chain;
} reservation;

/* The table is process-wide (reservations outlive C_Finalize: they were durable, and
 * handing them out later is still unique) and guarded by its own lock. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static reservation *table[BUCKETS];
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A forked child must not hand out the numbers its parent holds in memory: it forgets them
 * (the parent's lock may have been held at the fork, so the child makes a new one). */
static void forget_in_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    table_lock = fresh;
    for (size_t i = 0; i < BUCKETS; i++) {
        reservation *r = table[i];
        while (r != NULL) {
            reservation *next = r->chain;
            free(r);
            r = next;
        }
        table[i] = NULL;
    }
}

static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_in_child);
}

static size_t bucket_of(const char uid[KS_UID_LEN])
{
    size_t h = 5381;
    for (size_t i = 0; i < KS_UID_LEN; i++) {
        h = h * 33 + (unsigned char)uid[i];
    }
    return h % BUCKETS;
}

/* Called with table_lock held. A new entry starts empty (next == end). */
static reservation *find_or_add(const char uid[KS_UID_LEN], uint64_t start, uint64_t end)
{
    size_t b = bucket_of(uid);
    for (reservation *r = table[b]; r != NULL; r = r->chain) {
        if (memcmp(r->uid, uid, KS_UID_LEN) == 0) {
            return r;
        }
    }
    reservation *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    memcpy(r->uid, uid, KS_UID_LEN);
    r->next = start;
    r->end = end;
    r->chain = table[b];
    table[b] = r;
    return r;
}

/* Reserve at least n fresh numbers of a token key in the store, durably: a whole block
 * when the limit allows, else what is left (when that covers n). */
static CK_RV reserve(ks_store *store, CK_OBJECT_HANDLE handle, uint64_t n, reservation *r)
{
    uint64_t want = n > KS_GCM_IV_BLOCK ? n : KS_GCM_IV_BLOCK;
    /* Another process may reserve between our reads: retry a few times, then give up. */
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t before = 0;
        CK_RV rv = ks_store_counter_add(store, handle, "gcm", want, KS_GCM_IV_LIMIT, &before);
        if (rv == CKR_OK) {
            r->next = before;
            r->end = before + want;
            return CKR_OK;
        }
        if (rv != CKR_KEY_FUNCTION_NOT_PERMITTED) {
            return rv;
        }
        uint64_t used = 0;
        rv = ks_store_counter_get(store, handle, "gcm", &used);
        if (rv != CKR_OK) {
            return rv;
        }
        if (used >= KS_GCM_IV_LIMIT || KS_GCM_IV_LIMIT - used < n) {
            return CKR_KEY_FUNCTION_NOT_PERMITTED; /* SP 800-38D 8.3: the key is spent */
        }
        want = KS_GCM_IV_LIMIT - used;
    }
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
}

CK_RV ks_gcm_iv_draw(ks_token *tok, const ks_object *key, uint64_t n, uint64_t *first)
{
    const ks_attr *uid = ks_attrs_find(&key->attrs, CKA_UNIQUE_ID);
    if (uid == NULL || uid->len != KS_UID_LEN) {
        return CKR_GENERAL_ERROR;
    }
    if (n == 0 || n > KS_GCM_IV_LIMIT) {
        return n == 0 ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    pthread_once(&fork_once, register_fork_handler);
    int persisted = key->is_token && tok->store != NULL;
    pthread_mutex_lock(&table_lock);
    /* A session object's counter is all in memory: its "reservation" is the whole range. */
    reservation *r = find_or_add((const char *)uid->value, 0, persisted ? 0 : KS_GCM_IV_LIMIT);
    CK_RV rv = r == NULL ? CKR_HOST_MEMORY : CKR_OK;
    if (rv == CKR_OK && r->end - r->next < n) {
        /* The rest of the old block is skipped: skipped numbers are never used. */
        rv = persisted ? reserve(tok->store, key->handle, n, r) : CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (rv == CKR_OK) {
        *first = r->next;
        r->next += n;
    }
    pthread_mutex_unlock(&table_lock);
    return rv;
}

/* Mask of the bits of byte i of an IV that are not in the first fixed_bits bits. */
static uint8_t free_mask(size_t i, size_t fixed_bits)
{
    if (i * 8 >= fixed_bits) {
        return 0xFF;
    }
    size_t kept = fixed_bits - i * 8; /* 1..7 for the byte where the fixed field ends */
    return kept >= 8 ? 0 : (uint8_t)(0xFF >> kept);
}

void ks_gcm_iv_counter(uint8_t *iv, size_t iv_len, size_t fixed_bits, uint64_t invocation)
{
    uint64_t v = invocation;
    for (size_t i = iv_len; i-- > fixed_bits / 8;) {
        uint8_t m = free_mask(i, fixed_bits);
        iv[i] = (uint8_t)((iv[i] & (uint8_t)~m) | ((uint8_t)v & m));
        v >>= 8;
    }
}

CK_RV ks_gcm_iv_random(uint8_t *iv, size_t iv_len, size_t fixed_bits)
{
    uint8_t r[64];
    size_t start = fixed_bits / 8;
    for (size_t done = start; done < iv_len;) {
        size_t chunk = iv_len - done < sizeof(r) ? iv_len - done : sizeof(r);
        if (ks_random(r, chunk) != KS_OK) {
            ks_wipe(r, sizeof(r));
            return CKR_FUNCTION_FAILED;
        }
        for (size_t j = 0; j < chunk; j++) {
            uint8_t m = free_mask(done + j, fixed_bits);
            iv[done + j] = (uint8_t)((iv[done + j] & (uint8_t)~m) | (r[j] & m));
        }
        done += chunk;
    }
    ks_wipe(r, sizeof(r));
    return CKR_OK;
}
