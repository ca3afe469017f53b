/* attrs.h - an object's attributes: a set of (type, value) pairs kept sorted by type.
 *
 * Values are owned copies. Sets holding secret values are freed with ks_attrs_free, which
 * wipes every value. Array attributes (CKF_ARRAY_ATTRIBUTE: CKA_WRAP_TEMPLATE,
 * CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE) are held serialised: see ks_attrs_pack. */
#ifndef KS_TOKEN_ATTRS_H
#define KS_TOKEN_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"

typedef struct ks_attr {
    CK_ATTRIBUTE_TYPE type;
    CK_ULONG len;
    uint8_t *value; /* NULL when len is 0 */
} ks_attr;

typedef struct ks_attrs {
    ks_attr *items; /* sorted by type, no duplicates */
    size_t count;
    size_t cap;
} ks_attrs;

void ks_attrs_init(ks_attrs *set);
/* ks_attrs_free wipes and frees every value and the array; the set is empty afterwards. */
void ks_attrs_free(ks_attrs *set);

const ks_attr *ks_attrs_find(const ks_attrs *set, CK_ATTRIBUTE_TYPE type);
int ks_attrs_has(const ks_attrs *set, CK_ATTRIBUTE_TYPE type);

/* ks_attrs_set copies len bytes of value in, replacing any earlier value of that type.
 * Returns CKR_HOST_MEMORY on allocation failure and CKR_ATTRIBUTE_VALUE_INVALID for a NULL
 * value with len > 0 or a len above 2^30 (the set is unchanged then). */
CK_RV ks_attrs_set(ks_attrs *set, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len);
CK_RV ks_attrs_set_bool(ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_BBOOL value);
CK_RV ks_attrs_set_ulong(ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_ULONG value);
void ks_attrs_remove(ks_attrs *set, CK_ATTRIBUTE_TYPE type);

/* Typed reads: return 1 and store the value when present with the right size, else 0. */
int ks_attrs_get_bool(const ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_BBOOL *out);
int ks_attrs_get_ulong(const ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_ULONG *out);
/* ks_attrs_bool returns the boolean value, or dflt when absent. */
CK_BBOOL ks_attrs_bool(const ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_BBOOL dflt);

/* ks_attrs_is_template returns 1 for the attributes whose value is a CK_ATTRIBUTE array:
 * CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE (3.0 4.10, 4.7). */
int ks_attrs_is_template(CK_ATTRIBUTE_TYPE type);

/* ks_attrs_copy makes dst an independent copy of src (dst is freed first). */
CK_RV ks_attrs_copy(ks_attrs *dst, const ks_attrs *src);

/* ks_attrs_pack serialises a CK_ATTRIBUTE array (for array attributes) into one buffer:
 * per attribute, type (8 bytes LE), length (8 bytes LE), value, sorted by type (canonical:
 * equal templates pack to equal bytes). Nested arrays and duplicate types are refused
 * (CKR_ATTRIBUTE_VALUE_INVALID). *out is malloc'd, free with free(). */
CK_RV ks_attrs_pack(uint8_t **out, size_t *out_len, const CK_ATTRIBUTE *tmpl, CK_ULONG count);
/* ks_attrs_unpack parses a packed buffer into a set. out must be initialised (ks_attrs_init);
 * its earlier contents are freed on success and left as they were on failure.
 * CKR_ATTRIBUTE_VALUE_INVALID on bad input (truncated, duplicate type, nested array). */
CK_RV ks_attrs_unpack(ks_attrs *out, const uint8_t *in, size_t in_len);

#endif
