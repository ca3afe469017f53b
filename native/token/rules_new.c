/* rules_new.c - the attribute set of a new object: C_CreateObject, C_GenerateKey,
 * C_UnwrapKey, C_DeriveKey (PKCS#11 3.0 base 4.1.1 "Creating objects", 4.4-4.10 tables and
 * the footnotes of table 10, 5.7 C_CreateObject, 5.18 key management functions). */
#include <string.h>

#include <openssl/evp.h>

#include "crypto/aes.h"
#include "crypto/des3.h"
#include "crypto/mem.h"
#include "keystead.h"
#include "token/rules_internal.h"

static unsigned origin_flag(ks_origin origin)
{
    switch (origin) {
    case KS_ORIGIN_CREATE:
        return KS_F_CREATE;
    case KS_ORIGIN_GENERATE:
        return KS_F_GENERATE;
    default:
        return KS_F_UNWRAP; /* unwrap and derive: footnote 6 */
    }
}

/* find_ulong looks for type in the template and the call's implied attributes; both must
 * agree. Returns CKR_OK with *found = 0 when neither has it. */
static CK_RV find_ulong(CK_ULONG *out, int *found, CK_ATTRIBUTE_TYPE type,
                        const CK_ATTRIBUTE *tmpl, CK_ULONG count, const CK_ATTRIBUTE *extra,
                        CK_ULONG extra_count, ks_why *why)
{
    *found = 0;
    for (CK_ULONG pass = 0; pass < 2; pass++) {
        const CK_ATTRIBUTE *list = pass == 0 ? extra : tmpl;
        CK_ULONG n = pass == 0 ? extra_count : count;
        for (CK_ULONG i = 0; i < n; i++) {
            if (list[i].type != type) {
                continue;
            }
            if (list[i].pValue == NULL || list[i].ulValueLen != sizeof(CK_ULONG)) {
                return ks_rule_fail(why, type, "CK_ULONG of the wrong size",
                                    CKR_ATTRIBUTE_VALUE_INVALID);
            }
            CK_ULONG v;
            memcpy(&v, list[i].pValue, sizeof(v));
            if (*found && v != *out) {
                return ks_rule_fail(why, type, "conflicting values",
                                    CKR_TEMPLATE_INCONSISTENT);
            }
            *out = v;
            *found = 1;
            CK_RV rv = ks_rules_check_value(&list[i], why);
            if (rv != CKR_OK) {
                return rv;
            }
        }
    }
    return CKR_OK;
}

static CK_RV check_imposed(const CK_ATTRIBUTE *a, const ks_rule_ctx *ctx, ks_why *why);

