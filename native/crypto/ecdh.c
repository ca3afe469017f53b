/* ecdh.c - ECDH (SEC 1 v2.0 3.3.1, 3.3.2) and X25519/X448 (RFC 7748) through libcrypto's
 * EVP_PKEY_derive.
 *
 * The peer's value is checked before any arithmetic: its exact length and form for the key's
 * curve, then (prime curves) that it decodes to a point of the curve, which libcrypto's point
 * decoding verifies. The prime curves have cofactor 1, so a point on the curve other than
 * infinity (which has no encoding of the accepted lengths) is in the prime-order group: the
 * full public-key validation of SP 800-56A 5.6.2.3.3 without the extra scalar multiplication
 * of EVP_PKEY_public_check. X25519 and X448 accept every u-coordinate (RFC 7748 5); a
 * low-order one makes Z all zero, which libcrypto refuses and which is checked here again
 * (RFC 7748 6.1: "check whether the output is the all-zero value and abort if so"). */
#include "crypto/ecdh.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "crypto/ct.h"
#include "crypto/ec_group.h"
#include "crypto/mem.h"
#include "crypto/pkey_prep.h"

static const struct {
    const char *group; /* libcrypto's group name (EC keys) */
    size_t field;      /* bytes of a field element: the length of Z */
} CURVES[] = {
    [KS_ECDH_NONE] = {NULL, 0},
    [KS_ECDH_P256] = {"prime256v1", 32},
    [KS_ECDH_P384] = {"secp384r1", 48},
    [KS_ECDH_P521] = {"secp521r1", 66},
    [KS_ECDH_X25519] = {NULL, 32},
    [KS_ECDH_X448] = {NULL, 56},
};

#define CURVE_COUNT (sizeof(CURVES) / sizeof(CURVES[0]))

size_t ks_ecdh_secret_len(ks_ecdh_curve curve)
{
    return (size_t)curve < CURVE_COUNT ? CURVES[curve].field : 0;
}

static ks_ecdh_curve curve_of_pkey(const EVP_PKEY *pkey)
{
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_X25519:
        return KS_ECDH_X25519;
    case EVP_PKEY_X448:
        return KS_ECDH_X448;
    case EVP_PKEY_EC:
        break;
    default:
        return KS_ECDH_NONE;
    }
    char name[32];
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len) != 1) {
        return KS_ECDH_NONE; /* explicit parameters: not a named curve */
    }
    for (size_t c = KS_ECDH_P256; c <= KS_ECDH_P521; c++) {
        if (strcmp(name, CURVES[c].group) == 0) {
            return (ks_ecdh_curve)c;
        }
    }
    return KS_ECDH_NONE;
}

/* One DER element at *p (within end): its tag and content; 0 when malformed. Definite
 * lengths of up to two bytes only, which every key here fits. */
static int der_next(const uint8_t **p, const uint8_t *end, uint8_t tag, const uint8_t **content,
                    size_t *len)
{
    const uint8_t *q = *p;
    if (end - q < 2 || q[0] != tag) {
        return 0;
    }
    size_t n = q[1];
    q += 2;
    if (n == 0x81 || n == 0x82) {
        size_t bytes = n & 0x7f;
        if ((size_t)(end - q) < bytes) {
            return 0;
        }
        n = bytes == 1 ? q[0] : ((size_t)q[0] << 8) | q[1];
        q += bytes;
    } else if (n > 0x7f) {
        return 0;
    }
    if ((size_t)(end - q) < n) {
        return 0;
    }
    *content = q;
    *len = n;
    *p = q + n;
    return 1;
}

/* The private scalar d of an ECPrivateKey (RFC 5915: SEQUENCE { version 1, privateKey
 * OCTET STRING, ... }). */
