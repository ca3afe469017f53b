/* rules_table.c - the table of every attribute keystead knows, and value-shape checks.
 *
 * Sources, PKCS#11 3.0 base specification: 4.2 common attributes (CKA_CLASS), 4.4 storage
 * objects (table 19 and "Only the CKA_LABEL attribute can be modified after the object is
 * created"), 4.5 data objects, 4.7 key objects (common key attributes), 4.10 secret key
 * objects (table 32, CKA_CHECK_VALUE rules), footnotes of table 10. Current mechanisms 2.x: AES
 * key objects (CKA_VALUE [1,4,6,7], CKA_VALUE_LEN [2,3,6]) and generic secret key objects
 * (CKA_VALUE [1,4,6,7], CKA_VALUE_LEN [2,3]). The HMAC key types (CKK_SHA*_HMAC) are defined
 * as constants only; they follow the generic secret key's attributes here. */
#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "keystead.h"
#include "token/lifecycle.h"
#include "token/rules_internal.h"

/* No two rows of one attribute type apply to the same class and key type (their KS_ON_* bits
 * or key types are disjoint): ks_rule_applies relies on it. */
#define N KS_F_NEW
#define ROW(t, sh, on, fl, d, du) {t, #t, sh, on, fl, d, du, 0}
#define KROW(t, sh, on, kts, fl) {t, #t, sh, on, fl, KS_DFLT_NONE, 0, kts}
#define ON_SP (KS_ON_SECRET | KS_ON_PRIVATE) /* keys that hold a secret */
#define ON_SU (KS_ON_SECRET | KS_ON_PUBLIC)  /* keys that protect (encrypt, verify, wrap) */
#define PRIV_PART (KS_F_CREATE | KS_F_HIDDEN | KS_F_DERIVED) /* [4,6,7] */

