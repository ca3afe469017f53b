/* module.c - global state: initialisation, slots, the session table (PKCS#11 3.0 5.4, 5.6). */
#include "token/module.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "token/flusher.h"
#include "token/log.h"
#include "token/ops.h"
#include "token/policy.h"

ks_module ks_mod = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* fork() copies the module lock as it is; if another thread held it, the child's
 * C_Initialize would wait forever. The lock is taken around fork so the child starts with it
 * free. PKCS#11 3.0 5.4 (2.40 6.7.7) leaves a child's use of the parent's Cryptoki undefined
 * until it calls C_Initialize; keystead makes it safe: the child handler bumps the fork
 * generation, which ends the module's life in the child (every call answers
 * CKR_CRYPTOKI_NOT_INITIALIZED: no getpid per call), and the child's C_Initialize abandons
 * what it inherited (see abandon_inherited). */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    pthread_mutex_lock(&ks_mod.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&ks_mod.lock);
}

static void fork_child(void)
{
    atomic_fetch_add(&ks_mod.generation, 1);
    ks_flusher_forget();
    pthread_mutex_unlock(&ks_mod.lock);
}

static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int ks_module_live(void)
{
    return ks_mod.initialized && ks_mod.init_generation == atomic_load(&ks_mod.generation);
}

/* PKCS#11 3.0 5.4 C_Initialize: the application may give its own mutex callbacks; we accept
 * them only together with CKF_OS_LOCKING_OK (we always use pthreads) or when all four are
 * NULL. Supplying some but not all is CKR_ARGUMENTS_BAD; callbacks without OS locking
 * allowed is CKR_CANT_LOCK, since keystead cannot use the application's primitives. */
