/* curve.c - named curves: parameters DER, libcrypto names, lengths (curve.h). */
#include "crypto/curve.h"

#include <string.h>

typedef struct curve_row {
    ks_curve curve;
    ks_curve_kind kind;
    const char *ossl;       /* libcrypto's name */
    uint8_t oid[12];        /* DER: tag 06, length, contents */
    size_t oid_len;
    const char *names[3];   /* PrintableString names accepted, NULL-ended */
    size_t point_len;
    size_t scalar_len;
    size_t bits;
} curve_row;

static const curve_row CURVES[] = {
    /* RFC 5480 2.1.1.1: secp256r1 1.2.840.10045.3.1.7, secp384r1 1.3.132.0.34,
     * secp521r1 1.3.132.0.35 */
    {KS_CURVE_P256, KS_CURVE_WEIERSTRASS, "P-256",
     {0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07}, 10,
     {"prime256v1", "secp256r1", "P-256"}, 65, 32, 256},
    {KS_CURVE_P384, KS_CURVE_WEIERSTRASS, "P-384", {0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22},
     7, {"secp384r1", "P-384", NULL}, 97, 48, 384},
    {KS_CURVE_P521, KS_CURVE_WEIERSTRASS, "P-521", {0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23},
     7, {"secp521r1", "P-521", NULL}, 133, 66, 521},
    /* RFC 8410 3: id-X25519 1.3.101.110, id-X448 1.3.101.111, id-Ed25519 1.3.101.112,
     * id-Ed448 1.3.101.113; names of mechanisms 2.3.5 and 2.3.7 */
    {KS_CURVE_ED25519, KS_CURVE_EDWARDS, "ED25519", {0x06, 0x03, 0x2B, 0x65, 0x70}, 5,
     {"edwards25519", "Ed25519", NULL}, 32, 32, 255},
    {KS_CURVE_ED448, KS_CURVE_EDWARDS, "ED448", {0x06, 0x03, 0x2B, 0x65, 0x71}, 5,
     {"edwards448", "Ed448", NULL}, 57, 57, 448},
    {KS_CURVE_X25519, KS_CURVE_MONTGOMERY, "X25519", {0x06, 0x03, 0x2B, 0x65, 0x6E}, 5,
     {"curve25519", "X25519", NULL}, 32, 32, 255},
    {KS_CURVE_X448, KS_CURVE_MONTGOMERY, "X448", {0x06, 0x03, 0x2B, 0x65, 0x6F}, 5,
     {"curve448", "X448", NULL}, 56, 56, 448},
};

#define CURVE_COUNT (sizeof(CURVES) / sizeof(CURVES[0]))

static const curve_row *row_of(ks_curve c)
{
    for (size_t i = 0; i < CURVE_COUNT; i++) {
        if (CURVES[i].curve == c) {
            return &CURVES[i];
        }
    }
    return NULL;
}

/* der_header reads one DER tag and definite length: *hdr is the header's length and *body
 * the contents' length. 0 when the header is malformed or runs past len. */
static int der_header(const uint8_t *der, size_t len, size_t *hdr, size_t *body)
{
    if (len < 2) {
        return 0;
    }
    size_t n = der[1];
    size_t h = 2;
    if (n & 0x80) {
        size_t bytes = n & 0x7F;
        if (bytes == 0 || bytes > 2 || len < 2 + bytes) {
            return 0;
        }
        n = 0;
        for (size_t i = 0; i < bytes; i++) {
            n = (n << 8) | der[2 + i];
        }
        if (n < 0x80 || (bytes == 2 && n < 0x100)) {
            return 0; /* DER: the shortest form */
        }
        h += bytes;
    }
    if (n > len - h) {
        return 0;
    }
    *hdr = h;
    *body = n;
    return 1;
}

ks_status ks_curve_from_params(ks_curve *out, const uint8_t *der, size_t len)
{
    size_t hdr, body;
    if (out == NULL || der == NULL || !der_header(der, len, &hdr, &body) || hdr + body != len) {
        return KS_ERR_ARGS;
    }
    *out = KS_CURVE_NONE;
    const uint8_t tag = der[0];
    if (tag == 0x06) { /* namedCurve */
        if (body == 0) {
            return KS_ERR_ARGS;
        }
        for (size_t i = 0; i < CURVE_COUNT; i++) {
            if (CURVES[i].oid_len == len && memcmp(CURVES[i].oid, der, len) == 0) {
                *out = CURVES[i].curve;
                return KS_OK;
            }
        }
        return KS_ERR_UNSUPPORTED;
    }
    if (tag == 0x13) { /* curveName: PrintableString */
        for (size_t i = 0; i < CURVE_COUNT; i++) {
            for (size_t k = 0; k < 3 && CURVES[i].names[k] != NULL; k++) {
                const char *name = CURVES[i].names[k];
                if (strlen(name) == body && memcmp(name, der + hdr, body) == 0) {
                    *out = CURVES[i].curve;
                    return KS_OK;
                }
            }
        }
        return KS_ERR_UNSUPPORTED;
    }
    if (tag == 0x30 || (tag == 0x05 && body == 0)) { /* specifiedCurve, implicitlyCA */
        return KS_ERR_UNSUPPORTED;
    }
    return KS_ERR_ARGS;
}

ks_curve_kind ks_curve_kind_of(ks_curve c)
{
    const curve_row *r = row_of(c);
    return r != NULL ? r->kind : KS_CURVE_KIND_NONE;
}

const uint8_t *ks_curve_oid_der(ks_curve c, size_t *len)
{
    const curve_row *r = row_of(c);
    if (r == NULL) {
        return NULL;
    }
    *len = r->oid_len;
    return r->oid;
}

const char *ks_curve_ossl_name(ks_curve c)
{
    const curve_row *r = row_of(c);
    return r != NULL ? r->ossl : NULL;
}

size_t ks_curve_point_len(ks_curve c)
{
    const curve_row *r = row_of(c);
    return r != NULL ? r->point_len : 0;
}

size_t ks_curve_scalar_len(ks_curve c)
{
    const curve_row *r = row_of(c);
    return r != NULL ? r->scalar_len : 0;
}

size_t ks_curve_bits(ks_curve c)
{
    const curve_row *r = row_of(c);
    return r != NULL ? r->bits : 0;
}