static const ks_rule TABLE[] = {
    /* 4.2 common attributes */
    ROW(CKA_CLASS, KS_SHAPE_ULONG, KS_ON_ALL, N | KS_F_REQ_CREATE | KS_F_REQ_UNWRAP,
        KS_DFLT_NONE, 0),
    /* 4.4 storage objects; 4.1.3: TOKEN, PRIVATE, MODIFIABLE, DESTROYABLE change on copy */
    ROW(CKA_TOKEN, KS_SHAPE_BOOL, KS_ON_ALL, N | KS_F_COPY, KS_DFLT_FALSE, 0),
    ROW(CKA_PRIVATE, KS_SHAPE_BOOL, KS_ON_ALL, N | KS_F_COPY, KS_DFLT_KEYS, 0),
    ROW(CKA_MODIFIABLE, KS_SHAPE_BOOL, KS_ON_ALL, N | KS_F_COPY, KS_DFLT_TRUE, 0),
    ROW(CKA_LABEL, KS_SHAPE_UTF8, KS_ON_ALL, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_EMPTY, 0),
    /* "Can't be set to TRUE once it is set to FALSE" */
    ROW(CKA_COPYABLE, KS_SHAPE_BOOL, KS_ON_ALL, N | KS_F_MODIFY | KS_F_FALSE_ONLY | KS_F_GOVERN,
        KS_DFLT_TRUE, 0),
    ROW(CKA_DESTROYABLE, KS_SHAPE_BOOL, KS_ON_ALL, N | KS_F_COPY, KS_DFLT_TRUE, 0),
    /* [2,4,6]: assigned by the token */
    ROW(CKA_UNIQUE_ID, KS_SHAPE_UTF8, KS_ON_ALL, KS_F_TOKEN, KS_DFLT_NONE, 0),
    /* 4.5 data objects: no footnotes, so not modifiable after creation */
    ROW(CKA_APPLICATION, KS_SHAPE_UTF8, KS_ON_DATA, KS_F_CREATE, KS_DFLT_EMPTY, 0),
    ROW(CKA_OBJECT_ID, KS_SHAPE_BYTES, KS_ON_DATA, KS_F_CREATE, KS_DFLT_EMPTY, 0),
    ROW(CKA_VALUE, KS_SHAPE_BYTES, KS_ON_DATA, KS_F_CREATE | KS_F_SEALED, KS_DFLT_EMPTY, 0),
    /* 4.7 key objects, common to secret, public and private keys */
    ROW(CKA_KEY_TYPE, KS_SHAPE_ULONG, KS_ON_KEYS, N | KS_F_REQ_CREATE | KS_F_REQ_UNWRAP,
        KS_DFLT_NONE, 0),
    ROW(CKA_ID, KS_SHAPE_BYTES, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_EMPTY, 0),
    ROW(CKA_START_DATE, KS_SHAPE_DATE, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_EMPTY, 0),
    ROW(CKA_END_DATE, KS_SHAPE_DATE, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_EMPTY, 0),
    ROW(CKA_DERIVE, KS_SHAPE_BOOL, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_FALSE, 0),
    ROW(CKA_LOCAL, KS_SHAPE_BOOL, KS_ON_KEYS, KS_F_TOKEN, KS_DFLT_NONE, 0),
    ROW(CKA_KEY_GEN_MECHANISM, KS_SHAPE_ULONG, KS_ON_KEYS, KS_F_TOKEN, KS_DFLT_NONE, 0),
    /* no footnote: set when the key is made, never changed; empty = no restriction */
    ROW(CKA_ALLOWED_MECHANISMS, KS_SHAPE_MECH_ARRAY, KS_ON_KEYS, N, KS_DFLT_EMPTY, 0),
    ROW(CKA_DERIVE_TEMPLATE, KS_SHAPE_ATTR_ARRAY, KS_ON_KEYS, N, KS_DFLT_EMPTY, 0),
    /* 4.10 secret key objects (table 32), 4.9 private key objects (table 29) and 4.8 public
     * key objects (table 26). [8,11]: a private key is sensitive unless asked otherwise
     * ([9] token-specific default), a secret key is not (keystead's earlier choice, kept). */
    ROW(CKA_SENSITIVE, KS_SHAPE_BOOL, KS_ON_SECRET, N | KS_F_MODIFY | KS_F_TRUE_ONLY,
        KS_DFLT_FALSE, 0),
    ROW(CKA_SENSITIVE, KS_SHAPE_BOOL, KS_ON_PRIVATE, N | KS_F_MODIFY | KS_F_TRUE_ONLY,
        KS_DFLT_TRUE, 0),
    /* [9] token-specific defaults: usage for data on, key transport off (SP 800-57 5.2:
     * one key, one purpose; a wrapping key is asked for explicitly). On a governed key the
     * usage flags, like its label and ID (what the manager finds it by), are the manager's
     * (KS_F_GOVERN, docs/authority.md). */
    ROW(CKA_ENCRYPT, KS_SHAPE_BOOL, ON_SU, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_TRUE, 0),
    ROW(CKA_DECRYPT, KS_SHAPE_BOOL, ON_SP, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_TRUE, 0),
    ROW(CKA_SIGN, KS_SHAPE_BOOL, ON_SP, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_TRUE, 0),
    ROW(CKA_VERIFY, KS_SHAPE_BOOL, ON_SU, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_TRUE, 0),
    /* signatures with message recovery: no mechanism of keystead offers them */
    ROW(CKA_SIGN_RECOVER, KS_SHAPE_BOOL, KS_ON_PRIVATE, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_FALSE, 0),
    ROW(CKA_VERIFY_RECOVER, KS_SHAPE_BOOL, KS_ON_PUBLIC, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_FALSE, 0),
    ROW(CKA_WRAP, KS_SHAPE_BOOL, ON_SU, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_FALSE, 0),
    ROW(CKA_UNWRAP, KS_SHAPE_BOOL, ON_SP, N | KS_F_MODIFY | KS_F_GOVERN, KS_DFLT_FALSE, 0),
    ROW(CKA_EXTRACTABLE, KS_SHAPE_BOOL, ON_SP, N | KS_F_MODIFY | KS_F_FALSE_ONLY,
        KS_DFLT_TRUE, 0),
    ROW(CKA_ALWAYS_SENSITIVE, KS_SHAPE_BOOL, ON_SP, KS_F_TOKEN, KS_DFLT_NONE, 0),
    ROW(CKA_NEVER_EXTRACTABLE, KS_SHAPE_BOOL, ON_SP, KS_F_TOKEN, KS_DFLT_NONE, 0),
    /* "allowed but never necessary" in a template; must match; empty suppresses it */
    ROW(CKA_CHECK_VALUE, KS_SHAPE_BYTES, KS_ON_SECRET, N, KS_DFLT_NONE, 0),
    /* [11] only: may become true by C_SetAttributeValue, never false again */
    ROW(CKA_WRAP_WITH_TRUSTED, KS_SHAPE_BOOL, ON_SP, N | KS_F_MODIFY | KS_F_TRUE_ONLY,
        KS_DFLT_FALSE, 0),
    ROW(CKA_TRUSTED, KS_SHAPE_BOOL, ON_SU, N | KS_F_MODIFY | KS_F_SO_TRUE, KS_DFLT_FALSE, 0),
    ROW(CKA_WRAP_TEMPLATE, KS_SHAPE_ATTR_ARRAY, ON_SU, N, KS_DFLT_EMPTY, 0),
    ROW(CKA_UNWRAP_TEMPLATE, KS_SHAPE_ATTR_ARRAY, ON_SP, N, KS_DFLT_EMPTY, 0),
    /* 4.8 / 4.9: [8] the DER subject name of the key's certificate */
    ROW(CKA_SUBJECT, KS_SHAPE_BYTES, KS_ON_PAIR, N | KS_F_MODIFY, KS_DFLT_EMPTY, 0),
    /* 4.8 / 4.9: the token computes it from the key; a template may give it at import, and
     * it must then match (rules_pair.c) */
    ROW(CKA_PUBLIC_KEY_INFO, KS_SHAPE_BYTES, KS_ON_PAIR, KS_F_CREATE, KS_DFLT_NONE, 0),
    /* 4.9: every use needs a C_Login(CKU_CONTEXT_SPECIFIC) (5.5); fixed once made, so that
     * no one turns it off */
    ROW(CKA_ALWAYS_AUTHENTICATE, KS_SHAPE_BOOL, KS_ON_PRIVATE, N, KS_DFLT_FALSE, 0),
    /* keystead.h: the private key's value, the PKCS#8 DER; never in or out of a template */
    ROW(CKA_KS_PKCS8, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_F_TOKEN | KS_F_SEALED | KS_F_NEVER,
        KS_DFLT_NONE, 0),
    /* AES / generic secret key objects: CKA_VALUE [1,4,6,7]; CKA_VALUE_LEN [2,3] (AES adds
     * [6], enforced in rules_new.c) */
    ROW(CKA_VALUE, KS_SHAPE_BYTES, KS_ON_SECRET,
        KS_F_CREATE | KS_F_REQ_CREATE | KS_F_HIDDEN | KS_F_SEALED, KS_DFLT_NONE, 0),
    ROW(CKA_VALUE_LEN, KS_SHAPE_ULONG, KS_ON_SECRET,
        KS_F_GENERATE | KS_F_UNWRAP | KS_F_REQ_GENERATE, KS_DFLT_NONE, 0),
    /* Mechanisms 2.1.2 RSA public key objects: CKA_MODULUS [1,4], CKA_MODULUS_BITS [2,3],
     * CKA_PUBLIC_EXPONENT [1] (the generator's exponent, 65537 when absent) */
    KROW(CKA_MODULUS, KS_SHAPE_BYTES, KS_ON_PUBLIC, KS_KT_RSA, KS_F_CREATE | KS_F_REQ_CREATE),
    KROW(CKA_MODULUS_BITS, KS_SHAPE_ULONG, KS_ON_PUBLIC, KS_KT_RSA,
         KS_F_GENERATE | KS_F_REQ_GENERATE),
    KROW(CKA_PUBLIC_EXPONENT, KS_SHAPE_BYTES, KS_ON_PUBLIC, KS_KT_RSA,
         KS_F_CREATE | KS_F_GENERATE | KS_F_REQ_CREATE),
    /* 2.1.3 RSA private key objects: CKA_MODULUS [1,4,6], CKA_PUBLIC_EXPONENT [4,6],
     * CKA_PRIVATE_EXPONENT [1,4,6,7], the CRT values [4,6,7] */
    KROW(CKA_MODULUS, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA, KS_F_CREATE | KS_F_REQ_CREATE),
    KROW(CKA_PUBLIC_EXPONENT, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA, KS_F_CREATE),
    KROW(CKA_PRIVATE_EXPONENT, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA,
         PRIV_PART | KS_F_REQ_CREATE),
    KROW(CKA_PRIME_1, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA, PRIV_PART),
    KROW(CKA_PRIME_2, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA, PRIV_PART),
    KROW(CKA_EXPONENT_1, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA, PRIV_PART),
    KROW(CKA_EXPONENT_2, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA, PRIV_PART),
    KROW(CKA_COEFFICIENT, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_RSA, PRIV_PART),
    /* 2.3.3 EC public key objects (and 2.3.5 Edwards, 2.3.7 Montgomery): CKA_EC_PARAMS
     * [1,3], CKA_EC_POINT [1,4] */
    KROW(CKA_EC_PARAMS, KS_SHAPE_BYTES, KS_ON_PUBLIC, KS_KT_CURVES,
         N | KS_F_REQ_CREATE | KS_F_REQ_GENERATE),
    KROW(CKA_EC_POINT, KS_SHAPE_BYTES, KS_ON_PUBLIC, KS_KT_CURVES,
         KS_F_CREATE | KS_F_REQ_CREATE),
    /* 2.3.4 EC private key objects (2.3.6, 2.3.8): CKA_EC_PARAMS [1,4,6], CKA_VALUE
     * [1,4,6,7] */
    KROW(CKA_EC_PARAMS, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_CURVES,
         KS_F_CREATE | KS_F_REQ_CREATE),
    KROW(CKA_VALUE, KS_SHAPE_BYTES, KS_ON_PRIVATE, KS_KT_CURVES, PRIV_PART | KS_F_REQ_CREATE),
    /* 4.6.2 common certificate attributes: CKA_CERTIFICATE_TYPE [1]; CKA_TRUSTED [10];
     * CKA_CHECK_VALUE computed (rules_cert.c); 4.6.3 X.509: "Only the CKA_ID, CKA_ISSUER,
     * and CKA_SERIAL_NUMBER attributes may be modified after the object is created" */
    ROW(CKA_CERTIFICATE_TYPE, KS_SHAPE_ULONG, KS_ON_CERT, KS_F_CREATE | KS_F_REQ_CREATE,
        KS_DFLT_NONE, 0),
    ROW(CKA_TRUSTED, KS_SHAPE_BOOL, KS_ON_CERT, KS_F_CREATE | KS_F_SO_TRUE, KS_DFLT_FALSE, 0),
    ROW(CKA_CERTIFICATE_CATEGORY, KS_SHAPE_ULONG, KS_ON_CERT, KS_F_CREATE, KS_DFLT_ULONG,
        CK_CERTIFICATE_CATEGORY_UNSPECIFIED),
    ROW(CKA_CHECK_VALUE, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE, KS_DFLT_NONE, 0),
    ROW(CKA_START_DATE, KS_SHAPE_DATE, KS_ON_CERT, KS_F_CREATE, KS_DFLT_EMPTY, 0),
    ROW(CKA_END_DATE, KS_SHAPE_DATE, KS_ON_CERT, KS_F_CREATE, KS_DFLT_EMPTY, 0),
    ROW(CKA_PUBLIC_KEY_INFO, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE, KS_DFLT_EMPTY, 0),
    ROW(CKA_SUBJECT, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE | KS_F_REQ_CREATE, KS_DFLT_NONE, 0),
    ROW(CKA_ID, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE | KS_F_MODIFY, KS_DFLT_EMPTY, 0),
    ROW(CKA_ISSUER, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE | KS_F_MODIFY, KS_DFLT_EMPTY, 0),
    ROW(CKA_SERIAL_NUMBER, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE | KS_F_MODIFY, KS_DFLT_EMPTY,
        0),
    ROW(CKA_VALUE, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE | KS_F_REQ_CREATE | KS_F_SEALED,
        KS_DFLT_NONE, 0),
    ROW(CKA_URL, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE, KS_DFLT_EMPTY, 0),
    ROW(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE, KS_DFLT_EMPTY,
        0),
    ROW(CKA_HASH_OF_ISSUER_PUBLIC_KEY, KS_SHAPE_BYTES, KS_ON_CERT, KS_F_CREATE, KS_DFLT_EMPTY,
        0),
    ROW(CKA_JAVA_MIDP_SECURITY_DOMAIN, KS_SHAPE_ULONG, KS_ON_CERT, KS_F_CREATE, KS_DFLT_ULONG,
        0),
    ROW(CKA_NAME_HASH_ALGORITHM, KS_SHAPE_ULONG, KS_ON_CERT, KS_F_CREATE, KS_DFLT_ULONG,
        CKM_SHA_1),
    /* keystead.h vendor attributes */
    ROW(CKA_KS_LIFECYCLE_STATE, KS_SHAPE_ULONG, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_ULONG, KS_STATE_ACTIVE),
    ROW(CKA_KS_PROCESS_START_DATE, KS_SHAPE_DATE, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_EMPTY, 0),
    ROW(CKA_KS_PROCESS_END_DATE, KS_SHAPE_DATE, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_EMPTY, 0),
    ROW(CKA_KS_USAGE_COUNT, KS_SHAPE_ULONG, KS_ON_KEYS, KS_F_TOKEN, KS_DFLT_ULONG, 0),
    ROW(CKA_KS_USAGE_LIMIT, KS_SHAPE_ULONG, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_ULONG, 0),
    ROW(CKA_KS_PROCESS_OVERRIDE, KS_SHAPE_BOOL, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_FALSE, 0),
    ROW(CKA_KS_GCM_INVOCATIONS, KS_SHAPE_ULONG, KS_ON_SECRET, KS_F_TOKEN, KS_DFLT_ULONG, 0),
    ROW(CKA_KS_TRANSITION_REASON, KS_SHAPE_UTF8, KS_ON_KEYS, KS_F_WITH_TRANSITION,
        KS_DFLT_EMPTY, 0),
    ROW(CKA_KS_VALUE_KNOWN, KS_SHAPE_BOOL, KS_ON_KEYS, KS_F_TOKEN, KS_DFLT_NONE, 0),
    ROW(CKA_KS_GOVERNED, KS_SHAPE_BOOL, KS_ON_KEYS, N | KS_F_MODIFY | KS_F_GOVERN,
        KS_DFLT_FALSE, 0),
};

