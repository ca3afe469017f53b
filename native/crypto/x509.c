/* x509.c - X.509 certificate fields through libcrypto (x509.h). */
#include "crypto/x509.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

/* take stores the DER of one field: i2d writes it into a buffer of its own. */
static int take(ks_der *out, int len, uint8_t *buf)
{
    if (len <= 0 || buf == NULL) {
        OPENSSL_free(buf);
        return 0;
    }
    out->der = malloc((size_t)len);
    if (out->der != NULL) {
        memcpy(out->der, buf, (size_t)len);
        out->len = (size_t)len;
    }
    OPENSSL_free(buf);
    return out->der != NULL;
}

ks_status ks_x509_fields_of(ks_x509_fields *out, const uint8_t *der, size_t len)
{
    if (out == NULL) {
        return KS_ERR_ARGS;
    }
    memset(out, 0, sizeof(*out));
    if (der == NULL || len == 0 || len > (size_t)1 << 24) {
        return KS_ERR_ARGS;
    }
    const uint8_t *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    if (cert == NULL || p != der + len) {
        X509_free(cert);
        return KS_ERR_ARGS;
    }
    uint8_t *buf = NULL;
    int n = i2d_X509_NAME(X509_get_subject_name(cert), &buf);
    int ok = take(&out->subject, n, buf);
    buf = NULL;
    n = ok ? i2d_X509_NAME(X509_get_issuer_name(cert), &buf) : 0;
    ok = ok && take(&out->issuer, n, buf);
    buf = NULL;
    n = ok ? i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &buf) : 0;
    ok = ok && take(&out->serial, n, buf);
    buf = NULL;
    n = ok ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &buf) : 0;
    ok = ok && take(&out->spki, n, buf);
    X509_free(cert);
    if (!ok) {
        ks_x509_fields_free(out);
        return KS_ERR_NOMEM;
    }
    return KS_OK;
}

void ks_x509_fields_free(ks_x509_fields *f)
{
    if (f == NULL) {
        return;
    }
    ks_der *all[] = {&f->subject, &f->issuer, &f->serial, &f->spki};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        free(all[i]->der);
        all[i]->der = NULL;
        all[i]->len = 0;
    }
}
