/* keys.c - key management (PKCS#11 3.0 5.18): C_GenerateKey, C_WrapKey, C_UnwrapKey. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/des3.h"
#include "crypto/mem.h"
#include "crypto/rand.h"
#include "p11/guard.h"
#include "token/mech.h"
#include "token/policy.h"
#include "token/wrap_policy.h"

#define KS_MAX_KEY_BYTES 4096 /* as the registry and the rules allow for generic secrets */

static CK_RV template_shape(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    if ((tmpl == NULL && count != 0) || count > KS_MAX_COUNT) {
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

static int template_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type,
                          CK_ULONG *out)
{
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].type == type && tmpl[i].pValue != NULL &&
            tmpl[i].ulValueLen == sizeof(CK_ULONG)) {
            memcpy(out, tmpl[i].pValue, sizeof(CK_ULONG));
            return 1;
        }
    }
    return 0;
}

/* Make the value of a new key, finish and store it. attrs is freed. */
static CK_RV generate_value(ks_session *s, ks_attrs *attrs, CK_OBJECT_HANDLE *out, ks_why *why)
{
    CK_ULONG len = 0;
    if (!ks_attrs_get_ulong(attrs, CKA_VALUE_LEN, &len)) {
        ks_attrs_free(attrs);
        return CKR_TEMPLATE_INCOMPLETE;
    }
    if (len == 0 || len > KS_MAX_KEY_BYTES) {
        ks_attrs_free(attrs);
        return CKR_KEY_SIZE_RANGE;
    }
    uint8_t *value = ks_secure_alloc(len);
    if (value == NULL) {
        ks_attrs_free(attrs);
        return CKR_HOST_MEMORY;
    }
    CK_RV rv = ks_random(value, len) == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
    CK_ULONG kt = CK_UNAVAILABLE_INFORMATION;
    if (ks_attrs_get_ulong(attrs, CKA_KEY_TYPE, &kt) && kt == CKK_DES3) {
        ks_des3_set_parity(value, len); /* DES3 key generation: odd parity (FIPS 46-3) */
    }
    if (rv == CKR_OK) {
        rv = ks_attrs_set(attrs, CKA_VALUE, value, len);
    }
    ks_secure_free(value, len);
    if (rv == CKR_OK) {
        rv = ks_rules_finish_key(attrs, KS_ORIGIN_GENERATE, why);
    }
    if (rv == CKR_OK) {
        rv = ks_token_add(s->token, s->handle, ks_p11_session_rw(s), attrs, out);
    }
    ks_attrs_free(attrs);
    return rv;
}

static CK_RV generate_key(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
    if (pMechanism == NULL || phKey == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = template_shape(pTemplate, ulCount);
    if (rv != CKR_OK) {
        return rv;
    }
    const ks_mech_desc *d = ks_mech_lookup(&ks_mod.cfg, pMechanism->mechanism);
    if (d == NULL || !(d->flags & CKF_GENERATE)) {
        return CKR_MECHANISM_INVALID;
    }
    rv = d->params != NULL ? d->params(pMechanism) : CKR_OK;
    if (rv != CKR_OK) {
        return rv;
    }
    /* The row says what the generator makes: its class and, first, its key type. */
    CK_OBJECT_CLASS cls = d->key_class;
    CK_KEY_TYPE kt = d->key_types[0];
    CK_ULONG asked = 0;
    if (kt == CKK_GENERIC_SECRET && template_ulong(pTemplate, ulCount, CKA_KEY_TYPE, &asked) &&
        ks_mech_key_type_ok(d, asked)) {
        kt = asked; /* an HMAC key type made by the generic secret generator */
    }
    CK_ULONG des3_len = KS_DES3_KEY_LEN; /* a DES3 key's length is fixed: the generator's */
    CK_ATTRIBUTE extra[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &des3_len, sizeof(des3_len)},
    };
    CK_ULONG n_extra = kt == CKK_DES3 ? 3 : 2;
    ks_session *s = NULL;
    rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&s->token->lock);
    ks_rule_ctx ctx = ks_token_rule_ctx(s->token, pMechanism->mechanism);
    ks_why why = {KS_NO_ATTR, NULL};
    ks_attrs attrs;
    ks_attrs_init(&attrs);
    rv = ks_rules_new_object(&attrs, KS_ORIGIN_GENERATE, pTemplate, ulCount, extra, n_extra,
                             &ctx, &why);
    if (rv == CKR_OK) {
        rv = generate_value(s, &attrs, phKey, &why);
    } else {
        ks_attrs_free(&attrs);
    }
    if (rv != CKR_OK) {
        ks_p11_why(&why);
    }
    rv = ks_p11_audit_new(s, KS_AUDIT_GENERATE, rv == CKR_OK ? *phKey : CK_INVALID_HANDLE,
                     pMechanism->mechanism, rv, "C_GenerateKey");
    pthread_mutex_unlock(&s->token->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                              CK_OBJECT_HANDLE_PTR phKey)
{
    return ks_p11_exit("C_GenerateKey", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       generate_key(hSession, pMechanism, pTemplate, ulCount, phKey));
}