#undef N
#undef ROW
#undef KROW
#undef ON_SP
#undef ON_SU
#undef PRIV_PART

/* Every attribute type PKCS#11 3.0 defines (base 4.x and current mechanisms), for telling a
 * Cryptoki attribute of another object class from an unknown type. Sorted. */
static const CK_ATTRIBUTE_TYPE CRYPTOKI_TYPES[] = {
    CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_UNIQUE_ID, CKA_APPLICATION, CKA_VALUE,
    CKA_OBJECT_ID, CKA_CERTIFICATE_TYPE, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_AC_ISSUER,
    CKA_OWNER, CKA_ATTR_TYPES, CKA_TRUSTED, CKA_CERTIFICATE_CATEGORY,
    CKA_JAVA_MIDP_SECURITY_DOMAIN, CKA_URL, CKA_HASH_OF_SUBJECT_PUBLIC_KEY,
    CKA_HASH_OF_ISSUER_PUBLIC_KEY, CKA_NAME_HASH_ALGORITHM, CKA_CHECK_VALUE, CKA_KEY_TYPE,
    CKA_SUBJECT, CKA_ID, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP,
    CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DERIVE, CKA_START_DATE,
    CKA_END_DATE, CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT,
    CKA_PUBLIC_KEY_INFO, CKA_PRIME, CKA_SUBPRIME, CKA_BASE, CKA_PRIME_BITS, CKA_SUBPRIME_BITS,
    CKA_VALUE_BITS, CKA_VALUE_LEN, CKA_EXTRACTABLE, CKA_LOCAL, CKA_NEVER_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE, CKA_KEY_GEN_MECHANISM, CKA_MODIFIABLE, CKA_COPYABLE,
    CKA_DESTROYABLE, CKA_EC_PARAMS, CKA_EC_POINT, CKA_SECONDARY_AUTH, CKA_AUTH_PIN_FLAGS,
    CKA_ALWAYS_AUTHENTICATE, CKA_WRAP_WITH_TRUSTED, CKA_OTP_FORMAT, CKA_OTP_LENGTH,
    CKA_OTP_TIME_INTERVAL, CKA_OTP_USER_FRIENDLY_MODE, CKA_OTP_CHALLENGE_REQUIREMENT,
    CKA_OTP_TIME_REQUIREMENT, CKA_OTP_COUNTER_REQUIREMENT, CKA_OTP_PIN_REQUIREMENT,
    CKA_OTP_USER_IDENTIFIER, CKA_OTP_SERVICE_IDENTIFIER, CKA_OTP_SERVICE_LOGO,
    CKA_OTP_SERVICE_LOGO_TYPE, CKA_OTP_COUNTER, CKA_OTP_TIME, CKA_GOSTR3410_PARAMS,
    CKA_GOSTR3411_PARAMS, CKA_GOST28147_PARAMS, CKA_HW_FEATURE_TYPE, CKA_RESET_ON_INIT,
    CKA_HAS_RESET, CKA_PIXEL_X, CKA_PIXEL_Y, CKA_RESOLUTION, CKA_CHAR_ROWS, CKA_CHAR_COLUMNS,
    CKA_COLOR, CKA_BITS_PER_PIXEL, CKA_CHAR_SETS, CKA_ENCODING_METHODS, CKA_MIME_TYPES,
    CKA_MECHANISM_TYPE, CKA_REQUIRED_CMS_ATTRIBUTES, CKA_DEFAULT_CMS_ATTRIBUTES,
    CKA_SUPPORTED_CMS_ATTRIBUTES, CKA_PROFILE_ID, CKA_X2RATCHET_BAG, CKA_X2RATCHET_BAGSIZE,
    CKA_X2RATCHET_BOBS1STMSG, CKA_X2RATCHET_CKR, CKA_X2RATCHET_CKS, CKA_X2RATCHET_DHP,
    CKA_X2RATCHET_DHR, CKA_X2RATCHET_DHS, CKA_X2RATCHET_HKR, CKA_X2RATCHET_HKS,
    CKA_X2RATCHET_ISALICE, CKA_X2RATCHET_NHKR, CKA_X2RATCHET_NHKS, CKA_X2RATCHET_NR,
    CKA_X2RATCHET_NS, CKA_X2RATCHET_PNS, CKA_X2RATCHET_RK, CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE, CKA_ALLOWED_MECHANISMS,
};

