/* attrs.c - sorted attribute sets with owned, wiped-on-free values, and the packed form of
 * array attributes (PKCS#11 3.0 4.10 CKA_WRAP_TEMPLATE / CKA_UNWRAP_TEMPLATE, 4.7
 * CKA_DERIVE_TEMPLATE: "an array of CK_ATTRIBUTE"). */
#include "token/attrs.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "keystead.h"

#define PACK_HEADER 16 /* type (8 bytes LE) + length (8 bytes LE) */
#define MAX_ATTR_LEN ((CK_ULONG)1 << 30) /* no attribute value this large is legitimate */

void ks_attrs_init(ks_attrs *set)
{
    set->items = NULL;
    set->count = 0;
    set->cap = 0;
}

/* Key material lives in locked pages excluded from core dumps (crypto/mem.c): the value of
 * a secret key (and of any object: CKA_VALUE), the private parts of an RSA key, and a private
 * key's PKCS#8 (CKA_KS_PKCS8). */
static int is_secret(CK_ATTRIBUTE_TYPE type)
{
    return type == CKA_VALUE || type == CKA_KS_PKCS8 ||
           (type >= CKA_PRIVATE_EXPONENT && type <= CKA_COEFFICIENT);
}

static uint8_t *alloc_value(CK_ATTRIBUTE_TYPE type, size_t len)
{
    return is_secret(type) ? ks_secure_alloc(len) : malloc(len);
}

static void release_value(CK_ATTRIBUTE_TYPE type, uint8_t *value, size_t len)
{
    if (is_secret(type)) {
        ks_secure_free(value, len);
    } else {
        ks_wipe(value, len);
        free(value);
    }
}

static void free_value(ks_attr *a)
{
    if (a->value != NULL) {
        release_value(a->type, a->value, a->len);
    }
    a->value = NULL;
    a->len = 0;
}

void ks_attrs_free(ks_attrs *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->count; i++) {
        free_value(&set->items[i]);
    }
    free(set->items);
    ks_attrs_init(set);
}

/* lower_bound returns the index of the first item whose type is >= type. */
static size_t lower_bound(const ks_attrs *set, CK_ATTRIBUTE_TYPE type)
{
    size_t lo = 0;
    size_t hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->items[mid].type < type) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

const ks_attr *ks_attrs_find(const ks_attrs *set, CK_ATTRIBUTE_TYPE type)
{
    if (set == NULL || set->count == 0) {
        return NULL;
    }
    size_t i = lower_bound(set, type);
    if (i < set->count && set->items[i].type == type) {
        return &set->items[i];
    }
    return NULL;
}

int ks_attrs_has(const ks_attrs *set, CK_ATTRIBUTE_TYPE type)
{
    return ks_attrs_find(set, type) != NULL;
}

static CK_RV grow(ks_attrs *set)
{
    if (set->count < set->cap) {
        return CKR_OK;
    }
    size_t cap = set->cap == 0 ? 16 : set->cap * 2;
    ks_attr *items = realloc(set->items, cap * sizeof(*items));
    if (items == NULL) {
        return CKR_HOST_MEMORY;
    }
    set->items = items;
    set->cap = cap;
    return CKR_OK;
}

CK_RV ks_attrs_set(ks_attrs *set, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
    if (len > MAX_ATTR_LEN || (len > 0 && value == NULL)) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = alloc_value(type, len);
        if (copy == NULL) {
            return CKR_HOST_MEMORY;
        }
        memcpy(copy, value, len);
    }
    size_t i = lower_bound(set, type);
    if (i < set->count && set->items[i].type == type) {
        free_value(&set->items[i]);
        set->items[i].value = copy;
        set->items[i].len = len;
        return CKR_OK;
    }
    if (grow(set) != CKR_OK) {
        if (copy != NULL) {
            release_value(type, copy, len);
        }
        return CKR_HOST_MEMORY;
    }
    memmove(&set->items[i + 1], &set->items[i], (set->count - i) * sizeof(ks_attr));
    set->items[i].type = type;
    set->items[i].len = len;
    set->items[i].value = copy;
    set->count++;
    return CKR_OK;
}

CK_RV ks_attrs_set_bool(ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_BBOOL value)
{
    CK_BBOOL v = value ? CK_TRUE : CK_FALSE;
    return ks_attrs_set(set, type, &v, sizeof(v));
}

CK_RV ks_attrs_set_ulong(ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_ULONG value)
{
    return ks_attrs_set(set, type, &value, sizeof(value));
}

void ks_attrs_remove(ks_attrs *set, CK_ATTRIBUTE_TYPE type)
{
    size_t i = lower_bound(set, type);
    if (i >= set->count || set->items[i].type != type) {
        return;
    }
    free_value(&set->items[i]);
    memmove(&set->items[i], &set->items[i + 1], (set->count - i - 1) * sizeof(ks_attr));
    set->count--;
}

int ks_attrs_get_bool(const ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_BBOOL *out)
{
    const ks_attr *a = ks_attrs_find(set, type);
    if (a == NULL || a->len != sizeof(CK_BBOOL)) {
        return 0;
    }
    *out = a->value[0];
    return 1;
}

