/* rules_cert.c - certificate objects of the class table (PKCS#11 3.0 base 4.6.2 common
 * certificate attributes, 4.6.3 X.509 public key certificate objects).
 *
 * Only CKC_X_509 is supported. The certificate's DER (CKA_VALUE) is parsed with libcrypto
 * (crypto/x509.h): a value that is not one DER certificate is CKR_ATTRIBUTE_VALUE_INVALID.
 * CKA_SUBJECT must be given (4.6.3 [1]) and must be the certificate's subject; CKA_ISSUER,
 * CKA_SERIAL_NUMBER and CKA_PUBLIC_KEY_INFO are empty by default (4.6.2, 4.6.3) and must
 * match the certificate when given (a serial number as its DER INTEGER, or as the INTEGER's
 * content octets, which Java's SunPKCS11 writes); CKA_CHECK_VALUE (4.6.2) is the first three bytes of the
 * SHA-1 of CKA_VALUE, a given one must match and an empty one suppresses it. A certificate
 * held by URL only (CKA_VALUE empty) must have CKA_URL and both CKA_HASH_OF_* (4.6.3
 * footnotes 2-4) and is not parsed. */
#include <string.h>

#include <openssl/evp.h>

#include "crypto/mem.h"
#include "crypto/x509.h"
#include "token/rules_internal.h"

static CK_RV fail(ks_why *why, CK_ATTRIBUTE_TYPE attr, const char *reason, CK_RV rv)
{
    return ks_rule_fail(why, attr, reason, rv);
}

CK_RV ks_rules_cert_check_new(const ks_attrs *obj, CK_ULONG key_type, ks_why *why)
{
    (void)key_type;
    CK_ULONG v = 0;
    if (ks_attrs_get_ulong(obj, CKA_CERTIFICATE_TYPE, &v) && v != CKC_X_509) {
        return fail(why, CKA_CERTIFICATE_TYPE, "only X.509 certificates",
                    CKR_ATTRIBUTE_VALUE_INVALID);
    }
    if (ks_attrs_get_ulong(obj, CKA_CERTIFICATE_CATEGORY, &v) &&
        v > CK_CERTIFICATE_CATEGORY_OTHER_ENTITY) {
        return fail(why, CKA_CERTIFICATE_CATEGORY, "no such category",
                    CKR_ATTRIBUTE_VALUE_INVALID);
    }
    if (ks_attrs_get_ulong(obj, CKA_JAVA_MIDP_SECURITY_DOMAIN, &v) && v > 3) {
        return fail(why, CKA_JAVA_MIDP_SECURITY_DOMAIN, "no such domain (0 to 3)",
                    CKR_ATTRIBUTE_VALUE_INVALID);
    }
    return CKR_OK;
}

/* check_field: a non-empty given value must be the certificate's field. */
static CK_RV check_field(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type, const ks_der *field,
                         int required, ks_why *why)
{
    const ks_attr *given = ks_attrs_find(obj, type);
    if (given == NULL || given->len == 0) {
        return required ? fail(why, type, "required attribute missing", CKR_TEMPLATE_INCOMPLETE)
                        : CKR_OK;
    }
    if (given->len == field->len && memcmp(given->value, field->der, field->len) == 0) {
        return CKR_OK;
    }
    /* CKA_SERIAL_NUMBER is the DER INTEGER (4.6.3); Java's SunPKCS11 (KeyStore entries,
     * keytool) writes the INTEGER's content octets alone, as SoftHSMv2 stores it. Those are
     * the same serial: accepted too, and kept as given. */
    size_t head = field->len >= 2 && field->der[0] == 0x02 && field->der[1] < 0x80 ? 2 : 0;
    if (type == CKA_SERIAL_NUMBER && head != 0 && given->len == field->len - head &&
        memcmp(given->value, field->der + head, given->len) == 0) {
        return CKR_OK;
    }
    return fail(why, type, "does not match the certificate", CKR_ATTRIBUTE_VALUE_INVALID);
}

static CK_RV check_value(ks_attrs *obj, const ks_attr *value, ks_why *why)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (EVP_Digest(value->value, value->len, md, &md_len, EVP_sha1(), NULL) != 1) {
        return CKR_FUNCTION_FAILED;
    }
    const ks_attr *given = ks_attrs_find(obj, CKA_CHECK_VALUE);
    if (given != NULL && given->len == 0) {
        return CKR_OK; /* an empty check value suppresses it (4.6.2) */
    }
    if (given != NULL && (given->len != 3 || memcmp(given->value, md, 3) != 0)) {
        return fail(why, CKA_CHECK_VALUE, "does not match the certificate",
                    CKR_ATTRIBUTE_VALUE_INVALID);
    }
    return ks_attrs_set(obj, CKA_CHECK_VALUE, md, 3);
}

static int empty(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type)
{
    const ks_attr *a = ks_attrs_find(obj, type);
    return a == NULL || a->len == 0;
}

CK_RV ks_rules_cert_finish(ks_attrs *obj, ks_origin origin, ks_why *why)
{
    (void)origin;
    const ks_attr *value = ks_attrs_find(obj, CKA_VALUE);
    if (value == NULL || value->len == 0) {
        /* 4.6.3 [2]-[4]: by URL, with both hashes */
        if (empty(obj, CKA_URL)) {
            return fail(why, CKA_VALUE, "a certificate needs CKA_VALUE or CKA_URL",
                        CKR_TEMPLATE_INCOMPLETE);
        }
        if (empty(obj, CKA_HASH_OF_SUBJECT_PUBLIC_KEY) || empty(obj, CKA_HASH_OF_ISSUER_PUBLIC_KEY)) {
            return fail(why, empty(obj, CKA_HASH_OF_SUBJECT_PUBLIC_KEY)
                                 ? CKA_HASH_OF_SUBJECT_PUBLIC_KEY
                                 : CKA_HASH_OF_ISSUER_PUBLIC_KEY,
                        "a certificate by URL needs both key hashes", CKR_TEMPLATE_INCOMPLETE);
        }
        return empty(obj, CKA_SUBJECT) ? fail(why, CKA_SUBJECT, "required attribute missing",
                                              CKR_TEMPLATE_INCOMPLETE)
                                       : CKR_OK;
    }
    ks_x509_fields f;
    ks_status st = ks_x509_fields_of(&f, value->value, value->len);
    if (st != KS_OK) {
        return st == KS_ERR_NOMEM ? CKR_HOST_MEMORY
                                  : fail(why, CKA_VALUE, "not a DER X.509 certificate",
                                         CKR_ATTRIBUTE_VALUE_INVALID);
    }
    CK_RV rv = check_field(obj, CKA_SUBJECT, &f.subject, 1, why);
    if (rv == CKR_OK) {
        rv = check_field(obj, CKA_ISSUER, &f.issuer, 0, why);
    }
    if (rv == CKR_OK) {
        rv = check_field(obj, CKA_SERIAL_NUMBER, &f.serial, 0, why);
    }
    if (rv == CKR_OK) {
        rv = check_field(obj, CKA_PUBLIC_KEY_INFO, &f.spki, 0, why);
    }
    ks_x509_fields_free(&f);
    if (rv == CKR_OK) {
        rv = check_value(obj, ks_attrs_find(obj, CKA_VALUE), why);
    }
    return rv;
}