static unsigned class_bit(CK_OBJECT_CLASS cls)
{
    const ks_class_desc *c = ks_class_supported(cls);
    return c != NULL ? c->on : 0;
}

static unsigned kt_bit(CK_KEY_TYPE kt)
{
    switch (kt) {
    case CKK_RSA:
        return KS_KT_RSA;
    case CKK_EC:
        return KS_KT_EC;
    case CKK_EC_EDWARDS:
        return KS_KT_EDWARDS;
    case CKK_EC_MONTGOMERY:
        return KS_KT_MONTGOMERY;
    default:
        return 0;
    }
}

static int applies(const ks_rule *r, unsigned bit, CK_KEY_TYPE kt)
{
    return (r->on & bit) != 0 && (r->kts == 0 || kt == KS_KT_ANY || (r->kts & kt_bit(kt)) != 0);
}

const ks_rule *ks_rule_find_kt(CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
    unsigned bit = class_bit(cls);
    for (size_t i = 0; i < sizeof(TABLE) / sizeof(TABLE[0]); i++) {
        if (TABLE[i].type == type && applies(&TABLE[i], bit, kt)) {
            return &TABLE[i];
        }
    }
    return NULL;
}

int ks_rule_applies(const ks_rule *r, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
    return r != NULL && applies(r, class_bit(cls), kt);
}