int ks_attrs_get_ulong(const ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
    const ks_attr *a = ks_attrs_find(set, type);
    if (a == NULL || a->len != sizeof(CK_ULONG)) {
        return 0;
    }
    memcpy(out, a->value, sizeof(CK_ULONG));
    return 1;
}

CK_BBOOL ks_attrs_bool(const ks_attrs *set, CK_ATTRIBUTE_TYPE type, CK_BBOOL dflt)
{
    CK_BBOOL v;
    if (!ks_attrs_get_bool(set, type, &v)) {
        return dflt;
    }
    return v ? CK_TRUE : CK_FALSE;
}

CK_RV ks_attrs_copy(ks_attrs *dst, const ks_attrs *src)
{
    ks_attrs tmp;
    ks_attrs_init(&tmp);
    for (size_t i = 0; i < src->count; i++) {
        const ks_attr *a = &src->items[i];
        CK_RV rv = ks_attrs_set(&tmp, a->type, a->value, a->len);
        if (rv != CKR_OK) {
            ks_attrs_free(&tmp);
            return rv;
        }
    }
    ks_attrs_free(dst);
    *dst = tmp;
    return CKR_OK;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

int ks_attrs_is_template(CK_ATTRIBUTE_TYPE type)
{
    /* Named, not tested by the CKF_ARRAY_ATTRIBUTE bit: CKA_ALLOWED_MECHANISMS carries the
     * bit but holds CK_MECHANISM_TYPE values (3.0 4.7), and keystead's vendor tag 0x4B53 in
     * bits 16..31 sets bit 30 on every CKA_KS_* type. */
    return type == CKA_WRAP_TEMPLATE || type == CKA_UNWRAP_TEMPLATE ||
           type == CKA_DERIVE_TEMPLATE;
}

static int nested_array(CK_ATTRIBUTE_TYPE type)
{
    return ks_attrs_is_template(type);
}

/* serialise writes a set in its canonical packed form (sorted by type, no duplicates), so
 * two templates that say the same thing pack to the same bytes. */
static CK_RV serialise(uint8_t **out, size_t *out_len, const ks_attrs *set)
{
    size_t total = 0;
    for (size_t i = 0; i < set->count; i++) {
        total += PACK_HEADER + set->items[i].len; /* each len <= 2^30: no overflow */
    }
    uint8_t *buf = malloc(total > 0 ? total : 1);
    if (buf == NULL) {
        return CKR_HOST_MEMORY;
    }
    size_t off = 0;
    for (size_t i = 0; i < set->count; i++) {
        const ks_attr *a = &set->items[i];
        put_u64(buf + off, a->type);
        put_u64(buf + off + 8, a->len);
        if (a->len > 0) {
            memcpy(buf + off + PACK_HEADER, a->value, a->len);
        }
        off += PACK_HEADER + a->len;
    }
    *out = buf;
    *out_len = total;
    return CKR_OK;
}

CK_RV ks_attrs_pack(uint8_t **out, size_t *out_len, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    if (out == NULL || out_len == NULL || (count > 0 && tmpl == NULL)) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    ks_attrs set;
    ks_attrs_init(&set);
    CK_RV rv = CKR_OK;
    for (CK_ULONG i = 0; i < count && rv == CKR_OK; i++) {
        const CK_ATTRIBUTE *a = &tmpl[i];
        if (nested_array(a->type) || ks_attrs_has(&set, a->type) ||
            (a->ulValueLen > 0 && a->pValue == NULL) ||
            a->ulValueLen == CK_UNAVAILABLE_INFORMATION) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
        } else {
            rv = ks_attrs_set(&set, a->type, a->pValue, a->ulValueLen);
        }
    }
    if (rv == CKR_OK) {
        rv = serialise(out, out_len, &set);
    }
    ks_attrs_free(&set);
    return rv;
}

CK_RV ks_attrs_unpack(ks_attrs *out, const uint8_t *in, size_t in_len)
{
    if (out == NULL || (in_len > 0 && in == NULL)) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    ks_attrs set;
    ks_attrs_init(&set);
    size_t off = 0;
    CK_RV rv = CKR_OK;
    while (off < in_len && rv == CKR_OK) {
        if (in_len - off < PACK_HEADER) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
            break;
        }
        uint64_t type = get_u64(in + off);
        uint64_t len = get_u64(in + off + 8);
        off += PACK_HEADER;
        if (len > in_len - off || len > MAX_ATTR_LEN || nested_array((CK_ATTRIBUTE_TYPE)type) ||
            ks_attrs_has(&set, (CK_ATTRIBUTE_TYPE)type)) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
            break;
        }
        rv = ks_attrs_set(&set, (CK_ATTRIBUTE_TYPE)type, in + off, (CK_ULONG)len);
        off += (size_t)len;
    }
    if (rv != CKR_OK) {
        ks_attrs_free(&set);
        return rv;
    }
    ks_attrs_free(out);
    *out = set;
    return CKR_OK;
}
