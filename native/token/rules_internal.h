/* rules_internal.h - the attribute table behind rules.c and its helpers (not exported).
 *
 * One row per attribute keystead knows (PKCS#11 3.0 base 4.2-4.10, the AES and generic secret
 * key objects of the current-mechanisms specification, and keystead's vendor attributes of
 * keystead.h). The table is the only place that says which object carries an attribute,
 * what shape its value has, who may set it and when. */
#ifndef KS_TOKEN_RULES_INTERNAL_H
#define KS_TOKEN_RULES_INTERNAL_H

#include "pkcs11.h"
#include "token/attrs.h"
#include "token/rules.h"

typedef enum ks_shape {
    KS_SHAPE_BOOL,       /* CK_BBOOL: 1 byte, 0 or 1 */
    KS_SHAPE_ULONG,      /* CK_ULONG and its aliases */
    KS_SHAPE_DATE,       /* CK_DATE: 8 ASCII digits YYYYMMDD, or empty */
    KS_SHAPE_BYTES,      /* byte array */
    KS_SHAPE_UTF8,       /* RFC 2279 string, validated */
    KS_SHAPE_ATTR_ARRAY, /* CK_ATTRIBUTE array, held packed (ks_attrs_pack) */
    KS_SHAPE_MECH_ARRAY, /* CK_MECHANISM_TYPE array */
} ks_shape;

/* Which objects carry the attribute: one bit per object class of the class table
 * (rules_class.c). */
#define KS_ON_DATA 0x1u
#define KS_ON_SECRET 0x2u
#define KS_ON_PUBLIC 0x4u
#define KS_ON_PRIVATE 0x8u
#define KS_ON_CERT 0x10u
#define KS_ON_PAIR (KS_ON_PUBLIC | KS_ON_PRIVATE)
#define KS_ON_KEYS (KS_ON_SECRET | KS_ON_PAIR)
#define KS_ON_ALL (KS_ON_DATA | KS_ON_KEYS | KS_ON_CERT)

/* Which key types carry the attribute, for the attributes of one key type's objects
 * (mechanisms 2.1.2 RSA public key objects, ...): 0 for every key type. */
#define KS_KT_RSA 0x1u
#define KS_KT_EC 0x2u           /* CKK_EC */
#define KS_KT_EDWARDS 0x4u      /* CKK_EC_EDWARDS */
#define KS_KT_MONTGOMERY 0x8u   /* CKK_EC_MONTGOMERY */
#define KS_KT_CURVES (KS_KT_EC | KS_KT_EDWARDS | KS_KT_MONTGOMERY)
/* a key type not known yet (an attribute looked up before CKA_KEY_TYPE is) */
#define KS_KT_ANY ((CK_KEY_TYPE)-2)

/* Flags, from the footnotes of 3.0 base table 10 (numbers in brackets). */
#define KS_F_CREATE 0x0001u   /* may be given to C_CreateObject (not [2]) */
#define KS_F_GENERATE 0x0002u /* may be given to C_GenerateKey (not [4]) */
#define KS_F_UNWRAP 0x0004u   /* may be given to C_UnwrapKey / C_DeriveKey (not [6]) */
#define KS_F_MODIFY 0x0008u   /* C_SetAttributeValue and C_CopyObject may change it [8] */
#define KS_F_COPY 0x0010u     /* C_CopyObject may change it (4.1.3: TOKEN, PRIVATE, ...) */
#define KS_F_TRUE_ONLY 0x0020u  /* once true, read-only [11] */
#define KS_F_FALSE_ONLY 0x0040u /* once false, read-only [12] */
#define KS_F_TOKEN 0x0080u      /* maintained by the token: never from a template */
#define KS_F_HIDDEN 0x0100u     /* not revealed when sensitive or unextractable [7] */
#define KS_F_SO_TRUE 0x0200u    /* only the SO may set it to true [10] */
#define KS_F_REQ_CREATE 0x0400u /* must be given to C_CreateObject [1] */
#define KS_F_REQ_GENERATE 0x0800u /* must be given to C_GenerateKey [3] */
#define KS_F_REQ_UNWRAP 0x1000u   /* must be given to C_UnwrapKey [5] */
#define KS_F_SEALED 0x2000u       /* the store seals the value */
#define KS_F_WITH_TRANSITION 0x4000u /* C_SetAttributeValue only, with a state change */
#define KS_F_GOVERN 0x8000u /* governs a key: on a governed key only the manager changes it
                             * (docs/authority.md) */
#define KS_F_DERIVED 0x10000u /* a private component: taken from the template into the
                               * key's value (CKA_KS_PKCS8), read back from it, never held */
#define KS_F_NEVER 0x20000u   /* never revealed (CKA_KS_PKCS8): always case 1 of 5.7 */

#define KS_F_NEW (KS_F_CREATE | KS_F_GENERATE | KS_F_UNWRAP)

/* How the default of an attribute absent from a template is made. */
typedef enum ks_dflt {
    KS_DFLT_NONE,   /* no default: set by the token or required */
    KS_DFLT_EMPTY,  /* zero-length value */
    KS_DFLT_FALSE,
    KS_DFLT_TRUE,
    KS_DFLT_ULONG,  /* dflt_ulong */
    KS_DFLT_KEYS,   /* true on keys, false on data objects (CKA_PRIVATE) */
} ks_dflt;