static CK_RV as_wrapping_error(CK_RV rv, int unwrap)
{
    switch (rv) {
    case CKR_KEY_HANDLE_INVALID:
        return unwrap ? CKR_UNWRAPPING_KEY_HANDLE_INVALID : CKR_WRAPPING_KEY_HANDLE_INVALID;
    case CKR_KEY_TYPE_INCONSISTENT:
        return unwrap ? CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT
                      : CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
    case CKR_KEY_SIZE_RANGE:
        return unwrap ? CKR_UNWRAPPING_KEY_SIZE_RANGE : CKR_WRAPPING_KEY_SIZE_RANGE;
    default:
        return rv;
    }
}

/* The key C_WrapKey exports passes the policy gate as an export (guard.h): its lifecycle
 * state (token/lifecycle.c: active and deactivated keys may leave), its processing period and
 * its usage limit; it is counted, and the wrap record names it. */
static const ks_key_use EXPORT_USE = {NULL, KS_NO_ATTR, KS_USE_EXPORT, KS_NO_MECH};

/* The key to be wrapped: PKCS#11 3.0 5.18 C_WrapKey and 4.10 secret-key rules. */
static CK_RV wrappable(ks_token *tok, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE handle,
                       const ks_object *kek, ks_object **out)
{
    ks_object *key = NULL;
    CK_RV rv = ks_token_get(tok, h, handle, &key);
    if (rv == CKR_OBJECT_HANDLE_INVALID) {
        return CKR_KEY_HANDLE_INVALID;
    }
    if (rv != CKR_OK) {
        return rv;
    }
    const ks_class_desc *cls = ks_class_find(ks_object_class(key));
    if (cls == NULL || !cls->is_key || !cls->hides || cls->value_attr == KS_NO_VALUE_ATTR) {
        return CKR_KEY_NOT_WRAPPABLE; /* 5.18: a private or secret key */
    }
    rv = ks_p11_gate_check(tok, key, &EXPORT_USE);
    if (rv != CKR_OK) {
        return rv;
    }
    if (ks_attrs_bool(&key->attrs, CKA_EXTRACTABLE, CK_FALSE) != CK_TRUE) {
        return CKR_KEY_UNEXTRACTABLE;
    }
    if (ks_attrs_bool(&key->attrs, CKA_WRAP_WITH_TRUSTED, CK_FALSE) == CK_TRUE &&
        ks_attrs_bool(&kek->attrs, CKA_TRUSTED, CK_FALSE) != CK_TRUE) {
        return CKR_KEY_NOT_WRAPPABLE;
    }
    const ks_attr *tmpl = ks_attrs_find(&kek->attrs, CKA_WRAP_TEMPLATE);
    if (tmpl != NULL && tmpl->len > 0 && !ks_rules_template_matches(&key->attrs, tmpl)) {
        return CKR_KEY_NOT_WRAPPABLE;
    }
    if (ks_p11_key_value(key) == NULL) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    *out = key;
    return CKR_OK;
}

