/* rules_pair.c - the key pair family of the class table: public keys (PKCS#11 3.0 base 4.8)
 * and private keys (4.9) of the key types RSA (mechanisms 2.1.2, 2.1.3), EC (2.3.3, 2.3.4),
 * EC_EDWARDS and EC_MONTGOMERY (2.3.5-2.3.8).
 *
 * A private key holds its key as one sealed value, CKA_KS_PKCS8 (keystead.h); a public key
 * as CKA_PUBLIC_KEY_INFO. Every public component PKCS#11 shows is computed from the key once
 * it is made (finish), so they always agree with it: CKA_MODULUS, CKA_MODULUS_BITS and
 * CKA_PUBLIC_EXPONENT; CKA_EC_PARAMS (kept as given, else the curve's OBJECT IDENTIFIER) and
 * CKA_EC_POINT (a DER OCTET STRING of the uncompressed point or the raw RFC 8032 / RFC 7748
 * public key); CKA_PUBLIC_KEY_INFO on both keys. The private components of a template
 * (KS_F_DERIVED rows) become the PKCS#8 at C_CreateObject and are never held; a read gets
 * them from the PKCS#8 (ks_rules_private_component). */
#include <stdlib.h>
#include <string.h>

#include "crypto/curve.h"
#include "crypto/mem.h"
#include "crypto/pkey.h"
#include "keystead.h"
#include "token/rules_internal.h"
#include "token/rules_pair.h"

/* The smallest RSA modulus C_CreateObject takes: below it a key protects nothing (1024 bits
 * is the legacy floor, SP 800-131A Rev. 2 table 2); the mechanisms check their own bounds. */
#define RSA_IMPORT_MIN_BITS 1024

static CK_RV fail(ks_why *why, CK_ATTRIBUTE_TYPE attr, const char *reason, CK_RV rv)
{
    return ks_rule_fail(why, attr, reason, rv);
}

static ks_curve_kind kind_of_key_type(CK_KEY_TYPE kt)
{
    switch (kt) {
    case CKK_EC:
        return KS_CURVE_WEIERSTRASS;
    case CKK_EC_EDWARDS:
        return KS_CURVE_EDWARDS;
    case CKK_EC_MONTGOMERY:
        return KS_CURVE_MONTGOMERY;
    default:
        return KS_CURVE_KIND_NONE;
    }
}

/* curve_of reads CKA_EC_PARAMS: the curve, which must be of the key type's family.
 * Malformed DER: CKR_ATTRIBUTE_VALUE_INVALID; a curve keystead does not have, or of another
 * family: CKR_CURVE_NOT_SUPPORTED. */
static CK_RV curve_of(const ks_attrs *obj, CK_KEY_TYPE kt, ks_curve *out, ks_why *why)
{
    const ks_attr *p = ks_attrs_find(obj, CKA_EC_PARAMS);
    if (p == NULL) {
        return fail(why, CKA_EC_PARAMS, "required attribute missing", CKR_TEMPLATE_INCOMPLETE);
    }
    ks_status st = ks_curve_from_params(out, p->value, p->len);
    if (st == KS_ERR_ARGS) {
        return fail(why, CKA_EC_PARAMS, "not DER curve parameters",
                    CKR_ATTRIBUTE_VALUE_INVALID);
    }
    if (st != KS_OK || ks_curve_kind_of(*out) != kind_of_key_type(kt)) {
        return fail(why, CKA_EC_PARAMS, "curve not supported for this key type",
                    CKR_CURVE_NOT_SUPPORTED);
    }
    return CKR_OK;
}

CK_RV ks_rules_pair_check_new(const ks_attrs *obj, CK_ULONG kt, ks_why *why)
{
    if (kt != CKK_RSA && kind_of_key_type(kt) == KS_CURVE_KIND_NONE) {
        return fail(why, CKA_KEY_TYPE, "not a key type of key pairs", CKR_TEMPLATE_INCONSISTENT);
    }
    /* 4.9: CKA_ALWAYS_AUTHENTICATE "may only be set to CK_TRUE when CKA_PRIVATE is also
     * CK_TRUE" */
    if (ks_attrs_bool(obj, CKA_ALWAYS_AUTHENTICATE, CK_FALSE) == CK_TRUE &&
        ks_attrs_bool(obj, CKA_PRIVATE, CK_TRUE) != CK_TRUE) {
        return fail(why, CKA_ALWAYS_AUTHENTICATE, "only on a private object",
                    CKR_TEMPLATE_INCONSISTENT);
    }
    if (kt != CKK_RSA && ks_attrs_has(obj, CKA_EC_PARAMS)) {
        ks_curve c;
        return curve_of(obj, kt, &c, why);
    }
    return CKR_OK;
}

