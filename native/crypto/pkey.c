/* pkey.c - key pairs through libcrypto's EVP_PKEY (pkey.h). */
#include "crypto/pkey.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "crypto/ec_group.h"
#include "crypto/mem.h"
#include "crypto/pkey_der.h"
#include "crypto/rsa_keygen.h"

/* check_exponent: odd, at least 3, at most KS_RSA_MAX_EXP_BYTES significant bytes. */
static int check_exponent(const uint8_t *e, size_t e_len)
{
    while (e_len > 0 && e[0] == 0) {
        e++;
        e_len--;
    }
    if (e_len == 0 || e_len > KS_RSA_MAX_EXP_BYTES || (e[e_len - 1] & 1) == 0) {
        return 0;
    }
    return e_len > 1 || e[0] >= 3;
}

ks_status ks_pkey_gen_rsa(EVP_PKEY **out, unsigned bits, const uint8_t *e, size_t e_len)
{
    static const uint8_t f4[] = {0x01, 0x00, 0x01};
    if (e == NULL) {
        e = f4;
        e_len = sizeof(f4);
    }
    return ks_rsa_keygen(out, bits, e, e_len); /* FIPS 186-5 A.1.3 (crypto/rsa_keygen.h) */
}

/* new_gen_ctx: a key generation context for curve c (the algorithm fetch, the costly part of
 * libcrypto 3.0's key generation, happens here). */
static EVP_PKEY_CTX *new_gen_ctx(ks_curve c)
{
    int weierstrass = ks_curve_kind_of(c) == KS_CURVE_WEIERSTRASS;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, weierstrass ? "EC" : ks_curve_ossl_name(c),
                                                   NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
        (weierstrass && EVP_PKEY_CTX_set_group_name(ctx, ks_curve_ossl_name(c)) != 1)) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* One kept context per curve, used under its lock; a caller that finds it busy makes a
 * context of its own (trylock: never a wait, and a child forked while a parent thread held
 * a lock is not stuck). */
#define GEN_SLOT {PTHREAD_MUTEX_INITIALIZER, NULL}
static struct {
    pthread_mutex_t lock;
    EVP_PKEY_CTX *ctx;
} gen_cache[KS_CURVE_X448 + 1] = {GEN_SLOT, GEN_SLOT, GEN_SLOT, GEN_SLOT,
                                  GEN_SLOT, GEN_SLOT, GEN_SLOT, GEN_SLOT};
#undef GEN_SLOT

ks_status ks_pkey_gen_curve(EVP_PKEY **out, ks_curve c)
{
    if (out == NULL || ks_curve_ossl_name(c) == NULL) {
        return KS_ERR_ARGS;
    }
    *out = NULL;
    int ok = 0;
    if (pthread_mutex_trylock(&gen_cache[c].lock) == 0) {
        if (gen_cache[c].ctx == NULL) {
            gen_cache[c].ctx = new_gen_ctx(c);
        }
        ok = gen_cache[c].ctx != NULL && EVP_PKEY_generate(gen_cache[c].ctx, out) == 1;
        pthread_mutex_unlock(&gen_cache[c].lock);
    } else {
        EVP_PKEY_CTX *ctx = new_gen_ctx(c);
        ok = ctx != NULL && EVP_PKEY_generate(ctx, out) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    return ok && *out != NULL ? KS_OK : KS_ERR_INTERNAL;
}

/* prime_values: a key on prime curve c as EC_KEY_generate_key makes one (SEC 1 3.2.1): d
 * uniform in [1, n - 1] from libcrypto's private DRBG, Q = dG, without an EVP_PKEY. */
static ks_status prime_values(ks_curve c, uint8_t *priv, uint8_t *point)
{
    const EC_GROUP *g = ks_ec_group(c);
    BN_CTX *bctx = BN_CTX_secure_new();
    BIGNUM *d = BN_secure_new();
    EC_POINT *q = g != NULL ? EC_POINT_new(g) : NULL;
    size_t scalar = ks_curve_scalar_len(c), plen = ks_curve_point_len(c);
    ks_status st = KS_ERR_INTERNAL;
    if (bctx != NULL && d != NULL && q != NULL) {
        BN_set_flags(d, BN_FLG_CONSTTIME);
        int ok = 1;
        do {
            ok = BN_priv_rand_range_ex(d, EC_GROUP_get0_order(g), 0, bctx) == 1;
        } while (ok && BN_is_zero(d));
        if (ok && EC_POINT_mul(g, q, d, NULL, NULL, bctx) == 1 &&
            EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, point, plen, bctx) == plen &&
            BN_bn2binpad(d, priv, (int)scalar) == (int)scalar) {
            st = KS_OK;
        }
    }
    EC_POINT_free(q);
    BN_clear_free(d);
    BN_CTX_free(bctx);
    return st;
}

