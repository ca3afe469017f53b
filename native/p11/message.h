/* message.h - what message-based AES-GCM (p11/message.c) and the bulk vendor calls
 * (p11/bulk.c) share: resolving the key and drawing invocation numbers. */
#ifndef KS_P11_MESSAGE_H
#define KS_P11_MESSAGE_H

#include <stdint.h>

#include "p11/guard.h"

/* ks_p11_gcm_key resolves a key for AES-GCM in one direction, with s->token->lock held:
 * ks_p11_key_for_use with CKM_AES_GCM (CKA_ENCRYPT and a protect use, or CKA_DECRYPT and a
 * process use), an AES key (CKR_KEY_TYPE_INCONSISTENT), the wrap policy's data role, and the
 * policy gate's pass (one use counted, recorded in the audit trail under fn). mech_flag is the
 * registry flag the caller needs (CKF_MESSAGE_ENCRYPT, CKF_MESSAGE_DECRYPT;
 * CKR_MECHANISM_INVALID when absent). */
CK_RV ks_p11_gcm_key(ks_session *s, CK_OBJECT_HANDLE handle, int decrypt, CK_FLAGS mech_flag,
                     const char *fn, ks_object **out);

/* ks_p11_gcm_draw takes n invocation numbers of the key (gcm_iv.h), taking the token lock:
 * CKR_KEY_HANDLE_INVALID when the key is gone, CKR_KEY_FUNCTION_NOT_PERMITTED at the
 * SP 800-38D 8.3 limit. */
CK_RV ks_p11_gcm_draw(ks_session *s, CK_OBJECT_HANDLE handle, uint64_t n, uint64_t *first);

#endif
