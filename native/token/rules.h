/* rules.h - PKCS#11 3.0 attribute rules for data objects and secret keys (sections 4.x, 5.7).
 *
 * Pure functions over attribute sets: no store, no sessions, no locks. Every refusal returns
 * the exact CK_RV the specification names and fills a ks_why naming the attribute at fault
 * and the reason (for the JSON call log). The table of every attribute is rules_table.c.
 *
 * Codes for a refused template (3.0 base 4.1.1): an unknown attribute type
 * CKR_ATTRIBUTE_TYPE_INVALID; a Cryptoki attribute the object's class does not carry (e.g.
 * CKA_MODULUS on a secret key) CKR_TEMPLATE_INCONSISTENT (4.1.1 item 5); a wrong size or an
 * invalid value CKR_ATTRIBUTE_VALUE_INVALID; an attribute that may not be given at this
 * moment (footnotes 2, 4, 6; token-maintained; one-way attributes moved back; CKA_TRUSTED
 * true without the SO) CKR_ATTRIBUTE_READ_ONLY; a required one missing
 * CKR_TEMPLATE_INCOMPLETE; two different values for one attribute, or a template value
 * against one the call implies, CKR_TEMPLATE_INCONSISTENT.
 *
 * keystead's choices where 3.0 leaves them to the token (footnote 9 defaults and others):
 * CKA_PRIVATE true on keys, false on data objects; CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN,
 * CKA_VERIFY and CKA_EXTRACTABLE true; CKA_WRAP, CKA_UNWRAP, CKA_DERIVE false; empty
 * CKA_ALLOWED_MECHANISMS means no restriction; data objects' attributes, CKA_DESTROYABLE,
 * CKA_ALLOWED_MECHANISMS and the three template attributes are fixed once the object exists
 * (no footnote 8 in 3.0); CKA_WRAP_WITH_TRUSTED and CKA_COPYABLE may change by
 * C_SetAttributeValue in their one allowed direction. */
#ifndef KS_TOKEN_RULES_H
#define KS_TOKEN_RULES_H

#include "pkcs11.h"
#include "token/attrs.h"

/* Why a template was refused: the attribute at fault (or (CK_ULONG)-1) and a static reason. */
typedef struct ks_why {
    CK_ATTRIBUTE_TYPE attr;
    const char *reason;
} ks_why;

/* How a new object comes to be; decides which attributes the template may give and which
 * the token sets (PKCS#11 3.0 4.4 table 14 footnotes 1-12, 4.10 secret-key rules). */
typedef enum ks_origin {
    KS_ORIGIN_CREATE,   /* C_CreateObject: value supplied, CKA_LOCAL false */
    KS_ORIGIN_GENERATE, /* C_GenerateKey: value made by the token, CKA_LOCAL true */
    KS_ORIGIN_UNWRAP,   /* C_UnwrapKey: value from the wrapped data, CKA_LOCAL false */
    KS_ORIGIN_DERIVE,   /* C_DeriveKey */
} ks_origin;

/* Who is asking, for rules that depend on the login state (CKA_TRUSTED: SO only). */
typedef struct ks_rule_ctx {
    int so;                       /* the SO is logged in */
    int user;                     /* the user is logged in */
    CK_MECHANISM_TYPE mechanism;  /* generation or unwrap mechanism, for CKA_KEY_GEN_MECHANISM */
    int manager;                  /* the manager (CKU_KS_MANAGER) is logged in: it uses keys as
                                   * the user does and alone governs governed keys */
    int one_purpose;              /* the strict wrap policy: a private or public key has one
                                   * purpose (token/pair_policy.h; ks_rules_new_object) */
    /* C_DeriveKey: the base key's CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE (a derived
     * key keeps the history of its base: rules_new.c); 0 for every other origin */
    int base_always_sensitive;
    int base_never_extractable;
} ks_rule_ctx;

/* The object classes, one row each: what the attribute rules, the store and the guard need
 * to know about a class. Adding a class (public keys, private keys, certificates) is its row
 * here (marked supported), its bit on the attribute rows it carries (rules_table.c) and a
 * family file with its creation hooks; the guard resolves keys through the row and the
 * mechanism registry (token/mech.h) says which classes a mechanism takes. */