ks_status ks_pkey_gen_curve_values(ks_curve c, uint8_t *priv, size_t *priv_len, size_t max_priv,
                                   uint8_t *point, size_t *point_len, size_t max_point)
{
    size_t scalar = ks_curve_scalar_len(c), plen = ks_curve_point_len(c);
    if (priv == NULL || priv_len == NULL || point == NULL || point_len == NULL ||
        ks_curve_ossl_name(c) == NULL || max_priv < scalar || max_point < plen) {
        return KS_ERR_ARGS;
    }
    ks_status st = KS_ERR_INTERNAL;
    if (ks_curve_kind_of(c) == KS_CURVE_WEIERSTRASS) {
        st = prime_values(c, priv, point);
        *priv_len = scalar;
        *point_len = plen;
    } else {
        EVP_PKEY *k = NULL;
        st = ks_pkey_gen_curve(&k, c);
        if (st == KS_OK) {
            st = ks_pkey_private_value(k, priv, priv_len, max_priv);
        }
        if (st == KS_OK) {
            st = ks_pkey_public_point(k, point, point_len, max_point);
        }
        EVP_PKEY_free(k);
    }
    if (st != KS_OK) {
        ks_wipe(priv, max_priv);
        return st == KS_ERR_ARGS ? KS_ERR_INTERNAL : st;
    }
    return KS_OK;
}

ks_status ks_pkey_gen_curve_der(ks_curve c, uint8_t *pkcs8, size_t *pkcs8_len, uint8_t *spki,
                                size_t *spki_len, uint8_t *point, size_t *point_len)
{
    if (pkcs8 == NULL || pkcs8_len == NULL || spki == NULL || spki_len == NULL) {
        return KS_ERR_ARGS;
    }
    uint8_t d[72];
    size_t d_len = 0;
    ks_status st = ks_pkey_gen_curve_values(c, d, &d_len, sizeof(d), point, point_len,
                                            KS_CURVE_POINT_MAX);
    if (st == KS_OK) {
        st = ks_der_curve_key(c, d, d_len, point, *point_len, pkcs8, pkcs8_len,
                              KS_CURVE_DER_MAX);
    }
    ks_wipe(d, sizeof(d));
    if (st == KS_OK) {
        st = ks_der_curve_key(c, NULL, 0, point, *point_len, spki, spki_len, KS_CURVE_DER_MAX);
    }
    if (st != KS_OK) {
        ks_wipe(pkcs8, KS_CURVE_DER_MAX);
    }
    return st == KS_ERR_ARGS && ks_curve_ossl_name(c) != NULL ? KS_ERR_INTERNAL : st;
}

/* curve_der writes a curve key's PKCS#8 (private) or SPKI directly (pkey_der.h). */
static ks_status curve_der(const EVP_PKEY *k, int private_key, uint8_t **der, size_t *len)
{
    ks_curve c = ks_pkey_curve(k);
    uint8_t point[160];
    uint8_t priv[72];
    size_t point_len = 0, priv_len = 0;
    ks_status st = ks_pkey_public_point(k, point, &point_len, sizeof(point));
    if (st == KS_OK && private_key) {
        st = ks_pkey_private_value(k, priv, &priv_len, sizeof(priv));
    }
    uint8_t *buf = NULL;
    if (st == KS_OK) {
        buf = private_key ? ks_secure_alloc(KS_CURVE_DER_MAX) : malloc(KS_CURVE_DER_MAX);
        st = buf != NULL ? KS_OK : KS_ERR_NOMEM;
    }
    if (st == KS_OK) {
        st = ks_der_curve_key(c, private_key ? priv : NULL, priv_len, point, point_len, buf,
                              len, KS_CURVE_DER_MAX);
    }
    ks_wipe(priv, sizeof(priv));
    if (st == KS_OK) {
        *der = buf;
    } else if (private_key) {
        ks_secure_free(buf, KS_CURVE_DER_MAX);
    } else {
        free(buf);
    }
    return st == KS_ERR_ARGS ? KS_ERR_INTERNAL : st;
}

