/* rules_set.c - changing an object's attributes: C_SetAttributeValue and C_CopyObject
 * (PKCS#11 3.0 base 4.1.2 "Modifying objects", 4.1.3 "Copying objects", 4.4 storage objects,
 * 4.10 secret key objects, 5.7 C_CopyObject and C_SetAttributeValue). Both are all or
 * nothing: the changes are made on a copy that replaces the object only on success. */
#include <string.h>

#include "crypto/mem.h"
#include "keystead.h"
#include "token/lifecycle.h"
#include "token/rules_internal.h"

typedef enum { MODE_SET, MODE_COPY } change_mode;

/* A template changes the lifecycle state when it names CKA_KS_LIFECYCLE_STATE with a value
 * other than the object's. */
static int changes_state(const ks_attrs *obj, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    CK_ULONG from = KS_STATE_ACTIVE;
    ks_attrs_get_ulong(obj, CKA_KS_LIFECYCLE_STATE, &from);
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].type == CKA_KS_LIFECYCLE_STATE && tmpl[i].pValue != NULL &&
            tmpl[i].ulValueLen == sizeof(CK_ULONG)) {
            CK_ULONG to;
            memcpy(&to, tmpl[i].pValue, sizeof(to));
            if (to != from) {
                return 1;
            }
        }
    }
    return 0;
}