/* Checks of one template attribute that depend on the origin and the caller. */
static CK_RV check_new_attr(const ks_rule *r, const CK_ATTRIBUTE *a, ks_origin origin,
                            CK_KEY_TYPE kt, const ks_rule_ctx *ctx, ks_why *why)
{
    if ((r->flags & origin_flag(origin)) == 0) {
        return ks_rule_fail(why, a->type, "may not be given when the object is made",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    /* AES key objects: CKA_VALUE_LEN [6], must not be specified to C_UnwrapKey */
    if (a->type == CKA_VALUE_LEN && kt == CKK_AES && origin == KS_ORIGIN_UNWRAP) {
        return ks_rule_fail(why, a->type, "AES keys take their length from the wrapped key",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    const uint8_t *v = a->pValue;
    if ((r->flags & KS_F_SO_TRUE) != 0 && v[0] == CK_TRUE && (ctx == NULL || !ctx->so)) {
        return ks_rule_fail(why, a->type, "only the SO may set it to true",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    if (a->type == CKA_KS_GOVERNED && v[0] == CK_TRUE && (ctx == NULL || !ctx->manager)) {
        return ks_rule_fail(why, a->type, "only the manager governs a key",
                            CKR_ATTRIBUTE_READ_ONLY);
    }
    if (a->type == CKA_KS_LIFECYCLE_STATE) {
        CK_ULONG s;
        memcpy(&s, v, sizeof(s));
        if (s != KS_STATE_PRE_ACTIVATION && s != KS_STATE_ACTIVE) {
            return ks_rule_fail(why, a->type, "a new key is pre-activation or active",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
    }
    if (a->type == CKA_UNWRAP_TEMPLATE || a->type == CKA_DERIVE_TEMPLATE) {
        return check_imposed(a, ctx, why);
    }
    return CKR_OK;
}

/* check_imposed: a CKA_UNWRAP_TEMPLATE or CKA_DERIVE_TEMPLATE is applied to every key made
 * with this key (3.0 base 4.10) without the caller's own checks, so each of its attributes
 * must pass them now, as if given to C_UnwrapKey by this caller: no token-maintained
 * attribute, no CKA_TRUSTED true without the SO, no lifecycle state but pre-activation or
 * active. A failure names the template attribute. */
static CK_RV check_imposed(const CK_ATTRIBUTE *a, const ks_rule_ctx *ctx, ks_why *why)
{
    const CK_ATTRIBUTE *inner = a->pValue;
    CK_ULONG n = a->ulValueLen / sizeof(CK_ATTRIBUTE);
    for (CK_ULONG i = 0; i < n; i++) {
        const ks_rule *r = ks_rule_find(inner[i].type, CKO_SECRET_KEY);
        /* shapes were checked with the template (ks_rule_check_shape) */
        CK_RV rv = r == NULL ? CKR_ATTRIBUTE_VALUE_INVALID
                             : check_new_attr(r, &inner[i], KS_ORIGIN_UNWRAP,
                                              CK_UNAVAILABLE_INFORMATION, ctx, why);
        if (rv != CKR_OK) {
            return ks_rule_fail(why, a->type, "template imposes an attribute it may not", rv);
        }
    }
    return CKR_OK;
}

/* add_attr validates one attribute against the class and stores it in out. */
static CK_RV add_attr(ks_attrs *out, const CK_ATTRIBUTE *a, CK_OBJECT_CLASS cls,
                      CK_KEY_TYPE kt, ks_origin origin, int implied, const ks_rule_ctx *ctx,
                      ks_why *why)
{
    const ks_rule *r = ks_rule_find_kt(a->type, cls, kt);
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
    if (rv == CKR_OK && !implied) {
        rv = check_new_attr(r, a, origin, kt, ctx, why);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    if (ks_attrs_has(out, a->type)) {
        /* 4.1.1 item 6: the same value twice counts once; two values are inconsistent */
        if (ks_rule_same_value(out, r, a)) {
            return CKR_OK;
        }
        return ks_rule_fail(why, a->type, "conflicting values", CKR_TEMPLATE_INCONSISTENT);
    }
    return ks_rule_store_value(out, r, a, why);
}

/* holds_secret: a key whose value is secret (secret and private keys) */
static int holds_secret(CK_OBJECT_CLASS cls)
{
    const ks_class_desc *c = ks_class_supported(cls);
    return c != NULL && c->is_key && c->hides;
}

static CK_RV set_default(ks_attrs *out, const ks_rule *r, CK_OBJECT_CLASS cls)
{
    switch (r->dflt) {
    case KS_DFLT_EMPTY:
        return ks_attrs_set(out, r->type, NULL, 0);
    case KS_DFLT_FALSE:
        return ks_attrs_set_bool(out, r->type, CK_FALSE);
    case KS_DFLT_TRUE:
        return ks_attrs_set_bool(out, r->type, CK_TRUE);
    case KS_DFLT_KEYS:
        /* [9] token-specific: secret and private keys are private objects, public keys and
         * data objects public, unless asked */
        return ks_attrs_set_bool(out, r->type, holds_secret(cls) ? CK_TRUE : CK_FALSE);
    case KS_DFLT_ULONG:
        return ks_attrs_set_ulong(out, r->type, r->dflt_ulong);
    default:
        return CKR_OK;
    }
}

/* complete checks the required attributes ([1], [3], [5]) and fills every default. */
static CK_RV complete(ks_attrs *out, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, ks_origin origin,
                      ks_why *why)
{
    unsigned required = origin == KS_ORIGIN_CREATE     ? KS_F_REQ_CREATE
                        : origin == KS_ORIGIN_GENERATE ? KS_F_REQ_GENERATE
                        : origin == KS_ORIGIN_UNWRAP   ? KS_F_REQ_UNWRAP
                                                       : 0;
    for (size_t i = 0; i < ks_rule_count(); i++) {
        const ks_rule *r = ks_rule_at(i);
        if (!ks_rule_applies(r, cls, kt) || ks_attrs_has(out, r->type)) {
            continue;
        }
        if ((r->flags & required) != 0) {
            return ks_rule_fail(why, r->type, "required attribute missing",
                                CKR_TEMPLATE_INCOMPLETE);
        }
        CK_RV rv = set_default(out, r, cls);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    return CKR_OK;
}

/* ks_rules_secret_check_new: CKA_VALUE_LEN of a secret key to generate or unwrap (AES key
 * generation: 16, 24 or 32; generic secret: any length this token holds). */
CK_RV ks_rules_secret_check_new(const ks_attrs *out, CK_ULONG kt, ks_why *why)
{
    if (kt == CKK_RSA || kt == CKK_EC || kt == CKK_EC_EDWARDS || kt == CKK_EC_MONTGOMERY) {
        return ks_rule_fail(why, CKA_KEY_TYPE, "a key pair's key type on a secret key",
                            CKR_TEMPLATE_INCONSISTENT);
    }
    CK_ULONG len;
    if (!ks_attrs_get_ulong(out, CKA_VALUE_LEN, &len)) {
        return CKR_OK;
    }
    if (kt == CKK_AES) {
        if (len != 16 && len != 24 && len != 32) {
            return ks_rule_fail(why, CKA_VALUE_LEN, "AES keys are 16, 24 or 32 bytes",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
        return CKR_OK;
    }
    if (kt == CKK_DES3) {
        if (len != KS_DES3_KEY_LEN) {
            return ks_rule_fail(why, CKA_VALUE_LEN, "DES3 keys are 24 bytes",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
        return CKR_OK;
    }
    if (len == 0) {
        return ks_rule_fail(why, CKA_VALUE_LEN, "a key has at least one byte",
                            CKR_ATTRIBUTE_VALUE_INVALID);
    }
    if (len > KS_MAX_SECRET_LEN) {
        return ks_rule_fail(why, CKA_VALUE_LEN, "longer than this token holds",
                            CKR_KEY_SIZE_RANGE);
    }
    return CKR_OK;
}

/* Token-maintained attributes of a new key (3.0 base 4.7, 4.10; 5.18 C_UnwrapKey:
 * an unwrapped key has CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false). A derived key
 * keeps its base key's history (mechanisms 3.0, key derivation: if the base key's
 * CKA_ALWAYS_SENSITIVE is false so is the derived key's, else it is the derived key's
 * CKA_SENSITIVE; CKA_NEVER_EXTRACTABLE likewise with the negation of CKA_EXTRACTABLE). */
static CK_RV set_token_maintained(ks_attrs *out, ks_origin origin, const ks_rule_ctx *ctx)
{
    CK_OBJECT_CLASS cls = CK_UNAVAILABLE_INFORMATION;
    ks_attrs_get_ulong(out, CKA_CLASS, &cls);
    int secret = holds_secret(cls); /* public keys have no ALWAYS_SENSITIVE (4.8) */
    int gen = origin == KS_ORIGIN_GENERATE;
    int derive = origin == KS_ORIGIN_DERIVE && ctx != NULL;
    CK_BBOOL sensitive = ks_attrs_bool(out, CKA_SENSITIVE, CK_FALSE);
    CK_BBOOL extractable = ks_attrs_bool(out, CKA_EXTRACTABLE, CK_TRUE);
    int always_sensitive = (gen || (derive && ctx->base_always_sensitive)) &&
                           sensitive == CK_TRUE;
    int never_extractable = (gen || (derive && ctx->base_never_extractable)) &&
                            extractable == CK_FALSE;
    CK_RV rv = ks_attrs_set_bool(out, CKA_LOCAL, gen ? CK_TRUE : CK_FALSE);
    if (rv == CKR_OK) {
        /* 4.7: CK_UNAVAILABLE_INFORMATION unless CKA_LOCAL is true */
        CK_MECHANISM_TYPE m = gen && ctx != NULL ? ctx->mechanism : CK_UNAVAILABLE_INFORMATION;
        rv = ks_attrs_set_ulong(out, CKA_KEY_GEN_MECHANISM, m);
    }
    if (rv == CKR_OK && secret) {
        rv = ks_attrs_set_bool(out, CKA_ALWAYS_SENSITIVE,
                               always_sensitive ? CK_TRUE : CK_FALSE);
    }
    if (rv == CKR_OK && secret) {
        rv = ks_attrs_set_bool(out, CKA_NEVER_EXTRACTABLE,
                               never_extractable ? CK_TRUE : CK_FALSE);
    }
    if (rv == CKR_OK) {
        /* imported values are known outside the token; generated ones are not; unwrapped
         * and derived ones are assumed known until the caller shows otherwise */
        rv = ks_attrs_set_bool(out, CKA_KS_VALUE_KNOWN, gen ? CK_FALSE : CK_TRUE);
    }
    if (rv == CKR_OK && ctx != NULL && ctx->manager) {
        /* a key the manager makes is governed by it (docs/authority.md) */
        rv = ks_attrs_set_bool(out, CKA_KS_GOVERNED, CK_TRUE);
    }
    return rv;
}

/* The template (or the call) sets every one of types to `value` (any of them when any). */
static int asks(const CK_ATTRIBUTE *tmpl, CK_ULONG count, const CK_ATTRIBUTE *extra,
                CK_ULONG extra_count, const CK_ATTRIBUTE_TYPE types[2], CK_BBOOL value, int any)
{
    int hits = 0;
    for (int k = 0; k < 2; k++) {
        int hit = 0;
        for (CK_ULONG i = 0; i < count + extra_count; i++) {
            const CK_ATTRIBUTE *a = i < count ? &tmpl[i] : &extra[i - count];
            hit |= a->type == types[k] && a->pValue != NULL && a->ulValueLen == 1 &&
                   *(const CK_BBOOL *)a->pValue == value;
        }
        hits += hit;
    }
    return any ? hits > 0 : hits == 2;
}

/* One key, one purpose under the strict wrap policy (token/pair_policy.h, SP 800-57 Part 1
 * 5.2): see ks_rules_new_object. */
static CK_RV one_purpose(ks_attrs *out, CK_OBJECT_CLASS cls, const CK_ATTRIBUTE *tmpl,
                         CK_ULONG count, const CK_ATTRIBUTE *extra, CK_ULONG extra_count,
                         ks_why *why)
{
    static const CK_ATTRIBUTE_TYPE SIGNS[2] = {CKA_SIGN, CKA_SIGN_RECOVER};
    static const CK_ATTRIBUTE_TYPE DECRYPTS[2] = {CKA_DECRYPT, CKA_UNWRAP};
    static const CK_ATTRIBUTE_TYPE VERIFIES[2] = {CKA_VERIFY, CKA_VERIFY_RECOVER};
    static const CK_ATTRIBUTE_TYPE ENCRYPTS[2] = {CKA_ENCRYPT, CKA_WRAP};
    if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY) {
        return CKR_OK;
    }
    const CK_ATTRIBUTE_TYPE *first = cls == CKO_PRIVATE_KEY ? SIGNS : VERIFIES;
    const CK_ATTRIBUTE_TYPE *second = cls == CKO_PRIVATE_KEY ? DECRYPTS : ENCRYPTS;
    int wants_first = asks(tmpl, count, extra, extra_count, first, CK_TRUE, 1);
    int wants_second = asks(tmpl, count, extra, extra_count, second, CK_TRUE, 1);
    if (wants_first && wants_second) {
        return ks_rule_fail(why, second[0],
                            "one key, one purpose (wrap policy strict): a key pair's key signs "
                            "or decrypts, not both; ask for one, or initialise the token "
                            "under wrap_policy = compat",
                            CKR_TEMPLATE_INCONSISTENT);
    }
    /* the purpose not asked for is not given by default; a private key that asks only to
     * derive (key agreement, a purpose of its own) gets neither signing nor decryption */
    static const CK_ATTRIBUTE_TYPE DERIVES[2] = {CKA_DERIVE, CKA_DERIVE};
    int derive_only = cls == CKO_PRIVATE_KEY && !wants_first && !wants_second &&
                      asks(tmpl, count, extra, extra_count, DERIVES, CK_TRUE, 1);
    int keep_second = wants_second || asks(tmpl, count, extra, extra_count, first, CK_FALSE, 0);
    const CK_ATTRIBUTE_TYPE *drop = keep_second ? first : second;
    CK_RV rv = CKR_OK;
    for (int k = 0; k < 2 && rv == CKR_OK; k++) {
        if (ks_attrs_bool(out, drop[k], CK_FALSE) == CK_TRUE) {
            rv = ks_attrs_set_bool(out, drop[k], CK_FALSE);
        }
        if (rv == CKR_OK && derive_only && ks_attrs_bool(out, first[k], CK_FALSE) == CK_TRUE) {
            rv = ks_attrs_set_bool(out, first[k], CK_FALSE);
        }
    }
    return rv;
}

static CK_RV build(ks_attrs *out, ks_origin origin, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                   const CK_ATTRIBUTE *extra, CK_ULONG extra_count, const ks_rule_ctx *ctx,
                   ks_why *why)
{
    CK_ULONG cls = 0;
    CK_ULONG kt = CK_UNAVAILABLE_INFORMATION;
    int found = 0;
    CK_RV rv = find_ulong(&cls, &found, CKA_CLASS, tmpl, count, extra, extra_count, why);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!found) {
        return ks_rule_fail(why, CKA_CLASS, "required attribute missing",
                            CKR_TEMPLATE_INCOMPLETE);
    }
    const ks_class_desc *c = ks_class_supported(cls);
    if (c != NULL && c->is_key) {
        rv = find_ulong(&kt, &found, CKA_KEY_TYPE, tmpl, count, extra, extra_count, why);
        if (rv != CKR_OK) {
            return rv;
        }
        if (!found) {
            return ks_rule_fail(why, CKA_KEY_TYPE, "required attribute missing",
                                CKR_TEMPLATE_INCOMPLETE);
        }
    }
    for (CK_ULONG i = 0; i < extra_count && rv == CKR_OK; i++) {
        rv = add_attr(out, &extra[i], cls, kt, origin, 1, ctx, why);
    }
    for (CK_ULONG i = 0; i < count && rv == CKR_OK; i++) {
        rv = add_attr(out, &tmpl[i], cls, kt, origin, 0, ctx, why);
    }
    if (rv == CKR_OK) {
        rv = complete(out, cls, kt, origin, why);
    }
    if (rv == CKR_OK && ctx != NULL && ctx->one_purpose) {
        rv = one_purpose(out, cls, tmpl, count, extra, extra_count, why);
    }
    if (rv == CKR_OK && c != NULL && c->check_new != NULL) {
        rv = c->check_new(out, kt, why);
    }
    if (rv == CKR_OK && c != NULL && c->is_key) {
        rv = set_token_maintained(out, origin, ctx);
    }
    return rv;
}

CK_RV ks_rules_new_object(ks_attrs *out, ks_origin origin, const CK_ATTRIBUTE *tmpl,
                          CK_ULONG count, const CK_ATTRIBUTE *extra, CK_ULONG extra_count,
                          const ks_rule_ctx *ctx, ks_why *why)
{
    if (out == NULL || (count > 0 && tmpl == NULL) || (extra_count > 0 && extra == NULL)) {
        return ks_rule_fail(why, (CK_ULONG)-1, "no template", CKR_ARGUMENTS_BAD);
    }
    ks_attrs built;
    ks_attrs_init(&built);
    CK_RV rv = build(&built, origin, tmpl, count, extra, extra_count, ctx, why);
    if (rv != CKR_OK) {
        ks_attrs_free(&built);
        return rv;
    }
    ks_attrs_free(out);
    *out = built;
    return CKR_OK;
}

/* ---- ks_rules_finish_key ---------------------------------------------------------------- */

/* Check value (3.0 base 4.10; AES key objects: first three bytes of E(K, 0^128); generic
 * secret key objects: first three bytes of SHA-1(K)). The HMAC key types have no key object
 * definition in 3.0 and so no check value: *out_len = 0. */
static CK_RV check_value(uint8_t out[3], size_t *out_len, CK_KEY_TYPE kt, const ks_attr *value)
{
    *out_len = 0;
    if (kt == CKK_AES) {
        ks_aes_key key;
        uint8_t block[KS_AES_BLOCK] = {0};
        if (ks_aes_init(&key, value->value, value->len) != KS_OK ||
            ks_aes_encrypt_blocks(&key, block, block, 1) != KS_OK) {
            ks_aes_clear(&key);
            return CKR_FUNCTION_FAILED;
        }
        ks_aes_clear(&key);
        memcpy(out, block, 3);
        ks_wipe(block, sizeof(block));
        *out_len = 3;
    } else if (kt == CKK_DES3) {
        /* the same rule with the key type's cipher: DES3-ECB of one zero block */
        ks_des3_key key;
        uint8_t block[KS_DES3_BLOCK] = {0};
        if (ks_des3_init(&key, value->value, value->len) != KS_OK) {
            return CKR_FUNCTION_FAILED;
        }
        ks_status st = ks_des3_ecb_encrypt(&key, block, block, 1);
        ks_des3_clear(&key);
        if (st != KS_OK) {
            return CKR_FUNCTION_FAILED;
        }
        memcpy(out, block, 3);
        ks_wipe(block, sizeof(block));
        *out_len = 3;
    } else if (kt == CKK_GENERIC_SECRET) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        if (EVP_Digest(value->value, value->len, md, &md_len, EVP_sha1(), NULL) != 1) {
            return CKR_FUNCTION_FAILED;
        }
        memcpy(out, md, 3);
        ks_wipe(md, sizeof(md));
        *out_len = 3;
    }
    return CKR_OK;
}

static CK_RV length_error(ks_origin origin, ks_why *why, const char *reason)
{
    CK_RV rv = origin == KS_ORIGIN_CREATE   ? CKR_ATTRIBUTE_VALUE_INVALID
               : origin == KS_ORIGIN_UNWRAP ? CKR_WRAPPED_KEY_LEN_RANGE
                                            : CKR_KEY_SIZE_RANGE;
    return ks_rule_fail(why, CKA_VALUE, reason, rv);
}

/* DES3 key objects (mechanisms 3.0, DES3): 24 bytes with each byte's parity bit set
 * (FIPS 46-3); creating or unwrapping a key of wrong parity is an error, a derived key gets
 * its parity set. */
static CK_RV des3_parity(ks_attrs *obj, const ks_attr *value, ks_origin origin, ks_why *why)
{
    if (value->len != KS_DES3_KEY_LEN) {
        return length_error(origin, why, "DES3 keys are 24 bytes");
    }
    if (ks_des3_parity_ok(value->value, value->len)) {
        return CKR_OK;
    }
    if (origin == KS_ORIGIN_DERIVE) {
        uint8_t fixed[KS_DES3_KEY_LEN];
        memcpy(fixed, value->value, sizeof(fixed));
        ks_des3_set_parity(fixed, sizeof(fixed));
        CK_RV rv = ks_attrs_set(obj, CKA_VALUE, fixed, sizeof(fixed));
        ks_wipe(fixed, sizeof(fixed));
        return rv;
    }
    return ks_rule_fail(why, CKA_VALUE, "a DES3 key has odd parity in every byte",
                        origin == KS_ORIGIN_UNWRAP ? CKR_WRAPPED_KEY_INVALID
                                                   : CKR_ATTRIBUTE_VALUE_INVALID);
}

/* fix_length checks CKA_VALUE's length and, for generic keys unwrapped with a CKA_VALUE_LEN,
 * truncates the value to it (current mechanisms 2.x, ECB/CBC unwrap: "truncates the result
 * according to ... the CKA_VALUE_LEN attribute of the template"). */
static CK_RV fix_length(ks_attrs *obj, CK_KEY_TYPE kt, ks_origin origin, ks_why *why)
{
    const ks_attr *value = ks_attrs_find(obj, CKA_VALUE);
    if (value == NULL) {
        return ks_rule_fail(why, CKA_VALUE, "required attribute missing",
                            CKR_TEMPLATE_INCOMPLETE);
    }
    CK_ULONG want;
    if (kt != CKK_AES && kt != CKK_DES3 && origin == KS_ORIGIN_UNWRAP &&
        ks_attrs_get_ulong(obj, CKA_VALUE_LEN, &want) && want != value->len) {
        if (want > value->len) {
            return length_error(origin, why, "shorter than CKA_VALUE_LEN");
        }
        CK_RV rv = ks_attrs_set(obj, CKA_VALUE, value->value, want);
        if (rv != CKR_OK) {
            return rv;
        }
        value = ks_attrs_find(obj, CKA_VALUE);
    }
    if (kt == CKK_AES) {
        if (value->len != 16 && value->len != 24 && value->len != 32) {
            return length_error(origin, why, "AES keys are 16, 24 or 32 bytes");
        }
    } else if (kt == CKK_DES3) {
        CK_RV rv = des3_parity(obj, value, origin, why);
        if (rv != CKR_OK) {
            return rv;
        }
        value = ks_attrs_find(obj, CKA_VALUE); /* a derived key's was replaced */
    } else if (value->len == 0 || value->len > KS_MAX_SECRET_LEN) {
        return length_error(origin, why, "key length out of range");
    }
    return ks_attrs_set_ulong(obj, CKA_VALUE_LEN, value->len);
}

CK_RV ks_rules_finish_key(ks_attrs *obj, ks_origin origin, ks_why *why)
{
    CK_ULONG cls;
    if (!ks_attrs_get_ulong(obj, CKA_CLASS, &cls)) {
        return CKR_OK;
    }
    const ks_class_desc *c = ks_class_supported(cls);
    if (c == NULL || c->finish == NULL) {
        return CKR_OK; /* data objects have nothing to finish */
    }
    return c->finish(obj, origin, why);
}

/* The secret key's finishing (ks_rules_finish_key). */
CK_RV ks_rules_secret_finish(ks_attrs *obj, ks_origin origin, ks_why *why)
{
    CK_ULONG kt;
    if (!ks_attrs_get_ulong(obj, CKA_KEY_TYPE, &kt)) {
        return ks_rule_fail(why, CKA_KEY_TYPE, "required attribute missing",
                            CKR_TEMPLATE_INCOMPLETE);
    }
    CK_RV rv = fix_length(obj, kt, origin, why);
    if (rv != CKR_OK) {
        return rv;
    }
    uint8_t kcv[3];
    size_t kcv_len;
    rv = check_value(kcv, &kcv_len, kt, ks_attrs_find(obj, CKA_VALUE));
    if (rv != CKR_OK) {
        return rv;
    }
    /* 4.10: a check value in the template must match, an empty one suppresses it, and a
     * library that has no check value for the key type ignores it */
    const ks_attr *given = ks_attrs_find(obj, CKA_CHECK_VALUE);
    if (given != NULL && given->len == 0) {
        return CKR_OK;
    }
    if (given != NULL && kcv_len > 0 &&
        (given->len != kcv_len || !ks_memeq(given->value, kcv, kcv_len))) {
        return ks_rule_fail(why, CKA_CHECK_VALUE, "does not match the key",
                            CKR_ATTRIBUTE_VALUE_INVALID);
    }
    return ks_attrs_set(obj, CKA_CHECK_VALUE, kcv, (CK_ULONG)kcv_len);
}