ks_status ks_pkey_pkcs8(const EVP_PKEY *k, uint8_t **der, size_t *len)
{
    if (k == NULL || der == NULL || len == NULL) {
        return KS_ERR_ARGS;
    }
    if (ks_pkey_curve(k) != KS_CURVE_NONE) {
        return curve_der(k, 1, der, len);
    }
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
    if (p8 == NULL) {
        return KS_ERR_INTERNAL;
    }
    ks_status st = KS_ERR_INTERNAL;
    int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    uint8_t *buf = n > 0 ? ks_secure_alloc((size_t)n) : NULL;
    if (n > 0 && buf == NULL) {
        st = KS_ERR_NOMEM;
    } else if (buf != NULL) {
        uint8_t *p = buf;
        if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) == n) {
            *der = buf;
            *len = (size_t)n;
            buf = NULL;
            st = KS_OK;
        }
        ks_secure_free(buf, (size_t)n);
    }
    PKCS8_PRIV_KEY_INFO_free(p8); /* frees its copy of the key, wiped (ASN1_STRING_clear_free) */
    return st;
}

ks_status ks_pkey_spki(const EVP_PKEY *k, uint8_t **der, size_t *len)
{
    if (k == NULL || der == NULL || len == NULL) {
        return KS_ERR_ARGS;
    }
    if (ks_pkey_curve(k) != KS_CURVE_NONE) {
        return curve_der(k, 0, der, len);
    }
    int n = i2d_PUBKEY(k, NULL);
    if (n <= 0) {
        return KS_ERR_INTERNAL;
    }
    uint8_t *buf = malloc((size_t)n);
    if (buf == NULL) {
        return KS_ERR_NOMEM;
    }
    uint8_t *p = buf;
    if (i2d_PUBKEY(k, &p) != n) {
        free(buf);
        return KS_ERR_INTERNAL;
    }
    *der = buf;
    *len = (size_t)n;
    return KS_OK;
}

ks_status ks_pkey_from_pkcs8(EVP_PKEY **out, const uint8_t *der, size_t len)
{
    if (out == NULL || der == NULL || len == 0 || len > (size_t)1 << 20) {
        return KS_ERR_ARGS;
    }
    const uint8_t *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    if (p8 == NULL) {
        return KS_ERR_ARGS;
    }
    *out = p == der + len ? EVP_PKCS82PKEY(p8) : NULL;
    PKCS8_PRIV_KEY_INFO_free(p8);
    return *out != NULL ? KS_OK : KS_ERR_ARGS;
}

ks_status ks_pkey_from_spki(EVP_PKEY **out, const uint8_t *der, size_t len)
{
    if (out == NULL || der == NULL || len == 0 || len > (size_t)1 << 20) {
        return KS_ERR_ARGS;
    }
    const uint8_t *p = der;
    *out = d2i_PUBKEY(NULL, &p, (long)len);
    if (*out != NULL && p != der + len) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return *out != NULL ? KS_OK : KS_ERR_ARGS;
}

int ks_pkey_is_rsa(const EVP_PKEY *k)
{
    return k != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;
}

ks_curve ks_pkey_curve(const EVP_PKEY *k)
{
    if (k == NULL) {
        return KS_CURVE_NONE;
    }
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_ED25519:
        return KS_CURVE_ED25519;
    case EVP_PKEY_ED448:
        return KS_CURVE_ED448;
    case EVP_PKEY_X25519:
        return KS_CURVE_X25519;
    case EVP_PKEY_X448:
        return KS_CURVE_X448;
    case EVP_PKEY_EC:
        break;
    default:
        return KS_CURVE_NONE;
    }
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1) {
        return KS_CURVE_NONE;
    }
    int nid = OBJ_txt2nid(group);
    if (nid == NID_undef) {
        nid = EC_curve_nist2nid(group);
    }
    switch (nid) {
    case NID_X9_62_prime256v1:
        return KS_CURVE_P256;
    case NID_secp384r1:
        return KS_CURVE_P384;
    case NID_secp521r1:
        return KS_CURVE_P521;
    default:
        return KS_CURVE_NONE;
    }
}

