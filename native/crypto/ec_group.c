/* ec_group.c - shared groups of the prime curves (ec_group.h). */
#include "crypto/ec_group.h"

#include <openssl/obj_mac.h>

/* Published with a compare-and-swap, never freed: no lock, so a child forked while a parent
 * thread was making one finds the slot empty or set, never held. */
static EC_GROUP *groups[KS_CURVE_P521 + 1];

static int nid_of(ks_curve c)
{
    switch (c) {
    case KS_CURVE_P256:
        return NID_X9_62_prime256v1;
    case KS_CURVE_P384:
        return NID_secp384r1;
    case KS_CURVE_P521:
        return NID_secp521r1;
    default:
        return NID_undef;
    }
}

const EC_GROUP *ks_ec_group(ks_curve c)
{
    int nid = nid_of(c);
    if (nid == NID_undef) {
        return NULL;
    }
    EC_GROUP *g = __atomic_load_n(&groups[c], __ATOMIC_ACQUIRE);
    if (g != NULL) {
        return g;
    }
    EC_GROUP *made = EC_GROUP_new_by_curve_name(nid);
    if (made == NULL) {
        return NULL;
    }
    EC_GROUP *expected = NULL;
    if (__atomic_compare_exchange_n(&groups[c], &expected, made, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        return made;
    }
    EC_GROUP_free(made); /* another thread's is kept */
    return expected;
}