/* check_one_way: [11] and [12] and the SO-only CKA_TRUSTED ([10]). */
static CK_RV check_one_way(const ks_rule *r, const ks_attrs *obj, CK_BBOOL now,
                           const ks_rule_ctx *ctx, ks_why *why)
{
    CK_BBOOL held = CK_FALSE;
    int has = ks_attrs_get_bool(obj, r->type, &held);
    if (has && held == now) {
        return CKR_OK;
    }
    if ((r->flags & KS_F_TRUE_ONLY) != 0 && has && held == CK_TRUE) {
        return ks_rule_fail(why, r->type, "cannot be changed once true", CKR_ATTRIBUTE_READ_ONLY);
    }
    if ((r->flags & KS_F_FALSE_ONLY) != 0 && has && held == CK_FALSE) {
        return ks_rule_fail(why, r->type, "cannot be changed once false",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    if ((r->flags & KS_F_SO_TRUE) != 0 && now == CK_TRUE && (ctx == NULL || !ctx->so)) {
        return ks_rule_fail(why, r->type, "only the SO may set it to true",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    return CKR_OK;
}

/* check_vendor: lifecycle edges (keystead.h, DESIGN.md) and the usage limit, which must stay
 * above the count already used (0 removes the limit). */
static CK_RV check_vendor(const CK_ATTRIBUTE *a, const ks_attrs *obj, ks_why *why)
{
    CK_ULONG v;
    memcpy(&v, a->pValue, sizeof(v));
    if (a->type == CKA_KS_LIFECYCLE_STATE) {
        CK_ULONG from = KS_STATE_ACTIVE;
        ks_attrs_get_ulong(obj, CKA_KS_LIFECYCLE_STATE, &from);
        if (v != from && !ks_lifecycle_allowed(from, v)) {
            return ks_rule_fail(why, a->type, "lifecycle transition not allowed",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
    } else if (a->type == CKA_KS_USAGE_LIMIT) {
        CK_ULONG used = 0;
        ks_attrs_get_ulong(obj, CKA_KS_USAGE_COUNT, &used);
        if (v != 0 && v <= used) {
            return ks_rule_fail(why, a->type, "limit not above the usage count",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
    }
    return CKR_OK;
}

/* changes_held: the template value differs from the one obj holds (or obj holds none). */
static int changes_held(const ks_attrs *obj, const CK_ATTRIBUTE *a)
{
    const ks_attr *held = ks_attrs_find(obj, a->type);
    if (held == NULL) {
        return 1;
    }
    return held->len != a->ulValueLen ||
           (held->len > 0 && memcmp(held->value, a->pValue, held->len) != 0);
}

/* check_govern: on a manager-governed key (CKA_KS_GOVERNED true) only the manager changes
 * what governs it (KS_F_GOVERN: lifecycle state, usage limit, override, usage dates, the
 * governed flag, the usage flags, and the label and ID the manager finds it by); only the manager makes a key governed. Anyone else: the attribute is
 * read-only to them (3.0 base 5.7: "may not be modified by the application"). Setting the
 * value already held changes nothing and passes (docs/authority.md). */
static CK_RV check_govern(const ks_rule *r, const CK_ATTRIBUTE *a, const ks_attrs *obj,
                          const ks_rule_ctx *ctx, ks_why *why)
{
    if ((r->flags & KS_F_GOVERN) == 0 || (ctx != NULL && ctx->manager)) {
        return CKR_OK;
    }
    int governed = ks_attrs_bool(obj, CKA_KS_GOVERNED, CK_FALSE) == CK_TRUE;
    if ((governed || a->type == CKA_KS_GOVERNED) && changes_held(obj, a)) {
        return ks_rule_fail(why, a->type, "only the manager changes what governs this key",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    return CKR_OK;
}

/* check_change decides whether one template attribute may change obj in this mode. */
static CK_RV check_change(const ks_rule *r, const CK_ATTRIBUTE *a, const ks_attrs *obj,
                          change_mode mode, int state_change, const ks_rule_ctx *ctx,
                          ks_why *why)
{
    unsigned allowed = KS_F_MODIFY | (mode == MODE_COPY ? KS_F_COPY : 0);
    CK_RV grv = check_govern(r, a, obj, ctx, why);
    if (grv != CKR_OK) {
        return grv;
    }
    if (r->flags & KS_F_WITH_TRANSITION) {
        if (!state_change) {
            return ks_rule_fail(why, a->type, "only together with a lifecycle transition",
                                CKR_TEMPLATE_INCONSISTENT);
        }
        return CKR_OK;
    }
    if (a->type == CKA_CHECK_VALUE && a->ulValueLen == 0) {
        return CKR_OK; /* 4.10: "C_SetAttributeValue may be used to destroy the attribute" */
    }
    if ((r->flags & allowed) == 0) {
        return ks_rule_fail(why, a->type, "attribute cannot be changed",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    if (r->shape == KS_SHAPE_BOOL) {
        CK_RV rv = check_one_way(r, obj, ((const uint8_t *)a->pValue)[0], ctx, why);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    if (a->type == CKA_KS_LIFECYCLE_STATE || a->type == CKA_KS_USAGE_LIMIT) {
        return check_vendor(a, obj, why);
    }
    return CKR_OK;
}

/* apply_one validates and applies one attribute to work; seen records what the template has
 * set so far, to find conflicting duplicates (4.1.1 item 6). */
static CK_RV apply_one(ks_attrs *work, ks_attrs *seen, const ks_attrs *orig,
                       const CK_ATTRIBUTE *a, CK_OBJECT_CLASS cls, change_mode mode,
                       int state_change, const ks_rule_ctx *ctx, ks_why *why)
{
    (void)cls;
    const ks_rule *r = ks_rule_of(orig, a->type);
    if (r == NULL) {
        if (ks_rule_known(a->type)) {
            return ks_rule_fail(why, a->type, "not an attribute of this object class",
                                CKR_TEMPLATE_INCONSISTENT);
        }
        return ks_rule_fail(why, a->type, "unknown attribute", CKR_ATTRIBUTE_TYPE_INVALID);
    }
    CK_RV rv = ks_rule_check_shape(r, a, why);
    if (rv == CKR_OK) {
        rv = ks_rules_check_value(a, why);
    }
    if (rv == CKR_OK) {
        rv = check_change(r, a, orig, mode, state_change, ctx, why);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    if (ks_attrs_has(seen, a->type)) {
        if (ks_rule_same_value(seen, r, a)) {
            return CKR_OK;
        }
        return ks_rule_fail(why, a->type, "conflicting values", CKR_TEMPLATE_INCONSISTENT);
    }
    rv = ks_rule_store_value(seen, r, a, why);
    if (rv == CKR_OK) {
        rv = ks_rule_store_value(work, r, a, why);
    }
    return rv;
}

/* apply_all runs a template over work (a copy of orig). On a transition to destroyed the key
 * material goes: the value is emptied, the metadata stays (README, "Key lifecycle in the token"). */
static CK_RV apply_all(ks_attrs *work, const ks_attrs *orig, const CK_ATTRIBUTE *tmpl,
                       CK_ULONG count, change_mode mode, const ks_rule_ctx *ctx, ks_why *why)
{
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
    ks_attrs_get_ulong(orig, CKA_CLASS, &cls);
    int state_change = changes_state(orig, tmpl, count);
    ks_attrs seen;
    ks_attrs_init(&seen);
    CK_RV rv = CKR_OK;
    for (CK_ULONG i = 0; i < count && rv == CKR_OK; i++) {
        rv = apply_one(work, &seen, orig, &tmpl[i], cls, mode, state_change, ctx, why);
    }
    ks_attrs_free(&seen);
    CK_ULONG state;
    if (rv == CKR_OK && state_change &&
        ks_attrs_get_ulong(work, CKA_KS_LIFECYCLE_STATE, &state) &&
        state == KS_STATE_DESTROYED) {
        /* the class's value: a secret key's CKA_VALUE, a private key's CKA_KS_PKCS8 */
        const ks_class_desc *c = ks_class_find(cls);
        CK_ATTRIBUTE_TYPE value = c != NULL && c->hides ? c->value_attr : CKA_VALUE;
        if (ks_attrs_has(work, value)) {
            rv = ks_attrs_set(work, value, NULL, 0);
        }
    }
    return rv;
}

static int lifecycle_only(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].type != CKA_KS_LIFECYCLE_STATE && tmpl[i].type != CKA_KS_TRANSITION_REASON) {
            return 0;
        }
    }
    return count > 0;
}

CK_RV ks_rules_set(ks_attrs *obj, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                   const ks_rule_ctx *ctx, ks_why *why)
{
    if (obj == NULL || (count > 0 && tmpl == NULL)) {
        return ks_rule_fail(why, (CK_ULONG)-1, "no template", CKR_ARGUMENTS_BAD);
    }
    /* 4.4 / 5.7: an object whose CKA_MODIFIABLE is false cannot be changed; keystead's
     * lifecycle state stays movable (SP 800-57 7: a read-only key must still be able to be
     * marked compromised or destroyed), so a template of only the state and its reason
     * passes */
    if (ks_attrs_bool(obj, CKA_MODIFIABLE, CK_TRUE) == CK_FALSE && !lifecycle_only(tmpl, count)) {
        return ks_rule_fail(why, CKA_MODIFIABLE, "object is not modifiable",
                            CKR_ACTION_PROHIBITED);
    }
    ks_attrs work;
    ks_attrs_init(&work);
    CK_RV rv = ks_attrs_copy(&work, obj);
    if (rv == CKR_OK) {
        rv = apply_all(&work, obj, tmpl, count, MODE_SET, ctx, why);
    }
    if (rv != CKR_OK) {
        ks_attrs_free(&work);
        return rv;
    }
    ks_attrs_free(obj);
    *obj = work;
    return CKR_OK;
}

int ks_rules_governed_by_other(const ks_attrs *obj, const ks_rule_ctx *ctx)
{
    return ks_attrs_bool(obj, CKA_KS_GOVERNED, CK_FALSE) == CK_TRUE &&
           (ctx == NULL || !ctx->manager);
}

CK_RV ks_rules_copy(ks_attrs *out, const ks_attrs *src, const CK_ATTRIBUTE *tmpl,
                    CK_ULONG count, const ks_rule_ctx *ctx, ks_why *why)
{
    if (out == NULL || src == NULL || (count > 0 && tmpl == NULL)) {
        return ks_rule_fail(why, (CK_ULONG)-1, "no template", CKR_ARGUMENTS_BAD);
    }
    /* 4.1.3: CKA_COPYABLE false gives CKR_ACTION_PROHIBITED */
    if (ks_attrs_bool(src, CKA_COPYABLE, CK_TRUE) == CK_FALSE) {
        return ks_rule_fail(why, CKA_COPYABLE, "object is not copyable",
                            CKR_ACTION_PROHIBITED);
    }
    /* A governed key has one state, one limit, one set of dates: a copy that the manager did
     * not make would keep the state of the moment and escape a later suspension. */
    if (ks_rules_governed_by_other(src, ctx)) {
        return ks_rule_fail(why, CKA_KS_GOVERNED, "only the manager copies a governed key",
                            CKR_ACTION_PROHIBITED);
    }
    ks_attrs work;
    ks_attrs_init(&work);
    CK_RV rv = ks_attrs_copy(&work, src);
    if (rv == CKR_OK) {
        /* the copy is a new object: the caller assigns its CKA_UNIQUE_ID. CKA_LOCAL,
         * CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE and the usage counters are kept (4.7,
         * 5.7 C_CopyObject), so a copy never resets a count. */
        ks_attrs_remove(&work, CKA_UNIQUE_ID);
        rv = apply_all(&work, src, tmpl, count, MODE_COPY, ctx, why);
        CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
        ks_attrs_get_ulong(&work, CKA_CLASS, &cls);
        if (rv == CKR_OK && ctx != NULL && ctx->manager &&
            ks_rule_find(CKA_KS_GOVERNED, cls) != NULL) {
            rv = ks_attrs_set_bool(&work, CKA_KS_GOVERNED, CK_TRUE); /* the manager's copy */
        }
    }
    if (rv != CKR_OK) {
        ks_attrs_free(&work);
        return rv;
    }
    ks_attrs_free(out);
    *out = work;
    return CKR_OK;
}