size_t ks_pkey_bits(const EVP_PKEY *k)
{
    return ks_pkey_is_rsa(k) ? (size_t)EVP_PKEY_get_bits(k) : 0;
}

static const char *const RSA_PARAMS[KS_RSA_PARTS] = {
    OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,         OSSL_PKEY_PARAM_RSA_D,
    OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
    OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
};

ks_status ks_pkey_rsa_part(const EVP_PKEY *k, ks_rsa_part part, uint8_t **out, size_t *len)
{
    if (!ks_pkey_is_rsa(k) || part >= KS_RSA_PARTS || out == NULL || len == NULL) {
        return KS_ERR_ARGS;
    }
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(k, RSA_PARAMS[part], &bn) != 1 || bn == NULL) {
        return KS_ERR_ARGS;
    }
    int secret = part >= KS_RSA_D;
    size_t n = (size_t)BN_num_bytes(bn);
    size_t alloc = n > 0 ? n : 1;
    uint8_t *buf = secret ? ks_secure_alloc(alloc) : calloc(1, alloc);
    ks_status st = KS_ERR_NOMEM;
    if (buf != NULL) {
        if (n > 0) {
            BN_bn2bin(bn, buf);
        }
        *out = buf;
        *len = alloc;
        st = KS_OK;
    }
    BN_clear_free(bn);
    return st;
}

ks_status ks_pkey_public_point(const EVP_PKEY *k, uint8_t *out, size_t *len, size_t max)
{
    ks_curve c = ks_pkey_curve(k);
    if (c == KS_CURVE_NONE || out == NULL || len == NULL || max < ks_curve_point_len(c)) {
        return KS_ERR_ARGS;
    }
    if (ks_curve_kind_of(c) == KS_CURVE_WEIERSTRASS) {
        /* the point in the key's conversion form: uncompressed for every key made here */
        if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out, max, len) != 1) {
            return KS_ERR_INTERNAL;
        }
        return *len == ks_curve_point_len(c) && out[0] == 0x04 ? KS_OK : KS_ERR_INTERNAL;
    }
    *len = max;
    if (EVP_PKEY_get_raw_public_key(k, out, len) != 1 || *len != ks_curve_point_len(c)) {
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}

ks_status ks_pkey_private_value(const EVP_PKEY *k, uint8_t *out, size_t *len, size_t max)
{
    ks_curve c = ks_pkey_curve(k);
    size_t want = ks_curve_scalar_len(c);
    if (c == KS_CURVE_NONE || out == NULL || len == NULL || max < want) {
        return KS_ERR_ARGS;
    }
    if (ks_curve_kind_of(c) == KS_CURVE_WEIERSTRASS) {
        BIGNUM *bn = NULL;
        if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn) != 1 || bn == NULL) {
            return KS_ERR_INTERNAL;
        }
        int ok = BN_bn2binpad(bn, out, (int)want) == (int)want;
        BN_clear_free(bn);
        *len = want;
        return ok ? KS_OK : KS_ERR_INTERNAL;
    }
    *len = max;
    if (EVP_PKEY_get_raw_private_key(k, out, len) != 1 || *len != want) {
        ks_wipe(out, max);
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}

/* fromdata builds a key of type name from params (selection EVP_PKEY_KEYPAIR or
 * EVP_PKEY_PUBLIC_KEY). */
static EVP_PKEY *fromdata(const char *name, OSSL_PARAM *params, int selection)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, selection, params) != 1) {
        k = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return k;
}

/* check_pair runs libcrypto's key checks: the pair for a private key, the public key
 * otherwise (for EC: on the curve, in the right subgroup). */
