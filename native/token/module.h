/* module.h - the module's one piece of global state: configuration, slots and their tokens,
 * and the session table, all guarded by ks_mod.lock (PKCS#11 3.0 5.4: C_Initialize with
 * CKF_OS_LOCKING_OK; we always use the OS's primitives). */
#ifndef KS_TOKEN_MODULE_H
#define KS_TOKEN_MODULE_H

#include <pthread.h>
#include <sys/types.h>

#include "pkcs11.h"
#include "token/config.h"
#include "token/session.h"
#include "token/slots.h"
#include "token/token.h"

#define KS_SESSION_BUCKETS 256

typedef struct ks_module {
    pthread_mutex_t lock;
    int initialized;
    /* fork generation: a pthread_atfork child handler bumps `generation`; the module is live
     * only while it equals `init_generation`, the generation C_Initialize ran in. */
    _Atomic unsigned generation;
    unsigned init_generation;
    ks_config cfg;
    ks_token *tokens[KS_MAX_SLOTS];     /* by position; slot ids inside */
    size_t token_count;
    ks_session *sessions[KS_SESSION_BUCKETS];
    CK_SESSION_HANDLE next_session;
    _Atomic int no_threads;             /* C_Initialize said CKF_LIBRARY_CANT_CREATE_OS_THREADS */
} ks_module;

extern ks_module ks_mod;

/* C_Initialize / C_Finalize bodies. */
CK_RV ks_module_initialize(CK_VOID_PTR args);
CK_RV ks_module_finalize(CK_VOID_PTR reserved);

/* Called with ks_mod.lock held: rescan the token directory, adding new slots (never
 * removing one: slot ids stay valid for the life of the process). */
CK_RV ks_module_refresh_slots(void);
/* Called with ks_mod.lock held. CKR_SLOT_ID_INVALID when unknown. */
CK_RV ks_module_token(CK_SLOT_ID slot, ks_token **out);

/* ks_module_live returns 1 when C_Initialize ran in this process and no C_Finalize or fork
 * came after it (called with ks_mod.lock held). */
int ks_module_live(void);

/* ks_module_lock takes the module lock and checks initialisation
 * (CKR_CRYPTOKI_NOT_INITIALIZED, lock released; a forked child gets it until it calls
 * C_Initialize itself). */
CK_RV ks_module_lock(void);
void ks_module_unlock(void);

/* ks_session_acquire finds an open session, takes a reference and its lock.
 * CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED. */
CK_RV ks_session_acquire(CK_SESSION_HANDLE handle, ks_session **out);
/* ks_session_release unlocks and drops the reference; frees a closed session at 0. */
void ks_session_release(ks_session *s);

/* Called with ks_mod.lock held: create/remove sessions in the table. */
CK_RV ks_session_open(ks_token *tok, CK_FLAGS flags, CK_SESSION_HANDLE *out);
/* ks_session_close marks s closed and unlinks it (caller holds s via acquire; the module lock
 * is taken inside). Ends its operations and destroys its session objects. */
void ks_session_close(ks_session *s);

/* Sessions of a token, with ks_mod.lock held (for C_CloseAllSessions, C_InitToken). */
size_t ks_module_sessions_of(const ks_token *tok, ks_session **out, size_t max);

#endif
