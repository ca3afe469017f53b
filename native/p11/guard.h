/* guard.h - what every PKCS#11 entry point shares: argument-shape checks, the session guard,
 * the operation helpers and the one exit that logs the call.
 *
 * Each entry point is thin: it calls an inner function that returns a CK_RV, then returns
 * through ks_p11_exit, which writes the JSON call log line. */
#ifndef KS_P11_GUARD_H
#define KS_P11_GUARD_H

#include "ks_export.h"
#include "pkcs11.h"
#include "keystead.h"
#include "token/lifecycle.h"
#include "token/log.h"
#include "token/module.h"
#include "token/rules.h"

#define KS_NO_SESSION ((CK_SESSION_HANDLE)-1)
#define KS_NO_MECH ((CK_MECHANISM_TYPE)-1)
#define KS_NO_ATTR ((CK_ATTRIBUTE_TYPE)-1)

/* ks_p11_why records, for this thread's current call, the attribute at fault and why. */
void ks_p11_why(const ks_why *why);

/* ks_p11_exit logs the call (function, session, mechanism, rv, and the recorded why) and
 * returns rv. */
CK_RV ks_p11_exit(const char *fn, CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mech, CK_RV rv);

/* ks_p11_audit_new records the creation of an object (or the refusal, with handle
 * CK_INVALID_HANDLE) under the token lock and returns rv; when the record of a creation
 * cannot be written, the new object is destroyed and the error is returned (an operation
 * the trail does not hold takes no effect). */
CK_RV ks_p11_audit_new(ks_session *s, ks_audit_event event, CK_OBJECT_HANDLE handle,
                       CK_MECHANISM_TYPE mech, CK_RV rv, const char *detail);

/* Counts and lengths that do not fit are refused at once (issue: never truncated). */
#define KS_MAX_COUNT ((CK_ULONG)1 << 20)

/* ks_p11_session_rw returns 1 for a read/write session. */
static inline int ks_p11_session_rw(const ks_session *s)
{
    return (s->flags & CKF_RW_SESSION) != 0;
}

/* ks_p11_key_for_use resolves a key for an operation of one class under the token lock held
 * by the caller: it exists and is visible (CKR_KEY_HANDLE_INVALID), it is a secret key
 * (CKR_KEY_TYPE_INCONSISTENT), usage_attr is true (CKR_KEY_FUNCTION_NOT_PERMITTED), the
 * mechanism is in CKA_ALLOWED_MECHANISMS (CKR_MECHANISM_INVALID), the lifecycle state and the
 * usage period allow the use (CKR_KEY_FUNCTION_NOT_PERMITTED), its value is present
 * (CKR_USER_NOT_LOGGED_IN). */
CK_RV ks_p11_key_for_use(ks_token *tok, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE handle,
                         CK_MECHANISM_TYPE mech, CK_ATTRIBUTE_TYPE usage_attr, ks_use use,
                         ks_object **out);

/* ks_p11_op_init is the body of every C_*Init of a single- or multi-part operation. */
CK_RV ks_p11_op_init(CK_SESSION_HANDLE session, ks_op_slot slot, ks_op_kind kind,
                     const CK_MECHANISM *mech, CK_OBJECT_HANDLE key);

/* ks_p11_op_begin acquires the session and the active operation in slot
 * (CKR_OPERATION_NOT_INITIALIZED when none, or when a logout ended it). On success the caller
 * owns the session lock and must call ks_p11_op_end. */
CK_RV ks_p11_op_begin(CK_SESSION_HANDLE session, ks_op_slot slot, ks_session **s, ks_op **op);

/* ks_p11_op_end applies PKCS#11 3.0 5.2: the operation ends when rv is an error other than
 * CKR_BUFFER_TOO_SMALL, or when finishing is set and the call was not a length query;
 * then it releases the session. Returns rv. */
CK_RV ks_p11_op_end(ks_session *s, ks_op_slot slot, CK_RV rv, int finishing, int length_query);

#endif
