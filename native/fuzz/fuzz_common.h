/* fuzz_common.h - what every libFuzzer target of native/fuzz/ shares: a reader that turns the
 * fuzz input into choices, and a builder of random CK_ATTRIBUTE templates.
 *
 * Every buffer handed to the code under test is its own heap allocation of exactly the length
 * the code is told, so AddressSanitizer sees any read or write past it. Everything allocated
 * for one input is kept in an arena and freed by fz_free at the end of the input. When the
 * input runs out, every read returns zeros: a short input is still a complete run. */
#ifndef KS_FUZZ_COMMON_H
#define KS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11.h"
#include "token/rules_internal.h"

#define FZ_MAX_ALLOCS 512

typedef struct fz {
    const uint8_t *p;
    size_t n;
    void *allocs[FZ_MAX_ALLOCS];
    size_t nallocs;
} fz;

static inline void fz_init(fz *f, const uint8_t *data, size_t size)
{
    f->p = data;
    f->n = size;
    f->nallocs = 0;
}

static inline void fz_free(fz *f)
{
    for (size_t i = 0; i < f->nallocs; i++) {
        free(f->allocs[i]);
    }
    f->nallocs = 0;
}

/* fz_alloc returns len bytes (an exact-size allocation; len 0 gives a 1-byte one) owned by the
 * arena, or NULL when the arena is full. */
static inline void *fz_alloc(fz *f, size_t len)
{
    if (f->nallocs == FZ_MAX_ALLOCS) {
        return NULL;
    }
    void *p = malloc(len ? len : 1);
    if (p == NULL) {
        abort();
    }
    f->allocs[f->nallocs++] = p;
    return p;
}

static inline uint8_t fz_u8(fz *f)
{
    if (f->n == 0) {
        return 0;
    }
    f->n--;
    return *f->p++;
}

static inline uint16_t fz_u16(fz *f)
{
    return (uint16_t)(fz_u8(f) | (fz_u8(f) << 8));
}

static inline uint32_t fz_u32(fz *f)
{
    return (uint32_t)fz_u16(f) | ((uint32_t)fz_u16(f) << 16);
}

static inline uint64_t fz_u64(fz *f)
{
    return (uint64_t)fz_u32(f) | ((uint64_t)fz_u32(f) << 32);
}

/* fz_len returns a length that is mostly small, sometimes on a block boundary and sometimes
 * huge (to reach the overflow checks); max bounds the small ones. */
static inline CK_ULONG fz_len(fz *f, CK_ULONG max)
{
    uint8_t sel = fz_u8(f);
    switch (sel >> 5) {
    case 0:
        return 0;
    case 1:
        return (CK_ULONG)16 * (fz_u8(f) % 8) + (sel & 1 ? 8 : 0);
    case 7:
        return sel & 1 ? (CK_ULONG)-1 - fz_u8(f) : (CK_ULONG)1 << (fz_u8(f) % 64);
    default:
        return max ? fz_u16(f) % (max + 1) : 0;
    }
}

/* fz_bytes copies len bytes of input (zeros past its end) into a fresh exact-size buffer. */
static inline uint8_t *fz_bytes(fz *f, size_t len)
{
    uint8_t *out = fz_alloc(f, len);
    if (out == NULL) {
        return NULL;
    }
    size_t take = len < f->n ? len : f->n;
    memcpy(out, f->p, take);
    memset(out + take, 0, len - take);
    f->p += take;
    f->n -= take;
    return out;
}

/* Attribute types worth choosing besides the table's: unknown, vendor, the 3.0 array bit. */
static const CK_ATTRIBUTE_TYPE FZ_ODD_TYPES[] = {
    0x7fffffffUL, CKA_VENDOR_DEFINED, CKA_VENDOR_DEFINED | 0x12345UL, 0x40000000UL,
    0x40000214UL, (CK_ATTRIBUTE_TYPE)-1, CKA_MODULUS, CKA_EC_PARAMS,
};

static inline CK_ATTRIBUTE_TYPE fz_attr_type(fz *f)
{
    uint8_t sel = fz_u8(f);
    if (sel < 224) {
        return ks_rule_at(sel % ks_rule_count())->type;
    }
    if (sel < 240) {
        return FZ_ODD_TYPES[sel % (sizeof(FZ_ODD_TYPES) / sizeof(FZ_ODD_TYPES[0]))];
    }
    return (CK_ATTRIBUTE_TYPE)fz_u32(f);
}

