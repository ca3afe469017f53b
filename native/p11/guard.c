/* guard.c - the shared body of the entry points: exit logging, key resolution for operations,
 * operation init/begin/end (PKCS#11 3.0 5.2 operation rules). */
#include "p11/guard.h"

#include <string.h>

#include "crypto/mem.h"
#include "token/mech.h"
#include "token/policy.h"
#include "token/wrap_policy.h"

static _Thread_local ks_why call_why = {KS_NO_ATTR, NULL};

void ks_p11_why(const ks_why *why)
{
    call_why = *why;
}

CK_RV ks_p11_exit(const char *fn, CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mech, CK_RV rv)
{
    /* The call has returned: wipe what its frames left below us (AES-NI register spills of
     * key schedules, unwrapped values) before the application's code reuses the stack. */
    ks_wipe_stack();
    ks_log_call(fn, session, mech, rv, call_why.attr, call_why.reason);
    call_why.attr = KS_NO_ATTR;
    call_why.reason = NULL;
    return rv;
}

CK_RV ks_p11_audit_new(ks_session *s, ks_audit_event event, CK_OBJECT_HANDLE handle,
                       CK_MECHANISM_TYPE mech, CK_RV rv, const char *detail)
{
    ks_object *obj = NULL;
    if (rv != CKR_OK || ks_token_get(s->token, s->handle, handle, &obj) != CKR_OK) {
        obj = NULL;
    }
    CK_RV recorded = ks_token_audit(s->token, event, s->handle, obj ? &obj->attrs : NULL, mech,
                                    rv, detail);
    if (rv != CKR_OK || recorded == CKR_OK) {
        return rv;
    }
    if (obj != NULL) {
        (void)ks_token_remove(s->token, ks_p11_session_rw(s), obj);
    }
    return recorded;
}