/* ---- public components from a key ---------------------------------------------------- */

/* set_owned moves a buffer into an attribute (wiped and freed either way). */
static CK_RV set_owned(ks_attrs *obj, CK_ATTRIBUTE_TYPE type, uint8_t *v, size_t len,
                       int secret)
{
    CK_RV rv = ks_attrs_set(obj, type, v, (CK_ULONG)len);
    if (secret) {
        ks_secure_free(v, len);
    } else {
        ks_wipe(v, len);
        free(v);
    }
    return rv;
}

static CK_RV set_rsa_part(ks_attrs *obj, const EVP_PKEY *k, ks_rsa_part part,
                          CK_ATTRIBUTE_TYPE type)
{
    uint8_t *v = NULL;
    size_t len = 0;
    if (ks_pkey_rsa_part(k, part, &v, &len) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    return set_owned(obj, type, v, len, part >= KS_RSA_D);
}

/* ec_point_der: the DER OCTET STRING of point (mechanisms 2.3.3 CKA_EC_POINT). */
static size_t ec_point_der(uint8_t *out, const uint8_t *point, size_t len)
{
    size_t h = 0;
    out[h++] = 0x04;
    if (len < 0x80) {
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x81;
        out[h++] = (uint8_t)len;
    }
    memcpy(out + h, point, len);
    return h + len;
}

/* fill_curve sets the components of a curve key of curve c on obj (a public key when
 * is_public, which gets CKA_EC_POINT from point): obj's key type must be of c's family and
 * its CKA_EC_PARAMS, when given, name c, else bad; CKA_EC_PARAMS is set when absent. */
static CK_RV fill_curve(ks_attrs *obj, CK_ULONG kt, ks_curve c, const uint8_t *point,
                        size_t point_len, int is_public, CK_RV bad, ks_why *why)
{
    ks_curve given = KS_CURVE_NONE;
    if (ks_curve_kind_of(c) != kind_of_key_type((CK_KEY_TYPE)kt)) {
        return fail(why, CKA_KEY_TYPE, "the key is not of this key type", bad);
    }
    CK_RV rv = CKR_OK;
    if (ks_attrs_has(obj, CKA_EC_PARAMS)) {
        rv = curve_of(obj, (CK_KEY_TYPE)kt, &given, why);
        if (rv == CKR_OK && given != c) {
            rv = fail(why, CKA_EC_PARAMS, "the key is on another curve", bad);
        }
    } else {
        size_t oid_len = 0;
        const uint8_t *oid = ks_curve_oid_der(c, &oid_len);
        rv = ks_attrs_set(obj, CKA_EC_PARAMS, oid, (CK_ULONG)oid_len);
    }
    if (rv == CKR_OK && is_public) {
        uint8_t der[164];
        if (point_len != ks_curve_point_len(c) || point_len > sizeof(der) - 3) {
            return CKR_FUNCTION_FAILED;
        }
        rv = ks_attrs_set(obj, CKA_EC_POINT, der, (CK_ULONG)ec_point_der(der, point, point_len));
    }
    return rv;
}

/* set_spki sets CKA_PUBLIC_KEY_INFO to spki; a non-empty one already on obj must be the
 * same bytes (CKR_ATTRIBUTE_VALUE_INVALID otherwise). */
static CK_RV set_spki(ks_attrs *obj, const uint8_t *spki, size_t spki_len, ks_why *why)
{
    const ks_attr *given = ks_attrs_find(obj, CKA_PUBLIC_KEY_INFO);
    if (given != NULL && given->len > 0 &&
        (given->len != spki_len || memcmp(given->value, spki, spki_len) != 0)) {
        return fail(why, CKA_PUBLIC_KEY_INFO, "does not match the key",
                    CKR_ATTRIBUTE_VALUE_INVALID);
    }
    return ks_attrs_set(obj, CKA_PUBLIC_KEY_INFO, spki, (CK_ULONG)spki_len);
}

/* fill_public sets the public components of key k on obj (a public key when is_public):
 * the key must be of obj's key type (and of its CKA_EC_PARAMS curve), else bad. */
static CK_RV fill_public(ks_attrs *obj, const EVP_PKEY *k, int is_public, CK_RV bad,
                         ks_why *why)
{
    CK_ULONG kt = CK_UNAVAILABLE_INFORMATION;
    ks_attrs_get_ulong(obj, CKA_KEY_TYPE, &kt);
    CK_RV rv = CKR_OK;
    if (kt == CKK_RSA) {
        if (!ks_pkey_is_rsa(k)) {
            return fail(why, CKA_KEY_TYPE, "the key is not an RSA key", bad);
        }
        rv = set_rsa_part(obj, k, KS_RSA_N, CKA_MODULUS);
        if (rv == CKR_OK) {
            rv = set_rsa_part(obj, k, KS_RSA_E, CKA_PUBLIC_EXPONENT);
        }
        if (rv == CKR_OK && is_public) {
            rv = ks_attrs_set_ulong(obj, CKA_MODULUS_BITS, (CK_ULONG)ks_pkey_bits(k));
        }
    } else {
        ks_curve c = ks_pkey_curve(k);
        uint8_t point[160];
        size_t len = 0;
        if (ks_curve_kind_of(c) == kind_of_key_type((CK_KEY_TYPE)kt) && is_public &&
            ks_pkey_public_point(k, point, &len, sizeof(point)) != KS_OK) {
            return CKR_FUNCTION_FAILED;
        }
        rv = fill_curve(obj, kt, c, point, len, is_public, bad, why);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    if (ks_pkey_spki(k, &spki, &spki_len) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    rv = set_spki(obj, spki, spki_len, why);
    free(spki);
    return rv;
}

/* ---- keys from a template (C_CreateObject) --------------------------------------------- */

/* ec_point_of: CKA_EC_POINT as given: a DER OCTET STRING holding the point (mechanisms 2.3.3),
 * or the raw point of the curve's exact length (what 3.1 says for Edwards and Montgomery
 * keys). *p and *len point into the attribute. */
static int ec_point_of(const ks_attr *a, ks_curve c, const uint8_t **p, size_t *len)
{
    size_t want = ks_curve_point_len(c);
    size_t compressed = ks_curve_kind_of(c) == KS_CURVE_WEIERSTRASS ? (want - 1) / 2 + 1 : 0;
    const uint8_t *v = a->value;
    size_t n = a->len;
    if (n >= 2 && v[0] == 0x04) {
        size_t h = 2, body = v[1];
        if (v[1] == 0x81 && n >= 3) {
            h = 3;
            body = v[2];
        }
        if ((v[1] < 0x80 || v[1] == 0x81) && h + body == n && (body == want || body == compressed)) {
            *p = v + h;
            *len = body;
            return 1;
        }
    }
    if (n == want || (compressed != 0 && n == compressed)) {
        *p = v;
        *len = n;
        return 1;
    }
    return 0;
}

static CK_RV public_from_template(EVP_PKEY **k, const ks_attrs *obj, CK_KEY_TYPE kt,
                                  ks_why *why)
{
    if (kt == CKK_RSA) {
        const ks_attr *n = ks_attrs_find(obj, CKA_MODULUS);
        const ks_attr *e = ks_attrs_find(obj, CKA_PUBLIC_EXPONENT);
        if (n == NULL || e == NULL) {
            return fail(why, n == NULL ? CKA_MODULUS : CKA_PUBLIC_EXPONENT,
                        "required attribute missing", CKR_TEMPLATE_INCOMPLETE);
        }
        if (n->len == 0 || e->len == 0 ||
            ks_pkey_from_rsa_public(k, n->value, n->len, e->value, e->len) != KS_OK) {
            return fail(why, CKA_MODULUS, "not an RSA public key", CKR_ATTRIBUTE_VALUE_INVALID);
        }
        if (ks_pkey_bits(*k) < RSA_IMPORT_MIN_BITS) {
            return fail(why, CKA_MODULUS, "a modulus below 1024 bits",
                        CKR_ATTRIBUTE_VALUE_INVALID);
        }
        return CKR_OK;
    }
    ks_curve c;
    CK_RV rv = curve_of(obj, kt, &c, why);
    if (rv != CKR_OK) {
        return rv;
    }
    const ks_attr *a = ks_attrs_find(obj, CKA_EC_POINT);
    const uint8_t *p = NULL;
    size_t len = 0;
    if (a == NULL) {
        return fail(why, CKA_EC_POINT, "required attribute missing", CKR_TEMPLATE_INCOMPLETE);
    }
    if (!ec_point_of(a, c, &p, &len) || ks_pkey_from_public_point(k, c, p, len) != KS_OK) {
        return fail(why, CKA_EC_POINT, "not a point of the curve", CKR_ATTRIBUTE_VALUE_INVALID);
    }
    return CKR_OK;
}

static const CK_ATTRIBUTE_TYPE RSA_ATTRS[KS_RSA_PARTS] = {
    CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
    CKA_PRIME_2, CKA_EXPONENT_1,      CKA_EXPONENT_2,       CKA_COEFFICIENT,
};

static CK_RV private_from_template(EVP_PKEY **k, const ks_attrs *obj, CK_KEY_TYPE kt,
                                   ks_why *why)
{
    if (kt == CKK_RSA) {
        const uint8_t *parts[KS_RSA_PARTS];
        size_t lens[KS_RSA_PARTS];
        for (int i = 0; i < KS_RSA_PARTS; i++) {
            const ks_attr *a = ks_attrs_find(obj, RSA_ATTRS[i]);
            parts[i] = a != NULL && a->len > 0 ? a->value : NULL;
            lens[i] = a != NULL ? a->len : 0;
        }
        if (parts[KS_RSA_E] == NULL) {
            return fail(why, CKA_PUBLIC_EXPONENT, "keystead needs the public exponent",
                        CKR_TEMPLATE_INCOMPLETE);
        }
        if (ks_pkey_from_rsa_parts(k, parts, lens) != KS_OK) {
            return fail(why, CKA_PRIVATE_EXPONENT, "not a consistent RSA private key",
                        CKR_ATTRIBUTE_VALUE_INVALID);
        }
        if (ks_pkey_bits(*k) < RSA_IMPORT_MIN_BITS) {
            return fail(why, CKA_MODULUS, "a modulus below 1024 bits",
                        CKR_ATTRIBUTE_VALUE_INVALID);
        }
        return CKR_OK;
    }
    ks_curve c;
    CK_RV rv = curve_of(obj, kt, &c, why);
    if (rv != CKR_OK) {
        return rv;
    }
    const ks_attr *v = ks_attrs_find(obj, CKA_VALUE);
    if (v == NULL) {
        return fail(why, CKA_VALUE, "required attribute missing", CKR_TEMPLATE_INCOMPLETE);
    }
    if (ks_pkey_from_private_value(k, c, v->value, v->len) != KS_OK) {
        return fail(why, CKA_VALUE, "not a private value of the curve",
                    CKR_ATTRIBUTE_VALUE_INVALID);
    }
    return CKR_OK;
}

/* drop_components removes the template's private components once they are in the PKCS#8. */
static void drop_components(ks_attrs *obj)
{
    static const CK_ATTRIBUTE_TYPE parts[] = {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
                                              CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT,
                                              CKA_VALUE};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        ks_attrs_remove(obj, parts[i]);
    }
}

/* ---- the class hooks ------------------------------------------------------------------ */

static CK_KEY_TYPE key_type_of(const ks_attrs *obj)
{
    CK_ULONG kt = CK_UNAVAILABLE_INFORMATION;
    ks_attrs_get_ulong(obj, CKA_KEY_TYPE, &kt);
    return kt;
}

CK_RV ks_rules_public_finish(ks_attrs *obj, ks_origin origin, ks_why *why)
{
    CK_KEY_TYPE kt = key_type_of(obj);
    EVP_PKEY *k = NULL;
    CK_RV rv = CKR_OK;
    if (origin == KS_ORIGIN_CREATE) {
        rv = public_from_template(&k, obj, kt, why);
    } else {
        const ks_attr *spki = ks_attrs_find(obj, CKA_PUBLIC_KEY_INFO);
        if (spki == NULL || ks_pkey_from_spki(&k, spki->value, spki->len) != KS_OK) {
            rv = fail(why, CKA_PUBLIC_KEY_INFO, "no public key", CKR_FUNCTION_FAILED);
        }
    }
    if (rv == CKR_OK) {
        rv = fill_public(obj, k, 1, CKR_TEMPLATE_INCONSISTENT, why);
    }
    EVP_PKEY_free(k);
    return rv;
}

CK_RV ks_rules_private_finish(ks_attrs *obj, ks_origin origin, ks_why *why)
{
    CK_KEY_TYPE kt = key_type_of(obj);
    EVP_PKEY *k = NULL;
    CK_RV rv = CKR_OK;
    CK_RV bad = origin == KS_ORIGIN_UNWRAP ? CKR_WRAPPED_KEY_INVALID : CKR_TEMPLATE_INCONSISTENT;
    if (origin == KS_ORIGIN_CREATE) {
        rv = private_from_template(&k, obj, kt, why);
        uint8_t *der = NULL;
        size_t len = 0;
        if (rv == CKR_OK && ks_pkey_pkcs8(k, &der, &len) != KS_OK) {
            rv = CKR_FUNCTION_FAILED;
        }
        if (rv == CKR_OK) {
            rv = set_owned(obj, CKA_KS_PKCS8, der, len, 1);
        }
        drop_components(obj);
    } else {
        const ks_attr *p8 = ks_attrs_find(obj, CKA_KS_PKCS8);
        if (p8 == NULL || ks_pkey_from_pkcs8(&k, p8->value, p8->len) != KS_OK) {
            rv = fail(why, CKA_KS_PKCS8, "not a PKCS#8 private key",
                      origin == KS_ORIGIN_UNWRAP ? CKR_WRAPPED_KEY_INVALID
                                                 : CKR_FUNCTION_FAILED);
        }
    }
    if (rv == CKR_OK) {
        rv = fill_public(obj, k, 0, bad, why);
    }
    EVP_PKEY_free(k);
    return rv;
}

CK_RV ks_rules_private_component(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type, uint8_t **out,
                                 size_t *out_len)
{
    const ks_attr *p8 = ks_attrs_find(obj, CKA_KS_PKCS8);
    EVP_PKEY *k = NULL;
    if (p8 == NULL || p8->len == 0 || ks_pkey_from_pkcs8(&k, p8->value, p8->len) != KS_OK) {
        return CKR_ATTRIBUTE_TYPE_INVALID; /* a destroyed key's value is gone */
    }
    CK_RV rv = CKR_ATTRIBUTE_TYPE_INVALID;
    if (ks_pkey_is_rsa(k)) {
        for (int i = KS_RSA_D; i < KS_RSA_PARTS; i++) {
            if (RSA_ATTRS[i] == type) {
                rv = ks_pkey_rsa_part(k, (ks_rsa_part)i, out, out_len) == KS_OK
                         ? CKR_OK
                         : CKR_ATTRIBUTE_TYPE_INVALID;
            }
        }
    } else if (type == CKA_VALUE) {
        size_t max = ks_curve_scalar_len(ks_pkey_curve(k));
        uint8_t *v = max > 0 ? ks_secure_alloc(max) : NULL;
        if (v != NULL && ks_pkey_private_value(k, v, out_len, max) == KS_OK) {
            *out = v;
            rv = CKR_OK;
        } else {
            ks_secure_free(v, max);
        }
    }
    EVP_PKEY_free(k);
    return rv;
}

CK_RV ks_rules_pair_finish_with(ks_attrs *obj, const EVP_PKEY *k, ks_why *why)
{
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
    ks_attrs_get_ulong(obj, CKA_CLASS, &cls);
    if (k == NULL || (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY)) {
        return CKR_ARGUMENTS_BAD;
    }
    return fill_public(obj, k, cls == CKO_PUBLIC_KEY, CKR_TEMPLATE_INCONSISTENT, why);
}

CK_RV ks_rules_pair_finish_curve(ks_attrs *obj, ks_curve c, const uint8_t *point,
                                 size_t point_len, const uint8_t *spki, size_t spki_len,
                                 ks_why *why)
{
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
    CK_ULONG kt = CK_UNAVAILABLE_INFORMATION;
    ks_attrs_get_ulong(obj, CKA_CLASS, &cls);
    ks_attrs_get_ulong(obj, CKA_KEY_TYPE, &kt);
    if (point == NULL || spki == NULL || (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY)) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = fill_curve(obj, kt, c, point, point_len, cls == CKO_PUBLIC_KEY,
                          CKR_TEMPLATE_INCONSISTENT, why);
    return rv == CKR_OK ? set_spki(obj, spki, spki_len, why) : rv;
}