const ks_rule *ks_rule_find(CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS cls)
{
    return ks_rule_find_kt(type, cls, KS_KT_ANY);
}

const ks_rule *ks_rule_of(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type)
{
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
    CK_ULONG kt = KS_KT_ANY;
    ks_attrs_get_ulong(obj, CKA_CLASS, &cls);
    ks_attrs_get_ulong(obj, CKA_KEY_TYPE, &kt);
    return ks_rule_find_kt(type, cls, kt);
}

const ks_rule *ks_rule_at(size_t i)
{
    return i < ks_rule_count() ? &TABLE[i] : NULL;
}

size_t ks_rule_count(void)
{
    return sizeof(TABLE) / sizeof(TABLE[0]);
}

int ks_rule_known(CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < sizeof(TABLE) / sizeof(TABLE[0]); i++) {
        if (TABLE[i].type == type) {
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof(CRYPTOKI_TYPES) / sizeof(CRYPTOKI_TYPES[0]); i++) {
        if (CRYPTOKI_TYPES[i] == type) {
            return 1;
        }
    }
    return 0;
}

CK_RV ks_rule_fail(ks_why *why, CK_ATTRIBUTE_TYPE attr, const char *reason, CK_RV rv)
{
    if (why != NULL) {
        why->attr = attr;
        why->reason = reason;
    }
    return rv;
}