/* The wrap and unwrap records name the key moved and, in the detail, the wrapping key. */
static CK_RV audit_wrap(ks_token *tok, CK_SESSION_HANDLE h, ks_audit_event event,
                       const ks_attrs *key, const ks_object *kek, CK_MECHANISM_TYPE mech, CK_RV rv)
{
    char kek_uid[KS_UID_LEN + 1] = "";
    char detail[64];
    if (kek != NULL) {
        ks_token_uid(&kek->attrs, kek_uid);
    }
    snprintf(detail, sizeof(detail), "kek %s", kek_uid);
    return ks_token_audit(tok, event, h, key, mech, rv, detail);
}

static CK_RV wrap_key(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                      CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
                      CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
    if (pMechanism == NULL || pulWrappedKeyLen == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    const ks_mech_desc *d = ks_mech_lookup(tok->cfg, pMechanism->mechanism);
    pthread_mutex_lock(&tok->lock);
    ks_object *kek = NULL;
    ks_object *key = NULL;
    ks_key_use kek_use = {NULL, CKA_WRAP, KS_USE_PROTECT, pMechanism->mechanism};
    if (d == NULL || !(d->flags & CKF_WRAP)) {
        rv = CKR_MECHANISM_INVALID;
    } else {
        rv = as_wrapping_error(ks_p11_key_for_use(tok, hSession, hWrappingKey, d, CKF_WRAP, &kek_use,
                                                  &kek), 0);
    }
    if (rv == CKR_OK) {
        rv = wrappable(tok, hSession, hKey, kek, &key);
    }
    if (rv == CKR_OK) {
        ks_why why = {KS_NO_ATTR, NULL};
        rv = ks_wrap_policy_check_wrap(tok->cfg, pMechanism->mechanism, &kek->attrs,
                                       &key->attrs, &why);
        if (rv != CKR_OK) {
            ks_p11_why(&why);
        }
    }
    if (rv == CKR_OK && pWrappedKey != NULL) {
        rv = ks_wrap_policy_wrap_roles(tok, kek, key);
    }
    /* Both uses are counted before anything is written: a limit reached meanwhile (by another
     * process) lets nothing out. A length query counts nothing; a refusal after this point
     * counts a use that did not happen, never the reverse. */
    if (rv == CKR_OK && pWrappedKey != NULL) {
        rv = ks_p11_gate_pass(tok, hSession, kek, &kek_use);
    }
    if (rv == CKR_OK && pWrappedKey != NULL) {
        rv = ks_p11_gate_pass(tok, hSession, key, &EXPORT_USE);
    }
    if (rv == CKR_OK && pWrappedKey != NULL) {
        rv = ks_token_audit_ready(tok); /* no wrapped key out that the trail cannot record */
    }
    if (rv == CKR_OK) {
        ks_key_ref kref = ks_p11_key_ref(kek);
        ks_key_ref vref = ks_p11_key_ref(key);
        rv = ks_wrap(pMechanism, &kref, tok->cfg->kwp_alias_softhsm, pWrappedKey,
                     pulWrappedKeyLen, vref.value, (CK_ULONG)vref.len);
    }
    if (pWrappedKey != NULL || rv != CKR_OK) {
        CK_RV recorded = audit_wrap(tok, hSession, KS_AUDIT_WRAP, key ? &key->attrs : NULL,
                                    kek, pMechanism->mechanism, rv);
        if (rv == CKR_OK && recorded != CKR_OK) {
            ks_copy_out_retract(pWrappedKey, *pulWrappedKeyLen); /* the trail does not hold it */
            *pulWrappedKeyLen = 0;
            rv = recorded;
        }
    }
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
                          CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
    return ks_p11_exit("C_WrapKey", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       wrap_key(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey,
                                pulWrappedKeyLen));
}

/* The attributes the unwrapping key's CKA_UNWRAP_TEMPLATE imposes on the new key are passed
 * to the rules as implied attributes: a template that contradicts them is inconsistent. */
static CK_RV unwrap_extra(const ks_object *kek, ks_attrs *imposed, CK_ATTRIBUTE **extra,
                          CK_ULONG *extra_count)
{
    const ks_attr *packed = ks_attrs_find(&kek->attrs, CKA_UNWRAP_TEMPLATE);
    *extra = NULL;
    *extra_count = 0;
    if (packed == NULL || packed->len == 0) {
        return CKR_OK;
    }
    CK_RV rv = ks_attrs_unpack(imposed, packed->value, packed->len);
    if (rv != CKR_OK || imposed->count == 0) {
        return rv;
    }
    *extra = calloc(imposed->count, sizeof(CK_ATTRIBUTE));
    if (*extra == NULL) {
        return CKR_HOST_MEMORY;
    }
    for (size_t i = 0; i < imposed->count; i++) {
        (*extra)[i].type = imposed->items[i].type;
        (*extra)[i].pValue = imposed->items[i].value;
        (*extra)[i].ulValueLen = imposed->items[i].len;
    }
    *extra_count = (CK_ULONG)imposed->count;
    return CKR_OK;
}

static CK_RV unwrap_into(ks_session *s, const CK_MECHANISM *mech, const ks_object *kek,
                         const CK_BYTE *wrapped, CK_ULONG wrapped_len,
                         const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
    ks_token *tok = s->token;
    ks_attrs imposed;
    ks_attrs attrs;
    ks_attrs_init(&imposed);
    ks_attrs_init(&attrs);
    CK_ATTRIBUTE *extra = NULL;
    CK_ULONG extra_count = 0;
    ks_why why = {KS_NO_ATTR, NULL};
    ks_rule_ctx ctx = ks_token_rule_ctx(tok, mech->mechanism);
    CK_RV rv = unwrap_extra(kek, &imposed, &extra, &extra_count);
    if (rv == CKR_OK) {
        rv = ks_rules_new_object(&attrs, KS_ORIGIN_UNWRAP, tmpl, count, extra, extra_count,
                                 &ctx, &why);
    }
    const ks_class_desc *made = ks_class_supported(ks_object_class_of(&attrs));
    if (rv == CKR_OK && (made == NULL || !made->is_key || !made->hides ||
                         made->value_attr == KS_NO_VALUE_ATTR)) {
        /* the unwrapped value is a secret key's CKA_VALUE or a private key's PKCS#8 */
        rv = CKR_TEMPLATE_INCONSISTENT;
    }
    uint8_t *value = NULL;
    size_t value_len = 0;
    if (rv == CKR_OK) {
        value = ks_secure_alloc(wrapped_len ? wrapped_len : 1);
        rv = value ? CKR_OK : CKR_HOST_MEMORY;
    }
    /* The lengths the new key may have, for PKCS#1 v1.5 under implicit rejection (ks_unwrap) */
    CK_ULONG fixed_len = 0, kt = (CK_ULONG)-1;
    if (rv == CKR_OK && ks_attrs_get_ulong(&attrs, CKA_VALUE_LEN, &fixed_len) &&
        fixed_len <= wrapped_len) {
        value_len = fixed_len;
    } else if (rv == CKR_OK && ks_attrs_get_ulong(&attrs, CKA_KEY_TYPE, &kt) && kt == CKK_AES) {
        value_len = KS_UNWRAP_LEN_AES;
    }
    if (rv == CKR_OK) {
        ks_key_ref kref = ks_p11_key_ref(kek);
        rv = ks_unwrap(mech, &kref, tok->cfg->kwp_alias_softhsm, value, &value_len,
                       wrapped_len, wrapped, wrapped_len);
    }
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_check_unwrap(tok->cfg, mech->mechanism, &kek->attrs, &attrs,
                                         value_len, tmpl, count, &why);
    }
    if (rv == CKR_OK) {
        /* a private key's PKCS#8 is parsed (class, key type, public parts) by the finish */
        rv = ks_attrs_set(&attrs, made->value_attr, value, (CK_ULONG)value_len);
    }
    if (rv == CKR_OK) {
        /* Taint (README, wrap policy rule 3): a key unwrapped under a key whose value may be known is known. */
        rv = ks_attrs_set_bool(&attrs, CKA_KS_VALUE_KNOWN,
                               ks_wrap_policy_unwraps_secret(&kek->attrs) ? CK_FALSE : CK_TRUE);
    }
    if (rv == CKR_OK) {
        rv = ks_rules_finish_key(&attrs, KS_ORIGIN_UNWRAP, &why);
    }
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_unwrapped(tok, &kek->attrs, &attrs); /* rule 2, in every token */
    }
    if (rv == CKR_OK) {
        rv = ks_token_add(tok, s->handle, ks_p11_session_rw(s), &attrs, out);
    }
    if (rv != CKR_OK && why.reason != NULL) {
        ks_p11_why(&why);
    }
    if (value != NULL) {
        ks_secure_free(value, wrapped_len ? wrapped_len : 1);
    }
    free(extra);
    ks_attrs_free(&imposed);
    ks_attrs_free(&attrs);
    return rv;
}

