/* session.h - sessions (PKCS#11 3.0 5.6): state, the operations in progress and the results
 * of a find. Sessions are reference counted: a call in progress keeps its session alive even
 * when another thread closes it. */
#ifndef KS_TOKEN_SESSION_H
#define KS_TOKEN_SESSION_H

#include <pthread.h>
#include <stddef.h>

#include "pkcs11.h"
#include "token/ops.h"

struct ks_token;

/* Operation slots of a session: one of each may be active at a time. */
typedef enum ks_op_slot {
    KS_SLOT_ENCRYPT = 0,
    KS_SLOT_DECRYPT,
    KS_SLOT_DIGEST,
    KS_SLOT_SIGN,
    KS_SLOT_VERIFY,
    KS_SLOT_MSG_ENCRYPT,
    KS_SLOT_MSG_DECRYPT,
    KS_SLOT_COUNT,
} ks_op_slot;

typedef struct ks_active_op {
    ks_op *op;                  /* NULL when none */
    CK_OBJECT_HANDLE key;       /* the key used, for audit and logout */
    int needs_login;            /* uses a private object: ends at C_Logout */
    unsigned long epoch;        /* the token's login_epoch when it began */
    void *msg;                  /* message-based state (p11/message.c) */
    int reauth;                 /* its key has CKA_ALWAYS_AUTHENTICATE: no use before a
                                   C_Login(CKU_CONTEXT_SPECIFIC) (PKCS#11 3.0 4.9, 5.6) */
} ks_active_op;

typedef struct ks_session {
    CK_SESSION_HANDLE handle;
    struct ks_token *token;
    CK_FLAGS flags;             /* CKF_SERIAL_SESSION | CKF_RW_SESSION */
    pthread_mutex_t lock;       /* held while a call works on this session */
    int refs;                   /* guarded by the module lock */
    int closed;                 /* C_CloseSession ran; freed when refs drops to 0 */
    ks_active_op ops[KS_SLOT_COUNT];
    int finding;                /* C_FindObjectsInit ran */
    CK_OBJECT_HANDLE *found;
    size_t found_count;
    size_t found_pos;
    struct ks_session *next;    /* module's session table chain */
} ks_session;

/* ks_session_end_op ends the operation in one slot (frees its state). */
void ks_session_end_op(ks_session *s, ks_op_slot slot);
/* ks_session_end_all ends every operation and the find; needs_login_only limits it to those
 * that used private objects (C_Logout). */
void ks_session_end_all(ks_session *s, int needs_login_only);
void ks_session_end_find(ks_session *s);

#endif
