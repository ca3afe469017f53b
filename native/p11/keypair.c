/* keypair.c - C_GenerateKeyPair (PKCS#11 3.0 base 5.18; mechanisms 2.1.4 RSA PKCS #1 key pair
 * generation, 2.3.9 EC key pair generation, 2.3.10 Edwards and 2.3.11 Montgomery key pair
 * generation).
 *
 * Both templates go through the attribute rules (token/rules.h) as a C_GenerateKey template
 * does, with the class and key type the mechanism implies; the public template names the
 * key to make (CKA_MODULUS_BITS and CKA_PUBLIC_EXPONENT, or CKA_EC_PARAMS). libcrypto makes
 * the key (crypto/pkey.h); the private key keeps it as its PKCS#8 (CKA_KS_PKCS8), the public
 * key as its SubjectPublicKeyInfo, and the key pair family (token/rules_pair.h) fills in
 * every component from the key in hand. Either both keys are made, or neither. */
#include <string.h>

#include "crypto/curve.h"
#include "crypto/mem.h"
#include "crypto/pkey.h"
#include "crypto/pkey_der.h"
#include "p11/guard.h"
#include "token/mech.h"
#include "token/rules_pair.h"

static CK_RV template_shape(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    return (tmpl == NULL && count != 0) || count > KS_MAX_COUNT ? CKR_ARGUMENTS_BAD : CKR_OK;
}

static CK_RV why_fail(ks_why *why, CK_ATTRIBUTE_TYPE attr, const char *reason, CK_RV rv)
{
    why->attr = attr;
    why->reason = reason;
    return rv;
}

/* new_rsa: CKA_MODULUS_BITS within the row's bounds under the configuration (else the template's value is one this
 * token cannot make: CKR_ATTRIBUTE_VALUE_INVALID, as 5.18 lists no size code) and the
 * public exponent, 65537 when the template has none. */
