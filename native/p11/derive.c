/* derive.c - C_DeriveKey (PKCS#11 3.0 5.18): CKM_ECDH1_DERIVE and CKM_ECDH1_COFACTOR_DERIVE
 * (token/derive_ecdh.h) into a new secret key.
 *
 * The base key passes the policy gate as every key use does (guard.h): CKA_DERIVE, its
 * allowed mechanisms, its lifecycle state and usage period (key agreement establishes keys
 * for new protection, so it is a protecting use: SP 800-57 Part 1 5.3.6 gives a static
 * key-agreement key one period for both roles), its usage limit; the use is counted and
 * recorded, and the new key has a creation record that names its base key.
 *
 * The new key (mechanisms 3.0, ECDH key derivation, and base 4.4 table 18):
 *  - CKA_CLASS CKO_SECRET_KEY (implied; a template saying otherwise is inconsistent),
 *    CKA_KEY_TYPE from the template, CKK_GENERIC_SECRET when it has none;
 *  - CKA_VALUE_LEN from the template; without it CKD_NULL gives the whole shared secret to
 *    a generic secret, and a key type without a length of its own (AES) or a KDF that has
 *    none (X9.63) is CKR_TEMPLATE_INCOMPLETE;
 *  - CKA_ALWAYS_SENSITIVE true only when the base key's is and the new key is sensitive,
 *    CKA_NEVER_EXTRACTABLE true only when the base key's is and the new key is not
 *    extractable; CKA_LOCAL false; CKA_KEY_GEN_MECHANISM unavailable;
 *  - the base key's CKA_DERIVE_TEMPLATE, when it has one, is imposed (base 4.9/4.10);
 *  - its value is known outside the token (CKA_KS_VALUE_KNOWN): whoever holds the peer's
 *    private key computes the same secret, and the caller chooses the peer. So under the
 *    strict wrap policy a derived key guards no secret: it wraps only keys whose values are
 *    known and takes no wrapping role (docs/policy.md, "Derived keys"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ecdh.h"
#include "crypto/mem.h"
#include "p11/guard.h"
#include "token/derive_ecdh.h"
#include "token/mech.h"
#include "token/wrap_policy.h"

#define KS_DERIVE_MAX_KEY 4096 /* as the rules allow for generic secrets */

static int template_has(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].type == type) {
            return 1;
        }
    }
    return 0;
}

/* The attributes the call implies: the class, the default key type, and what the base key's
 * CKA_DERIVE_TEMPLATE imposes (unpacked into imposed, which the caller frees). */
#define KS_DERIVE_IMPLIED_INLINE 8 /* class, key type and a short derive template: no heap */