static int check_pair(EVP_PKEY *k, int private_key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    int ok = ctx != NULL &&
             (private_key ? EVP_PKEY_pairwise_check(ctx) : EVP_PKEY_public_check(ctx)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

ks_status ks_pkey_from_rsa_parts(EVP_PKEY **out, const uint8_t *const parts[KS_RSA_PARTS],
                                 const size_t lens[KS_RSA_PARTS])
{
    if (out == NULL || parts == NULL || lens == NULL) {
        return KS_ERR_ARGS;
    }
    *out = NULL;
    int crt = 0;
    for (int i = 0; i < KS_RSA_PARTS; i++) {
        if (i >= KS_RSA_P) {
            crt += parts[i] != NULL;
        } else if (parts[i] == NULL || lens[i] == 0) {
            return KS_ERR_ARGS;
        }
        if (parts[i] != NULL && lens[i] > KS_RSA_MAX_BITS / 8 + 1) {
            return KS_ERR_ARGS;
        }
    }
    if ((crt != 0 && crt != 5) || !check_exponent(parts[KS_RSA_E], lens[KS_RSA_E]) ||
        (parts[KS_RSA_N][lens[KS_RSA_N] - 1] & 1) == 0) {
        return KS_ERR_ARGS;
    }
    BIGNUM *bn[KS_RSA_PARTS] = {0};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    int ok = bld != NULL;
    for (int i = 0; ok && i < KS_RSA_PARTS; i++) {
        if (parts[i] == NULL) {
            continue;
        }
        bn[i] = i >= KS_RSA_D ? BN_secure_new() : BN_new();
        if (bn[i] != NULL && BN_bin2bn(parts[i], (int)lens[i], bn[i]) == NULL) {
            BN_free(bn[i]);
            bn[i] = NULL;
        }
        if (bn[i] != NULL && i >= KS_RSA_D) {
            BN_set_flags(bn[i], BN_FLG_CONSTTIME);
        }
        ok = bn[i] != NULL && OSSL_PARAM_BLD_push_BN(bld, RSA_PARAMS[i], bn[i]) == 1;
    }
    if (ok) {
        params = OSSL_PARAM_BLD_to_param(bld);
    }
    EVP_PKEY *k = params != NULL ? fromdata("RSA", params, EVP_PKEY_KEYPAIR) : NULL;
    ks_status st = KS_ERR_ARGS;
    if (k != NULL && EVP_PKEY_get_bits(k) <= KS_RSA_MAX_BITS && check_pair(k, crt == 5)) {
        *out = k;
        k = NULL;
        st = KS_OK;
    }
    EVP_PKEY_free(k);
    OSSL_PARAM_free(params); /* its secure block (private values) is wiped on free */
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < KS_RSA_PARTS; i++) {
        BN_clear_free(bn[i]);
    }
    return st;
}

ks_status ks_pkey_from_rsa_public(EVP_PKEY **out, const uint8_t *n, size_t n_len,
                                  const uint8_t *e, size_t e_len)
{
    if (out == NULL || n == NULL || e == NULL || n_len == 0 || n_len > KS_RSA_MAX_BITS / 8 + 1 ||
        (n[n_len - 1] & 1) == 0 || !check_exponent(e, e_len)) {
        return KS_ERR_ARGS;
    }
    *out = NULL;
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL);
    BIGNUM *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    if (bn_n != NULL && bn_e != NULL && bld != NULL &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
        params = OSSL_PARAM_BLD_to_param(bld);
    }
    EVP_PKEY *k = params != NULL ? fromdata("RSA", params, EVP_PKEY_PUBLIC_KEY) : NULL;
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    if (k == NULL || EVP_PKEY_get_bits(k) > KS_RSA_MAX_BITS) {
        EVP_PKEY_free(k);
        return KS_ERR_ARGS;
    }
    *out = k;
    return KS_OK;
}

/* ec_public_of computes the uncompressed point priv * G on curve c (SEC 1 3.2.1). */
static int ec_public_of(ks_curve c, const BIGNUM *priv, uint8_t *out, size_t len)
{
    int nid = OBJ_sn2nid(ks_curve_ossl_name(c));
    if (nid == NID_undef) {
        nid = EC_curve_nist2nid(ks_curve_ossl_name(c));
    }
    EC_GROUP *group = EC_GROUP_new_by_curve_name(nid);
    EC_POINT *pub = group != NULL ? EC_POINT_new(group) : NULL;
    BN_CTX *bctx = BN_CTX_secure_new();
    int ok = 0;
    if (pub != NULL && bctx != NULL && !BN_is_zero(priv) &&
        BN_cmp(priv, EC_GROUP_get0_order(group)) < 0 &&
        EC_POINT_mul(group, pub, priv, NULL, NULL, bctx) == 1) {
        ok = EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, out, len, bctx) ==
             len;
    }
    BN_CTX_free(bctx);
    EC_POINT_free(pub);
    EC_GROUP_free(group);
    return ok;
}