typedef struct ks_rule {
    CK_ATTRIBUTE_TYPE type;
    const char *name;
    ks_shape shape;
    unsigned on;     /* KS_ON_* */
    unsigned flags;  /* KS_F_* */
    ks_dflt dflt;
    CK_ULONG dflt_ulong;
    unsigned kts;    /* KS_KT_*: the key types that carry it, 0 for all */
} ks_rule;

/* ks_rule_find returns the row of type for objects of class cls, or NULL when such an object
 * does not carry the attribute (with any key type). */
const ks_rule *ks_rule_find(CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS cls);

/* ks_rule_find_kt is ks_rule_find for objects of class cls and key type kt (KS_KT_ANY: any
 * key type). */
const ks_rule *ks_rule_find_kt(CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt);

/* ks_rule_applies: row r is about objects of class cls and key type kt. No two rows of one
 * attribute type apply to the same class and key type, so this is ks_rule_find_kt(r->type,
 * cls, kt) == r without the search. */
int ks_rule_applies(const ks_rule *r, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt);

/* ks_rule_of is the row of type for the object obj (its class and key type). */
const ks_rule *ks_rule_of(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type);

/* ks_rule_at / ks_rule_count walk the table (for defaults). */
const ks_rule *ks_rule_at(size_t i);
size_t ks_rule_count(void);

/* ks_rule_known returns 1 for an attribute of PKCS#11 3.0 or of keystead, whatever object
 * carries it. An attribute known but not carried by the object makes a template
 * inconsistent (3.0 base 4.1.1 item 5); an unknown one is invalid (4.1.1 item 1). */
int ks_rule_known(CK_ATTRIBUTE_TYPE type);

/* ks_rule_check_shape checks a template value against the row's shape: CKR_OK or
 * CKR_ATTRIBUTE_VALUE_INVALID (why set). */
CK_RV ks_rule_check_shape(const ks_rule *r, const CK_ATTRIBUTE *a, ks_why *why);

/* ks_rule_store_value puts a template value into set in the form the token holds it
 * (array attributes packed). CKR_ATTRIBUTE_VALUE_INVALID or CKR_HOST_MEMORY. */
CK_RV ks_rule_store_value(ks_attrs *set, const ks_rule *r, const CK_ATTRIBUTE *a, ks_why *why);

/* ks_rule_same_value returns 1 when a template value equals the value held in set for the
 * same type (array attributes compared in packed form). */
int ks_rule_same_value(const ks_attrs *set, const ks_rule *r, const CK_ATTRIBUTE *a);

/* ks_rule_fail fills why and returns rv. */
CK_RV ks_rule_fail(ks_why *why, CK_ATTRIBUTE_TYPE attr, const char *reason, CK_RV rv);

/* ks_rules_check_value checks the values keystead constrains beyond their shape (CKA_CLASS,
 * CKA_KEY_TYPE, lifecycle state on creation, ...). CKR_OK or CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV ks_rules_check_value(const CK_ATTRIBUTE *a, ks_why *why);

/* ks_rules_secret_is_hidden returns 1 when obj's hidden ([7]) attributes may not be revealed:
 * CKA_SENSITIVE true or CKA_EXTRACTABLE false (3.0 base 4.10). */
int ks_rules_secret_is_hidden(const ks_attrs *obj);

/* The key pair family (rules_pair.c): the class table's hooks for CKO_PUBLIC_KEY and
 * CKO_PRIVATE_KEY, and the components read back from a private key's value. */
CK_RV ks_rules_pair_check_new(const ks_attrs *obj, CK_ULONG key_type, ks_why *why);
CK_RV ks_rules_public_finish(ks_attrs *obj, ks_origin origin, ks_why *why);
CK_RV ks_rules_private_finish(ks_attrs *obj, ks_origin origin, ks_why *why);
/* ks_rules_private_component: the value of a KS_F_DERIVED attribute of a private key, read
 * from its CKA_KS_PKCS8 into *out (secure memory, *out_len bytes; ks_secure_free it).
 * CKR_ATTRIBUTE_TYPE_INVALID when the key has no such component. */
CK_RV ks_rules_private_component(const ks_attrs *obj, CK_ATTRIBUTE_TYPE type, uint8_t **out,
                                 size_t *out_len);

/* Certificates (rules_cert.c): the class table's hooks for CKO_CERTIFICATE. */
CK_RV ks_rules_cert_check_new(const ks_attrs *obj, CK_ULONG key_type, ks_why *why);
CK_RV ks_rules_cert_finish(ks_attrs *obj, ks_origin origin, ks_why *why);

/* The secret key family (rules_new.c): the class table's hooks for CKO_SECRET_KEY. */
CK_RV ks_rules_secret_check_new(const ks_attrs *obj, CK_ULONG key_type, ks_why *why);
CK_RV ks_rules_secret_finish(ks_attrs *obj, ks_origin origin, ks_why *why);

#define KS_MAX_SECRET_LEN 4096u /* generic secret and HMAC keys: longest value, bytes; equals
                                 * the HMAC_MAX and GENERIC_MAX of the mechanism registry */

#endif