static CK_RV unwrap_key(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                        CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                        CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    if (pMechanism == NULL || phKey == NULL || (pWrappedKey == NULL && ulWrappedKeyLen != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = template_shape(pTemplate, ulAttributeCount);
    if (rv != CKR_OK) {
        return rv;
    }
    if (ulWrappedKeyLen > (CK_ULONG)KS_MAX_KEY_BYTES + 2048 + 64) { /* + an RSA-AES block */
        return CKR_WRAPPED_KEY_LEN_RANGE;
    }
    ks_session *s = NULL;
    rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    const ks_mech_desc *d = ks_mech_lookup(tok->cfg, pMechanism->mechanism);
    pthread_mutex_lock(&tok->lock);
    ks_object *kek = NULL;
    ks_key_use kek_use = {NULL, CKA_UNWRAP, KS_USE_PROCESS, pMechanism->mechanism};
    if (d == NULL || !(d->flags & CKF_UNWRAP)) {
        rv = CKR_MECHANISM_INVALID;
    } else {
        rv = as_wrapping_error(ks_p11_key_for_use(tok, hSession, hUnwrappingKey, d, CKF_UNWRAP, &kek_use,
                                                  &kek), 1);
    }
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_use(tok, kek, KS_ROLE_KEK);
    }
    if (rv == CKR_OK) {
        rv = ks_p11_gate_pass(tok, hSession, kek, &kek_use);
    }
    if (rv == CKR_OK) {
        rv = unwrap_into(s, pMechanism, kek, pWrappedKey, ulWrappedKeyLen, pTemplate,
                         ulAttributeCount, phKey);
    }
    ks_object *made = NULL;
    if (rv != CKR_OK || ks_token_get(tok, hSession, *phKey, &made) != CKR_OK) {
        made = NULL;
    }
    CK_RV recorded = audit_wrap(tok, hSession, KS_AUDIT_UNWRAP, made ? &made->attrs : NULL,
                                kek, pMechanism->mechanism, rv);
    if (rv == CKR_OK && recorded != CKR_OK) {
        if (made != NULL) {
            (void)ks_token_remove(tok, ks_p11_session_rw(s), made); /* not in the trail */
        }
        *phKey = CK_INVALID_HANDLE;
        rv = recorded;
    }
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                            CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                            CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                            CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    return ks_p11_exit("C_UnwrapKey", hSession, pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       unwrap_key(hSession, pMechanism, hUnwrappingKey, pWrappedKey,
                                  ulWrappedKeyLen, pTemplate, ulAttributeCount, phKey));
}