static int ec_scalar(const uint8_t *der, size_t der_len, const uint8_t **d, size_t *d_len)
{
    const uint8_t *p = der;
    const uint8_t *end = der + der_len;
    const uint8_t *seq = NULL;
    const uint8_t *ver = NULL;
    size_t seq_len = 0;
    size_t ver_len = 0;
    if (!der_next(&p, end, 0x30, &seq, &seq_len) || p != end) {
        return 0;
    }
    p = seq;
    end = seq + seq_len;
    return der_next(&p, end, 0x02, &ver, &ver_len) && ver_len == 1 && ver[0] == 1 &&
           der_next(&p, end, 0x04, d, d_len);
}

/* An EC key of a named curve from its scalar, through the provider's key import (no
 * decoder: OpenSSL 3.0's d2i_AutoPrivateKey looks the format up on every call and costs a
 * millisecond). Only the private part: ECDH needs no public key. */
static EVP_PKEY *ec_from_scalar(ks_ecdh_curve curve, const uint8_t *d, size_t d_len)
{
    size_t f = CURVES[curve].field;
    if (d_len == 0 || d_len > f) {
        return NULL;
    }
    uint8_t native[KS_ECDH_MAX_SECRET] = {0}; /* the scalar in the host's byte order */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    memcpy(native + (f - d_len), d, d_len);
#else
    for (size_t i = 0; i < d_len; i++) {
        native[i] = d[d_len - 1 - i];
    }
#endif
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)CURVES[curve].group,
                                         0),
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, f),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    ks_wipe(native, sizeof(native));
    return pkey;
}

/* A PKCS#8 PrivateKeyInfo of one of the five curves as an EVP_PKEY, or NULL. */
static EVP_PKEY *parse_private(const uint8_t *pkcs8, size_t pkcs8_len)
{
    if (pkcs8 == NULL || pkcs8_len == 0 || pkcs8_len > (size_t)0x7fffffff) {
        return NULL;
    }
    const unsigned char *p = pkcs8;
    PKCS8_PRIV_KEY_INFO *info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)pkcs8_len);
    const unsigned char *key = NULL;
    int key_len = 0;
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *oid = NULL;
    const void *param = NULL;
    int param_type = 0;
    EVP_PKEY *pkey = NULL;
    if (info == NULL || p != pkcs8 + pkcs8_len ||
        PKCS8_pkey_get0(NULL, &key, &key_len, &alg, info) != 1 || key_len <= 0) {
        PKCS8_PRIV_KEY_INFO_free(info);
        return NULL;
    }
    X509_ALGOR_get0(&oid, &param_type, &param, alg);
    int nid = OBJ_obj2nid(oid);
    const uint8_t *d = NULL;
    size_t d_len = 0;
    const uint8_t *kp = key;
    if (nid == NID_X25519 || nid == NID_X448) {
        /* CurvePrivateKey ::= OCTET STRING (RFC 8410 7) */
        if (der_next(&kp, key + key_len, 0x04, &d, &d_len) && kp == key + key_len) {
            pkey = EVP_PKEY_new_raw_private_key(nid == NID_X25519 ? EVP_PKEY_X25519
                                                                  : EVP_PKEY_X448,
                                                NULL, d, d_len);
        }
    } else if (nid == NID_X9_62_id_ecPublicKey && param_type == V_ASN1_OBJECT) {
        int curve_nid = OBJ_obj2nid(param);
        ks_ecdh_curve c = curve_nid == NID_X9_62_prime256v1 ? KS_ECDH_P256
                          : curve_nid == NID_secp384r1      ? KS_ECDH_P384
                          : curve_nid == NID_secp521r1      ? KS_ECDH_P521
                                                            : KS_ECDH_NONE;
        if (c != KS_ECDH_NONE && ec_scalar(key, (size_t)key_len, &d, &d_len)) {
            pkey = ec_from_scalar(c, d, d_len);
        }
    }
    PKCS8_PRIV_KEY_INFO_free(info); /* frees (and cleanses) the private key octets */
    return pkey;
}

