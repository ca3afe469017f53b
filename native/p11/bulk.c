/* bulk.c - KS_EncryptMessages / KS_DecryptMessages: many independent AES-GCM messages in one
 * call (documented in include/keystead.h).
 *
 * The key is resolved and checked once, the invocation numbers of the whole batch are drawn
 * at once (token/gcm_iv.c: SP 800-38D 8.2.1 IVs, 8.3 limit), then the messages are split into
 * contiguous runs of about equal cost, several per worker thread, which the threads of
 * p11/bulk_pool.c take one at a time; each run writes its own part of the output arena, IV
 * array and tag array, so the workers share nothing mutable but the counter that hands the
 * runs out. The runs' descriptions live on the caller's stack.
 *
 * Decryption releases only verified plaintext: each message's tag is checked first and only
 * then is it decrypted straight into the arena (token/gcm_out.h; no staging, no locked
 * memory whatever the batch). A message whose tag fails gets zeros, written once. When the
 * caller asks for all or nothing (pOk NULL), a first pass verifies every tag without
 * writing, and the plaintext is written by a second pass (which checks each tag again) only
 * if all verified. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/gcm.h"
#include "p11/bulk_pool.h"
#include "p11/message.h"
#include "token/gcm_iv.h"
#include "token/gcm_out.h"

/* A message costs about as much as this many bytes more (IV setup, tag, call). */
#define MSG_COST 256
/* Below this much work per thread, another thread costs more than it saves. */
#define THREAD_MIN_COST (64 * 1024)
/* Runs handed out per thread: enough that a helper that starts late (about 25 us to wake an
 * idle CPU here) or a thread slowed by another process leaves no long tail. */
#define RUNS_PER_THREAD 8
/* The runs' descriptions live on the caller's stack (48 bytes each). */
#define MAX_RUNS 128
#define IV_LEN KS_GCM_BULK_IV_LEN
#define FIXED_LEN 4

_Static_assert(KS_POOL_MAX_HELPERS == KS_GCM_BULK_MAX_THREADS - 1,
               "a call may ask for KS_GCM_BULK_MAX_THREADS threads, itself included");

typedef struct bulk_args {
    int decrypt;
    CK_ULONG count;
    CK_BYTE_PTR const *in;
    const CK_ULONG *in_len;
    CK_BYTE_PTR const *aad; /* NULL: no associated data */
    const CK_ULONG *aad_len;
    uint8_t *ivs;           /* written (encrypt) or read (decrypt) */
    uint8_t *tags;
    size_t tag_len;
    uint8_t fixed[FIXED_LEN];
    uint64_t first;         /* the batch's first invocation number */
    uint8_t *ok;            /* decrypt: per-message result, may be NULL */
    int verify_only;        /* decrypt: check the tags, write nothing */
} bulk_args;

typedef struct bulk_job {
    const bulk_args *args;
    const ks_gcm_key *key;
    CK_ULONG lo, hi;        /* messages lo .. hi - 1 */
    uint8_t *out;           /* the arena at message lo */
    CK_ULONG failed;        /* tags that did not verify */
    ks_status error;        /* another failure (cannot happen) */
} bulk_job;

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Check message i's tag, then decrypt it into out (zeros when the tag fails; nothing at all
 * in a verify-only pass). */
static ks_status open_one(const bulk_args *a, const ks_gcm_key *key, CK_ULONG i, uint8_t *out)
{
    size_t n = a->in_len[i];
    const uint8_t *aad = a->aad != NULL ? a->aad[i] : NULL;
    size_t aad_len = a->aad != NULL ? a->aad_len[i] : 0;
    const uint8_t *iv = a->ivs + IV_LEN * i;
    const uint8_t *tag = a->tags + a->tag_len * i;
    if (a->verify_only) {
        return ks_gcm_out_verify(key, iv, IV_LEN, aad, aad_len, a->in[i], n, tag, a->tag_len);
    }
    ks_status s = ks_gcm_out_open1(key, out, iv, IV_LEN, aad, aad_len, a->in[i], n, tag,
                                   a->tag_len);
    if (s == KS_ERR_AUTH) {
        ks_copy_out_fill(out, 0, n); /* nothing was written by the failed open */
    }
    return s;
}

static ks_status seal_one(const bulk_args *a, const ks_gcm_key *key, CK_ULONG i, uint8_t *out)
{
    /* SP 800-38D 8.2.1: fixed field || invocation field. */
    uint8_t iv[IV_LEN];
    memcpy(iv, a->fixed, FIXED_LEN);
    put_be64(iv + FIXED_LEN, a->first + i);
    ks_copy_out(a->ivs + IV_LEN * i, iv, IV_LEN);
    const uint8_t *aad = a->aad != NULL ? a->aad[i] : NULL;
    size_t aad_len = a->aad != NULL ? a->aad_len[i] : 0;
    return ks_gcm_out_seal(key, out, a->tags + a->tag_len * i, a->tag_len, iv, IV_LEN, aad,
                       aad_len, a->in[i], a->in_len[i]);
}

