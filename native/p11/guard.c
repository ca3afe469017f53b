/* guard.c - the shared body of the entry points: exit logging, key resolution for operations,
 * operation init/begin/end (PKCS#11 3.0 5.2 operation rules). */
#include "p11/guard.h"

#include <string.h>

#include "crypto/copyout.h"
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
    ks_copy_out_call_end();
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

/* A decryption (or unwrap) with a mechanism whose decryption is its encryption (CTR: the
 * keystream of chosen counter blocks is E_K of them) applies protection too: it needs the
 * protect permission and period as well as the process ones (token/mech.h). */
static int processing_protects(CK_MECHANISM_TYPE mech)
{
    const ks_mech_desc *d = mech == KS_NO_MECH ? NULL : ks_mech_find(mech, 0);
    return d != NULL && (d->traits & KS_MECH_DECRYPT_PROTECTS) != 0;
}

CK_RV ks_p11_gate_check(ks_token *tok, const ks_object *key, const ks_key_use *use)
{
    if (use->usage != KS_NO_ATTR && ks_attrs_bool(&key->attrs, use->usage, CK_FALSE) != CK_TRUE) {
        ks_why why = {use->usage, "the key does not allow this function"};
        ks_p11_why(&why);
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (use->mech != KS_NO_MECH &&
        ks_policy_allowed_mechanism(&key->attrs, use->mech) != CKR_OK) {
        ks_why why = {CKA_ALLOWED_MECHANISMS, "the mechanism is not allowed for the key"};
        ks_p11_why(&why);
        return CKR_MECHANISM_INVALID;
    }
    if (ks_policy_check_use(&key->attrs, use->use) != CKR_OK ||
        (use->use == KS_USE_PROCESS && processing_protects(use->mech) &&
         ks_policy_check_use(&key->attrs, KS_USE_PROTECT) != CKR_OK)) {
        ks_why why = {CKA_KS_LIFECYCLE_STATE,
                      "the key's lifecycle state or usage period forbids this use"};
        ks_p11_why(&why);
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    CK_RV rv = ks_policy_limit_reached(tok, key);
    if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
        ks_why why = {CKA_KS_USAGE_LIMIT, "the key has used up its usage limit"};
        ks_p11_why(&why);
    }
    return rv;
}

CK_RV ks_p11_gate_pass(ks_token *tok, CK_SESSION_HANDLE session, ks_object *key,
                       const ks_key_use *use)
{
    CK_RV rv = ks_policy_count_use(tok, key);
    if (rv == CKR_OK && use->fn != NULL) {
        /* A use the trail cannot hold does not start (audit_failure = refuse). */
        rv = ks_token_audit_use(tok, session, key, use->fn, use->mech);
    }
    return rv;
}

const ks_attr *ks_p11_key_value(const ks_object *key)
{
    const ks_class_desc *c = ks_class_find(ks_object_class(key));
    if (c == NULL || c->value_attr == KS_NO_VALUE_ATTR || key->sealed_missing) {
        return NULL;
    }
    return ks_attrs_find(&key->attrs, c->value_attr);
}

ks_key_ref ks_p11_key_ref(const ks_object *key)
{
    CK_ULONG kt = (CK_ULONG)-1;
    ks_attrs_get_ulong(&key->attrs, CKA_KEY_TYPE, &kt);
    const ks_attr *v = ks_p11_key_value(key);
    ks_key_ref ref = {kt, v ? v->value : NULL, v ? v->len : 0, NULL};
    return ref;
}

/* The modulus size of an RSA key in bits: CKA_MODULUS_BITS (public keys) or the length of
 * CKA_MODULUS without its leading zero bits (both keys carry it); 0 when neither is there. */
static size_t rsa_bits(const ks_attrs *attrs)
{
    CK_ULONG bits = 0;
    if (ks_attrs_get_ulong(attrs, CKA_MODULUS_BITS, &bits)) {
        return bits;
    }
    const ks_attr *n = ks_attrs_find(attrs, CKA_MODULUS);
    size_t i = 0;
    while (n != NULL && i < n->len && n->value[i] == 0) {
        i++;
    }
    if (n == NULL || i == n->len) {
        return 0;
    }
    size_t out = (n->len - i) * 8;
    for (uint8_t top = n->value[i]; (top & 0x80) == 0; top = (uint8_t)(top << 1)) {
        out--;
    }
    return out;
}

CK_RV ks_p11_key_for_use(ks_token *tok, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE handle,
                         const ks_mech_desc *desc, CK_FLAGS op, const ks_key_use *use,
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
    const ks_class_desc *cls = ks_class_find(ks_object_class(key));
    if (cls == NULL || !cls->is_key || !ks_mech_key_class_ok(desc, cls->cls, op)) {
        return CKR_KEY_TYPE_INCONSISTENT;
    }
    rv = ks_p11_gate_check(tok, key, use);
    if (rv != CKR_OK) {
        return rv;
    }
    /* CKA_ALWAYS_AUTHENTICATE (4.9): each use needs C_Login(CKU_CONTEXT_SPECIFIC) after the
     * operation's init. C_UnwrapKey and C_DeriveKey have no init to log in after, so such a
     * key does neither (README, "CKA_ALWAYS_AUTHENTICATE"). */
    if ((op & (CKF_UNWRAP | CKF_DERIVE)) != 0 &&
        ks_attrs_bool(&key->attrs, CKA_ALWAYS_AUTHENTICATE, CK_FALSE) == CK_TRUE) {
        ks_why why = {CKA_ALWAYS_AUTHENTICATE,
                      "a key that always authenticates is used only by calls with an init"};
        ks_p11_why(&why);
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (ks_p11_key_value(key) == NULL) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    CK_ULONG key_type = (CK_ULONG)-1;
    ks_attrs_get_ulong(&key->attrs, CKA_KEY_TYPE, &key_type);
    if (!ks_mech_key_type_ok(desc, key_type)) {
        return CKR_KEY_TYPE_INCONSISTENT;
    }
    /* RSA keys below 2048 bits only with legacy_mechanisms = on (token/mech.h), and never to
     * carry keys under the strict policy: the setting is the caller's, so it must not weaken
     * what protects a token's keys (a key wrapped under a 1024-bit modulus is as strong as
     * factoring it); wrap_policy = compat, which the token's policy floor must allow, gives
     * that protection up as it gives up the rest (PKCS#11's own rules) */
    size_t bits = key_type == CKK_RSA ? rsa_bits(&key->attrs) : 0;
    if (key_type == CKK_RSA && (desc->traits & KS_MECH_KEY_BITS) != 0 &&
        (!ks_mech_key_bits_allowed(tok->cfg, desc, bits) ||
         ((op & (CKF_WRAP | CKF_UNWRAP)) != 0 && bits < desc->min_key &&
          tok->cfg->wrap_policy != KS_WRAP_POLICY_COMPAT))) {
        return CKR_KEY_SIZE_RANGE;
    }
    *out = key;
    return CKR_OK;
}

/* What each operation kind asks of its key: the usage attribute, the lifecycle column and the
 * function named in the audit record (the mechanism flag comes from ks_op_kind_flag). */
static const struct {
    CK_ATTRIBUTE_TYPE usage;
    ks_use use;
    const char *fn;
} kinds[] = {
    [KS_OP_ENCRYPT] = {CKA_ENCRYPT, KS_USE_PROTECT, "C_EncryptInit"},
    [KS_OP_DECRYPT] = {CKA_DECRYPT, KS_USE_PROCESS, "C_DecryptInit"},
    [KS_OP_SIGN] = {CKA_SIGN, KS_USE_PROTECT, "C_SignInit"},
    [KS_OP_VERIFY] = {CKA_VERIFY, KS_USE_PROCESS, "C_VerifyInit"},
    [KS_OP_DIGEST] = {KS_NO_ATTR, KS_USE_PROCESS, "C_DigestInit"},
};

static CK_RV init_locked(ks_session *s, ks_op_slot slot, ks_op_kind kind,
                         const CK_MECHANISM *mech, CK_OBJECT_HANDLE key_handle)
{
    ks_token *tok = s->token;
    if (s->ops[slot].op != NULL || s->ops[slot].msg != NULL) {
        return CKR_OPERATION_ACTIVE;
    }
    const ks_mech_desc *desc = ks_mech_lookup(tok->cfg, mech->mechanism);
    if (desc == NULL || !(desc->flags & ks_op_kind_flag(kind))) {
        return CKR_MECHANISM_INVALID;
    }
    ks_op *op = NULL;
    if (desc->key_class == CK_UNAVAILABLE_INFORMATION) { /* a digest: no key */
        CK_RV rv = ks_op_start(&op, kind, desc, mech, NULL);
        if (rv != CKR_OK) {
            return rv;
        }
        s->ops[slot] = (ks_active_op){.op = op};
        return CKR_OK;
    }
    pthread_mutex_lock(&tok->lock);
    ks_object *key = NULL;
    ks_key_use use = {kinds[kind].fn, kinds[kind].usage, kinds[kind].use, mech->mechanism};
    CK_RV rv = ks_p11_key_for_use(tok, s->handle, key_handle, desc, ks_op_kind_flag(kind),
                                  &use, &key);
    if (rv == CKR_OK) {
        ks_key_ref ref = ks_p11_key_ref(key);
        ref.pkey = ks_object_prepared_key(key, ref.value, ref.len); /* key pairs: cached */
        rv = ks_op_start(&op, kind, desc, mech, &ref);
    }
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_use(tok, key, KS_ROLE_DATA);
    }
    if (rv == CKR_OK) {
        rv = ks_p11_gate_pass(tok, s->handle, key, &use);
    }
    if (rv == CKR_OK) {
        s->ops[slot] = (ks_active_op){
            .op = op,
            .key = key_handle,
            .needs_login = ks_object_is_private(key),
            .epoch = tok->login_epoch,
            .reauth = ks_attrs_bool(&key->attrs, CKA_ALWAYS_AUTHENTICATE, CK_FALSE) == CK_TRUE,
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
    if (a->reauth) {
        /* 4.9: a key with CKA_ALWAYS_AUTHENTICATE is used only after C_Login
         * (CKU_CONTEXT_SPECIFIC) for this operation; the failed call ends it (5.2) */
        ks_session_end_op(*s, slot);
        ks_session_release(*s);
        return CKR_USER_NOT_LOGGED_IN;
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