ks_ecdh_curve ks_ecdh_curve_of(const void *pkey, const uint8_t *pkcs8, size_t pkcs8_len)
{
    if (pkey != NULL) {
        return curve_of_pkey(pkey);
    }
    EVP_PKEY *parsed = parse_private(pkcs8, pkcs8_len);
    if (parsed == NULL) {
        return KS_ECDH_NONE;
    }
    ks_ecdh_curve c = curve_of_pkey(parsed);
    EVP_PKEY_free(parsed);
    return c;
}

/* The peer's public value as an EVP_PKEY of priv's curve, or NULL (KS_ERR_ARGS in *st). */
static EVP_PKEY *peer_key(const EVP_PKEY *priv, ks_ecdh_curve curve, const uint8_t *peer,
                          size_t peer_len, ks_status *st)
{
    size_t f = CURVES[curve].field;
    *st = KS_ERR_ARGS;
    if (curve == KS_ECDH_X25519 || curve == KS_ECDH_X448) {
        if (peer_len != f) {
            return NULL;
        }
        int id = curve == KS_ECDH_X25519 ? EVP_PKEY_X25519 : EVP_PKEY_X448;
        EVP_PKEY *k = EVP_PKEY_new_raw_public_key(id, NULL, peer, peer_len);
        *st = k != NULL ? KS_OK : KS_ERR_NOMEM;
        return k;
    }
    /* X9.62 uncompressed or compressed; never the one-byte infinity, never hybrid (06/07). */
    int uncompressed = peer_len == 1 + 2 * f && peer[0] == 0x04;
    int compressed = peer_len == 1 + f && (peer[0] == 0x02 || peer[0] == 0x03);
    if (!uncompressed && !compressed) {
        return NULL;
    }
    EVP_PKEY *k = EVP_PKEY_new();
    if (k == NULL) {
        *st = KS_ERR_NOMEM;
        return NULL;
    }
    if (EVP_PKEY_copy_parameters(k, priv) != 1) {
        EVP_PKEY_free(k);
        *st = KS_ERR_INTERNAL;
        return NULL;
    }
    if (EVP_PKEY_set1_encoded_public_key(k, peer, peer_len) != 1) {
        EVP_PKEY_free(k); /* not a point of the curve */
        return NULL;
    }
    *st = KS_OK;
    return k;
}

static ks_status derive(uint8_t *out, size_t *out_len, EVP_PKEY *priv, EVP_PKEY *peer,
                        int cofactor, int is_ec)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    if (ctx == NULL) {
        return KS_ERR_NOMEM;
    }
    ks_status st = KS_ERR_INTERNAL;
    size_t len = KS_ECDH_MAX_SECRET;
    if (EVP_PKEY_derive_init(ctx) == 1 &&
        (!is_ec || EVP_PKEY_CTX_set_ecdh_cofactor_mode(ctx, cofactor ? 1 : 0) == 1) &&
        EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) == 1) {
        /* A refusal here is the peer's doing: X25519/X448 refuse an all-zero Z. */
        st = EVP_PKEY_derive(ctx, out, &len) == 1 ? KS_OK : KS_ERR_ARGS;
    }
    EVP_PKEY_CTX_free(ctx);
    *out_len = len;
    return st;
}

/* ---- prime curves on a prepared key: EC_POINT_mul with the scalar kept by the key -------
 *
 * EVP_PKEY_derive on a prepared key still costs a context, a peer EVP_PKEY (copying the
 * group, importing the point through the provider) and parameter lookups per call, about a
 * sixth of the derivation in OpenSSL 3.0. ECDH_compute_key underneath is EC_POINT_mul of
 * the peer's point by the private scalar and the affine x of the result (SEC 1 3.3.1), which
 * is what this does directly: the scalar is read out of the key once and kept by the
 * prepared key (crypto/pkey_prep.h) in a BIGNUM flagged constant-time, wiped with it; the
 * group is the shared one (crypto/ec_group.h); the peer's point is decoded by
 * EC_POINT_oct2point, which refuses a point off the curve, as set1_encoded_public_key did.
 * EC_POINT_mul of a single point by a secret scalar is libcrypto's constant-time path (the
 * P-256 windowed multiplication, the Montgomery ladder elsewhere), the same function
 * ECDH_compute_key calls. The cofactor of the three curves is 1: SEC 1 3.3.2 gives the same
 * Z. */

