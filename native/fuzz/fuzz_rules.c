/* fuzz_rules.c - libFuzzer target: attribute templates through the rules (token/rules_*.c).
 *
 * One input drives one object's life: ks_rules_new_object with a random origin, template and
 * implied attributes (CKA_CLASS / CKA_KEY_TYPE as a mechanism would imply them), then
 * ks_rules_finish_key, a few C_SetAttributeValue templates (ks_rules_set), C_CopyObject
 * (ks_rules_copy), C_FindObjects matching, wrap-template matching, C_GetObjectSize, and
 * C_GetAttributeValue (ks_rules_get) with random output buffers, nested ones included.
 * Templates carry nested array attributes, lengths that are not whole structures, NULL values
 * with lengths and huge lengths. Properties checked besides memory safety: a refusal leaves
 * the set untouched (compared by packing it before and after). */
#include <stdio.h>

#include "fuzz_common.h"
#include "token/attrs.h"
#include "token/rules.h"

static const CK_OBJECT_CLASS CLASSES[] = {CKO_SECRET_KEY, CKO_DATA, CKO_PUBLIC_KEY, 0x1234};
static const CK_KEY_TYPE KEY_TYPES[] = {CKK_AES, CKK_GENERIC_SECRET, CKK_SHA256_HMAC, CKK_RSA};

/* snapshot packs a whole set (flat values only) for before/after comparisons. */
static uint8_t *snapshot(const ks_attrs *set, size_t *len)
{
    uint8_t *out = malloc(1);
    size_t n = 0;
    for (size_t i = 0; out != NULL && i < set->count; i++) {
        const ks_attr *a = &set->items[i];
        uint8_t *grown = realloc(out, n + 16 + a->len + 1);
        if (grown == NULL) {
            free(out);
            abort();
        }
        out = grown;
        memcpy(out + n, &a->type, 8);
        memcpy(out + n + 8, &a->len, 8);
        if (a->len) {
            memcpy(out + n + 16, a->value, a->len);
        }
        n += 16 + a->len;
    }
    *len = n;
    return out;
}

static void expect_unchanged(const ks_attrs *set, const uint8_t *before, size_t before_len,
                             const char *what, CK_RV rv)
{
    size_t after_len = 0;
    uint8_t *after = snapshot(set, &after_len);
    if (after_len != before_len || memcmp(after, before, before_len) != 0) {
        fprintf(stderr, "%s refused (rv=0x%lx) but changed the object\n", what, rv);
        abort();
    }
    free(after);
}

static void extra_attrs(fz *f, CK_ATTRIBUTE extra[2], CK_ULONG *n, CK_OBJECT_CLASS *cls,
                        CK_KEY_TYPE *kt)
{
    uint8_t sel = fz_u8(f);
    *cls = CLASSES[sel % 4];
    *kt = KEY_TYPES[(sel >> 2) % 4];
    *n = 0;
    if (sel & 0x10) {
        extra[(*n)++] = (CK_ATTRIBUTE){CKA_CLASS, cls, sizeof(*cls)};
        if (*cls == CKO_SECRET_KEY) {
            extra[(*n)++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, kt, sizeof(*kt)};
        }
    }
}

static void get_all(fz *f, const ks_attrs *obj)
{
    CK_ATTRIBUTE *t = NULL;
    CK_ULONG n = 0;
    fz_template_into(f, &t, &n, 2);
    CK_RV rv = ks_rules_get(obj, t, n);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
        rv != CKR_BUFFER_TOO_SMALL && rv != CKR_ARGUMENTS_BAD && rv != CKR_HOST_MEMORY) {
        fprintf(stderr, "ks_rules_get returned 0x%lx\n", rv);
        abort();
    }
    (void)ks_rules_match(obj, t, n);
    /* Every attribute of the object read back with exact-size buffers. */
    for (size_t i = 0; i < obj->count; i++) {
        CK_ATTRIBUTE q = {obj->items[i].type, NULL, 0};
        if (ks_rules_get(obj, &q, 1) == CKR_OK && q.ulValueLen != CK_UNAVAILABLE_INFORMATION &&
            !ks_attrs_is_template(q.type)) {
            q.pValue = fz_alloc(f, q.ulValueLen);
            if (q.pValue != NULL) {
                (void)ks_rules_get(obj, &q, 1);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f;
    fz_init(&f, data, size);
    ks_attrs obj, copy;
    ks_attrs_init(&obj);
    ks_attrs_init(&copy);
    ks_why why = {0, NULL};
    ks_origin origin = (ks_origin)(fz_u8(&f) % 4);
    ks_rule_ctx ctx = {fz_u8(&f) & 1, fz_u8(&f) & 1, CKM_AES_KEY_GEN, fz_u8(&f) & 1,
                       fz_u8(&f) & 1, fz_u8(&f) & 1, fz_u8(&f) & 1};
    CK_ATTRIBUTE extra[2];
    CK_ULONG extra_n = 0;
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE kt;
    extra_attrs(&f, extra, &extra_n, &cls, &kt);
    CK_ATTRIBUTE *t = NULL;
    CK_ULONG n = 0;
    fz_template_into(&f, &t, &n, 2);

    CK_RV rv = ks_rules_new_object(&obj, origin, t, n, extra, extra_n, &ctx, &why);
    if (rv != CKR_OK) {
        if (obj.count != 0) {
            fprintf(stderr, "refused template (rv=0x%lx) left attributes behind\n", rv);
            abort();
        }
        goto done;
    }
    if (origin != KS_ORIGIN_CREATE) {
        /* Generated, unwrapped and derived keys get their value from the token. */
        CK_ULONG len = fz_u8(&f) % 48;
        uint8_t *value = fz_bytes(&f, len);
        if (value != NULL && ks_attrs_set(&obj, CKA_VALUE, value, len) != CKR_OK) {
            goto done;
        }
    }
    if (ks_rules_finish_key(&obj, origin, &why) != CKR_OK) {
        goto done;
    }
    for (int round = fz_u8(&f) % 4; round > 0; round--) {
        size_t before_len = 0;
        uint8_t *before = snapshot(&obj, &before_len);
        fz_template_into(&f, &t, &n, 2);
        ctx.so = fz_u8(&f) & 1;
        rv = ks_rules_set(&obj, t, n, &ctx, &why);
        if (rv != CKR_OK) {
            expect_unchanged(&obj, before, before_len, "ks_rules_set", rv);
        }
        free(before);
    }
    fz_template_into(&f, &t, &n, 2);
    if (ks_rules_copy(&copy, &obj, t, n, &ctx, &why) == CKR_OK) {
        get_all(&f, &copy);
    }
    const ks_attr *wt = ks_attrs_find(&obj, CKA_WRAP_TEMPLATE);
    (void)ks_rules_template_matches(&copy, wt);
    (void)ks_rules_object_size(&obj);
    get_all(&f, &obj);
done:
    ks_attrs_free(&obj);
    ks_attrs_free(&copy);
    fz_free(&f);
    return 0;
}