typedef struct ks_class_desc {
    CK_OBJECT_CLASS cls;
    const char *name;
    unsigned on;       /* the attribute rows that apply: KS_ON_* of rules_internal.h */
    int supported;     /* objects of the class can be made (a valid CKA_CLASS) */
    int is_key;        /* a key: CKA_KEY_TYPE required, private by default, token-maintained
                          key attributes (4.7), usable by mechanisms */
    int hides;         /* sensitive or unextractable hides its [7] attributes (4.10, 4.9) */
    CK_ATTRIBUTE_TYPE value_attr; /* the attribute a mechanism reads (CKA_VALUE of a secret
                                     key), KS_NO_VALUE_ATTR for none */
    /* check_new: class checks once the template and the defaults are in (the secret key's
     * CKA_VALUE_LEN); finish: once the value is in place (ks_rules_finish_key). NULL: none. */
    CK_RV (*check_new)(const ks_attrs *obj, CK_ULONG key_type, ks_why *why);
    CK_RV (*finish)(ks_attrs *obj, ks_origin origin, ks_why *why);
} ks_class_desc;

#define KS_NO_VALUE_ATTR ((CK_ATTRIBUTE_TYPE)-1)

/* ks_class_find returns the row of cls, or NULL for a class keystead does not know. */
const ks_class_desc *ks_class_find(CK_OBJECT_CLASS cls);

/* ks_class_supported returns the row of cls when objects of the class can be made, else
 * NULL. */
const ks_class_desc *ks_class_supported(CK_OBJECT_CLASS cls);

/* ks_rules_new_object builds the complete attribute set of a new object from a template
 * into out (an initialised set, replaced on success, unchanged on failure):
 * checks every attribute is valid for the class and key type and may be given at this
 * origin, checks value shapes (CK_BBOOL is 1 byte of 0 or 1, CK_ULONG is sizeof(CK_ULONG),
 * CK_DATE is 8 digits or empty), fills every default, and sets the token-maintained
 * attributes that do not depend on the value (CKA_LOCAL, CKA_KEY_GEN_MECHANISM,
 * CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, lifecycle defaults). For secret keys at
 * KS_ORIGIN_CREATE the template must carry CKA_VALUE; at KS_ORIGIN_GENERATE it must not, and
 * the key length comes from CKA_VALUE_LEN (AES: 16/24/32, else CKR_ATTRIBUTE_VALUE_INVALID;
 * missing where required: CKR_TEMPLATE_INCOMPLETE). CKA_UNIQUE_ID is never accepted
 * (CKR_ATTRIBUTE_READ_ONLY); the caller assigns it. extra/extra_count carry attributes implied
 * by the call (CKA_CLASS/CKA_KEY_TYPE implied by the mechanism), which must not conflict with
 * the template (CKR_TEMPLATE_INCONSISTENT). */
/* With ctx->one_purpose, a new private key whose template asks (CK_TRUE) both to sign
 * (CKA_SIGN, CKA_SIGN_RECOVER) and to decrypt (CKA_DECRYPT, CKA_UNWRAP), or a public key
 * asked both to verify and to encrypt, is CKR_TEMPLATE_INCONSISTENT; the purpose the template
 * does not ask for is not given by default (a template that asks for neither gets the
 * signature purpose, unless it turns the signature usages off). */
CK_RV ks_rules_new_object(ks_attrs *out, ks_origin origin, const CK_ATTRIBUTE *tmpl,
                          CK_ULONG count, const CK_ATTRIBUTE *extra, CK_ULONG extra_count,
                          const ks_rule_ctx *ctx, ks_why *why);

/* ks_rules_finish_key completes a secret key once its CKA_VALUE is in place: checks the
 * value length against the key type (AES 16/24/32, others 1..4096 bytes: else
 * CKR_ATTRIBUTE_VALUE_INVALID for create, CKR_KEY_SIZE_RANGE for generate and derive,
 * CKR_WRAPPED_KEY_LEN_RANGE for unwrap; an unwrapped generic/HMAC key is first truncated to
 * a template's CKA_VALUE_LEN), sets CKA_VALUE_LEN, and sets CKA_CHECK_VALUE (3.0 base 4.10:
 * AES: first 3 bytes of E(K, 0^128); CKK_GENERIC_SECRET: first 3 bytes of SHA-1(K) as the
 * generic secret key object section says; the CKK_SHA*_HMAC types have no key object
 * definition in the spec, hence no check value: empty). A template that gave a non-empty
 * CKA_CHECK_VALUE must match it (CKR_ATTRIBUTE_VALUE_INVALID); an empty one suppresses it.
 * Data objects: nothing to do, CKR_OK. */
CK_RV ks_rules_finish_key(ks_attrs *obj, ks_origin origin, ks_why *why);

