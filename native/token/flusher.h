/* flusher.h - the background thread that writes pending key-use counts to each token's audit
 * trail at least every second, even while the application makes no call (token/audit.h).
 * Not started when C_Initialize says CKF_LIBRARY_CANT_CREATE_OS_THREADS: counts are then
 * written by the next call after a second, and at session close and C_Finalize. */
#ifndef KS_TOKEN_FLUSHER_H
#define KS_TOKEN_FLUSHER_H

#include "pkcs11.h"

/* ks_flusher_start starts the thread (after C_Initialize succeeded, module lock not held). */
CK_RV ks_flusher_start(void);

/* ks_flusher_stop stops and joins it (C_Finalize, before the module lock is taken). */
void ks_flusher_stop(void);

/* ks_flusher_forget: in a forked child the thread does not exist; forget it and make the
 * lock and condition anew (called from the module's pthread_atfork child handler). */
void ks_flusher_forget(void);

#endif