static CK_RV check_init_args(const CK_C_INITIALIZE_ARGS *a)
{
    int given = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
                (a->UnlockMutex != NULL);
    if (a->pReserved != NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (given != 0 && given != 4) {
        return CKR_ARGUMENTS_BAD;
    }
    if (given == 4 && !(a->flags & CKF_OS_LOCKING_OK)) {
        return CKR_CANT_LOCK;
    }
    return CKR_OK;
}

static void free_all(void)
{
    for (size_t b = 0; b < KS_SESSION_BUCKETS; b++) {
        ks_session *s = ks_mod.sessions[b];
        while (s != NULL) {
            ks_session *next = s->next;
            ks_session_end_all(s, 0);
            pthread_mutex_destroy(&s->lock);
            free(s);
            s = next;
        }
        ks_mod.sessions[b] = NULL;
    }
    for (size_t i = 0; i < ks_mod.token_count; i++) {
        ks_token_free(ks_mod.tokens[i]);
        ks_mod.tokens[i] = NULL;
    }
    ks_mod.token_count = 0;
}

/* A forked child's C_Initialize: the tokens, sessions and login of the parent are dropped
 * without being touched. Their SQLite connections and locks are the parent's (another of its
 * threads may have held one at the fork, and closing a connection the parent still uses can
 * release the parent's file locks), so they are leaked on purpose, never used or closed.
 * The key-use counts not yet written belong to the parent, which writes them itself. The
 * flusher thread and the bulk workers do not exist in this process (p11/bulk_pool.c starts
 * its pool afresh), the token keys' reserved GCM invocation numbers were forgotten at the
 * fork (token/gcm_iv.c), and libcrypto's DRBG reseeds in a new process. */
static void abandon_inherited(void)
{
    memset(ks_mod.tokens, 0, sizeof(ks_mod.tokens));
    ks_mod.token_count = 0;
    memset(ks_mod.sessions, 0, sizeof(ks_mod.sessions));
    ks_mod.initialized = 0;
}

CK_RV ks_module_initialize(CK_VOID_PTR args)
{
    if (args != NULL) {
        CK_RV rv = check_init_args((const CK_C_INITIALIZE_ARGS *)args);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&ks_mod.lock);
    if (ks_module_live()) {
        pthread_mutex_unlock(&ks_mod.lock);
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    if (ks_mod.initialized) {
        abandon_inherited();
    }
    char err[512] = {0};
    CK_RV rv = ks_config_load(&ks_mod.cfg, err, sizeof(err));
    if (rv != CKR_OK) {
        /* The message names the file, the line and the problem; stderr is the one place an
         * application developer is sure to see it. */
        fprintf(stderr, "keystead: %s\n", err);
        pthread_mutex_unlock(&ks_mod.lock);
        return rv;
    }
    ks_op_rsa_implicit_rejection(ks_mod.cfg.rsa_implicit_rejection);
    rv = ks_log_open(&ks_mod.cfg);
    if (rv == CKR_OK) {
        /* Handles keep counting across C_Finalize/C_Initialize: a handle kept from before
         * never names a new session (5.6: a closed session's handle is invalid). */
        if (ks_mod.next_session == 0) {
            ks_mod.next_session = 1;
        }
        ks_mod.init_generation = atomic_load(&ks_mod.generation);
        rv = ks_module_refresh_slots();
    }
    if (rv == CKR_OK) {
        ks_mod.initialized = 1;
    } else {
        free_all();
        ks_log_close();
    }
    int no_threads = args != NULL && (((const CK_C_INITIALIZE_ARGS *)args)->flags &
                                      CKF_LIBRARY_CANT_CREATE_OS_THREADS);
    if (rv == CKR_OK) {
        atomic_store(&ks_mod.no_threads, no_threads);
    }
    pthread_mutex_unlock(&ks_mod.lock);
    if (rv == CKR_OK && !no_threads) {
        /* Failing to start it costs only timeliness: counts are still written by later
         * calls, at session close and at C_Finalize. */
        if (ks_flusher_start() != CKR_OK) {
            ks_log_message(KS_LOG_ERROR, "audit: could not start the flusher thread");
        }
    }
    return rv;
}

CK_RV ks_module_finalize(CK_VOID_PTR reserved)
{
    if (reserved != NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_flusher_stop(); /* before the module lock, which the thread takes */
    pthread_mutex_lock(&ks_mod.lock);
    if (!ks_module_live()) {
        pthread_mutex_unlock(&ks_mod.lock);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    ks_mod.initialized = 0;
    free_all();
    ks_log_close();
    pthread_mutex_unlock(&ks_mod.lock);
    return CKR_OK;
}

CK_RV ks_module_lock(void)
{
    pthread_mutex_lock(&ks_mod.lock);
    if (!ks_module_live()) {
        pthread_mutex_unlock(&ks_mod.lock);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    return CKR_OK;
}

void ks_module_unlock(void)
{
    pthread_mutex_unlock(&ks_mod.lock);
}

CK_RV ks_module_refresh_slots(void)
{
    ks_slot_entry entries[KS_MAX_SLOTS];
    size_t count = 0;
    CK_RV rv = ks_slots_scan(&ks_mod.cfg, entries, KS_MAX_SLOTS, &count);
    if (rv != CKR_OK) {
        return rv;
    }
    for (size_t i = 0; i < count; i++) {
        ks_token *known = NULL;
        if (ks_module_token(entries[i].id, &known) == CKR_OK) {
            continue;
        }
        if (ks_mod.token_count == KS_MAX_SLOTS) {
            return CKR_DEVICE_MEMORY;
        }
        ks_token *tok = NULL;
        rv = ks_token_new(&tok, entries[i].id, entries[i].path, entries[i].initialized,
                          &ks_mod.cfg);
        if (rv != CKR_OK) {
            return rv;
        }
        ks_mod.tokens[ks_mod.token_count++] = tok;
    }
    return CKR_OK;
}

CK_RV ks_module_token(CK_SLOT_ID slot, ks_token **out)
{
    for (size_t i = 0; i < ks_mod.token_count; i++) {
        if (ks_mod.tokens[i]->slot_id == slot) {
            *out = ks_mod.tokens[i];
            return CKR_OK;
        }
    }
    return CKR_SLOT_ID_INVALID;
}

static size_t bucket_of(CK_SESSION_HANDLE h)
{
    return (size_t)(h % KS_SESSION_BUCKETS);
}

CK_RV ks_session_acquire(CK_SESSION_HANDLE handle, ks_session **out)
{
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session *s = ks_mod.sessions[bucket_of(handle)];
    while (s != NULL && s->handle != handle) {
        s = s->next;
    }
    if (s == NULL) {
        ks_module_unlock();
        return CKR_SESSION_HANDLE_INVALID;
    }
    s->refs++;
    ks_module_unlock();
    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        ks_session_release(s);
        return CKR_SESSION_HANDLE_INVALID;
    }
    /* A call starts holding no object pointer, and every pointer is used under the token
     * lock only: once that lock is ours, retired cache objects are nobody's. */
    ks_token *tok = s->token;
    if (__atomic_load_n(&tok->retired, __ATOMIC_RELAXED) != NULL) {
        pthread_mutex_lock(&tok->lock);
        ks_token_purge_retired(tok);
        pthread_mutex_unlock(&tok->lock);
    }
    *out = s;
    return CKR_OK;
}

void ks_session_release(ks_session *s)
{
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_lock(&ks_mod.lock);
    int free_it = (--s->refs == 0) && s->closed;
    pthread_mutex_unlock(&ks_mod.lock);
    if (free_it) {
        pthread_mutex_destroy(&s->lock);
        free(s);
    }
}

CK_RV ks_session_open(ks_token *tok, CK_FLAGS flags, CK_SESSION_HANDLE *out)
{
    ks_session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return CKR_HOST_MEMORY;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return CKR_CANT_LOCK;
    }
    /* The SO check and the count change under one holding of the token lock: C_Login as SO
     * checks the read-only count under the same lock (PKCS#11 3.0 5.6), so neither can slip
     * in between the other's check and its effect. */
    pthread_mutex_lock(&tok->lock);
    if (!(flags & CKF_RW_SESSION) && tok->login == CKU_SO) {
        pthread_mutex_unlock(&tok->lock);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return CKR_SESSION_READ_WRITE_SO_EXISTS;
    }
    tok->session_count++;
    if (flags & CKF_RW_SESSION) {
        tok->rw_session_count++;
    }
    pthread_mutex_unlock(&tok->lock);
    s->handle = ks_mod.next_session++;
    s->token = tok;
    s->flags = flags;
    size_t b = bucket_of(s->handle);
    s->next = ks_mod.sessions[b];
    ks_mod.sessions[b] = s;
    *out = s->handle;
    return CKR_OK;
}

void ks_session_close(ks_session *s)
{
    ks_token *tok = s->token;
    pthread_mutex_lock(&ks_mod.lock);
    ks_session **link = &ks_mod.sessions[bucket_of(s->handle)];
    while (*link != NULL && *link != s) {
        link = &(*link)->next;
    }
    if (*link == s) {
        *link = s->next;
    }
    s->closed = 1;
    pthread_mutex_unlock(&ks_mod.lock);

    ks_session_end_all(s, 0);
    pthread_mutex_lock(&tok->lock);
    ks_token_audit_flush(tok, s->handle);
    ks_token_drop_session_objects(tok, s->handle);
    tok->session_count--;
    if (s->flags & CKF_RW_SESSION) {
        tok->rw_session_count--;
    }
    /* PKCS#11 3.0 5.6 C_CloseSession: closing the last session logs the application out. */
    if (tok->session_count == 0) {
        ks_policy_return_leases(tok);
        ks_token_logout(tok);
    }
    pthread_mutex_unlock(&tok->lock);
}

size_t ks_module_sessions_of(const ks_token *tok, ks_session **out, size_t max)
{
    size_t n = 0;
    for (size_t b = 0; b < KS_SESSION_BUCKETS; b++) {
        for (ks_session *s = ks_mod.sessions[b]; s != NULL; s = s->next) {
            if (s->token == tok) {
                if (n < max) {
                    out[n] = s;
                }
                n++;
            }
        }
    }
    return n;
}