static CK_RV implied(const ks_object *base, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                     ks_attrs *imposed, CK_ATTRIBUTE inline_extra[KS_DERIVE_IMPLIED_INLINE],
                     CK_ATTRIBUTE **extra, CK_ULONG *n)
{
    static const CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    static const CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
    const ks_attr *packed = ks_attrs_find(&base->attrs, CKA_DERIVE_TEMPLATE);
    CK_RV rv = CKR_OK;
    if (packed != NULL && packed->len > 0) {
        rv = ks_attrs_unpack(imposed, packed->value, packed->len);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    *extra = imposed->count + 2 <= KS_DERIVE_IMPLIED_INLINE
                 ? inline_extra
                 : calloc(imposed->count + 2, sizeof(CK_ATTRIBUTE));
    if (*extra == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_ATTRIBUTE *e = *extra;
    *n = 0;
    e[(*n)++] = (CK_ATTRIBUTE){CKA_CLASS, (void *)&secret, sizeof(secret)};
    if (!template_has(tmpl, count, CKA_KEY_TYPE) &&
        ks_attrs_find(imposed, CKA_KEY_TYPE) == NULL) {
        e[(*n)++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, (void *)&generic, sizeof(generic)};
    }
    for (size_t i = 0; i < imposed->count; i++) {
        e[(*n)++] = (CK_ATTRIBUTE){imposed->items[i].type, imposed->items[i].value,
                                   imposed->items[i].len};
    }
    return CKR_OK;
}

/* What a derived key is besides its Table 18 history: not local, and known (the peer has it). */
static CK_RV derived_history(ks_attrs *attrs)
{
    /* CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE follow the base key's history: the
     * attribute rules set them from the rule context (rules_new.c set_token_maintained). */
    CK_RV rv = ks_attrs_set_bool(attrs, CKA_LOCAL, CK_FALSE);
    if (rv == CKR_OK) {
        rv = ks_attrs_set_bool(attrs, CKA_KS_VALUE_KNOWN, CK_TRUE); /* the peer knows it */
    }
    return rv;
}

/* The value: the length the template asks (or the mechanism's own), computed into locked
 * memory and moved into attrs. */
static CK_RV derive_value(const CK_MECHANISM *mech, const ks_object *base, ks_attrs *attrs)
{
    CK_ULONG asked = 0;
    CK_ULONG kt = CKK_GENERIC_SECRET;
    ks_attrs_get_ulong(attrs, CKA_KEY_TYPE, &kt);
    if (!ks_attrs_get_ulong(attrs, CKA_VALUE_LEN, &asked) && kt != CKK_GENERIC_SECRET) {
        return CKR_TEMPLATE_INCOMPLETE; /* no length of its own (AES: 16, 24 or 32) */
    }
    if (asked > KS_DERIVE_MAX_KEY) {
        return CKR_KEY_SIZE_RANGE;
    }
    size_t cap = asked > KS_ECDH_MAX_SECRET ? (size_t)asked : KS_ECDH_MAX_SECRET;
    uint8_t *value = ks_secure_alloc(cap);
    if (value == NULL) {
        return CKR_HOST_MEMORY;
    }
    size_t len = (size_t)asked;
    ks_key_ref ref = ks_p11_key_ref(base);
    /* the base key's prepared key, parsed once per object (the token's lock is held) */
    ref.pkey = ks_object_prepared_key((ks_object *)base, ref.value, ref.len);
    CK_RV rv = ks_ecdh_derive_value(mech, &ref, value, cap, &len);
    if (rv == CKR_OK) {
        rv = ks_attrs_set(attrs, CKA_VALUE, value, (CK_ULONG)len);
    }
    ks_secure_free(value, cap);
    return rv;
}

static CK_RV derive_into(ks_session *s, const CK_MECHANISM *mech, const ks_object *base,
                         const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
    ks_token *tok = s->token;
    ks_attrs imposed;
    ks_attrs attrs;
    ks_attrs_init(&imposed);
    ks_attrs_init(&attrs);
    CK_ATTRIBUTE inline_extra[KS_DERIVE_IMPLIED_INLINE];
    CK_ATTRIBUTE *extra = NULL;
    CK_ULONG extra_count = 0;
    ks_why why = {KS_NO_ATTR, NULL};
    ks_rule_ctx ctx = ks_token_rule_ctx(tok, mech->mechanism);
    ctx.base_always_sensitive =
        ks_attrs_bool(&base->attrs, CKA_ALWAYS_SENSITIVE, CK_FALSE) == CK_TRUE;
    ctx.base_never_extractable =
        ks_attrs_bool(&base->attrs, CKA_NEVER_EXTRACTABLE, CK_FALSE) == CK_TRUE;
    CK_RV rv = implied(base, tmpl, count, &imposed, inline_extra, &extra, &extra_count);
    if (rv == CKR_OK) {
        rv = ks_rules_new_object(&attrs, KS_ORIGIN_DERIVE, tmpl, count, extra, extra_count,
                                 &ctx, &why);
    }
    const ks_class_desc *made = ks_class_supported(ks_object_class_of(&attrs));
    if (rv == CKR_OK && (made == NULL || made->cls != CKO_SECRET_KEY)) {
        rv = CKR_TEMPLATE_INCONSISTENT;
    }
    if (rv == CKR_OK) {
        rv = derive_value(mech, base, &attrs);
    }
    if (rv == CKR_OK) {
        rv = ks_rules_finish_key(&attrs, KS_ORIGIN_DERIVE, &why);
    }
    if (rv == CKR_OK) {
        rv = derived_history(&attrs);
    }
    if (rv == CKR_OK) {
        rv = ks_token_add(tok, s->handle, ks_p11_session_rw(s), &attrs, out);
    }
    if (rv != CKR_OK && why.reason != NULL) {
        ks_p11_why(&why);
    }
    if (extra != inline_extra) {
        free(extra);
    }
    ks_attrs_free(&imposed);
    ks_attrs_free(&attrs);
    return rv;
}

/* The creation record names the new key and, in the detail, its base key. */
static CK_RV audit_derived(ks_session *s, const ks_object *base, CK_OBJECT_HANDLE made,
                           CK_MECHANISM_TYPE mech, CK_RV rv)
{
    ks_token *tok = s->token;
    ks_object *obj = NULL;
    if (rv != CKR_OK || ks_token_get(tok, s->handle, made, &obj) != CKR_OK) {
        obj = NULL;
    }
    char base_uid[KS_UID_LEN + 1] = "";
    char detail[64];
    if (base != NULL) {
        ks_token_uid(&base->attrs, base_uid);
    }
    snprintf(detail, sizeof(detail), "base %s", base_uid);
    CK_RV recorded = ks_token_audit(tok, KS_AUDIT_DERIVE, s->handle, obj ? &obj->attrs : NULL,
                                    mech, rv, detail);
    if (rv == CKR_OK && recorded != CKR_OK) {
        if (obj != NULL) {
            (void)ks_token_remove(tok, ks_p11_session_rw(s), obj); /* not in the trail */
        }
        return recorded;
    }
    return rv;
}

static CK_RV derive_key(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                        CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    if (pMechanism == NULL || phKey == NULL || (pTemplate == NULL && ulAttributeCount != 0) ||
        ulAttributeCount > KS_MAX_COUNT) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    const ks_mech_desc *d = ks_mech_lookup(tok->cfg, pMechanism->mechanism);
    rv = d == NULL || !(d->flags & CKF_DERIVE) ? CKR_MECHANISM_INVALID
         : d->params != NULL                   ? d->params(pMechanism)
                                               : CKR_OK;
    if (rv != CKR_OK) {
        ks_session_release(s);
        return rv;
    }
    pthread_mutex_lock(&tok->lock);
    ks_object *base = NULL;
    ks_key_use use = {"C_DeriveKey", CKA_DERIVE, KS_USE_PROTECT, pMechanism->mechanism};
    rv = ks_p11_key_for_use(tok, hSession, hBaseKey, d, CKF_DERIVE, &use, &base);
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_use(tok, base, KS_ROLE_DATA);
    }
    if (rv == CKR_OK) {
        rv = ks_p11_gate_pass(tok, hSession, base, &use);
    }
    CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
    if (rv == CKR_OK) {
        rv = derive_into(s, pMechanism, base, pTemplate, ulAttributeCount, &made);
    }
    rv = audit_derived(s, base, made, pMechanism->mechanism, rv);
    *phKey = rv == CKR_OK ? made : CK_INVALID_HANDLE;
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                            CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                            CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    return ks_p11_exit("C_DeriveKey", hSession,
                       pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       derive_key(hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount,
                                  phKey));
}
