/* fuzz_attrs.c - libFuzzer target: the packed form of array attributes (token/attrs.c).
 *
 * The first byte picks the path:
 *  - even: the rest is a packed buffer as the store would hand back; ks_attrs_unpack must
 *    accept it or refuse it with CKR_ATTRIBUTE_VALUE_INVALID, and what it accepts must pack
 *    to a canonical form that unpacks and packs to the same bytes again (the unpacker
 *    accepts any order of types; the packer sorts);
 *  - odd: the rest builds a random CK_ATTRIBUTE array (nested arrays, odd lengths, NULL
 *    values); ks_attrs_pack must accept or refuse it, and what it packs must unpack to a set
 *    that packs to the same bytes. */
#include <stdio.h>

#include "fuzz_common.h"
#include "token/attrs.h"

/* repack packs set; aborts when that fails (an unpacked set holds flat values only). */
static uint8_t *repack(const ks_attrs *set, size_t *out_len)
{
    CK_ATTRIBUTE *t = calloc(set->count ? set->count : 1, sizeof(CK_ATTRIBUTE));
    if (t == NULL) {
        abort();
    }
    for (size_t i = 0; i < set->count; i++) {
        t[i].type = set->items[i].type;
        t[i].pValue = set->items[i].value;
        t[i].ulValueLen = set->items[i].len;
    }
    uint8_t *again = NULL;
    size_t again_len = 0;
    CK_RV rv = ks_attrs_pack(&again, &again_len, t, (CK_ULONG)set->count);
    free(t);
    if (rv != CKR_OK) {
        fprintf(stderr, "repacking an unpacked set failed: rv=0x%lx\n", rv);
        abort();
    }
    *out_len = again_len;
    return again;
}

/* check_canonical: packed (from ks_attrs_pack) unpacks, and packs again to the same bytes. */
static void check_canonical(const uint8_t *packed, size_t packed_len)
{
    ks_attrs set;
    ks_attrs_init(&set);
    if (ks_attrs_unpack(&set, packed, packed_len) != CKR_OK) {
        fprintf(stderr, "a packed buffer does not unpack\n");
        abort();
    }
    size_t again_len = 0;
    uint8_t *again = repack(&set, &again_len);
    if (again_len != packed_len || memcmp(again, packed, packed_len) != 0) {
        fprintf(stderr, "packing is not canonical: %zu vs %zu bytes\n", again_len, packed_len);
        abort();
    }
    free(again);
    ks_attrs_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f;
    fz_init(&f, data, size);
    ks_attrs set;
    ks_attrs_init(&set);
    if ((fz_u8(&f) & 1) == 0) {
        size_t in_len = f.n;
        uint8_t *in = fz_bytes(&f, in_len);
        CK_RV rv = ks_attrs_unpack(&set, in, in_len);
        if (rv == CKR_OK) {
            size_t packed_len = 0;
            uint8_t *packed = repack(&set, &packed_len);
            check_canonical(packed, packed_len);
            free(packed);
        } else if (rv != CKR_ATTRIBUTE_VALUE_INVALID && rv != CKR_HOST_MEMORY) {
            abort();
        }
    } else {
        CK_ATTRIBUTE *t = NULL;
        CK_ULONG n = 0;
        fz_template_into(&f, &t, &n, 2);
        uint8_t *packed = NULL;
        size_t packed_len = 0;
        if (ks_attrs_pack(&packed, &packed_len, t, n) == CKR_OK) {
            check_canonical(packed, packed_len);
            free(packed);
        }
    }
    ks_attrs_free(&set);
    fz_free(&f);
    return 0;
}