static const char SCALAR_TAG[] = "ecdh scalar";

static void drop_scalar(void *d)
{
    BN_clear_free(d);
}

/* scalar_of reads the private scalar of EC key k (field size f) into a new BIGNUM. */
static BIGNUM *scalar_of(const EVP_PKEY *k, size_t f)
{
    uint8_t native[KS_ECDH_MAX_SECRET] = {0}; /* host byte order, as OSSL_PARAM holds it */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, f),
        OSSL_PARAM_construct_end(),
    };
    BIGNUM *d = BN_secure_new();
    int ok = d != NULL && EVP_PKEY_get_params(k, params) == 1 &&
             OSSL_PARAM_modified(params) && BN_native2bn(native, (int)f, d) != NULL &&
             !BN_is_zero(d);
    ks_wipe(native, sizeof(native));
    if (!ok) {
        BN_clear_free(d);
        return NULL;
    }
    BN_set_flags(d, BN_FLG_CONSTTIME);
    return d;
}

static ks_ecdh_curve prime_curve_of(const ks_pkey *key)
{
    size_t bits = 0;
    if (ks_pkey_kind_of(key, &bits) != KS_PKEY_EC) {
        return KS_ECDH_NONE;
    }
    return bits == 256 ? KS_ECDH_P256 : bits == 384 ? KS_ECDH_P384 : bits == 521 ? KS_ECDH_P521
                                                                                 : KS_ECDH_NONE;
}

/* prime_z computes Z = x(d * Q) into z (f bytes). KS_ERR_ARGS: peer is no point of the
 * curve (or the product is infinity, which a valid point cannot give). */
static ks_status prime_z(uint8_t *z, ks_ecdh_curve curve, const BIGNUM *d, const uint8_t *peer,
                         size_t peer_len)
{
    static const ks_curve as_curve[] = {[KS_ECDH_P256] = KS_CURVE_P256,
                                        [KS_ECDH_P384] = KS_CURVE_P384,
                                        [KS_ECDH_P521] = KS_CURVE_P521};
    size_t f = CURVES[curve].field;
    int uncompressed = peer_len == 1 + 2 * f && peer[0] == 0x04;
    int compressed = peer_len == 1 + f && (peer[0] == 0x02 || peer[0] == 0x03);
    if (!uncompressed && !compressed) {
        return KS_ERR_ARGS; /* never the one-byte infinity, never hybrid (06/07) */
    }
    const EC_GROUP *g = ks_ec_group(as_curve[curve]);
    BN_CTX *bctx = BN_CTX_secure_new();
    EC_POINT *q = g != NULL ? EC_POINT_new(g) : NULL;
    EC_POINT *r = g != NULL ? EC_POINT_new(g) : NULL;
    BIGNUM *x = BN_secure_new();
    ks_status st = KS_ERR_NOMEM;
    if (g == NULL) {
        st = KS_ERR_INTERNAL;
    } else if (bctx != NULL && q != NULL && r != NULL && x != NULL) {
        st = KS_ERR_ARGS;
        if (EC_POINT_oct2point(g, q, peer, peer_len, bctx) == 1) {
            st = EC_POINT_mul(g, r, NULL, q, d, bctx) == 1 &&
                         EC_POINT_get_affine_coordinates(g, r, x, NULL, bctx) == 1 &&
                         BN_bn2binpad(x, z, (int)f) == (int)f
                     ? KS_OK
                     : KS_ERR_ARGS;
        }
    }
    BN_clear_free(x);
    EC_POINT_clear_free(r);
    EC_POINT_free(q);
    BN_CTX_free(bctx);
    return st;
}

