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
#include "token/mech.h"
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

/* The policy gate. Every function that uses a key's value (C_EncryptInit, C_DecryptInit,
 * C_SignInit, C_VerifyInit, C_DigestKey, C_WrapKey for the wrapping key and for the key it
 * wraps, C_UnwrapKey, C_MessageEncryptInit, C_MessageDecryptInit, the bulk GCM calls, and
 * C_DeriveKey when it comes) passes the key through ks_p11_gate_check before it reads the
 * value and through ks_p11_gate_pass once the call is certain to use it. Nothing else decides
 * whether a key may be used; tests/conformance/test_policy_gate.py drives every PKCS#11
 * function that takes a key handle with a key the gate refuses. */
typedef struct ks_key_use {
    /* the function for the audit record ("C_EncryptInit"); NULL where the caller writes a
     * record of its own that names the key (C_WrapKey, C_UnwrapKey) */
    const char *fn;
    CK_ATTRIBUTE_TYPE usage; /* must be CK_TRUE on the key (CKA_ENCRYPT...); KS_NO_ATTR none */
    ks_use use;              /* which lifecycle column and usage period apply */
    /* checked against CKA_ALLOWED_MECHANISMS; KS_NO_MECH where the key is not used under a
     * mechanism of its own (the key C_WrapKey exports: the mechanism is the wrapping key's) */
    CK_MECHANISM_TYPE mech;
} ks_key_use;

/* ks_p11_gate_check: usage attribute (CKR_KEY_FUNCTION_NOT_PERMITTED), allowed mechanisms
 * (CKR_MECHANISM_INVALID, PKCS#11 3.0 4.7), lifecycle state and usage period, usage limit
 * used up (CKR_KEY_FUNCTION_NOT_PERMITTED). Changes nothing. tok->lock held. */
CK_RV ks_p11_gate_check(ks_token *tok, const ks_object *key, const ks_key_use *use);

/* ks_p11_gate_pass: the use happens: it is counted against CKA_KS_USAGE_LIMIT
 * (CKR_KEY_FUNCTION_NOT_PERMITTED at the limit, atomically across processes) and recorded
 * in the audit trail (unless use->fn is NULL). tok->lock held. */
CK_RV ks_p11_gate_pass(ks_token *tok, CK_SESSION_HANDLE session, ks_object *key,
                       const ks_key_use *use);

/* ks_p11_key_for_use resolves a key for an operation under the token lock held by the
 * caller: it exists and is visible (CKR_KEY_HANDLE_INVALID), it is a key of a class the
 * mechanism's row takes for the operation op, a CKF_* function flag (CKF_SIGN, CKF_WRAP, ...:
 * a key pair mechanism takes the private key to sign and the public key to verify,
 * ks_mech_key_class_ok; CKR_KEY_TYPE_INCONSISTENT), it passes ks_p11_gate_check, its value is
 * present (CKR_USER_NOT_LOGGED_IN), its key type is one the row takes
 * (CKR_KEY_TYPE_INCONSISTENT). Class-neutral: the class table (token/rules.h) says what a
 * key of each class is and where its value is (a private key's PKCS#8, a public key's
 * SubjectPublicKeyInfo). */
CK_RV ks_p11_key_for_use(ks_token *tok, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE handle,
                         const ks_mech_desc *desc, CK_FLAGS op, const ks_key_use *use,
                         ks_object **out);

/* ks_p11_key_value: the value a mechanism reads from key (its class's value attribute),
 * NULL when it has none or it is not available. */
const ks_attr *ks_p11_key_value(const ks_object *key);

/* ks_p11_key_ref: key's type and value for an operation. */
ks_key_ref ks_p11_key_ref(const ks_object *key);

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