static void *run_job(void *arg)
{
    bulk_job *job = arg;
    const bulk_args *a = job->args;
    uint8_t *out = job->out;
    ks_copy_out_call_end(); /* a worker's writes start afresh with each run */
    for (CK_ULONG i = job->lo; i < job->hi; i++) {
        ks_status s;
        if (!a->decrypt) {
            s = seal_one(a, job->key, i, out);
        } else {
            s = open_one(a, job->key, i, out);
            if (a->ok != NULL && !a->verify_only) {
                a->ok[i] = s == KS_OK;
            }
            if (s == KS_ERR_AUTH) {
                job->failed++;
                s = KS_OK;
            }
        }
        if (s != KS_OK && job->error == KS_OK) {
            job->error = s;
        }
        out += a->in_len[i];
    }
    return NULL;
}

/* Shape of the arguments, and the arena size in *total. */
static CK_RV check_messages(const bulk_args *a, CK_ULONG *total)
{
    if (a->count != 0 && (a->in == NULL || a->in_len == NULL || a->ivs == NULL ||
                          a->tags == NULL || (a->aad != NULL && a->aad_len == NULL))) {
        return CKR_ARGUMENTS_BAD;
    }
    if (a->tag_len < 4 || a->tag_len > 16) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV len_rv = a->decrypt ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_DATA_LEN_RANGE;
    CK_ULONG sum = 0;
    for (CK_ULONG i = 0; i < a->count; i++) {
        CK_ULONG n = a->in_len[i];
        if ((a->in[i] == NULL && n != 0) ||
            (a->aad != NULL && a->aad[i] == NULL && a->aad_len[i] != 0)) {
            return CKR_ARGUMENTS_BAD;
        }
        if ((uint64_t)n > KS_GCM_MAX_MSG || n > (CK_ULONG)-1 - sum) {
            return len_rv;
        }
        sum += n;
    }
    *total = sum;
    return CKR_OK;
}

/* Split the batch into `runs` runs of consecutive messages of about equal cost (the last
 * may be empty). Message i writes at the arena offset in_len[0] + ... + in_len[i - 1], so
 * each run starts where the previous one ended. */
static void split_runs(bulk_job *jobs, CK_ULONG runs, const bulk_args *a, const ks_gcm_key *key,
                       uint8_t *out, uint64_t cost)
{
    CK_ULONG i = 0;
    uint64_t acc = 0;
    uint8_t *place = out;
    for (CK_ULONG r = 0; r < runs; r++) {
        uint64_t goal = cost * (r + 1) / runs;
        jobs[r] = (bulk_job){.args = a, .key = key, .lo = i, .out = place};
        while (i < a->count && (acc < goal || r + 1 == runs)) {
            acc += a->in_len[i] + MSG_COST;
            place += a->in_len[i];
            i++;
        }
        jobs[r].hi = i;
    }
}

static void run_task(void *ctx, size_t index)
{
    run_job((bulk_job *)ctx + index);
}

/* Run the batch on up to `threads` threads (this one included): split into runs, several per
 * thread, that the threads take one at a time (p11/bulk_pool.h), so that a thread that starts
 * late or runs slower takes fewer runs instead of finishing last. */
static void run_batch(const bulk_args *a, const ks_gcm_key *key, uint8_t *out, CK_ULONG total,
                      CK_ULONG threads, CK_ULONG *failed, ks_status *error)
{
    bulk_job jobs[MAX_RUNS];
    uint64_t cost = (uint64_t)total + (uint64_t)MSG_COST * a->count;
    uint64_t useful = cost / THREAD_MIN_COST + 1;
    CK_ULONG t_count = threads == 0 ? 1 : threads;
    if (t_count > useful) {
        t_count = (CK_ULONG)useful;
    }
    if (t_count > a->count && a->count > 0) {
        t_count = a->count;
    }
    CK_ULONG runs = t_count == 1 ? 1 : t_count * RUNS_PER_THREAD;
    if (runs > MAX_RUNS) {
        runs = MAX_RUNS;
    }
    if (runs > a->count && a->count > 0) {
        runs = a->count;
    }
    split_runs(jobs, runs, a, key, out, cost);
    ks_pool_run(run_task, jobs, runs, t_count - 1);
    for (CK_ULONG r = 0; r < runs; r++) {
        *failed += jobs[r].failed;
        if (jobs[r].error != KS_OK) {
            *error = jobs[r].error;
        }
    }
}

/* Resolve and check the key, draw the batch's invocation numbers (encryption) and expand
 * the key, all under the token lock. */