static CK_RV new_rsa(EVP_PKEY **k, const ks_mech_desc *d, const ks_attrs *pub, ks_why *why)
{
    CK_ULONG bits = 0;
    if (!ks_attrs_get_ulong(pub, CKA_MODULUS_BITS, &bits)) {
        return why_fail(why, CKA_MODULUS_BITS, "required attribute missing",
                        CKR_TEMPLATE_INCOMPLETE);
    }
    if (!ks_mech_key_bits_allowed(&ks_mod.cfg, d, bits)) { /* 1024 with legacy_mechanisms */
        return why_fail(why, CKA_MODULUS_BITS, "modulus size not offered",
                        CKR_ATTRIBUTE_VALUE_INVALID);
    }
    const ks_attr *e = ks_attrs_find(pub, CKA_PUBLIC_EXPONENT);
    ks_status st = e != NULL && e->len == 0
                       ? KS_ERR_ARGS
                       : ks_pkey_gen_rsa(k, (unsigned)bits, e ? e->value : NULL, e ? e->len : 0);
    if (st == KS_ERR_ARGS) {
        return why_fail(why, CKA_PUBLIC_EXPONENT, "an odd exponent above 2^16, below 2^256",
                        CKR_ATTRIBUTE_VALUE_INVALID);
    }
    return st == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* curve_wanted: the curve CKA_EC_PARAMS of the public template names, which must be of the
 * key type's family. */
static CK_RV curve_wanted(ks_curve *c, CK_KEY_TYPE kt, const ks_attrs *pub, ks_why *why)
{
    const ks_attr *p = ks_attrs_find(pub, CKA_EC_PARAMS);
    if (p == NULL) {
        return why_fail(why, CKA_EC_PARAMS, "required attribute missing",
                        CKR_TEMPLATE_INCOMPLETE);
    }
    ks_status st = ks_curve_from_params(c, p->value, p->len);
    if (st == KS_ERR_ARGS) {
        return why_fail(why, CKA_EC_PARAMS, "not DER curve parameters",
                        CKR_ATTRIBUTE_VALUE_INVALID);
    }
    ks_curve_kind want = kt == CKK_EC           ? KS_CURVE_WEIERSTRASS
                         : kt == CKK_EC_EDWARDS ? KS_CURVE_EDWARDS
                                                : KS_CURVE_MONTGOMERY;
    if (st != KS_OK || ks_curve_kind_of(*c) != want) {
        return why_fail(why, CKA_EC_PARAMS, "curve not supported by the mechanism",
                        CKR_CURVE_NOT_SUPPORTED);
    }
    return CKR_OK;
}

/* make_curve_pair generates a curve key as its values (private value and public point, each
 * computed once) and writes both DER forms and every component from them: no EVP_PKEY and
 * no libcrypto encoder on the way (crypto/pkey.h ks_pkey_gen_curve_der). The private value
 * never leaves crypto/; its PKCS#8 lives in locked memory. */
static CK_RV make_curve_pair(CK_KEY_TYPE kt, ks_attrs *pub, ks_attrs *priv, ks_why *why)
{
    ks_curve c = KS_CURVE_NONE;
    CK_RV rv = curve_wanted(&c, kt, pub, why);
    if (rv != CKR_OK) {
        return rv;
    }
    uint8_t point[KS_CURVE_POINT_MAX];
    uint8_t spki[KS_CURVE_DER_MAX];
    size_t point_len = 0, spki_len = 0, p8_len = 0;
    uint8_t *p8 = ks_secure_alloc(KS_CURVE_DER_MAX);
    ks_status st = p8 != NULL ? ks_pkey_gen_curve_der(c, p8, &p8_len, spki, &spki_len, point,
                                                      &point_len)
                              : KS_ERR_NOMEM;
    rv = st == KS_OK ? CKR_OK : st == KS_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_FUNCTION_FAILED;
    if (rv == CKR_OK) {
        rv = ks_attrs_set(priv, CKA_KS_PKCS8, p8, (CK_ULONG)p8_len);
    }
    ks_secure_free(p8, KS_CURVE_DER_MAX);
    if (rv == CKR_OK) {
        rv = ks_attrs_set(pub, CKA_PUBLIC_KEY_INFO, spki, (CK_ULONG)spki_len);
    }
    const ks_attr *params = ks_attrs_find(pub, CKA_EC_PARAMS);
    if (rv == CKR_OK) {
        rv = ks_attrs_set(priv, CKA_EC_PARAMS, params->value, params->len); /* as given */
    }
    if (rv == CKR_OK) {
        rv = ks_rules_pair_finish_curve(pub, c, point, point_len, spki, spki_len, why);
    }
    if (rv == CKR_OK) {
        rv = ks_rules_pair_finish_curve(priv, c, point, point_len, spki, spki_len, why);
    }
    return rv;
}

/* make_pair generates the key and puts its two DER forms (and the curve) on the objects,
 * then finishes both from the key. */
static CK_RV make_pair(const ks_mech_desc *d, CK_KEY_TYPE kt, ks_attrs *pub, ks_attrs *priv,
                       ks_why *why)
{
    if (kt != CKK_RSA) {
        return make_curve_pair(kt, pub, priv, why);
    }
    EVP_PKEY *k = NULL;
    CK_RV rv = new_rsa(&k, d, pub, why);
    uint8_t *der = NULL;
    size_t len = 0;
    if (rv == CKR_OK) {
        rv = ks_pkey_pkcs8(k, &der, &len) == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
    }
    if (rv == CKR_OK) {
        rv = ks_attrs_set(priv, CKA_KS_PKCS8, der, (CK_ULONG)len);
        ks_secure_free(der, len);
    }
    if (rv == CKR_OK) {
        rv = ks_pkey_spki(k, &der, &len) == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
        if (rv == CKR_OK) {
            rv = ks_attrs_set(pub, CKA_PUBLIC_KEY_INFO, der, (CK_ULONG)len);
            free(der);
        }
    }
    /* the class hooks' work, from the key in hand rather than from its DER */
    if (rv == CKR_OK) {
        rv = ks_rules_pair_finish_with(pub, k, why);
    }
    if (rv == CKR_OK) {
        rv = ks_rules_pair_finish_with(priv, k, why);
    }
    EVP_PKEY_free(k);
    return rv;
}

/* drop removes a key made by this call. */
static void drop(ks_session *s, CK_OBJECT_HANDLE h)
{
    ks_object *obj = NULL;
    if (h != CK_INVALID_HANDLE && ks_token_get(s->token, s->handle, h, &obj) == CKR_OK) {
        (void)ks_token_remove(s->token, ks_p11_session_rw(s), obj);
    }
}

/* store_pair adds both keys and records both in the audit trail: all or nothing. */
static CK_RV store_pair(ks_session *s, CK_MECHANISM_TYPE mech, ks_attrs *pub, ks_attrs *priv,
                        CK_OBJECT_HANDLE *h_pub, CK_OBJECT_HANDLE *h_priv)
{
    ks_token *tok = s->token;
    int rw = ks_p11_session_rw(s);
    CK_OBJECT_HANDLE hp = CK_INVALID_HANDLE, hk = CK_INVALID_HANDLE;
    CK_RV rv = ks_token_add(tok, s->handle, rw, pub, &hp);
    if (rv == CKR_OK) {
        rv = ks_token_add(tok, s->handle, rw, priv, &hk);
        if (rv != CKR_OK) {
            drop(s, hp);
            hp = CK_INVALID_HANDLE;
        }
    }
    /* each record, or the refusal; a key whose record fails is removed by ks_p11_audit_new,
     * and then its partner too */
    CK_RV rv_pub = ks_p11_audit_new(s, KS_AUDIT_GENERATE, hp, mech, rv, "C_GenerateKeyPair");
    if (rv == CKR_OK) {
        CK_RV rv_priv = ks_p11_audit_new(s, KS_AUDIT_GENERATE, hk, mech, rv_pub,
                                         "C_GenerateKeyPair");
        if (rv_pub != CKR_OK) {
            drop(s, hk);
            rv = rv_pub;
        } else if (rv_priv != CKR_OK) {
            drop(s, hp);
            rv = rv_priv;
        }
    }
    if (rv == CKR_OK) {
        *h_pub = hp;
        *h_priv = hk;
    }
    return rv;
}

static CK_RV generate_key_pair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                               CK_ATTRIBUTE_PTR pPub, CK_ULONG ulPub, CK_ATTRIBUTE_PTR pPriv,
                               CK_ULONG ulPriv, CK_OBJECT_HANDLE_PTR phPub,
                               CK_OBJECT_HANDLE_PTR phPriv)
{
    if (pMechanism == NULL || phPub == NULL || phPriv == NULL ||
        template_shape(pPub, ulPub) != CKR_OK || template_shape(pPriv, ulPriv) != CKR_OK) {
        return CKR_ARGUMENTS_BAD;
    }
    const ks_mech_desc *d = ks_mech_lookup(&ks_mod.cfg, pMechanism->mechanism);
    if (d == NULL || !(d->flags & CKF_GENERATE_KEY_PAIR)) {
        return CKR_MECHANISM_INVALID;
    }
    CK_RV rv = d->params != NULL ? d->params(pMechanism) : CKR_OK;
    if (rv != CKR_OK) {
        return rv;
    }
    CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt = d->key_types[0];
    CK_ATTRIBUTE pub_extra[] = {{CKA_CLASS, &pub_cls, sizeof(pub_cls)},
                                {CKA_KEY_TYPE, &kt, sizeof(kt)}};
    CK_ATTRIBUTE priv_extra[] = {{CKA_CLASS, &priv_cls, sizeof(priv_cls)},
                                 {CKA_KEY_TYPE, &kt, sizeof(kt)}};
    ks_session *s = NULL;
    rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&s->token->lock);
    ks_rule_ctx ctx = ks_token_rule_ctx(s->token, pMechanism->mechanism);
    ks_why why = {KS_NO_ATTR, NULL};
    ks_attrs pub, priv;
    ks_attrs_init(&pub);
    ks_attrs_init(&priv);
    rv = ks_rules_new_object(&pub, KS_ORIGIN_GENERATE, pPub, ulPub, pub_extra, 2, &ctx, &why);
    if (rv == CKR_OK) {
        rv = ks_rules_new_object(&priv, KS_ORIGIN_GENERATE, pPriv, ulPriv, priv_extra, 2, &ctx,
                                 &why);
    }
    if (rv == CKR_OK) {
        rv = make_pair(d, kt, &pub, &priv, &why);
    }
    if (rv == CKR_OK) {
        rv = store_pair(s, pMechanism->mechanism, &pub, &priv, phPub, phPriv);
    } else {
        ks_p11_why(&why);
        rv = ks_p11_audit_new(s, KS_AUDIT_GENERATE, CK_INVALID_HANDLE, pMechanism->mechanism,
                              rv, "C_GenerateKeyPair");
    }
    ks_attrs_free(&pub);
    ks_attrs_free(&priv);
    pthread_mutex_unlock(&s->token->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                  CK_ATTRIBUTE_PTR pPublicKeyTemplate,
                                  CK_ULONG ulPublicKeyAttributeCount,
                                  CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
                                  CK_ULONG ulPrivateKeyAttributeCount,
                                  CK_OBJECT_HANDLE_PTR phPublicKey,
                                  CK_OBJECT_HANDLE_PTR phPrivateKey)
{
    return ks_p11_exit("C_GenerateKeyPair", hSession,
                       pMechanism ? pMechanism->mechanism : KS_NO_MECH,
                       generate_key_pair(hSession, pMechanism, pPublicKeyTemplate,
                                         ulPublicKeyAttributeCount, pPrivateKeyTemplate,
                                         ulPrivateKeyAttributeCount, phPublicKey,
                                         phPrivateKey));
}
