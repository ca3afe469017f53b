/* session.c - ending the operations of a session (PKCS#11 3.0 5.2: an operation ends on the
 * success of its final call, on any error but CKR_BUFFER_TOO_SMALL, and at session close). */
#include "token/session.h"

#include <stdlib.h>

void ks_msg_state_free(void *msg);

void ks_session_end_op(ks_session *s, ks_op_slot slot)
{
    ks_active_op *a = &s->ops[slot];
    if (a->op != NULL) {
        ks_op_free(a->op);
    }
    if (a->msg != NULL) {
        ks_msg_state_free(a->msg);
    }
    a->op = NULL;
    a->msg = NULL;
    a->key = CK_INVALID_HANDLE;
    a->needs_login = 0;
}

void ks_session_end_find(ks_session *s)
{
    free(s->found);
    s->found = NULL;
    s->found_count = 0;
    s->found_pos = 0;
    s->finding = 0;
}

void ks_session_end_all(ks_session *s, int needs_login_only)
{
    for (int i = 0; i < KS_SLOT_COUNT; i++) {
        if (!needs_login_only || s->ops[i].needs_login) {
            ks_session_end_op(s, (ks_op_slot)i);
        }
    }
    if (!needs_login_only) {
        ks_session_end_find(s);
    }
}
