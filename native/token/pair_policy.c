/* pair_policy.c - one purpose per key of a pair, and pairs that change state together
 * (see pair_policy.h). */
#include "token/pair_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystead.h"
#include "token/lifecycle.h"
#include "token/rules.h"

static int any_true(const ks_attrs *a, const CK_ATTRIBUTE_TYPE *types, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ks_attrs_bool(a, types[i], CK_FALSE) == CK_TRUE) {
            return 1;
        }
    }
    return 0;
}

/* The purposes a key of a pair serves: bit 0 signing (verification), bit 1 decryption and
 * unwrapping (encryption and wrapping). */
static unsigned sides(const ks_attrs *a)
{
    static const CK_ATTRIBUTE_TYPE SIGNS[] = {CKA_SIGN, CKA_SIGN_RECOVER};
    static const CK_ATTRIBUTE_TYPE DECRYPTS[] = {CKA_DECRYPT, CKA_UNWRAP};
    static const CK_ATTRIBUTE_TYPE VERIFIES[] = {CKA_VERIFY, CKA_VERIFY_RECOVER};
    static const CK_ATTRIBUTE_TYPE ENCRYPTS[] = {CKA_ENCRYPT, CKA_WRAP};
    CK_OBJECT_CLASS cls = ks_object_class_of(a);
    if (cls == CKO_PRIVATE_KEY) {
        return (unsigned)any_true(a, SIGNS, 2) | (unsigned)any_true(a, DECRYPTS, 2) << 1;
    }
    if (cls == CKO_PUBLIC_KEY) {
        return (unsigned)any_true(a, VERIFIES, 2) | (unsigned)any_true(a, ENCRYPTS, 2) << 1;
    }
    return 0;
}

/* Signature and decryption (private), verification and encryption (public): both sides. */
static int two_purposes(const ks_attrs *a)
{
    return sides(a) == 3u;
}

CK_RV ks_pair_check_purpose(const ks_config *cfg, const ks_attrs *before,
                            const ks_attrs *after)
{
    if (cfg == NULL || cfg->wrap_policy == KS_WRAP_POLICY_COMPAT) {
        return CKR_OK;
    }
    if (before == NULL) {
        return two_purposes(after) ? CKR_TEMPLATE_INCONSISTENT : CKR_OK;
    }
    /* A key's value serves one purpose for good: a change (or a copy) never gives it a
     * purpose it did not have, or the same value would sign through one object and decrypt
     * through another (a hostile review did it with C_CopyObject). A key that already has
     * both (made under compat) keeps them. */
    return (sides(after) & ~sides(before)) != 0 ? CKR_TEMPLATE_INCONSISTENT : CKR_OK;
}

/* The state the other keys of the pair take, or (CK_ULONG)-1 for none. */
static CK_ULONG follows(CK_OBJECT_CLASS cls, CK_ULONG from, CK_ULONG to)
{
    if (to == KS_STATE_SUSPENDED || to == KS_STATE_COMPROMISED) {
        return to;
    }
    if (from == KS_STATE_SUSPENDED && to == KS_STATE_ACTIVE) {
        return KS_STATE_ACTIVE;
    }
    if (cls == CKO_PRIVATE_KEY && to == KS_STATE_DESTROYED) {
        return KS_STATE_DEACTIVATED;
    }
    return (CK_ULONG)-1;
}

/* Move one other key of the pair: through the attribute rules (so only who may govern it
 * moves it, along an edge of the lifecycle table), then the store and the trail. */
static CK_RV move_one(ks_token *tok, CK_SESSION_HANDLE session, int rw, ks_object *other,
                      CK_ULONG state, const char *uid)
{
    static const char reason[] = "pair";
    CK_ATTRIBUTE tmpl[] = {
        {CKA_KS_LIFECYCLE_STATE, &state, sizeof(state)},
        {CKA_KS_TRANSITION_REASON, (void *)reason, sizeof(reason) - 1},
    };
    CK_ULONG before = KS_STATE_ACTIVE;
    ks_attrs_get_ulong(&other->attrs, CKA_KS_LIFECYCLE_STATE, &before);
    ks_rule_ctx ctx = ks_token_rule_ctx(tok, (CK_MECHANISM_TYPE)-1);
    ks_why why = {(CK_ATTRIBUTE_TYPE)-1, NULL};
    ks_attrs next;
    ks_attrs_init(&next);
    CK_RV rv = ks_attrs_copy(&next, &other->attrs);
    if (rv == CKR_OK && ks_rules_set(&next, tmpl, 2, &ctx, &why) != CKR_OK) {
        ks_attrs_free(&next);
        return CKR_OK; /* not the caller's to move, or not an edge from its state */
    }
    if (rv == CKR_OK && (!other->is_token || rw)) {
        rv = ks_token_update(tok, rw, other, &next);
    }
    ks_attrs_free(&next);
    if (rv == CKR_OK) {
        char detail[128];
        snprintf(detail, sizeof(detail), "%s -> %s: pair of %s",
                 ks_lifecycle_state_name(before), ks_lifecycle_state_name(state), uid);
        rv = ks_token_audit(tok, KS_AUDIT_TRANSITION, session, &other->attrs,
                            (CK_MECHANISM_TYPE)-1, CKR_OK, detail);
    }
    return rv;
}

CK_RV ks_pair_follow(ks_token *tok, CK_SESSION_HANDLE session, int rw, const ks_object *obj,
                     CK_ULONG from, CK_ULONG to)
{
    CK_OBJECT_CLASS cls = ks_object_class(obj);
    CK_OBJECT_CLASS other_cls = cls == CKO_PRIVATE_KEY ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY;
    const ks_attr *spki = ks_attrs_find(&obj->attrs, CKA_PUBLIC_KEY_INFO);
    CK_ULONG state = follows(cls, from, to);
    if ((cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY) || spki == NULL || spki->len == 0 ||
        state == (CK_ULONG)-1) {
        return CKR_OK;
    }
    /* Copies: finding objects may reload the cache that obj's attributes live in. */
    char uid[KS_UID_LEN + 1];
    ks_token_uid(&obj->attrs, uid);
    CK_ULONG spki_len = spki->len;
    uint8_t *key_info = malloc(spki_len);
    if (key_info == NULL) {
        return CKR_HOST_MEMORY;
    }
    memcpy(key_info, spki->value, spki_len);
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &other_cls, sizeof(other_cls)},
        {CKA_PUBLIC_KEY_INFO, key_info, spki_len},
    };
    CK_OBJECT_HANDLE *found = NULL;
    size_t n = 0;
    CK_RV rv = ks_token_find(tok, session, tmpl, 2, &found, &n);
    for (size_t i = 0; rv == CKR_OK && i < n; i++) {
        ks_object *other = NULL;
        if (ks_token_get(tok, session, found[i], &other) == CKR_OK) {
            rv = move_one(tok, session, rw, other, state, uid);
        }
    }
    free(key_info);
    free(found);
    return rv;
}