/* fz_value fills a->pValue/ulValueLen with a value of a likely shape for a->type: mostly
 * well-formed (so the rules get past the shape checks), sometimes any bytes of any length,
 * sometimes a NULL pointer with a length. depth bounds nesting of array attributes. */
static inline void fz_template_into(fz *f, CK_ATTRIBUTE **out, CK_ULONG *count, int depth);

static inline void fz_value(fz *f, CK_ATTRIBUTE *a, int depth)
{
    const ks_rule *rule = NULL;
    for (size_t i = 0; i < ks_rule_count(); i++) {
        if (ks_rule_at(i)->type == a->type) {
            rule = ks_rule_at(i);
            break;
        }
    }
    uint8_t how = fz_u8(f);
    if (how >= 240) {
        a->pValue = NULL;
        a->ulValueLen = fz_len(f, 64);
        return;
    }
    if (how >= 200 || rule == NULL) {
        a->ulValueLen = fz_u8(f) % 80;
        a->pValue = fz_bytes(f, a->ulValueLen);
        return;
    }
    switch (rule->shape) {
    case KS_SHAPE_BOOL:
        a->ulValueLen = 1;
        a->pValue = fz_bytes(f, 1);
        if (a->pValue != NULL && how & 1) {
            *(CK_BBOOL *)a->pValue &= 1;
        }
        break;
    case KS_SHAPE_ULONG: {
        a->ulValueLen = sizeof(CK_ULONG);
        a->pValue = fz_alloc(f, sizeof(CK_ULONG));
        CK_ULONG v = how & 1 ? fz_u8(f) % 8 : (CK_ULONG)fz_u64(f);
        if (a->pValue != NULL) {
            memcpy(a->pValue, &v, sizeof(v));
        }
        break;
    }
    case KS_SHAPE_DATE:
        a->ulValueLen = how & 1 ? 8 : 0;
        a->pValue = fz_bytes(f, a->ulValueLen);
        if (a->pValue != NULL && a->ulValueLen == 8 && how & 2) {
            memcpy(a->pValue, "20300101", 8);
        }
        break;
    case KS_SHAPE_ATTR_ARRAY:
        if (depth > 0 && how & 1) {
            CK_ATTRIBUTE *inner = NULL;
            CK_ULONG n = 0;
            fz_template_into(f, &inner, &n, depth - 1);
            a->pValue = inner;
            /* Sometimes a length that is not n whole CK_ATTRIBUTEs. */
            a->ulValueLen = n * sizeof(CK_ATTRIBUTE);
            if (how & 2 && a->ulValueLen > 0) {
                a->ulValueLen -= fz_u8(f) % sizeof(CK_ATTRIBUTE);
            }
        } else {
            a->ulValueLen = 0;
            a->pValue = NULL;
        }
        break;
    case KS_SHAPE_MECH_ARRAY: {
        CK_ULONG n = fz_u8(f) % 5;
        CK_ULONG *mechs = fz_alloc(f, n * sizeof(CK_ULONG));
        for (CK_ULONG i = 0; mechs != NULL && i < n; i++) {
            mechs[i] = fz_u8(f) < 128 ? (CK_ULONG)fz_u16(f) : (CK_ULONG)fz_u64(f);
        }
        a->pValue = mechs;
        a->ulValueLen = n * sizeof(CK_ULONG) - (how & 2 && n ? 3 : 0);
        break;
    }
    default: /* bytes, UTF-8 */
        a->ulValueLen = fz_len(f, 64);
        if (a->ulValueLen > 4096) {
            a->ulValueLen = fz_u8(f);
        }
        a->pValue = fz_bytes(f, a->ulValueLen);
        break;
    }
}

/* fz_template_into builds a template of 0..15 attributes (no more than the input allows). */
static inline void fz_template_into(fz *f, CK_ATTRIBUTE **out, CK_ULONG *count, int depth)
{
    CK_ULONG n = fz_u8(f) % 16;
    CK_ATTRIBUTE *t = fz_alloc(f, n * sizeof(CK_ATTRIBUTE));
    if (t == NULL) {
        n = 0;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        t[i].type = fz_attr_type(f);
        fz_value(f, &t[i], depth);
    }
    *out = t;
    *count = n;
}

#endif