static EVP_PKEY *ec_fromdata(ks_curve c, const BIGNUM *priv, const uint8_t *point,
                             size_t point_len)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    if (bld != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        ks_curve_ossl_name(c), 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len) == 1 &&
        (priv == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1)) {
        params = OSSL_PARAM_BLD_to_param(bld);
    }
    EVP_PKEY *k = params != NULL ? fromdata("EC", params,
                                            priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY)
                                 : NULL;
    OSSL_PARAM_free(params); /* its secure block (private values) is wiped on free */
    OSSL_PARAM_BLD_free(bld);
    return k;
}

static int raw_type(ks_curve c)
{
    switch (c) {
    case KS_CURVE_ED25519:
        return EVP_PKEY_ED25519;
    case KS_CURVE_ED448:
        return EVP_PKEY_ED448;
    case KS_CURVE_X25519:
        return EVP_PKEY_X25519;
    case KS_CURVE_X448:
        return EVP_PKEY_X448;
    default:
        return NID_undef;
    }
}

ks_status ks_pkey_from_private_value(EVP_PKEY **out, ks_curve c, const uint8_t *v, size_t len)
{
    size_t want = ks_curve_scalar_len(c);
    if (out == NULL || v == NULL || want == 0 || len == 0 || len > want) {
        return KS_ERR_ARGS;
    }
    *out = NULL;
    if (ks_curve_kind_of(c) != KS_CURVE_WEIERSTRASS) {
        if (len != want) {
            return KS_ERR_ARGS;
        }
        *out = EVP_PKEY_new_raw_private_key(raw_type(c), NULL, v, len);
        return *out != NULL ? KS_OK : KS_ERR_ARGS;
    }
    BIGNUM *priv = BN_secure_new();
    uint8_t point[133];
    size_t point_len = ks_curve_point_len(c);
    ks_status st = KS_ERR_ARGS;
    if (priv != NULL && BN_bin2bn(v, (int)len, priv) != NULL) {
        BN_set_flags(priv, BN_FLG_CONSTTIME);
        if (ec_public_of(c, priv, point, point_len)) {
            *out = ec_fromdata(c, priv, point, point_len);
            st = *out != NULL ? KS_OK : KS_ERR_INTERNAL;
        }
    }
    BN_clear_free(priv);
    return st;
}

ks_status ks_pkey_from_public_point(EVP_PKEY **out, ks_curve c, const uint8_t *p, size_t len)
{
    if (out == NULL || p == NULL || ks_curve_point_len(c) == 0) {
        return KS_ERR_ARGS;
    }
    *out = NULL;
    if (ks_curve_kind_of(c) != KS_CURVE_WEIERSTRASS) {
        if (len != ks_curve_point_len(c)) {
            return KS_ERR_ARGS;
        }
        *out = EVP_PKEY_new_raw_public_key(raw_type(c), NULL, p, len);
        return *out != NULL ? KS_OK : KS_ERR_ARGS;
    }
    size_t coord = (ks_curve_point_len(c) - 1) / 2;
    if (!(len == 2 * coord + 1 && p[0] == 0x04) &&
        !(len == coord + 1 && (p[0] == 0x02 || p[0] == 0x03))) {
        return KS_ERR_ARGS;
    }
    EVP_PKEY *k = ec_fromdata(c, NULL, p, len);
    if (k == NULL || !check_pair(k, 0)) {
        EVP_PKEY_free(k);
        return KS_ERR_ARGS;
    }
    *out = k;
    return KS_OK;
}

int ks_pkey_same_public(const EVP_PKEY *a, const EVP_PKEY *b)
{
    return a != NULL && b != NULL && EVP_PKEY_eq(a, b) == 1;
}