/* valid_utf8: RFC 3629 (the RFC 2279 strings of 3.0 restricted to Unicode): no overlong
 * forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= extra) {
            return 0;
        }
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += extra + 1;
    }
    return 1;
}

/* valid_date: CK_DATE (3.0 base 3.3) is YYYYMMDD in ASCII digits; month 01-12, day 01-31. */
static int valid_date(const uint8_t *d)
{
    for (int i = 0; i < 8; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return 0;
        }
    }
    int month = (d[4] - '0') * 10 + (d[5] - '0');
    int day = (d[6] - '0') * 10 + (d[7] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static CK_RV check_inner_template(const CK_ATTRIBUTE *a, ks_why *why);

CK_RV ks_rule_check_shape(const ks_rule *r, const CK_ATTRIBUTE *a, ks_why *why)
{
    const CK_RV bad = CKR_ATTRIBUTE_VALUE_INVALID;
    if (a->ulValueLen == CK_UNAVAILABLE_INFORMATION || (a->ulValueLen > 0 && a->pValue == NULL)) {
        return ks_rule_fail(why, a->type, "no value", bad);
    }
    const uint8_t *v = a->pValue;
    switch (r->shape) {
    case KS_SHAPE_BOOL:
        if (a->ulValueLen != sizeof(CK_BBOOL) || v[0] > 1) {
            return ks_rule_fail(why, a->type, "CK_BBOOL must be one byte, 0 or 1", bad);
        }
        return CKR_OK;
    case KS_SHAPE_ULONG:
        if (a->ulValueLen != sizeof(CK_ULONG)) {
            return ks_rule_fail(why, a->type, "CK_ULONG of the wrong size", bad);
        }
        return CKR_OK;
    case KS_SHAPE_DATE:
        if (a->ulValueLen != 0 && (a->ulValueLen != sizeof(CK_DATE) || !valid_date(v))) {
            return ks_rule_fail(why, a->type, "CK_DATE must be YYYYMMDD or empty", bad);
        }
        return CKR_OK;
    case KS_SHAPE_UTF8:
        if (!valid_utf8(v, a->ulValueLen)) {
            return ks_rule_fail(why, a->type, "not UTF-8", bad);
        }
        return CKR_OK;
    case KS_SHAPE_MECH_ARRAY:
        if (a->ulValueLen % sizeof(CK_MECHANISM_TYPE) != 0) {
            return ks_rule_fail(why, a->type, "not a CK_MECHANISM_TYPE array", bad);
        }
        return CKR_OK;
    case KS_SHAPE_ATTR_ARRAY:
        return check_inner_template(a, why);
    case KS_SHAPE_BYTES:
    default:
        return CKR_OK;
    }
}

/* check_inner_template: an array attribute (4.10 CKA_WRAP_TEMPLATE ...) holds attributes of
 * a secret key; each must be one keystead knows for secret keys, with a valid value. */
static CK_RV check_inner_template(const CK_ATTRIBUTE *a, ks_why *why)
{
    if (a->ulValueLen % sizeof(CK_ATTRIBUTE) != 0) {
        return ks_rule_fail(why, a->type, "not a CK_ATTRIBUTE array",
                            CKR_ATTRIBUTE_VALUE_INVALID);
    }
    const CK_ATTRIBUTE *inner = a->pValue;
    CK_ULONG n = a->ulValueLen / sizeof(CK_ATTRIBUTE);
    for (CK_ULONG i = 0; i < n; i++) {
        const ks_rule *r = ks_rule_find(inner[i].type, CKO_SECRET_KEY);
        if (r == NULL || r->shape == KS_SHAPE_ATTR_ARRAY ||
            ks_rule_check_shape(r, &inner[i], NULL) != CKR_OK) {
            return ks_rule_fail(why, a->type, "template holds an invalid attribute",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
    }
    return CKR_OK;
}

CK_RV ks_rule_store_value(ks_attrs *set, const ks_rule *r, const CK_ATTRIBUTE *a, ks_why *why)
{
    if (r->shape != KS_SHAPE_ATTR_ARRAY) {
        return ks_attrs_set(set, a->type, a->pValue, a->ulValueLen);
    }
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    CK_RV rv = ks_attrs_pack(&packed, &packed_len, a->pValue,
                             a->ulValueLen / sizeof(CK_ATTRIBUTE));
    if (rv != CKR_OK) {
        return ks_rule_fail(why, a->type, "template cannot be stored", rv);
    }
    rv = ks_attrs_set(set, a->type, packed, (CK_ULONG)packed_len);
    free(packed);
    return rv;
}

int ks_rule_same_value(const ks_attrs *set, const ks_rule *r, const CK_ATTRIBUTE *a)
{
    const ks_attr *held = ks_attrs_find(set, a->type);
    if (held == NULL) {
        return 0;
    }
    if (r->shape != KS_SHAPE_ATTR_ARRAY) {
        return held->len == a->ulValueLen && ks_memeq(held->value, a->pValue, held->len);
    }
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    if (ks_attrs_pack(&packed, &packed_len, a->pValue, a->ulValueLen / sizeof(CK_ATTRIBUTE)) !=
        CKR_OK) {
        return 0;
    }
    int same = packed_len == held->len && ks_memeq(packed, held->value, packed_len);
    free(packed);
    return same;
}

static int supported_key_type(CK_KEY_TYPE kt)
{
    switch (kt) {
    case CKK_AES:
    case CKK_DES3: /* usable only with legacy_mechanisms = on (token/mech.c) */
    case CKK_GENERIC_SECRET:
    case CKK_SHA_1_HMAC:
    case CKK_SHA224_HMAC:
    case CKK_SHA256_HMAC:
    case CKK_SHA384_HMAC:
    case CKK_SHA512_HMAC:
    case CKK_RSA:
    case CKK_EC:
    case CKK_EC_EDWARDS:
    case CKK_EC_MONTGOMERY:
        return 1;
    default:
        return 0;
    }
}

CK_RV ks_rules_check_value(const CK_ATTRIBUTE *a, ks_why *why)
{
    CK_ULONG v = 0;
    if (a->ulValueLen == sizeof(CK_ULONG) && a->pValue != NULL) {
        memcpy(&v, a->pValue, sizeof(v));
    }
    switch (a->type) {
    case CKA_CLASS:
        if (ks_class_supported(v) == NULL) {
            return ks_rule_fail(why, a->type, "object class not supported",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
        return CKR_OK;
    case CKA_KEY_TYPE:
        if (!supported_key_type(v)) {
            return ks_rule_fail(why, a->type, "key type not supported",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
        return CKR_OK;
    case CKA_KS_LIFECYCLE_STATE:
        if (!ks_lifecycle_valid_state(v)) {
            return ks_rule_fail(why, a->type, "no such lifecycle state",
                                CKR_ATTRIBUTE_VALUE_INVALID);
        }
        return CKR_OK;
    default:
        return CKR_OK;
    }
}

int ks_rules_secret_is_hidden(const ks_attrs *obj)
{
    /* a key without CKA_SENSITIVE (a private key's default is true) reveals nothing */
    return ks_attrs_bool(obj, CKA_SENSITIVE, CK_TRUE) == CK_TRUE ||
           ks_attrs_bool(obj, CKA_EXTRACTABLE, CK_TRUE) == CK_FALSE;
}