/* prime_derive: Z on a prepared prime-curve key, with its kept scalar. */
static ks_status prime_derive(uint8_t *z, ks_ecdh_curve curve, ks_pkey *key,
                              const uint8_t *peer, size_t peer_len)
{
    const BIGNUM *d = ks_pkey_context(key, SCALAR_TAG, sizeof(SCALAR_TAG));
    BIGNUM *own = NULL;
    if (d == NULL) {
        BIGNUM *made = scalar_of(ks_pkey_evp(key), CURVES[curve].field);
        if (made == NULL) {
            return KS_ERR_KEY_LEN;
        }
        d = ks_pkey_keep(key, SCALAR_TAG, sizeof(SCALAR_TAG), made, drop_scalar);
        if (d == NULL) { /* the key keeps no more contexts: this call's own copy */
            own = scalar_of(ks_pkey_evp(key), CURVES[curve].field);
            d = own;
        }
    }
    ks_status st = d != NULL ? prime_z(z, curve, d, peer, peer_len) : KS_ERR_NOMEM;
    BN_clear_free(own);
    return st;
}

ks_status ks_ecdh_derive(uint8_t *out, size_t *out_len, size_t max_out, const void *pkey,
                         const uint8_t *pkcs8, size_t pkcs8_len, int cofactor,
                         const uint8_t *peer, size_t peer_len)
{
    if (out == NULL || out_len == NULL || peer == NULL) {
        return KS_ERR_ARGS;
    }
    *out_len = 0;
    ks_pkey *prepared = pkey != NULL ? ks_pkey_of((void *)pkey) : NULL;
    ks_ecdh_curve prime = prime_curve_of(prepared);
    if (prime != KS_ECDH_NONE) {
        size_t f = CURVES[prime].field;
        uint8_t z[KS_ECDH_MAX_SECRET];
        ks_status st = max_out < f ? KS_ERR_LEN : prime_derive(z, prime, prepared, peer, peer_len);
        if (st == KS_OK) {
            memcpy(out, z, f);
            *out_len = f;
        } else if (max_out > 0) {
            ks_wipe(out, max_out < KS_ECDH_MAX_SECRET ? max_out : KS_ECDH_MAX_SECRET);
        }
        ks_wipe(z, sizeof(z));
        ks_pkey_free(prepared);
        return st;
    }
    ks_pkey_free(prepared);
    EVP_PKEY *parsed = pkey == NULL ? parse_private(pkcs8, pkcs8_len) : NULL;
    EVP_PKEY *priv = pkey != NULL ? (EVP_PKEY *)pkey : parsed;
    ks_ecdh_curve curve = priv != NULL ? curve_of_pkey(priv) : KS_ECDH_NONE;
    size_t f = ks_ecdh_secret_len(curve);
    uint8_t z[KS_ECDH_MAX_SECRET];
    size_t z_len = 0;
    ks_status st = curve == KS_ECDH_NONE ? KS_ERR_KEY_LEN : max_out < f ? KS_ERR_LEN : KS_OK;
    EVP_PKEY *other = NULL;
    if (st == KS_OK) {
        other = peer_key(priv, curve, peer, peer_len, &st);
    }
    if (st == KS_OK) {
        st = derive(z, &z_len, priv, other, cofactor,
                    curve != KS_ECDH_X25519 && curve != KS_ECDH_X448);
    }
    if (st == KS_OK && (z_len != f || ks_ct_is_zero_bytes(z, z_len))) {
        st = z_len != f ? KS_ERR_INTERNAL : KS_ERR_ARGS; /* RFC 7748 6.1 */
    }
    if (st == KS_OK) {
        memcpy(out, z, f);
        *out_len = f;
    } else if (max_out > 0) {
        ks_wipe(out, max_out < KS_ECDH_MAX_SECRET ? max_out : KS_ECDH_MAX_SECRET);
    }
    ks_wipe(z, sizeof(z));
    EVP_PKEY_free(other);
    EVP_PKEY_free(parsed);
    return st;
}
