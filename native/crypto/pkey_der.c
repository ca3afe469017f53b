/* pkey_der.c - DER of curve keys (pkey_der.h). */
#include "crypto/pkey_der.h"

#include <string.h>

#include "crypto/mem.h"

/* id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480 2.1.1) */
static const uint8_t EC_PUBLIC_KEY[] = {0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01};

/* hdr_len: the length of a DER tag and definite length for a body of n bytes (n < 65536). */
static size_t hdr_len(size_t n)
{
    return n < 0x80 ? 2 : n < 0x100 ? 3 : 4;
}

/* A writer that fills out from the end: DER is easiest to write inside out. */
typedef struct der_w {
    uint8_t *buf;
    size_t pos; /* bytes still free at the front */
    int ok;
} der_w;

static void put(der_w *w, const uint8_t *p, size_t n)
{
    if (!w->ok || n > w->pos) {
        w->ok = 0;
        return;
    }
    w->pos -= n;
    memcpy(w->buf + w->pos, p, n);
}

static void put_byte(der_w *w, uint8_t b)
{
    put(w, &b, 1);
}

/* wrap puts a tag and the length of the body written since mark (an earlier w->pos). */
static void wrap(der_w *w, uint8_t tag, size_t mark)
{
    size_t n = mark - w->pos;
    uint8_t h[4];
    size_t hl = hdr_len(n);
    h[0] = tag;
    if (hl == 2) {
        h[1] = (uint8_t)n;
    } else if (hl == 3) {
        h[1] = 0x81;
        h[2] = (uint8_t)n;
    } else {
        h[1] = 0x82;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
    }
    put(w, h, hl);
}

/* algorithm writes the AlgorithmIdentifier: id-ecPublicKey with the named curve, or the
 * RFC 8410 algorithm OID alone (which ks_curve_oid_der gives for those curves). */
static void algorithm(der_w *w, ks_curve c)
{
    size_t oid_len = 0;
    const uint8_t *oid = ks_curve_oid_der(c, &oid_len);
    size_t mark = w->pos;
    put(w, oid, oid_len);
    if (ks_curve_kind_of(c) == KS_CURVE_WEIERSTRASS) {
        put(w, EC_PUBLIC_KEY, sizeof(EC_PUBLIC_KEY));
    }
    wrap(w, 0x30, mark);
}

/* bit_string writes a BIT STRING of whole bytes. */
static void bit_string(der_w *w, const uint8_t *p, size_t n)
{
    size_t mark = w->pos;
    put(w, p, n);
    put_byte(w, 0x00); /* no unused bits */
    wrap(w, 0x03, mark);
}

static void octet_string(der_w *w, const uint8_t *p, size_t n)
{
    size_t mark = w->pos;
    put(w, p, n);
    wrap(w, 0x04, mark);
}

static void small_integer(der_w *w, uint8_t v)
{
    const uint8_t i[] = {0x02, 0x01, v};
    put(w, i, sizeof(i));
}

ks_status ks_der_curve_key(ks_curve c, const uint8_t *priv, size_t priv_len,
                           const uint8_t *point, size_t point_len, uint8_t *out,
                           size_t *out_len, size_t max)
{
    ks_curve_kind kind = ks_curve_kind_of(c);
    if (kind == KS_CURVE_KIND_NONE || point == NULL || point_len != ks_curve_point_len(c) ||
        (priv != NULL && priv_len != ks_curve_scalar_len(c)) || out == NULL ||
        out_len == NULL) {
        return KS_ERR_ARGS;
    }
    uint8_t tmp[KS_CURVE_DER_MAX];
    der_w w = {tmp, sizeof(tmp), 1};
    size_t top = w.pos;
    if (priv == NULL) {
        bit_string(&w, point, point_len); /* SubjectPublicKeyInfo, RFC 5280 4.1 */
        algorithm(&w, c);
    } else {
        size_t inner = w.pos;
        if (kind == KS_CURVE_WEIERSTRASS) {
            /* RFC 5915 ECPrivateKey { 1, privateKey, publicKey [1] } (parameters in the
             * PKCS#8 algorithm, as libcrypto writes it) */
            size_t pub = w.pos;
            bit_string(&w, point, point_len);
            wrap(&w, 0xA1, pub);
            octet_string(&w, priv, priv_len);
            small_integer(&w, 1);
            wrap(&w, 0x30, inner);
        } else {
            octet_string(&w, priv, priv_len); /* RFC 8410 7 CurvePrivateKey */
        }
        wrap(&w, 0x04, inner);
        algorithm(&w, c);
        small_integer(&w, 0); /* PrivateKeyInfo version v1 */
    }
    wrap(&w, 0x30, top);
    size_t n = sizeof(tmp) - w.pos;
    ks_status st = w.ok && n <= max ? KS_OK : KS_ERR_ARGS;
    if (st == KS_OK) {
        memcpy(out, tmp + w.pos, n);
        *out_len = n;
    }
    ks_wipe(tmp, sizeof(tmp)); /* it held the private value */
    return st;
}