CK_RV ks_p11_key_for_use(ks_token *tok, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE handle,
                         CK_MECHANISM_TYPE mech, CK_ATTRIBUTE_TYPE usage_attr, ks_use use,
                         ks_object **out)
{
    ks_object *key = NULL;
    CK_RV rv = ks_token_get(tok, session, handle, &key);
    if (rv == CKR_OBJECT_HANDLE_INVALID) {
        return CKR_KEY_HANDLE_INVALID;
    }
    if (rv != CKR_OK) {
        return rv;
    }
    if (ks_object_class(key) != CKO_SECRET_KEY) {
        return CKR_KEY_TYPE_INCONSISTENT;
    }
    if (ks_attrs_bool(&key->attrs, usage_attr, CK_FALSE) != CK_TRUE) {
        ks_why why = {usage_attr, "the key does not allow this function"};
        ks_p11_why(&why);
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    rv = ks_policy_allowed_mechanism(&key->attrs, mech);
    if (rv == CKR_OK) {
        rv = ks_policy_check_use(&key->attrs, use);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    if (key->sealed_missing || !ks_attrs_has(&key->attrs, CKA_VALUE)) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    *out = key;
    return CKR_OK;
}

static const struct {
    ks_op_kind kind;
    CK_FLAGS mech_flag;
    CK_ATTRIBUTE_TYPE usage;
    ks_use use;
    const char *fn;
} kinds[] = {
    [KS_OP_ENCRYPT] = {KS_OP_ENCRYPT, CKF_ENCRYPT, CKA_ENCRYPT, KS_USE_PROTECT, "C_EncryptInit"},
    [KS_OP_DECRYPT] = {KS_OP_DECRYPT, CKF_DECRYPT, CKA_DECRYPT, KS_USE_PROCESS, "C_DecryptInit"},
    [KS_OP_SIGN] = {KS_OP_SIGN, CKF_SIGN, CKA_SIGN, KS_USE_PROTECT, "C_SignInit"},
    [KS_OP_VERIFY] = {KS_OP_VERIFY, CKF_VERIFY, CKA_VERIFY, KS_USE_PROCESS, "C_VerifyInit"},
    [KS_OP_DIGEST] = {KS_OP_DIGEST, CKF_DIGEST, 0, KS_USE_PROCESS, "C_DigestInit"},
};

static CK_RV init_locked(ks_session *s, ks_op_slot slot, ks_op_kind kind,
                         const CK_MECHANISM *mech, CK_OBJECT_HANDLE key_handle)
{
    ks_token *tok = s->token;
    if (s->ops[slot].op != NULL || s->ops[slot].msg != NULL) {
        return CKR_OPERATION_ACTIVE;
    }
    const ks_mech_desc *desc = ks_mech_find(mech->mechanism, tok->cfg->kwp_alias_softhsm);
    if (desc == NULL || !(desc->flags & kinds[kind].mech_flag)) {
        return CKR_MECHANISM_INVALID;
    }
    ks_op *op = NULL;
    if (kind == KS_OP_DIGEST) {
        CK_RV rv = ks_op_new(&op, kind, mech, NULL);
        if (rv != CKR_OK) {
            return rv;
        }
        s->ops[slot] = (ks_active_op){.op = op};
        return CKR_OK;
    }
    pthread_mutex_lock(&tok->lock);
    ks_object *key = NULL;
    CK_RV rv = ks_p11_key_for_use(tok, s->handle, key_handle, mech->mechanism,
                                  kinds[kind].usage, kinds[kind].use, &key);
    CK_ULONG key_type = (CK_ULONG)-1;
    if (rv == CKR_OK) {
        ks_attrs_get_ulong(&key->attrs, CKA_KEY_TYPE, &key_type);
        if (!ks_mech_key_type_ok(desc, key_type)) {
            rv = CKR_KEY_TYPE_INCONSISTENT;
        }
    }
    if (rv == CKR_OK) {
        const ks_attr *value = ks_attrs_find(&key->attrs, CKA_VALUE);
        ks_key_ref ref = {key_type, value->value, value->len};
        rv = ks_op_new(&op, kind, mech, &ref);
    }
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_use(tok, key, KS_ROLE_DATA);
    }
    if (rv == CKR_OK) {
        rv = ks_policy_count_use(tok, key);
    }
    if (rv == CKR_OK) {
        rv = ks_token_audit_use(tok, s->handle, key, kinds[kind].fn, mech->mechanism);
    }
    if (rv == CKR_OK) {
        s->ops[slot] = (ks_active_op){
            .op = op,
            .key = key_handle,
            .needs_login = ks_object_is_private(key),
            .epoch = tok->login_epoch,
        };
    } else {
        ks_op_free(op);
    }
    pthread_mutex_unlock(&tok->lock);
    return rv;
}

CK_RV ks_p11_op_init(CK_SESSION_HANDLE session, ks_op_slot slot, ks_op_kind kind,
                     const CK_MECHANISM *mech, CK_OBJECT_HANDLE key)
{
    if (mech == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (mech->pParameter == NULL && mech->ulParameterLen != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(session, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = init_locked(s, slot, kind, mech, key);
    ks_session_release(s);
    return rv;
}

CK_RV ks_p11_op_begin(CK_SESSION_HANDLE session, ks_op_slot slot, ks_session **s, ks_op **op)
{
    CK_RV rv = ks_session_acquire(session, s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_active_op *a = &(*s)->ops[slot];
    if (a->op == NULL) {
        ks_session_release(*s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    if (a->needs_login) {
        ks_token *tok = (*s)->token;
        pthread_mutex_lock(&tok->lock);
        int ended = tok->login_epoch != a->epoch;
        pthread_mutex_unlock(&tok->lock);
        if (ended) {
            /* PKCS#11 3.0 5.6 C_Logout: operations that needed the login are over. */
            ks_session_end_op(*s, slot);
            ks_session_release(*s);
            return CKR_OPERATION_NOT_INITIALIZED;
        }
    }
    *op = a->op;
    return CKR_OK;
}

CK_RV ks_p11_op_end(ks_session *s, ks_op_slot slot, CK_RV rv, int finishing, int length_query)
{
    int ends = (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) ||
               (rv == CKR_OK && finishing && !length_query);
    if (ends) {
        ks_session_end_op(s, slot);
    }
    ks_session_release(s);
    return rv;
}