static CK_RV prepare_key(ks_session *s, CK_OBJECT_HANDLE handle, bulk_args *a, ks_gcm_key *gk)
{
    ks_token *tok = s->token;
    ks_object *key = NULL;
    pthread_mutex_lock(&tok->lock);
    CK_RV rv = ks_p11_gcm_key(s, handle, a->decrypt,
                              a->decrypt ? CKF_MESSAGE_DECRYPT : CKF_MESSAGE_ENCRYPT,
                              a->decrypt ? "KS_DecryptMessages" : "KS_EncryptMessages", &key);
    const ks_attr *value = rv == CKR_OK ? ks_p11_key_value(key) : NULL;
    if (rv == CKR_OK) {
        ks_status st = ks_gcm_init(gk, value->value, value->len);
        rv = st == KS_OK ? CKR_OK : st == KS_ERR_KEY_LEN ? CKR_KEY_SIZE_RANGE
                                                         : CKR_FUNCTION_FAILED;
    }
    if (rv == CKR_OK && !a->decrypt && a->count != 0) {
        rv = ks_gcm_iv_draw(tok, key, a->count, &a->first);
        if (rv != CKR_OK) {
            ks_gcm_clear(gk);
        }
    }
    pthread_mutex_unlock(&tok->lock);
    return rv;
}

static CK_RV bulk(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key_handle, bulk_args *a,
                  CK_BYTE_PTR out, CK_ULONG_PTR out_len, CK_ULONG threads)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(h, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    CK_ULONG total = 0;
    if (out_len == NULL || threads > KS_GCM_BULK_MAX_THREADS) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        rv = check_messages(a, &total);
    }
    if (rv == CKR_OK && (out == NULL || *out_len < total)) {
        /* PKCS#11 3.0 5.2: the arena size, and nothing else happens. */
        rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
        *out_len = total;
        ks_session_release(s);
        return rv;
    }
    ks_gcm_key gk;
    if (rv == CKR_OK) {
        rv = prepare_key(s, key_handle, a, &gk);
    }
    if (rv == CKR_OK) {
        CK_ULONG failed = 0;
        ks_status error = KS_OK;
        /* PKCS#11 3.0 5.4 C_Initialize: an application that says the library cannot create
         * threads gets the calling thread only. */
        CK_ULONG use = atomic_load(&ks_mod.no_threads) ? 1 : threads;
        if (a->decrypt && a->ok == NULL) {
            /* All or nothing: verify every tag first, writing nothing. */
            a->verify_only = 1;
            run_batch(a, &gk, out, total, use, &failed, &error);
            a->verify_only = 0;
        }
        if (error == KS_OK && failed == 0) {
            run_batch(a, &gk, out, total, use, &failed, &error);
            if (a->decrypt && a->ok == NULL && (failed != 0 || error != KS_OK)) {
                /* A tag or input that changed between the passes (memory another process
                 * writes) failed the second: all or nothing still, so the messages written
                 * before it are taken back too. */
                ks_copy_out_retract(out, total);
            }
        }
        ks_gcm_clear(&gk);
        if (error != KS_OK) {
            rv = error == KS_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
        } else if (failed != 0) {
            rv = CKR_ENCRYPTED_DATA_INVALID;
        }
        *out_len = total;
    }
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV KS_EncryptMessages(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey,
                                   CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen, CK_BYTE_PTR pIvs,
                                   CK_BYTE_PTR pTags, CK_ULONG ulTagLen, CK_ULONG ulCount,
                                   CK_BYTE_PTR const *ppIn, const CK_ULONG *pulInLen,
                                   CK_BYTE_PTR const *ppAad, const CK_ULONG *pulAadLen,
                                   const CK_BYTE *pIvFixed, CK_ULONG ulThreads)
{
    bulk_args a = {
        .decrypt = 0, .count = ulCount, .in = ppIn, .in_len = pulInLen, .aad = ppAad,
        .aad_len = pulAadLen, .ivs = pIvs, .tags = pTags, .tag_len = ulTagLen,
    };
    if (pIvFixed != NULL) {
        memcpy(a.fixed, pIvFixed, FIXED_LEN);
    }
    return ks_p11_exit("KS_EncryptMessages", hSession, CKM_AES_GCM,
                       bulk(hSession, hKey, &a, pOut, pulOutLen, ulThreads));
}

KS_EXPORT CK_RV KS_DecryptMessages(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey,
                                   CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen, CK_BYTE_PTR pOk,
                                   CK_ULONG ulCount, CK_BYTE_PTR const *ppIn,
                                   const CK_ULONG *pulInLen, CK_BYTE_PTR const *ppAad,
                                   const CK_ULONG *pulAadLen, const CK_BYTE *pIvs,
                                   const CK_BYTE *pTags, CK_ULONG ulTagLen, CK_ULONG ulThreads)
{
    /* The IV and tag arrays are only read on this path. */
    bulk_args a = {
        .decrypt = 1, .count = ulCount, .in = ppIn, .in_len = pulInLen, .aad = ppAad,
        .aad_len = pulAadLen, .ivs = (uint8_t *)pIvs, .tags = (uint8_t *)pTags,
        .tag_len = ulTagLen, .ok = pOk,
    };
    return ks_p11_exit("KS_DecryptMessages", hSession, CKM_AES_GCM,
                       bulk(hSession, hKey, &a, pOut, pulOutLen, ulThreads));
}
