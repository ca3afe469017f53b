/* x509.h - the fields of an X.509 certificate (RFC 5280 4.1) that PKCS#11 certificate objects
 * show as attributes, read with libcrypto. No CK_* type here. */
#ifndef KS_CRYPTO_X509_H
#define KS_CRYPTO_X509_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

/* One DER value, heap memory (free with ks_x509_fields_free). */
typedef struct ks_der {
    uint8_t *der;
    size_t len;
} ks_der;

typedef struct ks_x509_fields {
    ks_der subject; /* the subject Name */
    ks_der issuer;  /* the issuer Name */
    ks_der serial;  /* the serialNumber INTEGER, tag and length included */
    ks_der spki;    /* the SubjectPublicKeyInfo */
} ks_x509_fields;

/* ks_x509_fields_of parses a DER certificate (the whole input, nothing after it) into out
 * (zeroed first). KS_ERR_ARGS when it is not one; KS_ERR_NOMEM. On failure out holds
 * nothing. */
ks_status ks_x509_fields_of(ks_x509_fields *out, const uint8_t *der, size_t len);

/* ks_x509_fields_free releases what ks_x509_fields_of filled; NULL allowed. */
void ks_x509_fields_free(ks_x509_fields *f);

#endif