/* ks_rules_copy builds the attribute set of a copy (C_CopyObject) into out (an initialised
 * set, replaced on success; without CKA_UNIQUE_ID): CKA_COPYABLE false gives
 * CKR_ACTION_PROHIBITED; the template may change only CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE,
 * CKA_DESTROYABLE, CKA_LABEL and the attributes C_SetAttributeValue could change, under the
 * same one-way rules (CKA_SENSITIVE to true, CKA_EXTRACTABLE to false). */
CK_RV ks_rules_copy(ks_attrs *out, const ks_attrs *src, const CK_ATTRIBUTE *tmpl,
                    CK_ULONG count, const ks_rule_ctx *ctx, ks_why *why);

/* ks_rules_set applies a C_SetAttributeValue template all-or-nothing: on success obj holds
 * the new values; on any refusal obj is unchanged. CKA_MODIFIABLE false:
 * CKR_ACTION_PROHIBITED, except for a template of only CKA_KS_LIFECYCLE_STATE and
 * CKA_KS_TRANSITION_REASON (a read-only key can still be marked compromised). Read-only attributes: CKR_ATTRIBUTE_READ_ONLY. One-way attributes
 * moved the wrong way: CKR_ATTRIBUTE_READ_ONLY. CKA_TRUSTED true without SO:
 * CKR_ATTRIBUTE_READ_ONLY. Lifecycle state changes follow ks_lifecycle_allowed
 * (CKR_ATTRIBUTE_VALUE_INVALID for a forbidden edge); a move to KS_STATE_DESTROYED empties
 * CKA_VALUE. CKA_KS_TRANSITION_REASON only with a state change in the same template (else
 * CKR_TEMPLATE_INCONSISTENT). CKA_KS_USAGE_LIMIT must be 0 (no limit) or above the object's
 * CKA_KS_USAGE_COUNT (the caller refreshes that count from the store first), else
 * CKR_ATTRIBUTE_VALUE_INVALID. CKA_CHECK_VALUE may only be emptied (3.0 base 4.10). */
CK_RV ks_rules_set(ks_attrs *obj, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                   const ks_rule_ctx *ctx, ks_why *why);

/* ks_rules_get fills a C_GetAttributeValue template by PKCS#11 3.0 5.7 (C_GetAttributeValue
 * steps 1-5): sensitive or unextractable values give CK_UNAVAILABLE_INFORMATION and
 * CKR_ATTRIBUTE_SENSITIVE; unknown types CKR_ATTRIBUTE_TYPE_INVALID; short buffers
 * CKR_BUFFER_TOO_SMALL; every attribute is processed whatever the earlier ones gave; array
 * attributes are filled as CK_ATTRIBUTE arrays into the caller's nested buffers. */
CK_RV ks_rules_get(const ks_attrs *obj, CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* ks_rules_get_sealed_absent is ks_rules_get for an object loaded without the token key:
 * its sealed values (CKA_VALUE) cannot be revealed without a login, so they answer
 * CKR_ATTRIBUTE_SENSITIVE with CK_UNAVAILABLE_INFORMATION, as 5.7 case 1 says. */
/* ks_rules_governed_by_other: obj is manager-governed (CKA_KS_GOVERNED) and the caller is
 * not the manager: only the manager changes what governs it, copies it (ks_rules_copy:
 * CKR_ACTION_PROHIBITED) or destroys it (docs/authority.md). */
int ks_rules_governed_by_other(const ks_attrs *obj, const ks_rule_ctx *ctx);

CK_RV ks_rules_get_sealed_absent(const ks_attrs *obj, CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* ks_rules_match returns 1 when every attribute of tmpl equals the object's (C_FindObjects).
 * Secret values never match through this path (a template naming CKA_VALUE of a sensitive key
 * matches nothing). */
int ks_rules_match(const ks_attrs *obj, const CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* ks_rules_is_sealed returns 1 for attributes the store must seal (CKA_VALUE of keys, and any
 * other secret-bearing attribute). */
int ks_rules_is_sealed(CK_ATTRIBUTE_TYPE type);

/* ks_rules_template_matches checks an object against a CKA_WRAP_TEMPLATE or
 * CKA_UNWRAP_TEMPLATE (packed): 1 when every attribute in it is equal in obj. */
int ks_rules_template_matches(const ks_attrs *obj, const ks_attr *packed_template);

/* ks_rules_object_size is the value of C_GetObjectSize: an approximation of the bytes the
 * object occupies (sum of attribute lengths plus overhead). */
CK_ULONG ks_rules_object_size(const ks_attrs *obj);

#endif
