/* rules_get.c - reading and matching attributes: C_GetAttributeValue (PKCS#11 3.0 base 5.7,
 * its five numbered cases and the rule for attributes whose value is an array of attributes),
 * C_FindObjectsInit matching, CKA_WRAP_TEMPLATE / CKA_UNWRAP_TEMPLATE matching (4.10), and
 * C_GetObjectSize. */
#include <stdlib.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"
#include "keystead.h"
#include "token/rules_internal.h"

/* Results of one template, worst first: 5.7 lets the call return any applicable code; this
 * order is keystead's and is stable. */
typedef struct get_result {
    int sensitive;  /* case 1 */
    int type_invalid; /* case 2 */
    int too_small;  /* case 5 */
} get_result;

static CK_RV result_rv(const get_result *res)
{
    if (res->sensitive) {
        return CKR_ATTRIBUTE_SENSITIVE;
    }
    if (res->type_invalid) {
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    if (res->too_small) {
        return CKR_BUFFER_TOO_SMALL;
    }
    return CKR_OK;
}

static CK_OBJECT_CLASS class_of(const ks_attrs *obj)
{
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
    ks_attrs_get_ulong(obj, CKA_CLASS, &cls);
    return cls;
}

/* hidden: 4.10 / table 10 footnote 7, for secret and private keys that are sensitive or
 * unextractable; and keystead's own holding of a private key, never revealed. */
static int hidden(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type)
{
    CK_OBJECT_CLASS cls = class_of(obj);
    const ks_rule *r = ks_rule_of(obj, type);
    const ks_class_desc *c = ks_class_find(cls);
    if (r != NULL && (r->flags & KS_F_NEVER) != 0) {
        return 1;
    }
    return r != NULL && (r->flags & KS_F_HIDDEN) != 0 && c != NULL && c->hides &&
           ks_rules_secret_is_hidden(obj);
}

/* fill_plain applies cases 3-5 to one attribute whose value is held as bytes. */
static void fill_plain(CK_ATTRIBUTE *a, const ks_attr *held, get_result *res)
{
    if (a->pValue == NULL) {
        a->ulValueLen = held->len; /* case 3 */
    } else if (a->ulValueLen >= held->len) {
        if (held->len > 0) {
            ks_copy_out(a->pValue, held->value, held->len); /* case 4 */
        }
        a->ulValueLen = held->len;
    } else {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION; /* case 5 */
        res->too_small = 1;
    }
}

/* fill_array: 5.7, "In the special case of an attribute whose value is an array of
 * attributes": the outer length is count * sizeof(CK_ATTRIBUTE); inner elements are filled
 * by the same cases. An inner array whose pValue fields are all NULL_PTR asks what the
 * template holds: each element gets the type and length of the next attribute. */
static void fill_array(CK_ATTRIBUTE *a, const ks_attr *held, get_result *res)
{
    ks_attrs inner;
    ks_attrs_init(&inner);
    if (ks_attrs_unpack(&inner, held->value, held->len) != CKR_OK) {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION; /* a corrupt store: reveal nothing */
        res->type_invalid = 1;
        return;
    }
    CK_ULONG need = (CK_ULONG)(inner.count * sizeof(CK_ATTRIBUTE));
    if (a->pValue == NULL) {
        a->ulValueLen = need;
    } else if (a->ulValueLen < need) {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        res->too_small = 1;
    } else {
        CK_ATTRIBUTE *out = a->pValue;
        int all_null = 1;
        for (size_t i = 0; i < inner.count; i++) {
            all_null &= out[i].pValue == NULL;
        }
        for (size_t i = 0; i < inner.count; i++) {
            if (all_null) {
                out[i].type = inner.items[i].type;
                out[i].ulValueLen = inner.items[i].len;
                continue;
            }
            const ks_attr *h = ks_attrs_find(&inner, out[i].type);
            if (h == NULL) {
                out[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
                res->type_invalid = 1;
            } else {
                fill_plain(&out[i], h, res);
            }
        }
        a->ulValueLen = need;
    }
    ks_attrs_free(&inner);
}

/* sealed_absent: obj was loaded without the token key (no login), so its sealed values
 * exist but are not here. They cannot be revealed now: case 1, CKR_ATTRIBUTE_SENSITIVE with
 * CK_UNAVAILABLE_INFORMATION, never case 2, which would say the attribute does not exist.
 * A destroyed key's value is gone for good: case 2 stays. */
static int unsealed_here(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type, int sealed_absent)
{
    CK_ULONG state = KS_STATE_ACTIVE;
    ks_attrs_get_ulong(obj, CKA_KS_LIFECYCLE_STATE, &state);
    const ks_rule *r = ks_rule_of(obj, type);
    if (r != NULL && (r->flags & KS_F_DERIVED) != 0) {
        return sealed_absent && state != KS_STATE_DESTROYED; /* read from the sealed value */
    }
    return sealed_absent && ks_rules_is_sealed(type) && state != KS_STATE_DESTROYED &&
           r != NULL;
}

/* fill_derived: a private component (KS_F_DERIVED) is read from the private key's value
 * when the key may reveal it (5.7 case 1 otherwise); a destroyed key has none (case 2). */
static void fill_derived(const ks_attrs *obj, CK_ATTRIBUTE *a, get_result *res)
{
    if (hidden(obj, a->type)) {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        res->sensitive = 1;
        return;
    }
    uint8_t *v = NULL;
    size_t len = 0;
    if (ks_rules_private_component(obj, a->type, &v, &len) != CKR_OK) {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        res->type_invalid = 1;
        return;
    }
    ks_attr held = {a->type, (CK_ULONG)len, v};
    fill_plain(a, &held, res);
    ks_secure_free(v, len);
}

static CK_RV get_impl(const ks_attrs *obj, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                      int sealed_absent)
{
    if (obj == NULL || (count > 0 && tmpl == NULL)) {
        return CKR_ARGUMENTS_BAD;
    }
    get_result res = {0, 0, 0};
    /* every attribute is processed, whatever the earlier ones gave (5.7) */
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ATTRIBUTE *a = &tmpl[i];
        const ks_attr *held = ks_attrs_find(obj, a->type);
        const ks_rule *r = ks_rule_of(obj, a->type);
        if (r != NULL && (r->flags & KS_F_DERIVED) != 0 && !sealed_absent) {
            fill_derived(obj, a, &res); /* a private component, from the key's value */
        } else if (held != NULL && hidden(obj, a->type)) {
            a->ulValueLen = CK_UNAVAILABLE_INFORMATION; /* case 1 */
            res.sensitive = 1;
        } else if (held == NULL && unsealed_here(obj, a->type, sealed_absent)) {
            a->ulValueLen = CK_UNAVAILABLE_INFORMATION; /* case 1: cannot be revealed now */
            res.sensitive = 1;
        } else if (held == NULL) {
            a->ulValueLen = CK_UNAVAILABLE_INFORMATION; /* case 2 */
            res.type_invalid = 1;
        } else if (r != NULL && r->shape == KS_SHAPE_ATTR_ARRAY) {
            fill_array(a, held, &res);
        } else {
            fill_plain(a, held, &res);
        }
    }
    return result_rv(&res);
}

CK_RV ks_rules_get(const ks_attrs *obj, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    return get_impl(obj, tmpl, count, 0);
}

CK_RV ks_rules_get_sealed_absent(const ks_attrs *obj, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    return get_impl(obj, tmpl, count, 1);
}

/* value_equal compares a template value with the held one; array attributes in packed
 * form, so the caller's order of inner attributes does not matter. */
static int value_equal(const ks_attr *held, const CK_ATTRIBUTE *a)
{
    if (a->ulValueLen > 0 && a->pValue == NULL) {
        return 0;
    }
    if (ks_attrs_is_template(a->type)) {
        if (a->ulValueLen % sizeof(CK_ATTRIBUTE) != 0) {
            return 0;
        }
        uint8_t *packed = NULL;
        size_t packed_len = 0;
        if (ks_attrs_pack(&packed, &packed_len, a->pValue,
                          a->ulValueLen / sizeof(CK_ATTRIBUTE)) != CKR_OK) {
            return 0;
        }
        int same = packed_len == held->len && ks_memeq(packed, held->value, packed_len);
        free(packed);
        return same;
    }
    return held->len == a->ulValueLen && ks_memeq(held->value, a->pValue, held->len);
}

int ks_rules_match(const ks_attrs *obj, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    if (obj == NULL || (count > 0 && tmpl == NULL)) {
        return 0;
    }
    /* 5.7 C_FindObjectsInit: an exact byte-for-byte match of every attribute given */
    for (CK_ULONG i = 0; i < count; i++) {
        const ks_attr *held = ks_attrs_find(obj, tmpl[i].type);
        if (held == NULL || hidden(obj, tmpl[i].type) || !value_equal(held, &tmpl[i])) {
            return 0;
        }
    }
    return 1;
}

int ks_rules_is_sealed(CK_ATTRIBUTE_TYPE type)
{
    /* the only secret-bearing attribute of the objects keystead holds is CKA_VALUE (secret
     * keys; data objects' values are sealed too, they may be private data) */
    return type == CKA_VALUE || type == CKA_KS_PKCS8;
}

int ks_rules_template_matches(const ks_attrs *obj, const ks_attr *packed_template)
{
    if (obj == NULL) {
        return 0;
    }
    if (packed_template == NULL || packed_template->len == 0) {
        return 1; /* no template: nothing to match */
    }
    ks_attrs want;
    ks_attrs_init(&want);
    if (ks_attrs_unpack(&want, packed_template->value, packed_template->len) != CKR_OK) {
        return 0; /* fail closed */
    }
    int ok = 1;
    for (size_t i = 0; i < want.count && ok; i++) {
        const ks_attr *w = &want.items[i];
        const ks_attr *held = ks_attrs_find(obj, w->type);
        ok = held != NULL && held->len == w->len && ks_memeq(held->value, w->value, w->len);
    }
    ks_attrs_free(&want);
    return ok;
}

CK_ULONG ks_rules_object_size(const ks_attrs *obj)
{
    /* an approximation, as 5.7 C_GetObjectSize allows: values plus a type and a length per
     * attribute plus a fixed object header */
    CK_ULONG size = 64;
    for (size_t i = 0; obj != NULL && i < obj->count; i++) {
        size += 2 * sizeof(CK_ULONG) + obj->items[i].len;
    }
    return size;
}
